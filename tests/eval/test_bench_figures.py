"""`eval.bench_figures` on generated pages: the real OCR engine reads the figure of one page."""

from __future__ import annotations

from pathlib import Path

import pdfs

from eval.bench_figures import measure


def test_a_page_with_a_figure_costs_its_ocr_and_adds_its_text(tmp_path: Path) -> None:
    row = measure(pdfs.figure_pdf(tmp_path / "figure.pdf"), 0.05)
    assert row["pages"] == 1 and row["failed_pages"] == 0 and row["figures_read"] == 1
    assert row["chars_added"] >= len("North route 48,210 South route 17,905")
    assert row["seconds_with"] > row["seconds_without"] > 0  # the figure's OCR is extra work


def test_a_page_without_figures_reads_the_same(tmp_path: Path) -> None:
    row = measure(pdfs.text_pdf(tmp_path / "text.pdf", pages=2), 0.05)
    assert row["pages"] == 2 and row["figures_read"] == 0 and row["chars_added"] == 0
