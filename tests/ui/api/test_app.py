"""The REST service on the project's demo PDFs: FastAPI's test client for the routes, and a
real uvicorn on a loopback port for streaming, auth and the model's queue. Real store (Qdrant
Edge), MiniLM, reranker and SmolLM2 through llama.cpp."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pdfs
import pytest
from fastapi.testclient import TestClient
from services import uvicorn_thread

from docqa.config import GenerationSettings, Settings
from docqa.runtime import Runtime
from docqa.types import Answer
from ingest.demo import write_demo_folder
from ingest.pipeline import Ingestor
from ui.api.app import create_app

REPORT = "northwind_annual_report_2024.pdf"
KEY = "s3cret-key"


def _settings(home: Path, **kw: object) -> Settings:
    gen = GenerationSettings(model="smollm2", max_answer_tokens=32, threads=2)
    return Settings(home=home, generation=gen, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    home = tmp_path_factory.mktemp("home")
    folder = tmp_path_factory.mktemp("demo")
    write_demo_folder(folder)
    runtime = Runtime(_settings(home))
    report = Ingestor.from_runtime(runtime).run([folder])
    assert all(d.status == "indexed" for d in report.documents)
    yield runtime
    runtime.close()


@pytest.fixture(scope="module")
def client(rt: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(rt.settings, rt)) as c:
        yield c


def _doc_id(client: TestClient, name: str = REPORT) -> str:
    docs = client.get("/v1/documents").json()["documents"]
    return next(d["doc_id"] for d in docs if d["filename"] == name)


def test_health_ready_info_and_openapi(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["documents"] == 3
    info = client.get("/v1/info").json()
    assert info["store"] == "edge" and info["generation_model"] == "smollm2"
    assert info["auth"] is False
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/ask", "/v1/search", "/v1/documents/{doc_id}/pages/{n}/image"} <= set(paths)


def test_documents_pages_images_and_files(client: TestClient) -> None:
    docs = client.get("/v1/documents").json()["documents"]
    assert sorted(d["filename"] for d in docs)[0].endswith(".pdf") and len(docs) == 3
    did = _doc_id(client)
    doc = client.get(f"/v1/documents/{did}").json()
    assert doc["status"] == "ready" and doc["pages"] == 2
    page = client.get(f"/v1/documents/{did}/pages/1").json()
    assert "503.8" in page["text"] and page["page"] == 1
    image = client.get(f"/v1/documents/{did}/pages/1/image")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG")
    pdf = client.get(f"/v1/documents/{did}/file")
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    # bad references: a JSON 404 that says what is missing
    for url in ("/v1/documents/nope", f"/v1/documents/{did}/pages/99", "/v1/documents/nope/file"):
        r = client.get(url)
        assert r.status_code == 404 and r.json()["detail"], url
    assert "has no page 99" in client.get(f"/v1/documents/{did}/pages/99").json()["detail"]


def test_search_and_its_validation(client: TestClient) -> None:
    r = client.post("/v1/search", json={"query": "revenue 2024", "k": 3, "doc_ids": [REPORT]})
    hits = r.json()["hits"]
    assert r.status_code == 200 and 1 <= len(hits) <= 3
    assert all(h["path"].endswith(REPORT) for h in hits)
    # a value of the wrong JSON type is refused, not converted (true is not the integer 1)
    wrong_types = ({"query": "x", "k": True}, {"query": "x", "k": "3"}, {"query": "x", "k": 2.5})
    for bad in ({"query": ""}, {"query": "x", "k": 0}, {"query": "x", "mode": "magic"}, {},
                *wrong_types, {"query": 5}):  # fmt: skip
        r = client.post("/v1/search", json=bad)
        assert r.status_code == 422 and r.json()["detail"], bad
    r = client.post("/v1/search", json={"query": "x", "doc_ids": ["no-such.pdf"]})
    assert r.status_code == 404 and "no-such.pdf" in r.json()["detail"]
    assert client.post("/v1/search", content=b"{not json").status_code == 422


def test_ask_returns_the_checked_answer_and_refuses_bad_questions(client: TestClient) -> None:
    r = client.post(
        "/v1/ask",
        json={"question": "What was Northwind's revenue in 2024?", "strategy": "rag"},
    )
    assert r.status_code == 200, r.text
    answer = Answer.model_validate(r.json())
    assert answer.route.strategy == "rag" and answer.passages and answer.answer
    r = client.post("/v1/ask", json={"question": "Anything?", "strategy": "long-context"})
    assert r.status_code == 422 and "name the documents" in r.json()["detail"]
    r = client.post("/v1/ask", json={"question": "Anything?", "doc_ids": ["no-such.pdf"]})
    assert r.status_code == 404
    assert client.post("/v1/ask", json={"question": ""}).status_code == 422
    assert client.post("/v1/ask", json={"question": "x", "strategy": "guess"}).status_code == 422


def test_api_keys_are_required_when_configured(rt: Runtime) -> None:
    settings = rt.settings.model_copy(update={"api_keys": [KEY, "other"]})
    with TestClient(create_app(settings, rt)) as c:
        assert c.get("/healthz").status_code == 200, "liveness needs no key"
        r = c.get("/v1/documents")
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert "Bearer" in r.json()["detail"]
        bad = c.get("/v1/documents", headers={"Authorization": "Bearer wrong"})
        assert bad.status_code == 401
        ok = c.get("/v1/documents", headers={"Authorization": f"Bearer {KEY}"})
        assert ok.status_code == 200
        info = c.get("/v1/info", headers={"Authorization": "Bearer other"})
        assert info.json()["auth"] is True and KEY not in info.text


@pytest.fixture(scope="module")
def server(rt: Runtime) -> Iterator[str]:
    """A real uvicorn on loopback, queue of 0 places: one answer at a time, no waiting."""
    settings = rt.settings.model_copy(update={"ask_queue": 0})
    with uvicorn_thread(create_app(settings, rt)) as url:
        yield url


def _events(lines: Iterator[str]) -> Iterator[tuple[str, dict[str, object]]]:
    event = ""
    for line in lines:
        if line.startswith("event:"):
            event = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            yield event, json.loads(line.split(":", 1)[1])


def test_ask_streams_events_over_sse_and_a_busy_model_answers_429(server: str) -> None:
    body = {"question": "What was Northwind's revenue in 2024?", "strategy": "rag"}
    sse = {"Accept": "text/event-stream"}
    with httpx.Client(base_url=server, timeout=300) as http:
        with http.stream("POST", "/v1/ask", json=body, headers=sse) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            lines = r.iter_lines()
            kinds: list[str] = []
            for kind, data in _events(lines):
                kinds.append(kind)
                if kind == "token" and kinds.count("token") == 1:
                    # the model is busy with this answer: no place in a queue of 0
                    busy = http.post("/v1/ask", json=body)
                    assert busy.status_code == 429 and busy.headers["retry-after"]
                    assert "retry" in busy.json()["detail"]
                if kind == "answer":
                    answer = Answer.model_validate(data["answer"])
        assert kinds[-1] == "answer" and "token" in kinds
        assert kinds.index("token") < kinds.index("answer")
        assert answer.route.strategy == "rag"
        # the place is free again once the stream is done
        assert http.post("/v1/ask", json={**body, "strategy": "closed-book"}).status_code == 200


def test_a_client_that_leaves_mid_stream_frees_the_model(server: str) -> None:
    body = {"question": "Describe Northwind Traders in detail.", "strategy": "closed-book"}
    with httpx.Client(base_url=server, timeout=300) as http:
        with http.stream(
            "POST", "/v1/ask", json=body, headers={"Accept": "text/event-stream"}
        ) as r:
            for kind, _ in _events(r.iter_lines()):
                if kind == "token":
                    break  # leave after the first token
        deadline = time.monotonic() + 60
        while True:
            r2 = http.post("/v1/ask", json=body)
            if r2.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert r2.status_code == 200, r2.text


def test_a_waiting_question_hears_its_place_in_line_then_gets_its_answer(rt: Runtime) -> None:
    settings = rt.settings.model_copy(update={"ask_queue": 2})
    first = {"question": "Describe Northwind Traders in detail.", "strategy": "rag"}  # + check
    second = {"question": "What does Northwind sell?", "strategy": "closed-book"}
    sse = {"Accept": "text/event-stream"}
    with (
        uvicorn_thread(create_app(settings, rt)) as url,
        httpx.Client(base_url=url, timeout=300) as http,
    ):
        later: list[tuple[str, dict[str, object]]] = []

        def ask_second() -> None:
            with http.stream("POST", "/v1/ask", json=second, headers=sse) as r:
                later.extend(_events(r.iter_lines()))

        waiter = threading.Thread(target=ask_second)
        with http.stream("POST", "/v1/ask", json=first, headers=sse) as r:
            statuses = []
            for kind, data in _events(r.iter_lines()):
                if kind == "status":
                    statuses.append(str(data["text"]))
                if kind == "token" and waiter.ident is None:
                    waiter.start()  # the model is busy with the first question
        assert not any("in line" in t for t in statuses), "the model was free for the first"
        waiter.join(timeout=300)
    kinds = [k for k, _ in later]
    assert kinds[0] == "status" and later[0][1]["text"] == "in line for the model: 1 question ahead"
    assert kinds[-1] == "answer", kinds


def test_locate_finds_the_lines_of_a_quoted_span_on_its_page(client: TestClient) -> None:
    did = _doc_id(client)
    hit = client.post("/v1/search", json={"query": "revenue 2024", "k": 1, "doc_ids": [did]})
    passage = hit.json()["hits"][0]
    words = passage["text"].split()[:14]
    body = {"text": " ".join(words), "clip": passage["boxes"]}
    r = client.post(f"/v1/documents/{did}/pages/{passage['page']}/locate", json=body)
    assert r.status_code == 200, r.text
    lines = r.json()["boxes"]
    page = client.get(f"/v1/documents/{did}/pages/{passage['page']}").json()
    assert lines and all(b["page"] == passage["page"] for b in lines)
    assert all(0 <= b["x0"] < b["x1"] <= page["width"] for b in lines)
    assert all(0 <= b["y0"] < b["y1"] <= page["height"] for b in lines)
    blocks = [b for b in passage["boxes"] if b["page"] == passage["page"]]
    assert all(
        any(k["y0"] - 3 <= b["y0"] and b["y1"] <= k["y1"] + 3 for k in blocks) for b in lines
    ), "inside the passage's blocks"
    height = sum(b["y1"] - b["y0"] for b in lines)
    assert height < sum(k["y1"] - k["y0"] for k in blocks), "narrower than the whole passage"
    elsewhere = {"text": "a sentence that stands on no page of this report at all"}
    r = client.post(f"/v1/documents/{did}/pages/1/locate", json=elsewhere)
    assert r.status_code == 200 and r.json() == {"boxes": []}
    assert client.post(f"/v1/documents/{did}/pages/99/locate", json=elsewhere).status_code == 404
    assert client.post(f"/v1/documents/{did}/pages/1/locate", json={"text": ""}).status_code == 422
    clip = [{**passage["boxes"][0], "page": True}]
    r = client.post(f"/v1/documents/{did}/pages/1/locate", json={"text": "x", "clip": clip})
    assert r.status_code == 422 and r.json()["detail"]


def test_deleting_a_document_removes_it(client: TestClient) -> None:
    docs = client.get("/v1/documents").json()["documents"]
    victim = next(d for d in docs if d["filename"] != REPORT)
    r = client.delete(f"/v1/documents/{victim['doc_id']}")
    assert r.status_code == 200 and r.json()["doc_id"] == victim["doc_id"]
    assert client.get(f"/v1/documents/{victim['doc_id']}").status_code == 404
    assert client.delete(f"/v1/documents/{victim['doc_id']}").status_code == 404


def test_a_partial_document_lists_its_failed_pages(tmp_path: Path) -> None:
    pdf = pdfs.cyclic_tree_pdf(tmp_path / "cyclic.pdf")
    runtime = Runtime(_settings(tmp_path / "home"))
    try:
        report = Ingestor.from_runtime(runtime).run([pdf])
        assert report.documents[0].status == "partial"
        with TestClient(create_app(runtime.settings, runtime)) as c:
            (doc,) = c.get("/v1/documents").json()["documents"]
            assert (doc["status"], doc["pages"]) == ("partial", 2)
            failed = [{"page": 2, "reason": "cannot load page (code=7: cycle in page tree)"}]
            assert doc["failed_pages"] == failed
            assert c.get(f"/v1/documents/{doc['doc_id']}").json()["failed_pages"] == failed
            assert pdfs.PAGE_THREE_TEXT in c.get(f"/v1/documents/{doc['doc_id']}/pages/3").text
            missing = c.get(f"/v1/documents/{doc['doc_id']}/pages/2")
            assert missing.status_code == 404
            assert missing.json()["detail"] == (
                "page 2 of cyclic.pdf could not be read: cannot load page (code=7: cycle in page "
                "tree)"
            )
            hits = c.post("/v1/search", json={"query": pdfs.PAGE_ONE_TEXT, "k": 1}).json()
            assert hits["hits"][0]["page"] == 1
    finally:
        runtime.close()
