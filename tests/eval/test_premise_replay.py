"""`eval.premise_replay`: a flagged record becomes an abstention scored as the eval scores one."""

from __future__ import annotations

from docqa.answer.prompts import ABSTAIN
from docqa.types import RouteSignals
from eval.abstain_signal import outcome
from eval.premise_replay import premise_rule, replayed
from eval.report import EvalRecord


def _record(item: str, answerable: bool, correct: bool, abstained: bool = False) -> EvalRecord:
    return EvalRecord(
        item_id=item,
        strategy="rag",
        doc="a.pdf",
        question="?",
        gold="5",
        answer="It is 5 [1].",
        answer_format="Int",
        unanswerable=not answerable,
        correct=correct,
        abstained=abstained,
    )


def test_a_flagged_record_abstains_right_when_unanswerable_and_wrong_when_answerable() -> None:
    made_up = _record("made-up", answerable=False, correct=False)
    lost = _record("lost", answerable=True, correct=True)
    kept = _record("kept", answerable=True, correct=True)
    rule = premise_rule({"made-up": ["2022"], "lost": ["Table 4"], "kept": []})
    assert rule.fires(made_up) and rule.fires(lost) and not rule.fires(kept)
    assert outcome([made_up], rule)["right"] == 1
    assert outcome([lost], rule)["right"] == 0 and outcome([lost], rule)["right_lost"] == 1
    assert outcome([kept], rule)["right"] == 1


def test_the_tally_counts_answerable_and_unanswerable_questions_apart() -> None:
    rows = [
        _record("a", answerable=True, correct=True),
        _record("b", answerable=True, correct=False, abstained=True),
        _record("c", answerable=True, correct=False),
        _record("d", answerable=False, correct=True, abstained=True),
        _record("e", answerable=False, correct=False),
    ]
    before = outcome(rows, None)
    assert (before["n"], before["right"]) == (5, 2)
    assert (before["answerable"], before["answerable_abstained"]) == (3, 1)
    assert (before["unanswerable"], before["unanswerable_abstained"]) == (2, 1)
    after = outcome(rows, premise_rule({r.item_id: ["2022"] for r in rows}))
    assert after["unanswerable_abstained"] == 2 and after["right"] == 2
    assert after["right_lost"] == 1 and after["answerable_abstained"] == 3


def test_replayed_records_abstain_where_flagged_and_are_scored_again() -> None:
    made_up = _record("made-up", answerable=False, correct=False).model_copy(
        update={"gold": "Not answerable", "answer_format": "None", "cited_pages": [3]}
    )
    lost = _record("lost", answerable=True, correct=True)
    kept = _record("kept", answerable=True, correct=True)
    after = replayed([made_up, lost, kept], {"made-up": ["2022"], "lost": ["Table 4"]})
    assert [r.abstained for r in after] == [True, True, False]
    assert [r.correct for r in after] == [True, False, True]
    assert after[0].answer == ABSTAIN and after[0].cited_pages == []
    assert after[1].score == 0.0 and after[2] == kept
    # as the runner records a declined question: nothing read, no tokens, no time
    assert (after[1].prompt_tokens, after[1].completion_tokens, after[1].seconds) == (0, 0, 0.0)
    assert after[1].retrieved_pages == [] and "Table 4" in after[1].route_reasons[0]


def test_a_replayed_record_keeps_only_the_signals_known_before_the_check() -> None:
    signals = RouteSignals(documents=1, window=32768, scope="fact", document_tokens=9000, fits=True)
    signals.top_score = 4.2
    lost = _record("lost", answerable=True, correct=True).model_copy(
        update={"route_signals": signals}
    )
    (after,) = replayed([lost], {"lost": ["2022"]})
    assert after.route_signals is not None
    assert (after.route_signals.documents, after.route_signals.scope) == (1, "fact")
    assert after.route_signals.document_tokens is None and after.route_signals.top_score is None
    assert lost.route_signals is signals and signals.top_score == 4.2  # the input is kept
