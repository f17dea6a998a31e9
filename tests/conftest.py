"""Shared test setup: offline model hubs, and `tests/pdfs.py` importable as `pdfs`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

_TESTS = Path(__file__).resolve().parent
for _path in (_TESTS, _TESTS.parent):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def _vector_flags() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "flags unknown"
    flags = next(
        (ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), []
    )
    vector = sorted(f for f in flags if f.startswith(("avx", "amx")))
    return " ".join(vector) or "no AVX"


def pytest_sessionstart(session: pytest.Session) -> None:
    """Where the run happened, printed even under `-q`: a CI log names the CPU and the
    llama.cpp kernels it used (logits, and so greedy answers, differ between kernel families
    such as AVX2 and AVX-512)."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        for line in _where():
            reporter.write_line(line)


def _where() -> list[str]:
    lines = [f"cpu: {_cpu_model()} ({os.cpu_count()} logical cores; {_vector_flags()})"]
    try:
        from docqa.generation.llamacpp import system_info
    except ImportError as e:  # the llm extra is not installed
        lines.append(f"llama.cpp: not importable ({e})")
    else:
        lines.append(f"llama.cpp: {system_info().strip()}")
    return lines
