"""`eval.premise_replay`: a flagged record becomes an abstention scored as the eval scores one."""

from __future__ import annotations

from typing import Any

from eval.premise_replay import replay, tally


def _record(answerable: bool, correct: bool, abstained: bool = False) -> dict[str, Any]:
    # the eval's records hold their flags as strings
    return {
        "item_id": "q",
        "unanswerable": str(not answerable),
        "correct": str(correct),
        "abstained": str(abstained),
    }


def test_a_flagged_record_abstains_right_when_unanswerable_and_wrong_when_answerable() -> None:
    made_up = replay(_record(answerable=False, correct=False), ["2022"])
    assert made_up["abstained"] is True and made_up["correct"] is True
    assert made_up["premises_absent"] == ["2022"]
    lost = replay(_record(answerable=True, correct=True), ["Table 4"])
    assert lost["abstained"] is True and lost["correct"] is False
    kept = _record(answerable=True, correct=True)
    assert replay(kept, []) == kept and replay(kept, []) is not kept


def test_the_tally_counts_answerable_and_unanswerable_questions_apart() -> None:
    rows = [
        _record(answerable=True, correct=True),
        _record(answerable=True, correct=False, abstained=True),
        _record(answerable=True, correct=False),
        _record(answerable=False, correct=True, abstained=True),
        _record(answerable=False, correct=False),
    ]
    assert tally(rows) == {
        "questions": 5,
        "answerable_right": 1,
        "answerable": 3,
        "answerable_abstained": 1,
        "unanswerable_abstained": 1,
        "unanswerable": 2,
        "right": 2,
    }
    after = [replay(r, ["2022"]) for r in rows]
    assert tally(after)["unanswerable_abstained"] == 2 and tally(after)["answerable_right"] == 0
