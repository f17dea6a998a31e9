"""An eval run's folder read back (`eval.runs`): the run's own summary when it wrote one, else
one computed from its answers; the last record per (question, strategy); its plots by name
only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.report import EvalRecord, write_records, write_report
from eval.runs import NotARunError, load_run, plot_file


def _rec(item: str, strategy: str, correct: bool, **kw: object) -> EvalRecord:
    fields: dict[str, object] = {
        "item_id": item,
        "strategy": strategy,
        "doc": "a.pdf",
        "question": f"question {item}?",
        "gold": "5",
        "answer": "It is 5 [1]." if correct else "It is 7 [1].",
        "answer_format": "Int",
        "score": float(correct),
        "correct": correct,
        "doc_pages": 12,
        "prompt_tokens": 900 if strategy == "rag" else 60,
        "seconds": 3.0,
    }
    return EvalRecord.model_validate({**fields, **kw})


def test_a_finished_run_gives_its_summary_records_and_plots(tmp_path: Path) -> None:
    records = [_rec("q1", "rag", True), _rec("q1", "closed-book", False), _rec("q2", "rag", False)]
    write_records([*records, _rec("q1", "extra", True)], tmp_path / "answers.jsonl")
    write_report(records, tmp_path, model="m", date="2026-12-01T00:00:00+00:00", machine={})
    run = load_run(tmp_path)
    assert not run.computed and run.summary["date"] == "2026-12-01T00:00:00+00:00"
    assert set(run.summary["strategies"]) == {"rag", "closed-book"}
    assert [r.strategy for r in run.records] == ["rag", "closed-book", "rag"], "not reported"
    assert "accuracy_vs_cost.png" in run.plots
    assert plot_file(tmp_path, "accuracy_vs_cost.png").read_bytes().startswith(b"\x89PNG")


def test_a_run_in_progress_is_summarised_from_its_answers(tmp_path: Path) -> None:
    answers = tmp_path / "answers.jsonl"
    write_records([_rec("q1", "rag", False), _rec("q2", "rag", True)], answers)
    with answers.open("a") as f:  # q1 run again (an error retried), then a torn line
        f.write(_rec("q1", "rag", True).model_dump_json() + "\n" + '{"item_id": "q3", "stra')
    run = load_run(tmp_path)
    assert run.computed and run.plots == []
    assert [(r.item_id, r.correct) for r in run.records] == [("q2", True), ("q1", True)]
    assert run.summary["strategies"]["rag"]["accuracy"] == 1.0


def test_a_summary_alone_is_a_run_without_records(tmp_path: Path) -> None:
    (tmp_path / "summary.json").write_text(json.dumps({"strategies": {"rag": {"n": 3}}}))
    run = load_run(tmp_path)
    assert run.records == [] and run.summary["strategies"]["rag"]["n"] == 3


def test_folders_without_a_run_and_foreign_plot_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(NotARunError, match="holds no eval run"):
        load_run(tmp_path)
    with pytest.raises(NotARunError):
        load_run(tmp_path / "missing")
    (tmp_path / "summary.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_run(tmp_path)
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "p.png").write_bytes(b"\x89PNG")
    for name in ["notes.txt", "../x.png", "sub/p.png", "missing.png", ".hidden.png"]:
        with pytest.raises(FileNotFoundError):
            plot_file(tmp_path, name)
