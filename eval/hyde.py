"""HyDE (Gao et al., 2022, "Precise Zero-Shot Dense Retrieval without Relevance Labels"): search
with a passage the model writes as if it answered the question, not with the question alone.

A question and the page that answers it share few words: "What drove the increase in
merchandise inventories?" against a page of "inventory balances rose due to new brands and
higher costs". The answering model, asked for the passage a document would hold, writes in the
document's register; its made-up figures are wrong, but the terms around them are the page's.
The passage is appended to the question for the hybrid search (dense and BM25); the reranker
still judges each candidate against the question as asked, so an invented figure never ranks a
passage. It costs one short generation per question (about 100 tokens).

Measured on the dev questions and not adopted (`eval/results/hyde/`): it lifts the hybrid
search, but the passages a RAG prompt gets reach no more evidence pages. It lives here, for
`eval.bench_retrieval`, not in the engine.

Example:
    >>> hyde_query("What was revenue?", "Revenue was $5.2 billion, up 4%.")
    'What was revenue?\\nRevenue was $5.2 billion, up 4%.'
    >>> hyde_query("What was revenue?", "")
    'What was revenue?'
"""

from __future__ import annotations

from docqa.generation import ChatMessage, GenerationConfig, Generator

__all__ = ["HYDE_SYSTEM", "hyde_query", "hypothetical_passage"]

HYDE_SYSTEM = (
    "Write the passage of a document (a company report, a research paper or a survey report) "
    "that answers the user's question: two or three sentences in that document's own style and "
    "terms, with the kind of names and figures it would give. Write only the passage."
)


def hypothetical_passage(question: str, generator: Generator, max_tokens: int = 96) -> str:
    """The model's passage for `question` (greedy, at most `max_tokens`)."""
    messages = [
        ChatMessage(role="system", content=HYDE_SYSTEM),
        ChatMessage(role="user", content=question.strip()),
    ]
    out = generator.generate(messages, GenerationConfig(max_tokens=max_tokens, temperature=0.0))
    return " ".join(out.text.split())


def hyde_query(question: str, passage: str) -> str:
    """What the hybrid search reads: the question, then the hypothetical passage."""
    question = question.strip()
    return f"{question}\n{passage}" if passage.strip() else question
