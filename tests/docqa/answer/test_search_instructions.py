"""The search and the reranker read the question without its answer-format instructions when
`answer.search_without_instructions` is on; the model still reads the question as asked (a real
Edge store, MiniLM, BM25 and the reranker)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from markers import needs_reranker
from one_document import one_document_retriever

from docqa.answer.strategies import rag_prompt
from docqa.config import AnswerSettings
from docqa.retrieval import Retriever

pytestmark = needs_reranker

QUESTION = (
    'How large is the workforce? Write the answer in the list format, e.g., ["1","2"], '
    "and round your answer to three decimal places."
)
# a passage that shares the instructions' words, and the one that answers
DECOY = (
    "Write each answer in the list format and round your answer to three decimal places, "
    'e.g., a list such as ["1","2"]; this format applies to every answer.'
)
ANSWER = "Acme employed 52,000 people at year end, most of them in retail."
TEXTS = [DECOY, "The board met four times in the year.", ANSWER]
DOC = "acme"


@pytest.fixture(scope="module")
def retriever(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Retriever]:
    yield from one_document_retriever(tmp_path_factory.mktemp("home"), DOC, "acme.pdf", TEXTS)


def test_the_search_reads_the_question_without_its_instructions(retriever: Retriever) -> None:
    # the cross-encoder sees past the instructions; the hybrid search alone does not
    settings = AnswerSettings(candidates=3, min_passages=1, max_passages=1, rerank=False)

    def words(text: str) -> int:
        return len(text.split())

    asked = rag_prompt(QUESTION, retriever, words, settings, doc_ids=[DOC])
    assert [p.text for p in asked.passages] == [DECOY]
    bare = settings.model_copy(update={"search_without_instructions": True})
    prompt = rag_prompt(QUESTION, retriever, words, bare, doc_ids=[DOC])
    assert [p.text for p in prompt.passages] == [ANSWER]
    # the model is still asked the whole question, instructions included
    assert "round your answer to three decimal places" in prompt.messages[-1].content
