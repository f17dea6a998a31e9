"""A real docqa service on loopback for the web UI's tests: `docqa serve` in its own process
(AppTest runs the UI's scripts in the test process, so the service's parse workers must not
start from there) over a store holding the demo PDFs and the generated dataset's (MiniLM,
reranker, SmolLM2), behind an API key, with a real eval run inside its ingestion roots."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from services import cli, free_port, serve

from eval.datasets import generated_dataset

WEB_KEY = "web-key"


@pytest.fixture(scope="session")
def web_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("web-home")


@pytest.fixture(scope="session")
def eval_run(web_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real `docqa eval` run (closed book and rag, SmolLM2) on the project's generated
    dataset, in a folder inside the service's ingestion roots."""
    qa, docs = generated_dataset(tmp_path_factory.mktemp("web-generated"))
    out = tmp_path_factory.mktemp("web-roots") / "runs" / "generated"
    args = ["eval", "--dataset", str(qa), "--docs", str(docs), "--model", "smollm2"]
    args += ["--strategies", "closed-book,rag", "--out", str(out)]
    res = cli(web_home, *args, generation__max_answer_tokens="32")
    assert res.returncode == 0, res.stderr
    return out


@pytest.fixture(scope="session")
def service(
    web_home: Path, eval_run: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    home = web_home
    folder = tmp_path_factory.mktemp("web-demo")
    assert cli(home, "demo", str(folder)).returncode == 0
    assert cli(home, "ingest", str(folder)).returncode == 0
    port = free_port()
    proc = serve(
        home,
        port,
        api_keys=WEB_KEY,
        ingest_roots=str(eval_run.parents[1]),
        generation__model="smollm2",
        generation__max_answer_tokens="40",
        # SmolLM2 (360M) stays on the question with the few passages a reranker-score floor
        # keeps, and cites within 40 tokens; given the default budget's 8 passages it writes a
        # list of figures and no citation. These tests are about the page, not the budget (the
        # 1.5B answers with the default budget in tests/docqa/answer/test_qwen_answers.py).
        answer__min_rerank_score="-2",
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
