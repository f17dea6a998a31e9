"""A real docqa service on loopback for the web UI's tests: `docqa serve` in its own process
(AppTest runs the UI's scripts in the test process, so the service's parse workers must not
start from there) over a store holding the demo PDFs (MiniLM, reranker, SmolLM2), behind an
API key."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator

import pytest
from services import cli, free_port, serve

WEB_KEY = "web-key"


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("web-home")
    folder = tmp_path_factory.mktemp("web-demo")
    assert cli(home, "demo", str(folder)).returncode == 0
    assert cli(home, "ingest", str(folder)).returncode == 0
    port = free_port()
    proc = serve(
        home,
        port,
        api_keys=WEB_KEY,
        generation__model="smollm2",
        generation__max_answer_tokens="40",
    )
    yield f"http://127.0.0.1:{port}"
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)


@pytest.fixture(autouse=True)
def _keep_main_module() -> Iterator[None]:
    """AppTest installs the script it runs as `__main__`; put the real one back, or every later
    `spawn` child process (the ingestion's parse workers) would run the UI script instead."""
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main
