"""`eval.bench_ocr` on generated pages: the real OCR engine under each configuration."""

from __future__ import annotations

from pathlib import Path

import pdfs
import pytest

from eval.bench_ocr import CONFIGS, pages, run, similarity
from ingest import ocr, ocr_graph


def test_each_configuration_reads_the_scan_and_the_rendered_text_page(tmp_path: Path) -> None:
    pdfs.image_only_pdf(tmp_path / "scan.pdf")
    pdfs.text_pdf(tmp_path / "text.pdf", pages=1)
    pdfs.corrupt_pdf(tmp_path / "corrupt_x.pdf")  # the corpus's broken files are left out
    scanned, sample = pages(tmp_path, every=1)
    assert [(p.name, i) for p, i in scanned] == [("scan.pdf", 0)]
    assert [(p.name, i) for p, i in sample] == [("text.pdf", 0)]
    rows = run(scanned, sample, list(CONFIGS))
    assert [r["config"] for r in rows] == [c[0] for c in CONFIGS.values()]
    assert rows[0]["agreement_with_today"] == 1.0  # today's configuration against itself
    assert rows[0]["accuracy_vs_text_layer"] > 0.8  # it reads the rendered page
    for r in rows:  # the others may read less: that is what the benchmark measures
        assert r["scanned_s_per_page"] > 0 and r["text_layer_s_per_page"] > 0
        assert 0 < r["agreement_with_today"] <= 1 and 0 < r["accuracy_vs_text_layer"] <= 1


def test_the_optimized_graphs_read_what_the_stock_graphs_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ocr_graph, "cache_dir", lambda: tmp_path / "cache")  # not the user's
    pdfs.image_only_pdf(tmp_path / "scan.pdf")
    scanned, _ = pages(tmp_path, every=1)
    ocr._optimized_paths.cache_clear()  # found once per process: find them in this cache
    try:
        _stock, optimized = run(scanned, [], ["default", "optimized"])
    finally:
        ocr._optimized_paths.cache_clear()  # the next test finds the user's again
    assert optimized["agreement_with_today"] == 1.0  # compared with the first one run
    assert list((tmp_path / "cache").rglob("*.onnx"))  # the rewritten graphs were used


def test_similarity_ignores_case_and_spacing_only() -> None:
    assert similarity("Net  Revenue\n12%", "net revenue 12%") == 1.0
    assert similarity("net revenue 12%", "net revenue 21%") < 1.0
