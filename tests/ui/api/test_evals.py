"""The service's eval routes through FastAPI's test client: a run folder inside the ingestion
roots read back with its plots; outside the roots 403, no run 404, a broken summary 422, a
plot name that leaves the folder 404."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from docqa.config import Settings
from docqa.runtime import Runtime
from eval.report import EvalRecord, write_records, write_report
from ui.api.app import create_app


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("roots")
    run = root / "runs" / "dev"
    rec = EvalRecord(
        item_id="q1", strategy="rag", doc="a.pdf", question="How many?", gold="5",
        answer="5 [1].", answer_format="Int", score=1.0, correct=True, doc_pages=3,
        prompt_tokens=800, seconds=2.0,
    )  # fmt: skip
    write_records([rec], run / "answers.jsonl")
    write_report([rec], run, model="m")
    (root / "empty").mkdir()
    (root / "broken").mkdir()
    (root / "broken" / "summary.json").write_text("{")
    return root


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, root: Path) -> Iterator[TestClient]:
    settings = Settings(home=tmp_path_factory.mktemp("home"), ingest_roots=[root])
    rt = Runtime(settings)
    with TestClient(create_app(settings, rt)) as c:
        yield c
    rt.close()


def test_a_run_inside_the_roots_is_read_back_with_its_plots(client: TestClient, root: Path) -> None:
    run = root / "runs" / "dev"
    r = client.get("/v1/evals", params={"path": str(run)})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["summary"]["strategies"]["rag"]["accuracy"] == 1.0
    assert [x["item_id"] for x in body["records"]] == ["q1"]
    assert "accuracy_vs_cost.png" in body["plots"]
    png = client.get("/v1/evals/plots/accuracy_vs_cost.png", params={"path": str(run)})
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")


def test_bad_folders_and_plot_names_are_4xx_with_a_reason(
    client: TestClient, root: Path, tmp_path: Path
) -> None:
    cases = {
        str(tmp_path): (403, "outside the folders"),
        "relative/run": (422, "must be absolute"),
        str(root / "nowhere"): (404, "no such file or folder"),
        str(root / "empty"): (404, "holds no eval run"),
        str(root / "broken"): (422, "not valid JSON"),
    }
    for path, (status, words) in cases.items():
        r = client.get("/v1/evals", params={"path": path})
        assert r.status_code == status and words in r.json()["detail"], (path, r.text)
    run = str(root / "runs" / "dev")
    for name in ["answers.jsonl", "..%2F..%2Fempty", "missing.png"]:
        r = client.get(f"/v1/evals/plots/{name}", params={"path": run})
        assert r.status_code == 404, (name, r.text)
    assert client.get("/v1/evals/plots/x.png", params={"path": str(tmp_path)}).status_code == 403
