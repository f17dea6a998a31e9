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


def _cpu() -> str:
    """The CPU's model name and its vector extensions (AVX*, AMX*), from /proc/cpuinfo."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        import platform

        return f"{platform.processor() or platform.machine()} (flags unknown)"
    first = {}
    for line in lines:
        key, _, value = line.partition(":")
        first.setdefault(key.strip(), value.strip())
    vector = sorted(f for f in first.get("flags", "").split() if f.startswith(("avx", "amx")))
    return f"{first.get('model name', 'unknown')} ({' '.join(vector) or 'no AVX'})"


def pytest_sessionstart(session: pytest.Session) -> None:
    """Where the run happened, printed even under `-q`: a CI log names the CPU and the
    llama.cpp kernels it used (logits, and so greedy answers, differ between kernel families
    such as AVX2 and AVX-512)."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        for line in _where():
            reporter.write_line(line)


def _where() -> list[str]:
    lines = [f"cpu: {_cpu()}, {os.cpu_count()} logical cores"]
    try:
        from docqa.generation.llamacpp import system_info
    except ImportError as e:  # the llm extra is not installed
        lines.append(f"llama.cpp: not importable ({e})")
    else:
        lines.append(f"llama.cpp: {system_info().strip()}")
    return lines
