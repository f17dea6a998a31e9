"""A passage that repeats a better one leaves its prompt slot to the next
(`answer.distinct_passages`), on a real store and reranker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from markers import needs_reranker
from one_document import one_document_retriever

from docqa.answer.strategies import rag_prompt
from docqa.config import AnswerSettings
from docqa.retrieval import Retriever

pytestmark = needs_reranker

QUESTION = "What were Acme's cash and cash equivalents for the fiscal year ended March 2, 2024?"
CERTIFY = (
    "certify, pursuant to 18 U.S.C. Section 1350, that the Annual Report on Form 10-K of Acme "
    "Corp. for the fiscal year ended March 2, 2024 fully complies with the requirements of "
    "Section 13(a) of the Securities Exchange Act of 1934 and that the information contained in "
    "the report fairly presents, in all material respects, the financial condition and results "
    "of operations of the company for the fiscal year ended March 2, 2024."
)
CEO = "I, Ann Lee, Chief Executive Officer of Acme Corp., " + CERTIFY
CFO = "I, Bo Kim, Chief Financial Officer of Acme Corp., " + CERTIFY
BALANCE = (
    "Consolidated balance sheet, March 2, 2024: cash and cash equivalents $1,874 million; "
    "receivables $1,141 million; merchandise inventories $5,140 million."
)
TEXTS = [
    CEO,
    CFO,
    BALANCE,
    "Acme's board met four times during the fiscal year.",
    "Acme's stores sell appliances, computers and phones.",
]


@pytest.fixture(scope="module")
def retriever(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Retriever]:
    yield from one_document_retriever(tmp_path_factory.mktemp("home"), "acme", "acme.pdf", TEXTS)


def test_a_repeated_certification_gives_its_slot_to_the_next_passage(
    retriever: Retriever,
) -> None:
    ranked = [h.text for h in retriever.run(QUESTION, k=5, doc_ids=["acme"], candidates=5)]
    settings = AnswerSettings(candidates=5, min_passages=3, max_passages=3)

    def shown(how: AnswerSettings) -> set[str]:
        prompt = rag_prompt(QUESTION, retriever, lambda t: len(t.split()), how, doc_ids=["acme"])
        return {p.text for p in prompt.passages}

    plain = shown(settings)
    assert plain == set(ranked[:3])
    assert {CEO, CFO} <= plain  # the premise: both copies take a slot
    later = max(CEO, CFO, key=ranked.index)
    distinct = shown(settings.model_copy(update={"distinct_passages": 0.7}))
    # the lower-ranked copy leaves; the best passage after the top 3 takes its place
    assert distinct == set([r for r in ranked if r != later][:3])
    assert later not in distinct and ranked[3] in distinct
