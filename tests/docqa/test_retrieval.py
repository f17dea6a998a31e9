"""Hybrid search -> cross-encoder rerank -> "lost in the middle" order, on real models.

A real Qdrant Edge store in a temp home, the MiniLM embedder, BM25 and the ms-marco reranker.
The corpus is one document whose page i+1 holds chunk i; chunk 0 repeats the query's words
("revenue", "fiscal", "what was") but does not answer it, chunk 1 answers it with "sales".
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from markers import needs_reranker
from one_document import one_document_searcher, publish_texts

from docqa.config import Settings
from docqa.models import ModelRegistry
from docqa.retrieval import (
    STATEMENT_DOCUMENTS,
    STATEMENTS,
    CrossEncoderReranker,
    Retriever,
    distinct,
    lead_with_named,
    lost_in_the_middle,
    resemblance,
    shingles,
)
from docqa.search import Searcher
from docqa.types import SearchHit

pytestmark = needs_reranker

QUERY = "What was Best Buy's revenue in fiscal 2023?"
DISTRACTOR = (
    "Best Buy's fiscal 2023 revenue growth targets: what was planned for revenue in fiscal 2024 "
    "and fiscal 2025."
)
ANSWER = "Best Buy's enterprise sales in fiscal 2023 totaled $46.3 billion, down 10.6%."
OTHERS = [
    "The board approved a quarterly dividend of $0.92 per share, payable in April.",
    "Our stores in Canada operate under the Best Buy and Best Buy Mobile brands.",
    "Risk factors include competition, supply chain disruption and cybersecurity.",
    "Employees: we had about 90,000 employees in the United States and Canada.",
]
TEXTS = [DISTRACTOR, ANSWER, *OTHERS]
DOC = "bestbuy"


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(home=tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="module")
def reranker(settings: Settings) -> CrossEncoderReranker:
    return CrossEncoderReranker.from_registry(ModelRegistry(settings.cache_dir))


@pytest.fixture(scope="module")
def searcher(settings: Settings) -> Iterator[Searcher]:
    searcher, store = one_document_searcher(settings, DOC, "BESTBUY_2023_10K.pdf", TEXTS)
    yield searcher
    store.close()


def hit(rank: int) -> SearchHit:
    return SearchHit(
        doc_id=DOC,
        path="p.pdf",
        page=rank,
        page_end=rank,
        score=1.0 / rank,
        kind="text",
        text=f"rank {rank}",
        chunk_index=rank,
    )


def test_hybrid_ranks_the_distractor_first_the_reranker_fixes_it(
    searcher: Searcher, reranker: CrossEncoderReranker
) -> None:
    hybrid = searcher.run(QUERY, k=len(TEXTS))
    assert hybrid[0].text == DISTRACTOR

    retriever = Retriever(searcher, reranker)
    top = retriever.run(QUERY, k=3, doc_ids=[DOC])
    assert len(top) == 3
    assert top[0].text == ANSWER and top[0].page == 2
    # score is the reranker's logit (RRF scores are below 1), best first
    assert top[0].score > 3.0
    assert [h.score for h in top] == sorted((h.score for h in top), reverse=True)

    no_rerank = retriever.run(QUERY, k=3, doc_ids=[DOC], rerank=False)
    assert [h.text for h in no_rerank] == [h.text for h in hybrid[:3]]
    assert retriever.run(QUERY, k=3, doc_ids=["other"]) == []


def test_rerank_sorts_by_logit_and_truncates(reranker: CrossEncoderReranker) -> None:
    hits = [hit(i + 1).model_copy(update={"text": t}) for i, t in enumerate(TEXTS)]
    ranked = reranker.rerank(QUERY, hits, top_k=2)
    assert [h.text for h in ranked] == [ANSWER, DISTRACTOR]
    assert len(ranked) == 2
    # about the same logit scored in a batch or alone: the INT8 model quantizes activations
    # with a scale per batch, so padding and batch mates move it a little
    alone = reranker.rerank(QUERY, [hits[1]])[0].score
    assert ranked[0].score == pytest.approx(alone, abs=0.5)
    assert reranker.rerank(QUERY, []) == []
    # the input hits are not modified
    assert hits[1].score == 0.5


@pytest.mark.parametrize("n", [1, 2, 4, 5, 6])
def test_lost_in_the_middle_puts_ranks_1_and_2_at_the_ends(n: int) -> None:
    ordered = lost_in_the_middle([hit(r) for r in range(1, n + 1)])
    ranks = [h.page for h in ordered]
    assert sorted(ranks) == list(range(1, n + 1))
    assert ranks[0] == 1
    if n > 1:
        assert ranks[-1] == 2
    if n >= 4:
        # ranks 3 and 4 sit next to the ends, the weakest in the middle
        assert ranks[1] == 3 and ranks[-2] == 4
    assert lost_in_the_middle([hit(r) for r in range(1, 6)]) == [hit(r) for r in (1, 3, 5, 4, 2)]


DISCLAIMER = (
    "This presentation contains forward-looking statements that involve risks and "
    "uncertainties; actual results may differ materially from those projected, and the "
    "company undertakes no obligation to update them."
)


def test_resemblance_of_word_trigrams() -> None:
    a = shingles("Net revenue rose 5% in fiscal 2023")
    assert ("net", "revenue", "rose") in a and len(a) == 5  # 7 words
    assert resemblance(a, a) == 1.0
    assert resemblance(a, shingles("NET  revenue rose 5% in Fiscal 2023.")) == 1.0
    # one word changed in the middle breaks the three trigrams that hold it
    assert resemblance(a, shingles("Net revenue fell 5% in fiscal 2023")) == pytest.approx(2 / 8)
    assert shingles("two words") == {("two",), ("words",)}
    assert resemblance(shingles(""), shingles("")) == 0.0


def test_distinct_drops_a_repeat_of_a_better_hit_and_keeps_the_rest() -> None:
    def text_hit(rank: int, text: str, reference: str | None = None) -> SearchHit:
        return hit(rank).model_copy(update={"text": text, "reference": reference})

    hits = [
        text_hit(1, DISCLAIMER + " Slide 2."),
        text_hit(2, ANSWER),
        text_hit(3, DISCLAIMER + " Slide 7."),
        text_hit(4, DISCLAIMER.upper() + " SLIDE 2"),
        # the same template with other figures is another fact, not a repeat
        text_hit(5, "Domestic segment revenue was $41.6 billion, down 9.7%, on 978 stores."),
        text_hit(6, "International segment revenue was $4.3 billion, down 1.4%, on 160 stores."),
    ]
    assert [h.page for h in distinct(hits, 0.7)] == [1, 2, 5, 6]
    # above the threshold, not at it; a threshold nothing reaches keeps everything
    assert [h.page for h in distinct(hits, 0.999)] == [1, 2, 3, 5, 6]
    assert distinct(hits, 1.0) == hits
    # a repeat that holds a figure the question names stays, and counts as seen
    named = [hits[0], hits[2].model_copy(update={"reference": "Figure 2"}), hits[3]]
    assert [h.page for h in distinct(named, 0.7)] == [1, 3]
    assert distinct([], 0.7) == []


def test_search_query_picks_the_candidates_the_question_reranks_them(
    searcher: Searcher, reranker: CrossEncoderReranker
) -> None:
    retriever = Retriever(searcher, reranker)
    # a pool of one: the question alone finds the distractor, the expanded search the answer
    (alone,) = retriever.run(QUERY, k=1, doc_ids=[DOC], candidates=1)
    assert alone.text == DISTRACTOR
    (steered,) = retriever.run(
        QUERY, k=1, doc_ids=[DOC], candidates=1, search_query="enterprise sales totaled billion"
    )
    assert steered.text == ANSWER
    # its score is the reranker's judgement of the question, not of the search text
    (direct,) = reranker.rerank(QUERY, [steered], top_k=1)
    assert steered.score == direct.score


BALANCE_SHEET = "Consolidated Balance Sheets\n($ in millions)\nAssets 2023 2022\n" + "\n".join(
    f"{item} {1000 + 37 * i:,} {900 + 41 * i:,}"
    for i, item in enumerate(
        [
            "Cash and cash equivalents",
            "Receivables, net",
            "Merchandise inventories",
            "Other current assets",
            "Total current assets",
            "Property and equipment, net",
            "Operating lease assets",
            "Goodwill",
            "Other assets",
            "Total assets",
            "Accounts payable",
            "Unredeemed gift card liabilities",
            "Deferred revenue",
            "Accrued liabilities",
            "Total current liabilities",
            "Long-term debt",
            "Total equity",
            "Total liabilities and equity",
            "Common stock",
            "Retained earnings",
        ]
    )
)


class _Recording(CrossEncoderReranker):
    """The real reranker, keeping the document and page of each hit of each pool it ranks."""

    def __init__(self, real: CrossEncoderReranker) -> None:
        super().__init__(real.model)
        self.pools: list[list[tuple[str, int]]] = []
        """(document, page) of each hit of each pool."""

    def rerank(
        self, query: str, hits: Sequence[SearchHit], top_k: int | None = None
    ) -> list[SearchHit]:
        self.pools.append([(h.doc_id, h.page) for h in hits])
        return super().rerank(query, hits, top_k)

    def pages(self, pool: int) -> list[int]:
        """The pages of pool `pool` (an index into `pools`)."""
        return [page for _, page in self.pools[pool]]


def test_statement_pages_join_the_pool_the_reranker_ranks(
    settings: Settings, reranker: CrossEncoderReranker, tmp_path: Path
) -> None:
    question = "What was the amount of goodwill at the end of 2023?"
    prose = "Goodwill: what the amount of goodwill at the end of 2023 means, and how it is tested."
    texts = [prose, *OTHERS, BALANCE_SHEET]
    own = settings.model_copy(update={"home": tmp_path})  # one process per store folder
    searcher, store = one_document_searcher(own, "stmts", "filing.pdf", texts)
    try:
        recording = _Recording(reranker)
        retriever = Retriever(searcher, recording)
        sheet = len(texts)
        assert [h.page for h in retriever.statement_hits(["stmts"])] == [sheet]
        # a pool of one: the search alone finds the prose; the statement joins it when asked
        assert [h.page for h in retriever.run(question, k=1, doc_ids=["stmts"], candidates=1)] == [
            1
        ]
        (best,) = retriever.run(question, k=1, doc_ids=["stmts"], candidates=1, statements="pool")
        assert [recording.pages(-2), recording.pages(-1)] == [[1], [1, sheet]]
        # the reranker ranked both (on such a question it prefers the prose that repeats it)
        pool = retriever.statement_hits(["stmts"]) + searcher.run(question, k=1, doc_ids=["stmts"])
        assert best == reranker.rerank(question, pool)[0]
        # a search over every document takes the statements of the documents it found
        retriever.run(question, k=1, candidates=1, statements="pool")
        assert recording.pages(-1) == [1, sheet]
        assert retriever.statement_hits(["no-such-document"]) == []
        # `lead`: the best statement chunk comes back below the top k, marked to lead
        top, lead = retriever.run(question, k=1, doc_ids=["stmts"], candidates=1, statements="lead")
        assert (top.page, top.reference) == (1, None)
        assert (lead.page, lead.reference) == (sheet, STATEMENTS)
        assert [h.page for h in lead_with_named([top, lead])] == [sheet, 1]
        # a new version of the document is read again: here it has no statement left
        publish_texts(searcher, "stmts", "filing.pdf", [prose, *OTHERS])
        assert retriever.statement_hits(["stmts"]) == []
    finally:
        store.close()


def test_statements_join_from_the_few_documents_the_search_points_to(
    settings: Settings, reranker: CrossEncoderReranker, tmp_path: Path
) -> None:
    own = settings.model_copy(update={"home": tmp_path})
    n = STATEMENT_DOCUMENTS + 2
    prose = [
        f"Our store strategy in region {i}: how the stores and the strategy grow." for i in range(n)
    ]
    searcher, store = one_document_searcher(own, "f0", "f0.pdf", [prose[0], BALANCE_SHEET])
    try:
        for i in range(1, n):
            publish_texts(searcher, f"f{i}", f"f{i}.pdf", [prose[i], BALANCE_SHEET])
        recording = _Recording(reranker)
        retriever = Retriever(searcher, recording)
        hits = searcher.run("store strategy", k=n)
        assert sorted(h.text for h in hits) == sorted(prose)  # every filing's prose, no sheet
        retriever.run("store strategy", k=1, candidates=n, statements="pool")
        first = list(dict.fromkeys(h.doc_id for h in hits))[:STATEMENT_DOCUMENTS]
        assert recording.pages(-1) == [1] * n + [2] * STATEMENT_DOCUMENTS
        assert recording.pools[-1][n:] == [(d, 2) for d in first]
    finally:
        store.close()
