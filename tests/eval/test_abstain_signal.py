"""`eval.abstain_signal`: what abstaining on unsupported answers would have done."""

from __future__ import annotations

import json
from pathlib import Path

from eval.abstain_signal import abstains, correct, main, measure, outcome
from eval.report import EvalRecord


def _r(item: str, *, ok: bool, recall: float | None, unanswerable: bool = False,
       abstained: bool = False) -> EvalRecord:  # fmt: skip
    return EvalRecord(
        item_id=item, strategy="rag", doc="d.pdf", question="q", gold="x", answer="a",
        answer_format="None" if unanswerable else "Str", unanswerable=unanswerable,
        abstained=abstained, correct=ok, citation_recall=recall,
    )  # fmt: skip


RECORDS = [
    _r("right-supported", ok=True, recall=1.0),
    _r("right-unsupported", ok=True, recall=0.0),
    _r("wrong-unsupported", ok=False, recall=0.0),
    _r("wrong-half", ok=False, recall=0.5),
    _r("guess-on-unanswerable", ok=False, recall=0.0, unanswerable=True),
    _r("abstained-unanswerable", ok=True, recall=None, unanswerable=True, abstained=True),
]


def test_the_rule_abstains_below_the_threshold_and_scores_abstentions() -> None:
    guess = RECORDS[4]
    assert not abstains(guess, None) and abstains(guess, 0.01)
    assert correct(guess, 0.01) and not correct(guess, None)
    assert not correct(RECORDS[1], 0.01)  # a right answer withdrawn is lost
    assert not abstains(RECORDS[3], 0.5) and abstains(RECORDS[3], 0.67)
    assert abstains(RECORDS[5], None) and correct(RECORDS[5], 1.0)


def test_outcomes_count_what_was_lost_and_withdrawn() -> None:
    none = outcome(RECORDS, None)
    assert (none["right"], none["unanswerable_abstained"], none["answerable_abstained"]) == (
        3,
        1,
        0,
    )
    rule = outcome(RECORDS, 0.01)
    assert rule["right"] == 3  # the guess becomes right, the unsupported right answer is lost
    assert rule["unanswerable_abstained"] == 2 and rule["answerable_abstained"] == 2
    assert rule["right_lost"] == 1 and rule["wrong_withdrawn"] == 1


def test_measure_and_main(tmp_path: Path) -> None:
    summary = measure(RECORDS)
    assert summary["answers_scored_by_the_checker"] == 5
    # right answers' recall (1.0, 0.0) against the rest (0.0, 0.5, 0.0)
    assert summary["auroc_citation_recall_right_vs_rest"] == round(
        (1 + 1 + 1 + 0.5 + 0 + 0.5) / 6, 3
    )
    path = tmp_path / "answers.jsonl"
    path.write_text("".join(r.model_dump_json() + "\n" for r in RECORDS))
    main(["--records", str(path), "--out", str(tmp_path / "o")])
    saved = json.loads((tmp_path / "o" / "abstain_signal.json").read_text())
    assert saved["rules"]["recall < 0.01"]["all"]["right_lost"] == 1
    assert (
        "| recall < 0.01 | all | 3/6 (50.0%) | 2/2 | 2/4 | 1 | 1 |"
        in (tmp_path / "o" / "abstain_signal.md").read_text()
    )
