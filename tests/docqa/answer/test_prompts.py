"""Prompts, page-citation normalisation, abstention detection and the passage budget."""

from __future__ import annotations

import pytest

from docqa.answer.budget import select_pages, select_passages
from docqa.answer.prompts import (
    ABSTAIN,
    is_abstention,
    long_context_messages,
    normalize_page_citations,
    rag_messages,
)
from docqa.types import Box, Page, Passage, SearchHit


def test_rag_prompt_numbers_and_labels_passages_and_ends_with_the_question() -> None:
    msgs = rag_messages(
        "What was revenue?",
        [
            Passage(n=1, text="Revenue was $5.", page=3, path="/x/report.pdf"),
            Passage(n=2, text="Costs rose.", page=7, page_end=8, path="/x/other.pdf"),
        ],
    )
    assert [m.role for m in msgs] == ["system", "user"]
    assert ABSTAIN in msgs[0].content
    user = msgs[1].content
    assert "[1] (report.pdf, p. 3)\nRevenue was $5." in user
    assert "[2] (other.pdf, pp. 7-8)" in user
    assert "Question: What was revenue?\nEnd each sentence" in user and user.endswith("like [1].")


def test_question_first_opens_the_rag_prompt_and_still_closes_it() -> None:
    passages = [Passage(n=1, text="Revenue was $5.", page=3, path="report.pdf")]
    plain = rag_messages("What was revenue?", passages)[1].content
    first = rag_messages("What was revenue?", passages, question_first=True)[1].content
    assert not plain.startswith("Question:")
    assert first.startswith("Question: What was revenue?\n\nPassages:")
    assert first.index("[1] (report.pdf") > first.index("What was revenue?")
    assert first.endswith(plain) and first.count("Question: What was revenue?") == 2


def test_long_context_prefix_is_the_same_for_every_question() -> None:
    pages = [Page(doc_id="d", page=i, text=f"page {i} text", width=1, height=1) for i in (1, 2)]
    a = long_context_messages("Who?", "Report", pages)[1].content
    b = long_context_messages("When did it happen?", "Report", pages)[1].content
    cut = a.rindex("Question: ")
    assert a[:cut] == b[:cut] and "[p. 2]\npage 2 text" in a[:cut]


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("Sales rose [p. 4].", "Sales rose [4]."),
        ("See [pp. 7-8] and [page 3].", "See [7-8] and [3]."),
        ("Both [p. 2, p. 5].", "Both [2, 5]."),
        ("Both [p.2][p.9].", "Both [2][9]."),
        ("Pages [p. 1 and p. 3].", "Pages [1, 3]."),
        ("Plain [3] stays.", "Plain [3] stays."),
    ],
)
def test_page_citations_become_passage_numbers(text: str, want: str) -> None:
    assert normalize_page_citations(text) == want


@pytest.mark.parametrize(
    ("answer", "abstained"),
    [
        (ABSTAIN, True),
        ("not found in the documents", True),
        ("Not found in the documents. The report covers 2024 only.", True),
        ("The passages do not mention the chief executive's age.", True),
        ("I could not find this in the documents.", True),
        ("", True),
        ("Revenue was $503.8 million [1].", False),
        (
            "The documents do not mention 2025 revenue, but 2024 revenue was $503.8 million [2].",
            False,
        ),
    ],
)
def test_abstention(answer: str, abstained: bool) -> None:
    assert is_abstention(answer) is abstained


def _hits(scores: list[float], words: int = 50) -> list[SearchHit]:
    return [
        SearchHit(
            doc_id="d",
            path="p.pdf",
            page=i + 1,
            page_end=i + 1,
            score=s,
            kind="text",
            text="w " * words,
            chunk_index=i,
        )
        for i, s in enumerate(scores)
    ]


def words(text: str) -> int:
    return len(text.split())


def test_budget_stops_at_a_weak_score_but_keeps_the_minimum() -> None:
    sel = select_passages(
        _hits([-5.0, -6.0, -7.0]),
        words,
        min_passages=2,
        max_passages=8,
        min_score=-2.0,
        max_tokens=10_000,
        scored=True,
    )
    assert [h.page for h in sel.hits] == [1, 2]
    assert "score" in sel.reason


def test_budget_without_a_floor_takes_weak_passages_up_to_the_cap() -> None:
    kw = dict(min_passages=2, max_passages=8, max_tokens=10_000, scored=True)
    sel = select_passages(_hits([-5.0, -6.0, -7.0, -11.0]), words, min_score=None, **kw)  # type: ignore[arg-type]
    assert [h.page for h in sel.hits] == [1, 2, 3, 4] and "fit" in sel.reason


def test_budget_stops_at_the_token_budget_and_the_passage_cap() -> None:
    sel = select_passages(
        _hits([9.0] * 10, words=100),
        words,
        min_passages=1,
        max_passages=8,
        min_score=-2.0,
        max_tokens=350,
        scored=True,
    )
    assert len(sel.hits) == 3 and sel.tokens <= 350 and "budget" in sel.reason
    sel = select_passages(
        _hits([9.0] * 10, words=10),
        words,
        min_passages=1,
        max_passages=4,
        min_score=-2.0,
        max_tokens=10_000,
        scored=True,
    )
    assert len(sel.hits) == 4 and "maximum" in sel.reason


def test_budget_ignores_scores_that_are_not_reranker_logits() -> None:
    sel = select_passages(
        _hits([0.016, 0.015, 0.01]),
        words,
        min_passages=1,
        max_passages=8,
        min_score=-2.0,
        max_tokens=10_000,
        scored=False,
    )
    assert len(sel.hits) == 3


def _chunk(page: int, index: int, score: float, text: str) -> SearchHit:
    return SearchHit(
        doc_id="d",
        path="p.pdf",
        page=page,
        page_end=page,
        score=score,
        kind="text",
        text=text,
        chunk_index=index,
    )


def test_pages_group_chunks_by_page_whole_when_short_else_joined_in_document_order() -> None:
    hits = [
        _chunk(7, 31, 9.0, "seven-b"),
        _chunk(3, 10, 8.0, "three-a"),
        _chunk(7, 30, 7.0, "seven-a"),
        _chunk(5, 20, 6.0, "five-a"),
    ]
    pages = {3: "whole page three " * 2, 7: "long " * 500, 5: "whole page five"}
    sel = select_pages(
        hits,
        lambda doc, page: pages.get(page) if doc == "d" else None,
        words,
        min_passages=1,
        max_passages=8,
        min_score=-2.0,
        max_tokens=10_000,
        max_page_tokens=100,
        scored=True,
    )
    # pages in the order of their best chunk; page 7 is too long to go whole
    assert [(h.page, h.text) for h in sel.hits] == [
        (7, "seven-a\n\nseven-b"),
        (3, pages[3]),
        (5, pages[5]),
    ]
    assert [h.score for h in sel.hits] == [9.0, 8.0, 6.0]
    assert sel.tokens == sum(words(h.text) for h in sel.hits) + 3 * 16


def test_pages_stop_at_the_budget_a_weak_page_and_the_cap() -> None:
    hits = [_chunk(p, p, s, "x " * 40) for p, s in [(1, 9.0), (2, 8.0), (3, -5.0), (4, 7.0)]]
    pages = {p: "y " * 90 for p in range(1, 5)}

    def pick(**kw: float) -> list[int]:
        args = (
            dict(
                min_passages=1,
                max_passages=8,
                min_score=-2.0,
                max_tokens=10_000,
                max_page_tokens=100,
            )
            | kw
        )
        sel = select_pages(hits, lambda d, p: pages[p], words, scored=True, **args)  # type: ignore[arg-type]
        return [h.page for h in sel.hits]

    assert pick() == [1, 2]  # page 3's best score is below the bar
    assert pick(max_passages=1) == [1]
    # 2 whole pages (2 x 106 tokens) do not fit 200: page 2 goes as its 40-word chunk
    assert pick(max_tokens=200) == [1, 2]
    assert pick(max_tokens=150) == [1]
    # the first page always goes in, as its best chunk if nothing else fits
    sel = select_pages(
        hits,
        lambda d, p: pages[p],
        words,
        min_passages=1,
        max_passages=8,
        min_score=-2.0,
        max_tokens=10,
        max_page_tokens=100,
        scored=True,
    )
    assert [h.text for h in sel.hits] == [hits[0].text]


def test_a_page_cut_to_its_best_chunk_highlights_that_chunk_only() -> None:
    def boxed(index: int, score: float, y: float) -> SearchHit:
        box = Box(page=4, x0=0, y0=y, x1=100, y1=y + 10)
        return _chunk(4, index, score, "z " * 30).model_copy(update={"boxes": [box]})

    best, other = boxed(2, 9.0, 50.0), boxed(1, 5.0, 10.0)
    kw = dict(min_passages=1, max_passages=8, min_score=-2.0, max_page_tokens=10, scored=True)
    joined = select_pages([best, other], lambda d, p: None, words, max_tokens=100, **kw)  # type: ignore[arg-type]
    assert joined.hits[0].boxes == [other.boxes[0], best.boxes[0]]  # document order
    cut = select_pages([best, other], lambda d, p: None, words, max_tokens=10, **kw)  # type: ignore[arg-type]
    assert cut.hits[0].text == best.text and cut.hits[0].boxes == best.boxes
