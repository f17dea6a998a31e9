"""`docqa serve` as a user runs it (a subprocess on a loopback port), killed with SIGKILL in the
middle of an ingestion job and started again: the job resumes and finishes, finished jobs are
still answered for, and the store holds every document once, whole."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pdfs
import psutil
import pytest
from services import free_port, serve

from docqa.config import Settings
from docqa.store.factory import open_store
from docqa.types import DocStatus


def _serve(home: Path, root: Path, port: int) -> subprocess.Popen[str]:
    return serve(home, port, ingest_roots=str(root), job_lease_seconds="2")


def _job(http: httpx.Client, job_id: str) -> dict[str, Any]:
    r = http.get(f"/v1/jobs/{job_id}")
    assert r.status_code == 200, r.text
    job: dict[str, Any] = r.json()
    return job


def _until(http: httpx.Client, job_id: str, ok: Any, timeout: float = 600) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while not ok(job := _job(http, job_id)):
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
    return job


@pytest.mark.slow
def test_kill_9_mid_job_then_restart_resumes_it_without_duplicates(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    (root / "small").mkdir(parents=True)
    pdfs.text_pdf(root / "small" / "s.pdf", pages=1)
    pile = pdfs.pile(root / "pile")
    home = tmp_path / "home"
    port = free_port()
    base = f"http://127.0.0.1:{port}"

    proc = _serve(home, root, port)
    try:
        with httpx.Client(base_url=base, timeout=30) as http:
            small = http.post("/v1/ingest", json={"paths": [str(root / "small")]}).json()
            _until(http, small["id"], lambda j: j["state"] == "done")
            big = http.post("/v1/ingest", json={"paths": [str(pile)]}).json()
            _until(http, big["id"], lambda j: j["files_done"] >= 1 and j["pages_done"] >= 6)
        workers = psutil.Process(proc.pid).children(recursive=True)
        assert workers, "the parse worker should be running"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        _, alive = psutil.wait_procs(workers, timeout=15)
        assert not alive, "no parse worker outlives the killed service"
    finally:
        if proc.poll() is None:
            proc.kill()

    proc = _serve(home, root, port)
    try:
        with httpx.Client(base_url=base, timeout=30) as http:
            assert _job(http, small["id"])["state"] == "done", "finished jobs are remembered"
            done = _until(http, big["id"], lambda j: j["state"] in ("done", "failed"))
            assert done["state"] == "done" and done["attempts"] == 2, done
            statuses = {Path(r["path"]).name: r["status"] for r in done["results"]}
            assert statuses["a-first.pdf"] == "unchanged", "finished before the kill"
            assert set(statuses.values()) <= {"indexed", "unchanged"}
            assert "indexed" in statuses.values()
            assert done["files_total"] == done["files_done"] == 4
            docs = http.get("/v1/documents").json()["documents"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    assert sorted(d["filename"] for d in docs) == [
        "a-first.pdf",
        "b-long-0.pdf",
        "b-long-1.pdf",
        "b-long-2.pdf",
        "s.pdf",
    ]
    store = open_store(Settings(home=home), dim=384)
    try:
        for d in store.list_documents():
            assert d.status == DocStatus.ready
            assert store.count_chunks(d.doc_id, visible_only=False) == d.chunks > 0
            assert store.count_pages(d.doc_id, visible_only=False) == d.pages
    finally:
        store.close()
