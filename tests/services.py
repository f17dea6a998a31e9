"""Running docqa as a user runs it, for the tests: `docqa serve` on a free loopback port, and
the `docqa` command, each a subprocess with its own home. Importable as `services`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env_for(home: Path, **settings: str) -> dict[str, str]:
    """The environment of a docqa process: its home, offline hubs, and `DOCQA_<NAME>` settings."""
    extra = {f"DOCQA_{k.upper()}": v for k, v in settings.items()}
    return {**os.environ, "DOCQA_HOME": str(home), "HF_HUB_OFFLINE": "1", **extra}


def serve(home: Path, port: int, **settings: str) -> subprocess.Popen[str]:
    """`docqa serve --port PORT`, returned once /readyz answers 200."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "ui.cli", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env_for(home, **settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while True:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the service did not become ready"
        time.sleep(0.2)


def cli_process(home: Path, *args: str, **settings: str) -> subprocess.Popen[str]:
    """`docqa ARGS...`, started (stdout and stderr piped, as text)."""
    return subprocess.Popen(
        [sys.executable, "-m", "ui.cli", *args],
        cwd=ROOT,
        env=env_for(home, **settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def cli(home: Path, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    """`docqa ARGS...`, run to its end."""
    return subprocess.run(
        [sys.executable, "-m", "ui.cli", *args],
        cwd=ROOT,
        env=env_for(home, **settings),
        capture_output=True,
        text=True,
        timeout=600,
    )


@contextmanager
def uvicorn_thread(app: Any) -> Iterator[str]:
    """A real uvicorn serving `app` on a free loopback port, in a thread; yields its URL."""
    import uvicorn

    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=30)
