"""The `docqa` command while `docqa serve` holds the embedded store: every command goes through
the service (found by itself, or named by DOCQA_URL); a store held by another process is
refused with that process named. Subprocesses, real models (SmolLM2 answers)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pdfs
from services import ROOT, cli, env_for, free_port, serve


def test_cli_commands_go_through_the_running_service(tmp_path: Path) -> None:
    home = tmp_path / "home"
    root = tmp_path / "docs"
    root.mkdir()
    pdfs.text_pdf(root / "a.pdf", pages=2)
    pdfs.table_pdf(root / "b.pdf")
    port = free_port()
    settings = {"ingest_roots": str(root), "generation__model": "smollm2"}
    proc = serve(home, port, **settings, generation__max_answer_tokens="24")
    try:
        ingest = cli(home, "ingest", str(root), "--json")
        assert ingest.returncode == 0, ingest.stderr
        assert "via the docqa service at http://127.0.0.1:" in ingest.stderr
        report = json.loads(ingest.stdout)
        assert sorted(Path(d["path"]).name for d in report["documents"]) == ["a.pdf", "b.pdf"]
        assert {d["status"] for d in report["documents"]} == {"indexed"}

        docs = cli(home, "docs", "--json")
        assert docs.returncode == 0, docs.stderr
        assert sorted(d["filename"] for d in json.loads(docs.stdout)["documents"]) == [
            "a.pdf",
            "b.pdf",
        ]
        hits = cli(home, "search", pdfs.SENTENCES[0], "--k", "2", "--doc", "a.pdf", "--json")
        assert hits.returncode == 0, hits.stderr
        assert [Path(h["path"]).name for h in json.loads(hits.stdout)["hits"]] == ["a.pdf"] * 2

        # DOCQA_URL names the service explicitly (here from another home, with no store)
        other = tmp_path / "elsewhere"
        url = f"http://127.0.0.1:{port}"
        ask = cli(other, "ask", "What is the heading?", "--strategy", "rag", "--json", url=url)
        assert ask.returncode == 0, ask.stderr
        answer = json.loads(ask.stdout)
        assert answer["route"]["strategy"] == "rag" and answer["passages"]
        assert not (other / "store").exists(), "nothing opened locally"

        missing = cli(home, "rm", "nope.pdf")
        assert missing.returncode == 1 and "no document" in missing.stderr
        outside = cli(home, "ingest", str(tmp_path))
        assert outside.returncode == 1 and "DOCQA_INGEST_ROOTS" in outside.stderr
        rm = cli(home, "rm", "b.pdf")
        assert rm.returncode == 0 and "removed b.pdf" in rm.stdout, rm.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    # the service is gone (and its note with it): the CLI opens the store itself again
    assert not (home / "service.json").exists()
    docs = cli(home, "docs", "--json")
    assert docs.returncode == 0 and "via the docqa service" not in docs.stderr
    assert [d["filename"] for d in json.loads(docs.stdout)["documents"]] == ["a.pdf"]


def test_a_store_held_by_another_process_names_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    hold = (
        "import sys, time\n"
        "from docqa.config import Settings\n"
        "from docqa.store.factory import open_store\n"
        "store = open_store(Settings(), dim=384)\n"
        "print('open', flush=True)\n"
        "time.sleep(120)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", hold],
        cwd=ROOT,
        env=env_for(home),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        r = cli(home, "docs")
        message = " ".join(r.stderr.split())  # as read, not as wrapped for the terminal
        assert r.returncode == 1
        assert "in use by another process" in message and "DOCQA_URL" in message
        assert f"It is process {holder.pid} (python" in message
    finally:
        holder.kill()
        holder.wait()


def test_serve_with_the_ui_starts_both_and_stops_both(tmp_path: Path) -> None:
    import httpx
    import psutil

    api, web = free_port(), free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ui.cli",
            "serve",
            "--port",
            str(api),
            "--ui",
            "--ui-port",
            str(web),
        ],
        cwd=ROOT,
        env=env_for(tmp_path / "home"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            try:
                a = httpx.get(f"http://127.0.0.1:{api}/healthz", timeout=2).status_code
                w = httpx.get(f"http://127.0.0.1:{web}/_stcore/health", timeout=2).status_code
                if a == w == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the API and the UI did not both come up"
            time.sleep(0.5)
        children = psutil.Process(proc.pid).children(recursive=True)
        assert any("streamlit" in " ".join(c.cmdline()) for c in children)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert f"docqa web UI on http://127.0.0.1:{web}" in err
    _, alive = psutil.wait_procs(children, timeout=30)
    assert not alive, "the UI stops with the service"
