"""`eval.bench_refresh` on a small folder: the real Ingestor, embedder and store."""

from __future__ import annotations

from pathlib import Path

from eval.bench_refresh import run


def test_unchanged_files_are_not_embedded_and_a_changed_one_alone_is(tmp_path: Path) -> None:
    whole, unchanged, changed = run(6, tmp_path / "folder", tmp_path / "home")
    assert whole["files"] == {"indexed": 6}
    assert whole["embedded_texts"] == whole["chunks_of_indexed_files"] >= 6
    assert unchanged["files"] == {"unchanged": 6} and unchanged["embedded_texts"] == 0
    assert changed["files"] == {"indexed": 1, "unchanged": 5}
    assert changed["embedded_texts"] == changed["chunks_of_indexed_files"] >= 1
