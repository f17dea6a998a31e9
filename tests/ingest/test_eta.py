"""The ingest ETA: page work read from generated PDFs, and the estimator on a scripted clock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pdfs
import pymupdf
import pytest

from ingest.eta import PAGE_BASE_WORK, SCAN_WORK, WorkEta, content_bytes, page_work


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


def _page(doc: pymupdf.Document, words: int, rules: int) -> None:
    page = doc.new_page()
    for i in range(rules):  # a ruled table's cell borders: bytes of drawing, no text
        page.draw_line((40, 40 + i * 0.7), (560, 40 + i * 0.7))
    page.insert_textbox((40, 40, 560, 800), " ".join(f"word{i}" for i in range(words)))


def test_a_tables_rules_weigh_nothing_and_its_text_what_prose_of_that_length_weighs() -> None:
    doc = pymupdf.open()
    _page(doc, words=200, rules=0)
    _page(doc, words=200, rules=1000)
    _page(doc, words=20, rules=1000)
    prose, table, sparse = page_work(doc)
    # the old weight, the whole content stream, ranks the sparse table above the prose
    old_prose, _, old_sparse = page_work(doc, content_bytes)
    assert old_sparse > old_prose
    assert table == pytest.approx(prose, rel=0.02)
    assert 0 < sparse - PAGE_BASE_WORK < (prose - PAGE_BASE_WORK) / 5


def test_text_drawn_through_a_form_xobject_counts() -> None:
    source = pymupdf.open()
    _page(source, words=200, rules=0)
    doc = pymupdf.open()
    doc.new_page().show_pdf_page(doc[0].rect, source, 0)  # the page becomes a form XObject
    (direct,) = page_work(source)
    (through_form,) = page_work(doc)
    assert through_form == pytest.approx(direct, rel=0.05)


def test_an_inline_images_data_is_not_read_as_text() -> None:
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_text((40, 40), "hello")
    (alone,) = page_work(doc)
    data = b"(" + b"x" * 4000 + b")"  # binary data that looks like a string
    inline = b"q 10 0 0 10 100 100 cm BI /W 4002 /H 1 /CS /G /BPC 8 ID " + data + b" EI Q\n"
    xref = page.get_contents()[0]
    doc.update_stream(xref, (doc.xref_stream(xref) or b"") + b"\n" + inline)
    (with_image,) = page_work(doc)
    assert with_image == alone


def test_the_pipeline_eta_adds_what_the_embedder_stores_after_the_parser_at_its_gain() -> None:
    from ingest.cores import ParserProgress
    from ingest.eta import THREAD_SCALING, PipelineEta, all_cores_gain

    times = iter([0.0, 10.0, 20.0, 30.0, 33.0, 40.0]).__next__
    state = ParserProgress(found=100.0, parsed=20.0, finished=False)
    eta = PipelineEta(lambda: state, gain=2.0, clock=times, settle=5.0)
    eta.found(100.0)
    assert eta.done(10.0) is None  # t=0: no pace yet
    # t=10: the parser went 20 -> 60 (4/s: 10 s left), the embedder 10 -> 20 (1/s): in those
    # 10 s it stores 10 more, then the 70 left at 2/s
    state = ParserProgress(100.0, 60.0, False)
    assert eta.done(10.0) == pytest.approx(10.0 + 70.0 / 2.0)
    # t=20: an embedder that keeps up with the parser finishes with it
    state = ParserProgress(100.0, 70.0, False)
    assert eta.done(60.0) == pytest.approx(30.0 / 2.5)  # the parser's 30 left at 2.5/s
    # the parsers are done: the gain's pace until `settle` seconds of it, then the measured one
    state = ParserProgress(100.0, 100.0, True)
    assert eta.done(5.0) == pytest.approx(15.0 / (75.0 / 30.0 * 2.0))  # t=30: 75 since t=0
    assert eta.done(5.0) == pytest.approx(10.0 / (80.0 / 33.0 * 2.0))  # t=33: 3 s alone
    assert eta.done(6.0) == pytest.approx(4.0 / (11.0 / 10.0))  # t=40: 11 stored in 10 s alone
    assert all_cores_gain(2, 1) == pytest.approx(2**THREAD_SCALING) and THREAD_SCALING > 0
    assert all_cores_gain(1, 1) == 1.0 and all_cores_gain(8, 0) == 1.0


def test_the_pipeline_eta_counts_work_the_parser_found_before_the_embedder_saw_it() -> None:
    from ingest.cores import ParserProgress
    from ingest.eta import PipelineEta

    times = iter([0.0, 10.0]).__next__
    state = ParserProgress(found=200.0, parsed=50.0, finished=False)
    eta = PipelineEta(lambda: state, gain=1.0, clock=times)
    eta.found(100.0)  # the embedder has seen the first file only
    eta.done(10.0)
    state = ParserProgress(200.0, 100.0, False)
    # parser: 100 left at 5/s = 20 s; embedder at 1/s stores 20 of its 180 left, then 160 at 1/s
    assert eta.done(10.0) == pytest.approx(20.0 + 160.0)


def test_work_dropped_by_a_failed_file_is_no_longer_left() -> None:
    times = iter([0.0, 10.0, 20.0]).__next__
    eta = WorkEta(times)
    eta.found(100.0)
    assert eta.done(10.0) is None
    assert eta.done(10.0) == pytest.approx(80.0 / 1.0)
    eta.drop(30.0)  # a file of 30 failed before any of it was done
    assert eta.done(10.0) == pytest.approx(40.0 / 1.0)
