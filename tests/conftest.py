"""Shared test setup: offline model hubs, and `tests/pdfs.py` importable as `pdfs`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

_TESTS = Path(__file__).resolve().parent
for _path in (_TESTS, _TESTS.parent):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
