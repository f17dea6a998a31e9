"""`eval.compute_questions`: the arithmetic questions of a dataset, by their words alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.compute_questions import main, select


def test_only_questions_that_ask_for_arithmetic_are_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    items = [
        {"id": "a", "question": "What was the gross margin in 2023?", "answer": "40%"},
        {"id": "b", "question": "Who is the chief executive?", "answer": "Ann"},
        {"id": "c", "question": "By how much did sales grow?", "answer": "Not answerable"},
    ]
    src = tmp_path / "qa.jsonl"
    src.write_text("".join(json.dumps(i) + "\n" for i in items) + "\n", encoding="utf-8")
    out = tmp_path / "sub" / "qa.jsonl"
    kept = select(src, out)
    assert [json.loads(x)["id"] for x in out.read_text().splitlines()] == ["a", "c"]
    assert sum(kept.values()) == 2
    main(["--dataset", str(src), "--out", str(out)])
    assert capsys.readouterr().out.startswith("2 questions ask for arithmetic")
