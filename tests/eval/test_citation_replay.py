"""`eval.citation_replay`: the pages each citation policy points to, and their figures."""

from __future__ import annotations

from docqa.types import Passage, SentenceCheck, Verdict
from eval.citation_replay import POLICIES, cited_pages, summarize

PASSAGES = [
    Passage(n=1, page=4, text="a"),
    Passage(n=2, page=7, page_end=8, text="b"),
    Passage(n=3, page=9, text="c"),
]


def _check(
    citations: list[int],
    verdict: Verdict,
    irrelevant: list[int] | None = None,
    repaired: list[int] | None = None,
) -> SentenceCheck:
    return SentenceCheck(
        text="s",
        citations=citations,
        verdict=verdict,
        score=0.9 if verdict == Verdict.supported else 0.1,
        irrelevant_citations=irrelevant or [],
        repaired_citations=repaired,
    )


def test_each_policy_points_to_its_own_pages() -> None:
    checks = [
        _check([1, 2], Verdict.supported, irrelevant=[2]),  # [2] is not needed
        _check([3], Verdict.unsupported, irrelevant=[3]),  # no repair
        _check([3], Verdict.unsupported, irrelevant=[3], repaired=[2]),
    ]
    got = {name: cited_pages(checks, PASSAGES, f) for name, f in POLICIES.items()}
    assert got == {
        "as-is": [4, 7, 8, 9],  # a passage over two pages counts both
        "needed": [4, 7, 8, 9],  # the repair still points to [2]
        "supported-only": [4, 7, 8],
    }
    assert cited_pages(checks[:2], PASSAGES, POLICIES["needed"]) == [4, 9]


def test_summary_averages_precision_over_answers_that_cite_and_recall_over_gold() -> None:
    rows = [
        {"gold": [4], "abstained": False, "cited": {"p": [4, 9]}},  # precision 0.5, recall 1
        {"gold": [5], "abstained": True, "cited": {"p": []}},  # no precision, recall 0
        {"gold": [], "abstained": False, "cited": {"p": [3]}},  # unanswerable: neither
    ]
    assert summarize(rows, "p") == {
        "answers_citing": 2,
        "precision": 0.5,
        "micro_precision": 0.5,
        "recall": 0.5,
    }
