"""The order of the RAG prompt's passages (`answer.passage_order`), on a real store and reranker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from markers import needs_reranker
from one_document import one_document_retriever

from docqa.answer.strategies import rag_prompt
from docqa.config import AnswerSettings
from docqa.retrieval import Retriever

pytestmark = needs_reranker

QUESTION = "How many people did Acme employ at the end of the year?"
TEXTS = [
    "Acme employed 52,000 people at the end of the year, most of them in retail stores.",
    "Acme's employees work in retail stores, distribution centres and the head office.",
    "The board of Acme met four times during the year.",
    "Acme's people programmes include training for store employees.",
]


@pytest.fixture(scope="module")
def retriever(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Retriever]:
    yield from one_document_retriever(tmp_path_factory.mktemp("home"), "acme", "acme.pdf", TEXTS)


def test_the_best_passage_goes_first_or_last_next_to_the_question(retriever: Retriever) -> None:
    settings = AnswerSettings(candidates=4, min_passages=4, max_passages=4)

    def words(text: str) -> int:
        return len(text.split())

    def order(how: AnswerSettings) -> list[str]:
        prompt = rag_prompt(QUESTION, retriever, words, how, doc_ids=["acme"])
        assert [p.n for p in prompt.passages] == [1, 2, 3, 4]  # numbered as shown
        return [p.text for p in prompt.passages]

    ranked = [h.text for h in retriever.run(QUESTION, k=4, doc_ids=["acme"], candidates=4)]
    assert ranked[0] == TEXTS[0]
    default = order(settings)
    assert default == [ranked[0], ranked[2], ranked[3], ranked[1]]
    best_last = order(settings.model_copy(update={"passage_order": "best_last"}))
    assert best_last == list(reversed(ranked))
    assert best_last[-1] == TEXTS[0]
