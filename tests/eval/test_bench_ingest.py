"""`eval.bench_ingest`'s per-stage summary line (the run itself is `make bench-ingest`)."""

from __future__ import annotations

from eval.bench_ingest import stage_lines


def test_stage_lines_split_the_main_process_from_the_parsers_largest_first() -> None:
    text = stage_lines({"chunk": 3.4, "embed": 50.0, "parse_tables": 10.9, "parse_ocr": 27.9})
    assert text.splitlines() == [
        "docqa, main process: embed 50.0 s, chunk 3.4 s",
        "docqa, parsers: ocr 27.9 s, tables 10.9 s",
    ]
    assert stage_lines({}).splitlines() == ["docqa, main process: -", "docqa, parsers: -"]
