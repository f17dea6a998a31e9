"""`eval.fit_router` on hand-made records: the simulation follows the engine's `Router`, and the
fit finds the bound that the records call for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from docqa.config import AnswerSettings
from docqa.types import RouteSignals
from eval.bench_retrieval import split_of
from eval.fit_router import cases_of, env_lines, fit, main, simulate
from eval.report import EvalRecord, write_records

PNG = b"\x89PNG\r\n\x1a\n"


def ids(split: str, n: int) -> list[str]:
    out = [f"q{i}" for i in range(400) if split_of(f"q{i}") == split]
    return out[:n]


def pair(
    item: str,
    *,
    rag_correct: bool,
    rag_abstained: bool,
    top: float,
    lc_correct: bool | None,
    tokens: int = 12_000,
    lc_abstain: float | None = None,
    unanswerable: bool = False,
) -> list[EvalRecord]:
    """A question's rag and long-context records (`lc_correct` None: long context skipped)."""
    common = {
        "item_id": item,
        "doc": "d.pdf",
        "question": "q?",
        "gold": "x",
        "answer_format": "Str",
        "unanswerable": unanswerable,
    }
    rag = EvalRecord(
        **common,  # type: ignore[arg-type]
        strategy="rag",
        correct=rag_correct,
        abstained=rag_abstained,
        prompt_tokens=1200,
        route_signals=RouteSignals(
            documents=1, window=32768, top_score=top, rag_abstained=rag_abstained
        ),
    )
    if lc_correct is None:
        lc = EvalRecord(
            **common, strategy="long-context", skipped="does not fit", doc_tokens=90_000
        )  # type: ignore[arg-type]
    else:
        lc = EvalRecord(
            **common,  # type: ignore[arg-type]
            strategy="long-context",
            correct=lc_correct,
            prompt_tokens=tokens,
            abstain_probability=lc_abstain,
            route_signals=RouteSignals(
                documents=1, window=32768, document_tokens=tokens, fits=True
            ),
        )
    return [rag, lc]


def test_the_simulation_is_the_routers_decision() -> None:
    records = [
        *pair("a", rag_correct=True, rag_abstained=False, top=6.0, lc_correct=False),
        *pair("b", rag_correct=False, rag_abstained=True, top=1.0, lc_correct=True),
        *pair("c", rag_correct=False, rag_abstained=True, top=1.0, lc_correct=None),
        *pair("d", rag_correct=False, rag_abstained=False, top=1.0, lc_correct=True, tokens=2000),
    ]
    cases, left = cases_of(records)
    assert left == [] and [c.item_id for c in cases] == ["a", "b", "c", "d"]
    by = {c.item_id: c for c in cases}
    assert by["c"].long_context is None and by["c"].signals.fits is False
    cfg = AnswerSettings()
    assert simulate(by["a"], cfg) == ("rag", True, 0)  # RAG answered: kept
    assert simulate(by["b"], cfg) == ("long-context", True, 12_000)  # abstained: read whole
    assert simulate(by["c"], cfg) == ("rag", False, 0)  # long context impossible
    assert simulate(by["d"], cfg) == ("long-context", True, 2000)  # small: read whole first
    assert simulate(by["b"], cfg.model_copy(update={"fallback_max_score": 0.5}))[0] == "rag"
    assert simulate(by["d"], cfg.model_copy(update={"small_document_tokens": 0}))[0] == "rag"


def test_fit_finds_the_bound_between_missed_answers_and_absent_ones(tmp_path: Path) -> None:
    """RAG abstains on all; where its best passage was weak (a retrieval miss) long context is
    right, where it was strong (the answer is not in the document) long context answers wrongly
    and RAG's abstention was right."""
    records: list[EvalRecord] = []
    for split in ("tune", "held-out"):
        for i, item in enumerate(ids(split, 8)):
            missed = i % 2 == 0
            records += pair(
                f"{item}",
                rag_correct=not missed,
                rag_abstained=True,
                top=-4.0 + i * 0.1 if missed else 5.0 + i * 0.1,
                lc_correct=missed,
            )
    cases, _ = cases_of(records)
    result = fit(cases, max_prefill_share=1.0)
    chosen = result["chosen"]
    hi = chosen.settings["fallback_max_score"]
    assert hi is not None and -3.3 < hi <= 5.1
    assert chosen.metrics["tune"]["accuracy"] == 1.0 == chosen.metrics["held-out"]["accuracy"]
    assert result["fixed"]["rag"]["tune"]["accuracy"] == 0.5
    assert result["fixed"]["long-context"]["tune"]["accuracy"] == 0.5
    assert result["default"].metrics["tune"]["accuracy"] == 0.5  # Self-Route: always falls back
    assert result["confusion"] == {"long-context": {"long-context": 8}, "rag": {"rag": 8}}

    # with half of long context's prefill, the fit stays within the budget
    half = fit(cases, max_prefill_share=0.5)
    assert half["chosen"].metrics["tune"]["prefill"] <= 0.5 * 12_000 + 1e-9


def test_the_fallback_gives_way_when_long_context_leans_to_not_found() -> None:
    records = pair(
        "u", rag_correct=True, rag_abstained=True, top=1.0, lc_correct=False, lc_abstain=0.4
    )
    (case,), _ = cases_of(records)
    assert case.signals.fallback_abstain_probability == 0.4
    cfg = AnswerSettings()
    assert simulate(case, cfg) == ("long-context", False, 12_000)
    # RAG's "not found" stands; the long-context prefill was spent all the same
    gate = cfg.model_copy(update={"fallback_abstain_probability": 0.3})
    assert simulate(case, gate) == ("rag", True, 12_000)
    assert simulate(case, cfg.model_copy(update={"fallback_abstain_probability": 0.5}))[0] == (
        "long-context"
    )


def test_fit_finds_the_abstain_probability_between_absent_answers_and_missed_ones() -> None:
    """RAG abstains on all, with the same best passage score (the score bounds cannot tell the
    questions apart); long context answers all: rightly where RAG missed the answer, with a
    low probability of "not found", wrongly where there is no answer, with a higher one."""
    records: list[EvalRecord] = []
    for split in ("tune", "held-out"):
        for i, item in enumerate(ids(split, 8)):
            absent = i % 2 == 0
            records += pair(
                item,
                rag_correct=absent,
                rag_abstained=True,
                top=1.0,
                lc_correct=not absent,
                lc_abstain=0.35 if absent else 0.03,
                unanswerable=absent,
            )
    cases, _ = cases_of(records)
    result = fit(cases, max_prefill_share=1.0)
    chosen = result["chosen"]
    assert chosen.settings["fallback_abstain_probability"] in (0.05, 0.1, 0.2, 0.3)
    assert chosen.metrics["tune"]["accuracy"] == 1.0 == chosen.metrics["held-out"]["accuracy"]
    assert result["default"].metrics["tune"]["accuracy"] == 0.5
    # the sweep: today's defaults with each threshold alone (0.5 lets every answer through)
    sweep = {
        p.settings["fallback_abstain_probability"]: p.metrics["tune"]["accuracy"]
        for p in result["abstain_sweep"]
    }
    assert sweep == {0.05: 1.0, 0.1: 1.0, 0.2: 1.0, 0.3: 1.0, 0.5: 0.5}


def test_main_writes_the_report_the_plot_and_the_settings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records: list[EvalRecord] = []
    for i, item in enumerate(ids("tune", 4) + ids("held-out", 2)):
        records += pair(
            item,
            rag_correct=i % 2 == 0,
            rag_abstained=i % 2 == 1,
            top=float(i),
            lc_correct=i % 3 == 0,
        )
    # a rag run and a long-context run, each in its own file
    rag = write_records([r for r in records if r.strategy == "rag"], tmp_path / "rag.jsonl")
    lc = [r for r in records if r.strategy == "long-context"]
    lc_path = write_records(lc, tmp_path / "lc.jsonl")
    assert main(["--records", str(rag), str(lc_path), "--out", str(tmp_path / "fit")]) == 0
    out = capsys.readouterr().out
    assert "# auto router fit" in out and "DOCQA_ANSWER__SMALL_DOCUMENT_TOKENS=" in out
    saved = json.loads((tmp_path / "fit" / "fit.json").read_text())
    assert set(saved["routes"]) == {r.item_id for r in records}
    assert saved["chosen"]["metrics"]["all"]["n"] == 6
    assert (tmp_path / "fit" / "accuracy_vs_prefill.png").read_bytes().startswith(PNG)
    report = (tmp_path / "fit" / "fit.md").read_text()
    assert "| best | rag | long-context |" in report
    assert "| auto, defaults + fallback_abstain_probability 0.2 |" in report


def test_records_without_signals_are_left_out_with_the_reason(tmp_path: Path) -> None:
    old = pair("z", rag_correct=True, rag_abstained=False, top=1.0, lc_correct=True)
    old[0].route_signals = None
    cases, left = cases_of(old)
    assert cases == [] and "no route signals" in left[0]
    path = write_records(old, tmp_path / "answers.jsonl")
    with pytest.raises(SystemExit, match="no question has both"):
        main(["--records", str(path), "--out", str(tmp_path / "fit")])


def test_env_lines_leave_none_unset() -> None:
    assert env_lines({"fallback_max_score": None, "whole_document_first": True}) == [
        "# DOCQA_ANSWER__FALLBACK_MAX_SCORE unset (None)",
        "DOCQA_ANSWER__WHOLE_DOCUMENT_FIRST=true",
    ]
