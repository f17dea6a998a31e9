"""The ingest ETA: page work read from generated PDFs, and the estimator on a scripted clock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pdfs
import pymupdf
import pytest

from ingest.eta import PAGE_BASE_WORK, SCAN_WORK, WorkEta, page_work


def test_page_work_follows_what_a_page_holds(tmp_path: Path) -> None:
    dense = pymupdf.open(pdfs.dense_pdf(tmp_path / "dense.pdf", pages=2))
    short = pymupdf.open(pdfs.text_pdf(tmp_path / "short.pdf", pages=2))
    scan = pymupdf.open(pdfs.image_only_pdf(tmp_path / "scan.pdf"))
    blank = pymupdf.open()
    blank.new_page()
    assert page_work(blank) == [PAGE_BASE_WORK]
    assert page_work(scan) == [SCAN_WORK]
    short_work, dense_work = page_work(short), page_work(dense)
    assert len(short_work) == len(dense_work) == 2
    assert PAGE_BASE_WORK < max(short_work) < min(dense_work)


def _clock(times: list[float]) -> Iterator[float]:
    yield from times


def test_the_pace_starts_at_the_first_report_and_counts_work_not_pages() -> None:
    # the first report comes after 30 s of start-up: that is not pace
    ticks = _clock([30.0, 40.0, 50.0, 60.0])
    eta = WorkEta(lambda: next(ticks))
    eta.found(1000.0)
    assert eta.done(100.0) is None
    assert eta.done(100.0) == pytest.approx(800 / 10)  # 100 units in 10 s
    eta.found(200.0)  # a second file opens: more work left
    assert eta.done(300.0) == pytest.approx(700 / 20)  # 400 units in 20 s
    assert eta.done(700.0) == 0.0


def test_no_eta_while_time_or_work_stands_still() -> None:
    ticks = _clock([5.0, 5.0, 7.0])
    eta = WorkEta(lambda: next(ticks))
    eta.found(10.0)
    assert eta.done(1.0) is None
    assert eta.done(1.0) is None  # work, but no time since the first report
    assert eta.done(0.0) == pytest.approx(8 / 0.5)  # 1 unit in 2 s
    ticks = _clock([5.0, 6.0])
    still = WorkEta(lambda: next(ticks))
    still.found(10.0)
    assert still.done(1.0) is None
    assert still.done(0.0) is None  # time, but no work since the first report
