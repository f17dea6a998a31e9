"""Retrieval for the prompt: hybrid search candidates, cross-encoder reranking, and the
"lost in the middle" order.

- `CrossEncoderReranker.rerank(query, hits, top_k)`: the ms-marco MiniLM cross-encoder (the
  same ONNX runner as the citation checker's `RerankerVerifier`) scores every (query, chunk)
  pair in batches, the chunk read with its context line (`SearchHit.search_text`: title,
  section, heading); hits come back best first, `score` set to the reranker's logit.
- `lost_in_the_middle(hits)`: best-first hits reordered so the strongest sit at both ends of
  the prompt (ranks 1, 3, 5, ... from the front, ..., 4, 2 at the back).
- `Retriever.run(query, k, doc_ids, candidates, rerank)`: `Searcher` hybrid (dense + BM25,
  RRF) top `candidates` -> rerank -> top `k`, best first. Ordering for the prompt is a
  separate call to `lost_in_the_middle`.

Example:
    >>> from docqa.config import Settings
    >>> from docqa.runtime import Runtime
    >>> rt = Runtime(Settings())  # doctest: +SKIP
    >>> retriever = Retriever(rt.searcher, CrossEncoderReranker.from_registry(rt.registry))  # doctest: +SKIP
    >>> hits = retriever.run("What was Best Buy's revenue in fiscal 2023?", k=5)  # doctest: +SKIP
    >>> prompt_order = lost_in_the_middle(hits)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from docqa.citations.verifiers import OnnxCrossEncoder
from docqa.models import ModelRegistry
from docqa.search import Searcher
from docqa.types import SearchHit

__all__ = ["CrossEncoderReranker", "PairScorer", "Retriever", "lost_in_the_middle"]


class PairScorer(Protocol):
    def logits(self, pairs: Sequence[tuple[str, str]]) -> list[float]: ...


class CrossEncoderReranker:
    """Reorders search hits by a cross-encoder's logit for (query, chunk text).

    Example:
        >>> rr = CrossEncoderReranker.from_registry(ModelRegistry(cache_dir))  # doctest: +SKIP
        >>> rr.rerank("Best Buy revenue 2023", hits, top_k=5)  # doctest: +SKIP
    """

    def __init__(self, model: PairScorer) -> None:
        self.model = model

    @classmethod
    def from_registry(cls, registry: ModelRegistry, **kwargs: Any) -> CrossEncoderReranker:
        """The registry's `reranker` model; `kwargs` go to `OnnxCrossEncoder`."""
        return cls(OnnxCrossEncoder.from_registry(registry, **kwargs))

    def rerank(
        self, query: str, hits: Sequence[SearchHit], top_k: int | None = None
    ) -> list[SearchHit]:
        """The `top_k` best hits (all when None), best first, `score` = the reranker's logit."""
        if not hits:
            return []
        logits = self.model.logits([(query, h.search_text) for h in hits])
        scored = [h.model_copy(update={"score": z}) for h, z in zip(hits, logits, strict=True)]
        # stable sort: ties keep the search order
        scored.sort(key=lambda h: h.score, reverse=True)
        return scored if top_k is None else scored[:top_k]


def lost_in_the_middle(hits: Sequence[SearchHit]) -> list[SearchHit]:
    """Best-first `hits` reordered with the strongest at both ends of the context.

    Ranks 1, 3, 5, ... fill the front in order, ranks 2, 4, ... the back in reverse, so rank 1
    comes first and rank 2 last whatever the number of hits. The input order is the ranking
    (scores are not re-read: RRF and reranker scores are not comparable).

    >>> from docqa.types import SearchHit
    >>> hs = [SearchHit(doc_id="d", path="p", page=i, page_end=i, score=0.0, kind="text",
    ...                 text=str(i), chunk_index=i) for i in range(1, 6)]
    >>> [h.page for h in lost_in_the_middle(hs)]
    [1, 3, 5, 4, 2]
    """
    # llama-index's LongContextReorder is not used: it re-sorts by score and alternates from
    # the weakest, so rank 1 lands last for an even count, and it works on NodeWithScore
    return [*hits[0::2], *reversed(hits[1::2])]


class Retriever:
    """Hybrid search candidates, then the cross-encoder: the passages a prompt gets.

    Example:
        >>> retriever = Retriever(runtime.searcher, reranker)  # doctest: +SKIP
        >>> retriever.run("Boeing backlog at the end of 2022", k=5, doc_ids=[doc_id])  # doctest: +SKIP
    """

    def __init__(self, searcher: Searcher, reranker: CrossEncoderReranker) -> None:
        self.searcher = searcher
        self.reranker = reranker

    def run(
        self,
        query: str,
        k: int = 8,
        doc_ids: Sequence[str] | None = None,
        candidates: int = 30,
        rerank: bool = True,
        search_query: str | None = None,
    ) -> list[SearchHit]:
        """The `k` best chunks, best first: hybrid top `candidates` reranked (or hybrid top `k`
        when `rerank` is False). `search_query`: what the hybrid search reads instead of
        `query` (an expanded question: a hypothetical answer passage appended, say); the reranker
        reads `query`."""
        searched = search_query or query
        if not rerank:
            return self.searcher.run(searched, k=k, doc_ids=doc_ids, mode="hybrid")
        hits = self.searcher.run(searched, k=max(k, candidates), doc_ids=doc_ids, mode="hybrid")
        return self.reranker.rerank(query, hits, top_k=k)
