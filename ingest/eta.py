"""How long an ingest run still takes: one estimator for the CLI bar, the REST job and the web UI.

Pages are not equal work: a page of dense prose yields several full chunks to embed, a page of
a financial statement fewer, a blank page none, and a scanned page is OCR'd. Before a page is
parsed, the cheapest sign of its work is the text its content stream shows: the bytes of the
strings in it (what its text operators draw), in the page's streams and the form XObjects it
draws, read without parsing the page (`page_work`; under a millisecond a page, against ~100 ms
to parse it). The whole stream's size, the weight until 2026-12-07
(`content_bytes`), also counts a table's rules and cells, which add no text to embed, so
prose ran 1.4x slower per unit of work than statements. Pages with an image and almost no
content are scanned pages, which OCR makes costly.

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

import re
import time
from collections.abc import Callable
from typing import Any

from ingest.cores import ParserProgress

PAGE_BASE_WORK = 1024.0
"""Work of any page besides the text it shows (rendering its image, finding tables), in bytes."""
SCAN_WORK = 1.66 / 0.16 * (PAGE_BASE_WORK + 14_700)
"""Work of a scanned page (an image, almost no content stream): measured 2026-12-06, OCR took
1.66 s a page on the dev corpus, while a mean page of the Boeing 10-K (14,700 bytes of shown
text) took ~0.16 s to parse, chunk and embed."""
SCAN_MAX_CONTENT = 512
"""A page with an image and at most this many content bytes counts as scanned."""

_STRING = re.compile(rb"\((?:[^\\)]|\\.)*\)|<[0-9A-Fa-f\s]*>")
"""A literal or hex string: in a content stream, what text operators show (and marked-content
text such as /ActualText)."""
_INLINE_IMAGE = re.compile(rb"\bBI\b.*?\bID\b.*?\bEI\b", re.S)
"""An inline image, whose binary data may hold bytes that look like strings."""

Size = Callable[[Any, Any], int]
"""The size of one page's work (an open PyMuPDF document, one of its pages)."""


def content_bytes(doc: Any, page: Any) -> int:
    """The raw (undecoded) size of the page's content streams."""
    return sum(len(doc.xref_stream_raw(x) or b"") for x in page.get_contents())


def shown_text_bytes(doc: Any, page: Any) -> int:
    """The bytes of the strings in the page's decoded content streams and in the form XObjects
    it draws, inline images left out (a string's delimiters and a hex string's digits count, so
    a two-byte font weighs about what it shows)."""
    streams = [doc.xref_stream(x) or b"" for x in page.get_contents()]
    streams += [doc.xref_stream(xref) or b"" for xref, *_ in page.get_xobjects()]
    total = 0
    for stream in streams:
        if b"BI" in stream:
            stream = _INLINE_IMAGE.sub(b"", stream)
        total += sum(map(len, _STRING.findall(stream)))
    return total


def page_work(doc: Any, size: Size = shown_text_bytes) -> list[float]:
    """Estimated work of each page of an open PyMuPDF document (relative units, see above):
    `PAGE_BASE_WORK` plus its `size`, or `SCAN_WORK` for a scanned page. A page whose size
    cannot be read weighs `PAGE_BASE_WORK`."""
    out: list[float] = []
    for i in range(doc.page_count):
        try:
            page = doc.load_page(i)
            raw = content_bytes(doc, page)
            scanned = raw <= SCAN_MAX_CONTENT and bool(page.get_images())
            work = 0 if scanned else size(doc, page)
        except Exception:  # a damaged page: its parse will say so
            work, scanned = 0, False
        out.append(SCAN_WORK if scanned else PAGE_BASE_WORK + work)
    return out


class WorkEta:
    """Seconds left from the work found and done so far (`clock`: seconds, monotonic)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.total = 0.0
        self.completed = 0.0
        self.dropped = 0.0
        self._first: tuple[float, float] | None = None
        """(time, work done) at the first report: the pace is measured from there."""

    def found(self, work: float) -> None:
        """More work is known (a file opened)."""
        self.total += work

    def drop(self, work: float) -> None:
        """Work found that will not be done (a file that failed part way)."""
        self.total -= work
        self.dropped += work

    def done(self, work: float) -> float | None:
        """`work` was finished now; the seconds left, or None before there is a pace."""
        now = self.clock()
        self.completed += work
        if self._first is None:
            self._first = (now, self.completed)
            self._started()
            return None
        t0, w0 = self._first
        if now <= t0 or self.completed <= w0:
            return None
        return self._seconds_left(now, (self.completed - w0) / (now - t0))

    def _started(self) -> None:
        """Called at the first report, from which the pace is measured."""

    def _seconds_left(self, now: float, pace: float) -> float:
        """The seconds left at `now`, given the pace of work done since the first report."""
        return max(0.0, self.total - self.completed) / pace


THREAD_SCALING = 0.74
"""The embedder's speed grows as (threads) ** this: measured 2026-12-07 on a 2-core AMD EPYC VM
(MiniLM in bfloat16, the dev corpus's 2,105 chunk texts in calls of 128, two rounds): 46.0 s
on one thread, 27.6 s on two, 1.67x (`eval/results/core-share/threads-2026-12-07.json`)."""


def all_cores_gain(cores: int, parsers: int) -> float:
    """How much faster the embedder stores on every core than on those `parsers` leave."""
    return float((max(1, cores) / max(1, cores - parsers)) ** THREAD_SCALING)


class PipelineEta(WorkEta):
    """Seconds left when the parser may run far ahead of the embedder and the embedder takes
    every core once the parsers are done (`ingest.share_cores`): a pipeline of two stages.

    `WorkEta`'s single pace goes wrong there: while the parser runs, the embedder stores on the
    cores it leaves; once the parser has finished, the embedder stores faster, by the gain of
    all cores over those (`gain`). So the parsers' own progress (`parser`: work found and
    parsed, shared by the parse processes) is read too: the parsers finish after the work they
    have left at their pace; the embedder stores at its pace until then (never past what is
    parsed), then the rest at `gain` times that pace, or at the pace it is measured to go once
    the parsers are done (after `settle` seconds of that).
    """

    def __init__(
        self,
        parser: Callable[[], ParserProgress],
        gain: float,
        clock: Callable[[], float] = time.monotonic,
        settle: float = 5.0,
    ) -> None:
        super().__init__(clock)
        self.parser = parser
        self.gain = max(1.0, gain)
        self.settle = settle
        self._parsed_first = 0.0
        self._alone: tuple[float, float] | None = None
        """(time, work done) when the parsers were first seen finished."""

    def _started(self) -> None:
        self._parsed_first = self.parser().parsed

    def _seconds_left(self, now: float, pace: float) -> float:
        assert self._first is not None
        progress = self.parser()
        total = max(self.total, progress.found - self.dropped)
        left = max(0.0, total - self.completed)
        if progress.finished:
            if self._alone is None:
                self._alone = (now, self.completed)
            t2, w2 = self._alone
            if now - t2 >= self.settle and self.completed > w2:
                return left / ((self.completed - w2) / (now - t2))
            return left / (pace * self.gain)
        parse_pace = (progress.parsed - self._parsed_first) / (now - self._first[0])
        if parse_pace <= 0:
            return left / pace
        parse_left = max(0.0, total - progress.parsed) / parse_pace
        behind = left - pace * parse_left  # what the embedder has still to store then
        return parse_left + max(0.0, behind) / (pace * self.gain)
