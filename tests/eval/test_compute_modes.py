"""`eval.compute_modes`: the three compute modes read off one `check` run's records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from docqa.types import Computation, Operand
from eval.bench_retrieval import split_of
from eval.compute_modes import compare, main, mode_answers
from eval.report import EvalRecord, rescore

OPS = [
    Operand(name="a", description="net income 2024", value_text="$33.5", value=33.5, passage=1,
            grounded=True),
    Operand(name="b", description="net income 2023", value_text="$28.7", value=28.7, passage=1,
            grounded=True),
]  # fmt: skip
FORMULA = "(a - b) / b * 100"


def _record(item: str, answer: str, computation: Computation | None, gold: str = "16.72%",
            unanswerable: bool = False) -> EvalRecord:  # fmt: skip
    rec = EvalRecord(
        item_id=item, strategy="rag", doc="d.pdf", question="By how much did it grow, in %?",
        gold=gold, answer=answer, answer_format="None" if unanswerable else "Float",
        unanswerable=unanswerable, abstained=answer.startswith("Not found"), seconds=10.0,
    )  # fmt: skip
    return rescore(rec.model_copy(update={"computation": computation}))


def _held(**update: object) -> Computation:
    c = Computation(formula=FORMULA, operands=OPS, result=16.7247, result_text="16.72%")
    return c.model_copy(update=update)


COMPUTED = (
    "16.72%, computed as (a - b) / b × 100 = ($33.5 - $28.7) / $28.7 × 100 [1].\n"
    "Net income 2024 (a) is $33.5 [1].\nNet income 2023 (b) is $28.7 [1]."
)


def test_each_mode_answers_as_it_would_have() -> None:
    replaced = _record("r", COMPUTED, _held(used=True, replaced="It grew 9.2% [1]."))
    assert mode_answers(replaced) == {
        "off": "It grew 9.2% [1].", "replace": COMPUTED, "check": COMPUTED,
    }  # fmt: skip
    agreed = _record("g", "It grew 16.7% [1].", _held(agrees="16.7%"))
    assert mode_answers(agreed) == {
        "off": "It grew 16.7% [1].", "replace": COMPUTED, "check": "It grew 16.7% [1].",
    }  # fmt: skip
    dropped = Computation(formula=FORMULA, error="b not stated in any passage of the prompt")
    failed = _record("f", "It grew 17% [1].", dropped)
    assert set(mode_answers(failed).values()) == {"It grew 17% [1]."}
    plain = _record("p", "Revenue was $5 [1].", None)
    assert set(mode_answers(plain).values()) == {"Revenue was $5 [1]."}


def test_a_replace_run_is_refused() -> None:
    with pytest.raises(ValueError, match="not a `check` run"):
        mode_answers(_record("x", COMPUTED, _held(used=True)))


def test_the_comparison_scores_every_mode_by_split(tmp_path: Path) -> None:
    records = [
        _record("r", COMPUTED, _held(used=True, replaced="It grew 9.2% [1].")),
        _record("g", "It grew 16.7% [1].", _held(agrees="16.7%")),
        _record(
            "u",
            COMPUTED,
            _held(used=True, replaced="Not found in the documents."),
            gold="Not answerable",
            unanswerable=True,
        ),
    ]
    s = compare(records)
    modes = s["modes"]
    assert modes["off"]["all"]["right"] == 2  # 16.7% right, 9.2% wrong, the abstention right
    assert modes["replace"]["all"]["right"] == 2  # both computed right, the abstention lost
    assert modes["check"]["all"]["right"] == 2
    assert modes["check"]["unanswerable"] == {"n": 1, "right": 0, "accuracy": 0.0}
    assert modes["off"]["unanswerable"]["right"] == 1
    n_tune = sum(1 for r in records if split_of(r.item_id) == "tune")
    assert modes["check"]["tune"]["n"] == n_tune and modes["check"]["held-out"]["n"] == 3 - n_tune
    assert s["computations"] == {
        "tried": 3, "held": 3, "agreed": 1, "replaced": 2, "dropped": {},
    }  # fmt: skip
    path = tmp_path / "answers.jsonl"
    path.write_text("".join(r.model_dump_json() + "\n" for r in records))
    main(["--records", str(path), "--out", str(tmp_path / "out")])
    saved = json.loads((tmp_path / "out" / "compute_modes.json").read_text())
    assert saved["modes"]["check"]["all"]["right"] == 2
    assert "| check | 2/3 (66.7%)" in (tmp_path / "out" / "compute_modes.md").read_text()
