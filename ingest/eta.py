"""How long an ingest run still takes: one estimator for the CLI bar, the REST job and the web UI.

Pages are not equal work: a page of dense prose yields several full chunks to embed, a page of
a financial statement fewer, a blank page none, and a scanned page is OCR'd. Before a page is
parsed, the cheapest sign of its work is the size of its content stream (the drawing
operators: every glyph shown costs bytes), read from the PDF's object table without decoding
anything (`page_work`: ~0.1 ms a page, against ~100 ms to parse it). Pages with an image and
almost no content are scanned pages, which OCR makes costly.

`WorkEta` turns work done over time into seconds left. It measures the pace from the first
progress report on, so the start-up (the parser process starting, the first page) does not
count as pace. Work counts as done when the pages' chunks are stored, not when they are parsed
(the parser runs ahead of the embedder).

Example:
    >>> clock = iter([0.0, 10.0, 20.0]).__next__
    >>> eta = WorkEta(clock)
    >>> eta.found(100.0)
    >>> eta.done(10.0), eta.done(20.0)  # no pace yet after one report
    (None, 35.0)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

PAGE_BASE_WORK = 1024.0
"""Work of any page besides its content stream (text extraction, its image), in bytes."""
SCAN_WORK = 50 * 1024.0
"""Work of a scanned page (an image, almost no content stream), in content-stream bytes:
measured 2026-12-06, OCR took 1.66 s a page on the dev corpus, while a 10-K page of ~4.7 KB of
content took ~0.16 s to parse, chunk and embed."""
SCAN_MAX_CONTENT = 512
"""A page with an image and at most this many content bytes counts as scanned."""


def page_work(doc: Any) -> list[float]:
    """Estimated work of each page of an open PyMuPDF document (relative units, see above).
    A page whose size cannot be read weighs `PAGE_BASE_WORK`."""
    out: list[float] = []
    for i in range(doc.page_count):
        try:
            page = doc.load_page(i)
            content = sum(len(doc.xref_stream_raw(x) or b"") for x in page.get_contents())
            scanned = content <= SCAN_MAX_CONTENT and bool(page.get_images())
        except Exception:  # a damaged page: its parse will say so
            content, scanned = 0, False
        out.append(SCAN_WORK if scanned else PAGE_BASE_WORK + content)
    return out


class WorkEta:
    """Seconds left from the work found and done so far (`clock`: seconds, monotonic)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.total = 0.0
        self.completed = 0.0
        self._first: tuple[float, float] | None = None
        """(time, work done) at the first report: the pace is measured from there."""

    def found(self, work: float) -> None:
        """More work is known (a file opened)."""
        self.total += work

    def done(self, work: float) -> float | None:
        """`work` was finished now; the seconds left, or None before there is a pace."""
        now = self.clock()
        self.completed += work
        if self._first is None:
            self._first = (now, self.completed)
            return None
        t0, w0 = self._first
        if now <= t0 or self.completed <= w0:
            return None
        pace = (self.completed - w0) / (now - t0)
        return max(0.0, self.total - self.completed) / pace
