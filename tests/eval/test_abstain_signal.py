"""`eval.abstain_signal`: what abstaining on unsupported or made-up answers would have done."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from docqa.types import TermGrounding
from eval.abstain_signal import (
    PROBABILITY_RULES,
    RULES,
    Rule,
    abstains,
    adopt_probability,
    correct,
    main,
    measure,
    outcome,
)
from eval.report import EvalRecord


def _r(item: str, *, ok: bool, recall: float | None, unanswerable: bool = False,
       abstained: bool = False, made_up: tuple[int, int] | None = None,
       p: float | None = None) -> EvalRecord:  # fmt: skip
    """`made_up`: (ungrounded, of) names and figures."""
    terms = None
    if made_up is not None:
        terms = TermGrounding(terms=[f"t{i}" for i in range(made_up[1])],
                              ungrounded=[f"t{i}" for i in range(made_up[0])])  # fmt: skip
    return EvalRecord(
        item_id=item, strategy="rag", doc="d.pdf", question="q", gold="x", answer="a",
        answer_format="None" if unanswerable else "Str", unanswerable=unanswerable,
        abstained=abstained, correct=ok, citation_recall=recall, terms=terms,
        abstain_probability=p,
    )  # fmt: skip


RECORDS = [
    _r("right-supported", ok=True, recall=1.0, made_up=(0, 2), p=0.01),
    _r("right-unsupported", ok=True, recall=0.0, made_up=(1, 2), p=0.15),
    _r("wrong-unsupported", ok=False, recall=0.0, made_up=(2, 2), p=0.4),
    _r("wrong-half", ok=False, recall=0.5),
    _r("guess-on-unanswerable", ok=False, recall=0.0, unanswerable=True, made_up=(1, 1), p=0.25),
    _r("abstained-unanswerable", ok=True, recall=None, unanswerable=True, abstained=True, p=0.9),
]


def _rule(name: str) -> Rule:
    return next(r for r in RULES if r.name == name)


def test_the_rules_abstain_past_their_thresholds_and_score_abstentions() -> None:
    guess = RECORDS[4]
    none_supported = _rule("recall < 0.01")
    assert not abstains(guess, None) and abstains(guess, none_supported)
    assert correct(guess, none_supported) and not correct(guess, None)
    assert not correct(RECORDS[1], none_supported)  # a right answer withdrawn is lost
    assert not abstains(RECORDS[3], _rule("recall < 0.5"))
    assert abstains(RECORDS[3], _rule("recall < 0.67"))
    assert abstains(RECORDS[5], None) and correct(RECORDS[5], _rule("recall < 1.0"))
    # made-up names and figures: from the share up; no terms, no verdict
    all_made_up = _rule("ungrounded >= 1.0")
    assert abstains(guess, all_made_up) and abstains(RECORDS[2], all_made_up)
    assert not abstains(RECORDS[1], all_made_up) and abstains(
        RECORDS[1], _rule("ungrounded >= 0.5")
    )
    assert not abstains(RECORDS[3], _rule("ungrounded >= 0.34"))


def test_outcomes_count_what_was_lost_and_withdrawn() -> None:
    none = outcome(RECORDS, None)
    assert (none["right"], none["unanswerable_abstained"], none["answerable_abstained"]) == (
        3,
        1,
        0,
    )
    rule = outcome(RECORDS, _rule("recall < 0.01"))
    assert rule["right"] == 3  # the guess becomes right, the unsupported right answer is lost
    assert rule["unanswerable_abstained"] == 2 and rule["answerable_abstained"] == 2
    assert rule["right_lost"] == 1 and rule["wrong_withdrawn"] == 1
    made_up = outcome(RECORDS, _rule("ungrounded >= 1.0"))
    assert made_up["right"] == 4  # the guess becomes right and no right answer is lost
    assert made_up["right_lost"] == 0 and made_up["wrong_withdrawn"] == 1


def test_measure_and_main(tmp_path: Path) -> None:
    summary = measure(RECORDS)
    assert summary["answers_scored_by_the_checker"] == 5
    # right answers' recall (1.0, 0.0) against the rest (0.0, 0.5, 0.0)
    assert summary["auroc_citation_recall_right_vs_rest"] == round(
        (1 + 1 + 1 + 0.5 + 0 + 0.5) / 6, 3
    )
    # shares found (1 - ungrounded) of right (1, 0.5) against the rest (0, 0): higher is right
    assert summary["answers_with_names_or_figures"] == 4
    assert summary["auroc_grounded_share_right_vs_rest"] == 1.0
    path = tmp_path / "answers.jsonl"
    path.write_text("".join(r.model_dump_json() + "\n" for r in RECORDS))
    main(["--records", str(path), "--out", str(tmp_path / "o")])
    saved = json.loads((tmp_path / "o" / "abstain_signal.json").read_text())
    assert saved["rules"]["recall < 0.01"]["all"]["right_lost"] == 1
    table = (tmp_path / "o" / "abstain_signal.md").read_text()
    assert "| recall < 0.01 | all | 3/6 (50.0%) | 2/2 | 2/4 | 1 | 1 |" in table
    assert "| ungrounded >= 1.0 | all | 4/6 (66.7%) | 2/2 | 1/4 | 0 | 1 |" in table


def test_the_abstain_probability_rule_and_its_aurocs() -> None:
    rule = _rule("p(abstain) >= 0.2")
    assert abstains(RECORDS[4], rule) and abstains(RECORDS[2], rule)
    assert not abstains(RECORDS[1], rule) and not abstains(RECORDS[3], rule)  # 0.15; no value
    assert outcome(RECORDS, rule)["right"] == 4  # the guess abstains, no right answer is lost
    summary = measure(RECORDS)
    assert summary["answers_with_an_abstain_probability"] == 4
    # right (0.01, 0.15) are lower than the rest (0.4, 0.25): a perfect separation
    assert summary["auroc_abstain_probability_right_vs_rest"] == 1.0
    # unanswerable (0.25, 0.9) against answerable (0.01, 0.15, 0.4): 5 of 6 pairs ordered
    assert summary["auroc_abstain_probability_unanswerable_vs_answerable"] == round(5 / 6, 3)


def _rules(tune: tuple[int, int], held: tuple[int, int], withdrawn: int) -> dict[str, Any]:
    """`tune`, `held`: right answers without a rule and with every p(abstain) rule; `withdrawn`:
    answerable answers each rule withdraws in each split (of 20)."""

    def split(right: int, abstained: int) -> dict[str, int]:
        return {"right": right, "answerable_abstained": abstained, "answerable": 20}

    rules: dict[str, Any] = {"none": {"tune": split(tune[0], 1), "held-out": split(held[0], 1)}}
    for r in PROBABILITY_RULES:
        rules[r.name] = {
            "tune": split(tune[1], 1 + withdrawn),
            "held-out": split(held[1], 1 + withdrawn),
        }
    return rules


def test_the_probability_threshold_is_adopted_only_by_the_fixed_rule() -> None:
    first = PROBABILITY_RULES[0].name  # every rule ties: the first of the best
    assert adopt_probability(_rules((5, 7), (3, 3), withdrawn=2)) == first
    assert adopt_probability(_rules((5, 6), (3, 3), withdrawn=2)) is None  # +1 tune only
    assert adopt_probability(_rules((5, 7), (3, 2), withdrawn=2)) is None  # loses held out
    assert adopt_probability(_rules((5, 7), (3, 3), withdrawn=3)) is None  # 3 of 20 > 10%
