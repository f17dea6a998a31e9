"""The `auto` router's decisions on crafted signals (pure: no model, no store)."""

from __future__ import annotations

import pytest

from docqa.answer.router import Router, question_scope, retrieval_signals
from docqa.config import AnswerSettings
from docqa.types import Passage, RouteSignals


def signals(**kw: object) -> RouteSignals:
    base: dict[str, object] = {
        "documents": 1,
        "window": 32768,
        "document_tokens": 20_000,
        "fits": True,
        "cached": False,
        "prefill_seconds": 20_000 / 60,
    }
    return RouteSignals(**{**base, **kw})  # type: ignore[arg-type]


def test_a_small_document_is_read_whole_and_a_large_one_retrieved_first() -> None:
    router = Router(AnswerSettings(small_document_tokens=3072))
    small = router.first(signals(document_tokens=3000))
    assert small.strategy == "long-context" and "3,000-token prompt" in small.reason
    large = router.first(signals(document_tokens=3073))
    assert large.strategy == "rag" and "3,073-token prompt" in large.reason


def test_a_document_too_long_for_the_window_is_never_read_whole() -> None:
    router = Router(AnswerSettings(whole_document_first=True, small_document_tokens=10**6))
    s = signals(document_tokens=128_852, fits=False, scope="whole-document", rag_abstained=True)
    first = router.first(s)
    assert first.strategy == "rag"
    assert "long context impossible" in first.reason and "32,768-token context" in first.reason
    then = router.after_rag(s)
    assert then.strategy is None and "cannot run here" in then.reason


def test_several_small_documents_go_through_retrieval() -> None:
    d = Router(AnswerSettings()).first(signals(documents=2, document_tokens=2000))
    assert d.strategy == "rag" and "2 documents" in d.reason


def test_a_whole_document_question_is_read_whole_only_when_asked_for_and_affordable() -> None:
    s = signals(scope="whole-document")
    assert Router(AnswerSettings()).first(s).strategy == "rag"
    on = Router(AnswerSettings(whole_document_first=True, max_prefill_seconds=600))
    assert on.first(s).strategy == "long-context"
    assert on.first(signals(scope="fact")).strategy == "rag"
    dear = signals(scope="whole-document", prefill_seconds=601.0)
    assert on.first(dear).strategy == "rag"
    assert on.first(dear.model_copy(update={"cached": True})).strategy == "long-context"


def test_rag_that_answered_is_kept() -> None:
    d = Router(AnswerSettings()).after_rag(signals(rag_abstained=False, top_score=-9.0))
    assert d.strategy is None and d.reason == "the retrieved passages answered"


def test_an_abstention_falls_back_when_the_document_is_cached_or_cheap_enough() -> None:
    router = Router(AnswerSettings(max_prefill_seconds=100))
    dear = signals(rag_abstained=True, prefill_seconds=333.0)
    kept = router.after_rag(dear)
    assert kept.strategy is None and "~333 s of prefill (> 100 s)" in kept.reason
    cached = router.after_rag(dear.model_copy(update={"cached": True, "prefill_seconds": 0.0}))
    assert cached.strategy == "long-context" and "KV state is cached" in cached.reason


@pytest.mark.parametrize(
    ("lo", "hi", "top", "falls_back"),
    [
        (None, None, -11.0, True),  # Self-Route: every abstention
        (None, None, None, True),
        (-2.0, None, -2.5, False),  # nothing relevant found: the answer is likely not there
        (-2.0, None, -2.0, True),
        (None, 3.0, 3.0, False),  # relevant passages and still no answer
        (None, 3.0, 2.9, True),
        (-2.0, 3.0, None, True),  # no reranker score: the bounds cannot apply
    ],
)
def test_the_fallback_is_bounded_by_the_best_passage_score(
    lo: float | None, hi: float | None, top: float | None, falls_back: bool
) -> None:
    router = Router(AnswerSettings(fallback_min_score=lo, fallback_max_score=hi))
    d = router.after_rag(signals(rag_abstained=True, top_score=top, prefill_seconds=1.0))
    assert (d.strategy == "long-context") is falls_back
    if not falls_back:
        assert "outside" in d.reason and f"{top:.2f}" in d.reason


@pytest.mark.parametrize(
    ("at", "p", "kept"),
    [
        (None, 0.9, False),  # off: long context's answer stands
        (0.2, None, False),  # no probability recorded (a computed answer, a backend without)
        (0.2, 0.19, False),
        (0.2, 0.2, True),
        (0.2, 0.75, True),
    ],
)
def test_the_fallback_answer_gives_way_when_long_context_leans_to_not_found(
    at: float | None, p: float | None, kept: bool
) -> None:
    router = Router(AnswerSettings(fallback_abstain_probability=at))
    why = router.after_fallback(signals(rag_abstained=True, fallback_abstain_probability=p))
    assert (why is not None) is kept
    if why is not None:
        assert f"{p:.2f}" in why and "answer.fallback_abstain_probability" in why


@pytest.mark.parametrize(
    "question",
    [
        "Summarize the paper's main findings.",
        "How many figures are there in the paper?",
        "List all the authors.",
        "Which sections discuss the limitations?",
        "Compare the revenue of 2022 and 2023.",
        "What is the difference between the two methods?",
    ],
)
def test_whole_document_questions(question: str) -> None:
    assert question_scope(question) == "whole-document"


@pytest.mark.parametrize(
    "question",
    [
        "What was Boeing's backlog at the end of 2022?",
        "How many employees did the company have?",
        "Who is the chief executive?",
    ],
)
def test_fact_questions(question: str) -> None:
    assert question_scope(question) == "fact"


def test_retrieval_signals_are_the_best_logit_its_margin_and_the_count_above_the_bar() -> None:
    ps = [Passage(n=i, page=1, text="x", score=s) for i, s in enumerate([-3.0, 4.5, 1.0], 1)]
    assert retrieval_signals(ps, -2.0) == (4.5, 3.5, 2)
    assert retrieval_signals(ps, None) == (4.5, 3.5, 3)
    assert retrieval_signals(ps[:1], 0.0) == (-3.0, None, 0)
    assert retrieval_signals([Passage(n=1, page=1, text="x")], 0.0) == (None, None, None)
