"""Load check of the REST service: concurrent askers while a folder ingestion job runs.

    python -m eval.load_check [--askers 16] [--seconds 180] [--folder ../shared/corpus/dev]
                              [--out eval/out/load.json]

Starts `docqa serve` on a free loopback port with its own store (SmolLM2 answering, a queue
with a place for every asker) and ingests the project's demo PDFs. Then two phases, side by
side in one run: `--askers` threads that each ask question after question (RAG) for
`--baseline-seconds` alone, then for `--seconds` while a job ingests `--folder`. Bounded in
time and count: no asker starts a question after its phase's deadline (the questions already
waiting are answered), and the ingestion job is cancelled after the second phase if it has not
finished.

Reported per phase: answers, requests/s, p50/p95/max latency (queueing included), the answers'
own mean seconds (retrieval, generation, check), errors (any non-200: target 0); the p50 ratio
of the two phases; pages ingested; and the store's consistency afterwards (the service stopped, the store
opened directly): every document is either fully visible (ready, chunk and page counts of one
generation equal to its record) or absent, and no answer cited a document that was not ready.
No threshold or prompt is tuned, so the dev questions are not used (the folder is only read).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from docqa.config import Settings
from docqa.store.factory import open_store
from docqa.types import DocStatus
from ingest.demo import write_demo_folder

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = [
    "What was Northwind's revenue in 2024?",
    "How much did Northwind's revenue grow?",
    "What does the research note conclude?",
    "Who wrote the scanned memo, and what does it ask for?",
    "What were the operating expenses in 2024?",
    "Which risks does the annual report name?",
]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(home: Path, roots: list[Path], port: int, queue: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DOCQA_HOME": str(home),
        "DOCQA_INGEST_ROOTS": os.pathsep.join(str(r) for r in roots),
        "DOCQA_ASK_QUEUE": str(queue),
        "DOCQA_GENERATION__MODEL": "smollm2",
        "DOCQA_GENERATION__MAX_ANSWER_TOKENS": "48",
        "HF_HUB_OFFLINE": "1",
    }
    log = (home / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ui.cli", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"docqa serve exited: {(home / 'serve.log').read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise SystemExit("docqa serve did not become ready in 180 s")


def _wait_job(http: httpx.Client, job_id: str, until: float | None = None) -> dict[str, Any]:
    while True:
        job: dict[str, Any] = http.get(f"/v1/jobs/{job_id}").json()
        if job["state"] in ("done", "failed", "cancelled"):
            return job
        if until is not None and time.monotonic() > until:
            return job
        time.sleep(0.5)


def _consistency(home: Path, cited: set[str]) -> dict[str, Any]:
    store = open_store(Settings(home=home), dim=384)
    try:
        docs = store.list_documents()
        bad: list[str] = []
        for d in docs:
            chunks = store.count_chunks(d.doc_id, visible_only=False)
            pages = store.count_pages(d.doc_id, visible_only=False)
            if d.status.visible:
                visible = store.count_chunks(d.doc_id)
                if not (chunks == visible == d.chunks and pages == d.pages):
                    bad.append(f"{d.filename}: {visible}/{chunks} chunks of {d.chunks}")
            elif chunks or pages:
                bad.append(f"{d.filename} ({d.status.value}) holds {chunks} chunks")
        ready = {d.doc_id for d in docs if d.status.visible}
        return {
            "documents": len(docs),
            "ready": len(ready),
            "failed": sum(d.status == DocStatus.failed for d in docs),
            "inconsistent": bad,
            "cited_not_ready": sorted(cited - ready),
        }
    finally:
        store.close()


def _phase(
    base: str, askers: int, seconds: float, job_id: str | None, console: Console
) -> dict[str, Any]:
    """`askers` threads asking until `seconds` have passed (each finishes the question it is
    waiting for); their latencies, errors, the answers' mean timings and cited documents."""
    latencies: list[float] = []
    timings: list[dict[str, Any]] = []
    errors: list[str] = []
    cited: set[str] = set()
    lock = threading.Lock()
    t0 = time.monotonic()
    deadline = t0 + seconds

    def asker(i: int) -> None:
        with httpx.Client(base_url=base, timeout=1800) as c:
            n = i
            while time.monotonic() < deadline:
                q = QUESTIONS[n % len(QUESTIONS)]
                n += 1
                start = time.monotonic()
                try:
                    r = c.post("/v1/ask", json={"question": q, "strategy": "rag"})
                except httpx.HTTPError as e:
                    with lock:
                        errors.append(f"{type(e).__name__}: {e}")
                    continue
                took = time.monotonic() - start
                with lock:
                    if r.status_code == 200:
                        latencies.append(took)
                        body = r.json()
                        timings.append(body["timings"])
                        cited.update(p["doc_id"] for p in body["passages"])
                    else:
                        errors.append(f"{r.status_code}: {r.text[:200]}")

    threads = [threading.Thread(target=asker, args=(i,)) for i in range(askers)]
    for t in threads:
        t.start()
    phase = "with ingestion" if job_id else "alone"
    with httpx.Client(base_url=base, timeout=60) as http:
        while any(t.is_alive() for t in threads):
            note = ""
            if job_id:
                j = http.get(f"/v1/jobs/{job_id}").json()
                note = f"; ingestion {j['state']} {j['files_done']}/{j['files_total']} files, {j['pages_done']} pages"
            console.print(
                f"[dim]{phase} {time.monotonic() - t0:5.0f} s: {len(latencies)} answers, "
                f"{len(errors)} errors{note}[/]"
            )
            time.sleep(10)
    elapsed = time.monotonic() - t0
    lat = sorted(latencies)

    def mean(key: str) -> float:
        return round(statistics.fmean(t[key] or 0.0 for t in timings), 2) if timings else 0.0

    return {
        "seconds": round(elapsed, 1),
        "answers": len(lat),
        "requests_per_second": round(len(lat) / elapsed, 3),
        "latency_p50": round(statistics.median(lat), 2) if lat else None,
        "latency_p95": round(lat[int(0.95 * (len(lat) - 1))], 2) if lat else None,
        "latency_max": round(lat[-1], 2) if lat else None,
        "answer_seconds": {k: mean(k) for k in ("retrieval", "generation", "check", "total")},
        "errors": errors,
        "cited": cited,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--askers", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=180.0)
    ap.add_argument("--baseline-seconds", type=float, default=60.0)
    ap.add_argument("--folder", type=Path, default=ROOT.parent / "shared" / "corpus" / "dev")
    ap.add_argument("--out", type=Path, default=ROOT / "eval" / "out" / "load.json")
    args = ap.parse_args()
    console = Console(stderr=True)
    folder = args.folder.resolve()
    if not folder.is_dir():
        raise SystemExit(f"no such folder: {folder}")

    with tempfile.TemporaryDirectory(prefix="docqa-load-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        demo = Path(tmp) / "demo"
        write_demo_folder(demo)
        port = _port()
        proc = _serve(home, [demo, folder], port, queue=args.askers * 2)
        base = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(base_url=base, timeout=600) as http:
                console.print("ingesting the demo folder...")
                first = http.post("/v1/ingest", json={"paths": [str(demo)]}).json()
                _wait_job(http, first["id"])
                console.print("warming up the models with one question...")
                http.post("/v1/ask", json={"question": QUESTIONS[0], "strategy": "rag"})
            baseline = _phase(base, args.askers, args.baseline_seconds, None, console)
            with httpx.Client(base_url=base, timeout=600) as http:
                job = http.post("/v1/ingest", json={"paths": [str(folder)]}).json()
            loaded = _phase(base, args.askers, args.seconds, job["id"], console)
            with httpx.Client(base_url=base, timeout=60) as http:
                ingest = http.get(f"/v1/jobs/{job['id']}").json()
                if ingest["state"] not in ("done", "failed", "cancelled"):
                    http.delete(f"/v1/jobs/{job['id']}")
                    ingest = _wait_job(http, job["id"], until=time.monotonic() + 120)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
        cited = baseline.pop("cited") | loaded.pop("cited")
        consistency = _consistency(home, cited)

    errors = baseline["errors"] + loaded["errors"]
    result = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "askers": args.askers,
        "alone": baseline,
        "during_ingestion": loaded,
        "latency_p50_ratio": (
            round(loaded["latency_p50"] / baseline["latency_p50"], 2)
            if loaded["latency_p50"] and baseline["latency_p50"]
            else None
        ),
        "ingestion": {
            k: ingest[k]
            for k in ("state", "files_done", "files_failed", "files_total", "pages_done")
        },
        "ingested_pages_per_second": round(ingest["pages_done"] / loaded["seconds"], 2),
        "consistency": consistency,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    ok = not errors and not consistency["inconsistent"] and not consistency["cited_not_ready"]
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
