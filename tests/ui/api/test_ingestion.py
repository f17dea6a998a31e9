"""The service's ingestion routes through FastAPI's test client (its lifespan runs the job
runner): folder jobs inside the roots, their events and cancel, uploads and their limits. Real
store, MiniLM and PDFs."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pdfs
import pytest
from fastapi.testclient import TestClient

from docqa.config import Settings
from docqa.runtime import Runtime
from ui.api.app import create_app
from ui.api.ingestion import safe_filename


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("root")
    pdfs.text_pdf(folder / "a.pdf", pages=2)
    (folder / "sub").mkdir()
    pdfs.table_pdf(folder / "sub" / "b.pdf")
    return folder


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, root: Path) -> Iterator[TestClient]:
    home = tmp_path_factory.mktemp("home")
    settings = Settings(home=home, ingest_roots=[root], upload_max_mb=0.05, job_lease_seconds=3)
    rt = Runtime(settings)
    with TestClient(create_app(settings, rt)) as c:
        yield c
    rt.close()


def _wait(client: TestClient, job_id: str, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").json()
        if job["state"] in ("done", "failed", "cancelled"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.1)


def test_a_folder_job_runs_to_done_with_per_file_results(client: TestClient, root: Path) -> None:
    r = client.post("/v1/ingest", json={"paths": [str(root)], "recursive": False})
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["state"] in ("queued", "running") and job["request"]["recursive"] is False
    done = _wait(client, job["id"])
    assert done["state"] == "done" and done["files_total"] == 1 and done["pages_done"] == 2
    assert [Path(x["path"]).name for x in done["results"]] == ["a.pdf"]
    assert done["results"][0]["status"] == "indexed" and done["pages_per_second"] > 0
    assert any(j["id"] == job["id"] for j in client.get("/v1/jobs").json()["jobs"])
    # events of a finished job: its final state, then the stream ends
    with client.stream("GET", f"/v1/jobs/{job['id']}/events") as s:
        events = [json.loads(line[5:]) for line in s.iter_lines() if line.startswith("data:")]
    assert events[-1]["state"] == "done"
    assert client.delete(f"/v1/jobs/{job['id']}").status_code == 409
    docs = client.get("/v1/documents").json()["documents"]
    assert [d["filename"] for d in docs] == ["a.pdf"] and docs[0]["status"] == "ready"


def test_paths_outside_the_roots_are_403_naming_them(client: TestClient, root: Path) -> None:
    outside = pdfs.text_pdf(root.parent / "outside.pdf", pages=1)
    link = root / "escape"
    link.symlink_to(root.parent)
    try:
        for p in (str(outside), str(link), f"{root}/../outside.pdf", "/etc"):
            r = client.post("/v1/ingest", json={"paths": [p]})
            assert r.status_code == 403, p
            assert str(root) in r.json()["detail"] and "DOCQA_INGEST_ROOTS" in r.json()["detail"]
    finally:
        link.unlink()
    r = client.post("/v1/ingest", json={"paths": ["relative/folder"]})
    assert r.status_code == 422 and "absolute" in r.json()["detail"]
    r = client.post("/v1/ingest", json={"paths": [str(root / "missing.pdf")]})
    assert r.status_code == 404 and "no such file" in r.json()["detail"]
    for bad in ({"paths": []}, {}, {"paths": "x"}, {"paths": [str(root)], "recursive": "maybe"}):
        assert client.post("/v1/ingest", json=bad).status_code == 422, bad
    assert client.get("/v1/jobs/nope").status_code == 404
    assert client.delete("/v1/jobs/nope").status_code == 404


def test_uploads_are_checked_named_safely_and_ingested(client: TestClient, tmp_path: Path) -> None:
    pdf = pdfs.text_pdf(tmp_path / "report.pdf", pages=1).read_bytes()
    files = [("files", ("../../etc/Q3 report?.pdf", pdf, "application/pdf"))]
    r = client.post("/v1/documents", files=files)
    assert r.status_code == 202, r.text
    job = _wait(client, r.json()["id"])
    assert job["state"] == "done" and job["request"]["source"] == "upload"
    stored = Path(job["request"]["paths"][0])
    assert stored.name == "Q3 report_.pdf" and stored.parent.parent.name == "uploads"
    assert stored.read_bytes() == pdf
    # the same bytes again are the same document (unchanged), not a copy
    again = _wait(client, client.post("/v1/documents", files=files).json()["id"])
    assert again["request"]["paths"] == job["request"]["paths"]
    assert again["results"][0]["status"] == "unchanged"
    # another file of the same name does not overwrite the first
    other = pdfs.text_pdf(tmp_path / "other.pdf", pages=2).read_bytes()
    r3 = client.post(
        "/v1/documents", files=[("files", ("Q3 report?.pdf", other, "application/pdf"))]
    )
    third = _wait(client, r3.json()["id"])
    assert Path(third["request"]["paths"][0]) != stored and stored.read_bytes() == pdf

    r = client.post(
        "/v1/documents", files=[("files", ("x.pdf", b"hello, not a pdf", "text/plain"))]
    )
    assert r.status_code == 415 and "not a PDF" in r.json()["detail"]
    big = b"%PDF-1.7\n" + b"0" * 60_000  # over the 0.05 MB limit of this service
    r = client.post("/v1/documents", files=[("files", ("big.pdf", big, "application/pdf"))])
    assert r.status_code == 413 and "MB" in r.json()["detail"]
    assert client.post("/v1/documents").status_code == 422
    leftovers = [p.name for p in stored.parent.parent.rglob(".part-*")]
    assert leftovers == [], "refused uploads leave nothing behind"


def test_safe_filename() -> None:
    assert safe_filename("../../x.pdf") == "x.pdf"
    assert safe_filename("..\\..\\win.PDF") == "win.pdf"
    assert safe_filename(".hidden") == "hidden.pdf"
    assert safe_filename("") == "upload.pdf"
    assert len(safe_filename("a" * 500 + ".pdf")) == 120
