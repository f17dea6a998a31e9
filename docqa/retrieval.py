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
  separate call to `lost_in_the_middle`. Chunks the search may miss can join the candidates:
  those holding a figure or section the question names (`references`), and those on the pages
  of a filing's primary financial statements (`statements`, `docqa.statements`).

Example:
    >>> from docqa.config import Settings
    >>> from docqa.runtime import Runtime
    >>> rt = Runtime(Settings())  # doctest: +SKIP
    >>> retriever = Retriever(rt.searcher, CrossEncoderReranker.from_registry(rt.registry))  # doctest: +SKIP
    >>> hits = retriever.run("What was Best Buy's revenue in fiscal 2023?", k=5)  # doctest: +SKIP
    >>> prompt_order = lost_in_the_middle(hits)  # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Protocol

from docqa.citations.verifiers import OnnxCrossEncoder
from docqa.models import ModelRegistry
from docqa.references import anchors, find_references
from docqa.search import Searcher
from docqa.statements import statement_title
from docqa.store.base import PerVersion
from docqa.types import Chunk, Document, SearchHit, StatementUse

__all__ = [
    "STATEMENTS",
    "STATEMENT_DOCUMENTS",
    "CrossEncoderReranker",
    "PairScorer",
    "Retriever",
    "chunk_hit",
    "distinct",
    "lead_with_named",
    "lost_in_the_middle",
    "named_first",
]


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
        self._statements = PerVersion(self._read_statements)
        """Each document version's statement pages' chunks: `statement_hits`."""

    def run(
        self,
        query: str,
        k: int = 8,
        doc_ids: Sequence[str] | None = None,
        candidates: int = 30,
        rerank: bool = True,
        search_query: str | None = None,
        references: bool = False,
        statements: StatementUse = "off",
        distinct_above: float | None = None,
    ) -> list[SearchHit]:
        """The `k` best chunks, best first: hybrid top `candidates` reranked (or hybrid top `k`
        when `rerank` is False). `search_query`: what the hybrid search reads instead of
        `query` (an expanded question: a hypothetical answer passage appended, say); the reranker
        reads `query`. `references`: the chunks holding a figure, table or section the query
        names (its caption or heading, `docqa.references`) join the candidates, marked with
        `SearchHit.reference`; the best of each comes back even when it ranks below `k`.
        `statements` (with `rerank`): `pool`: the chunks on the pages of primary financial
        statements (`statement_hits`) join the candidates, and the reranker ranks them with the
        others; `lead`: as `pool`, and they are marked as one reference (`STATEMENTS`), so the
        best of them comes back even below `k`. Only the statements of the documents of the
        best hybrid hits count (`STATEMENT_DOCUMENTS`). `distinct_above` (with `rerank`): a
        reranked chunk that repeats a better one (`distinct`) is left out, so the next one
        takes its place."""
        searched = search_query or query
        named = self.referenced(query, doc_ids) if references else []
        if not rerank:
            hits = self.searcher.run(searched, k=k, doc_ids=doc_ids, mode="hybrid")
            return _top(_merge(hits, named), k)
        hits = self.searcher.run(searched, k=max(k, candidates), doc_ids=doc_ids, mode="hybrid")
        if statements != "off":
            # the statements of the documents the search points to, a few at most: each filing
            # adds ~25 chunks for the reranker to read
            scope = list(dict.fromkeys(h.doc_id for h in hits))[:STATEMENT_DOCUMENTS]
            found = self.statement_hits(scope)
            if statements == "lead":
                named += [h.model_copy(update={"reference": STATEMENTS}) for h in found]
            else:
                have = {_key(h) for h in hits}
                hits += [h for h in found if _key(h) not in have]
        pool = _merge(hits, named)
        # the reranker keeps each hit's `reference` (it only sets the score)
        ranked = self.reranker.rerank(query, pool)
        if distinct_above is not None:
            ranked = distinct(ranked, distinct_above)
        return _top(ranked, k)

    def statement_hits(self, doc_ids: Sequence[str]) -> list[SearchHit]:
        """Every chunk on a page of a primary financial statement of the visible documents
        `doc_ids` (`docqa.statements.statement_title`), as search hits of score 0. Read from
        the store once per document version (a re-ingested document is read again)."""
        store = self.searcher.store
        found: list[SearchHit] = []
        for doc_id in doc_ids:
            doc = store.get_document(doc_id)
            if doc is not None and doc.status.visible:
                found += self._statements.of(doc)
        return found

    def _read_statements(self, doc: Document) -> list[SearchHit]:
        store = self.searcher.store
        pages = {p.page for p in store.get_pages(doc.doc_id) if statement_title(p.text)}
        chunks = [
            c
            for c in store.get_chunks(doc.doc_id)
            if any(c.page_start <= n <= c.page_end for n in pages)
        ]
        return [chunk_hit(c, doc.path) for c in chunks]

    def referenced(
        self, query: str, doc_ids: Sequence[str] | None = None, per_reference: int = 3
    ) -> list[SearchHit]:
        """For each figure, table or section `query` names, up to `per_reference` chunks that
        hold it (found by BM25 on its name, then checked for its caption or heading)."""
        found: list[SearchHit] = []
        for ref in find_references(query):
            hits = self.searcher.run(ref.text, k=_REFERENCE_POOL, doc_ids=doc_ids, mode="sparse")
            held = [h for h in hits if anchors(ref, h.text, h.heading)][:per_reference]
            found += [h.model_copy(update={"reference": ref.text}) for h in held]
        return found


STATEMENTS = "A financial statement"
"""The reference that marks statement chunks with `statements = "lead"` (`SearchHit.reference`):
the best of them leads the passages, "A financial statement is on p. 39"."""

STATEMENT_DOCUMENTS = 3
"""With `statements`, the documents whose statement pages join the pool: those of the best
hybrid hits, at most this many (a filing's statements are ~25 chunks, ~0.3 s of reranking on
2 cores)."""

_REFERENCE_POOL = 50
"""BM25 hits read for a reference's caption or heading: a figure's name is in every sentence
that mentions it, and its caption ranks among them."""


def _key(hit: SearchHit) -> tuple[str, int]:
    return (hit.doc_id, hit.chunk_index)


def chunk_hit(chunk: Chunk, path: str) -> SearchHit:
    """A stored chunk of the document at `path` as a search hit of score 0 (for a pool the
    reranker scores)."""
    return SearchHit(
        doc_id=chunk.doc_id,
        path=path,
        page=chunk.page_start,
        page_end=chunk.page_end,
        score=0.0,
        kind=chunk.kind,
        text=chunk.text,
        chunk_index=chunk.index,
        heading=chunk.heading,
        boxes=chunk.boxes,
        context=chunk.context,
    )


def _merge(hits: Sequence[SearchHit], named: Sequence[SearchHit]) -> list[SearchHit]:
    """`hits` with the chunks of `named` marked, then the named chunks that were not among them."""
    if not named:
        return list(hits)
    marks = {_key(h): h.reference for h in named}
    merged = [h.model_copy(update={"reference": marks.get(_key(h))}) for h in hits]
    seen = {_key(h) for h in hits}
    for h in named:
        if _key(h) not in seen:
            seen.add(_key(h))
            merged.append(h)
    return merged


def _top(ranked: Sequence[SearchHit], k: int) -> list[SearchHit]:
    """The top `k` of `ranked`, then the best-ranked chunk of each reference not among them."""
    top = list(ranked[:k])
    have = {h.reference for h in top if h.reference}
    for h in ranked[k:]:
        if h.reference and h.reference not in have:
            have.add(h.reference)
            top.append(h)
    return top


def shingles(text: str, n: int = 3) -> frozenset[tuple[str, ...]]:
    """The word `n`-grams of `text`, lower case (the words themselves when there are fewer
    than `n`)."""
    words = re.findall(r"\w+", text.lower())
    if len(words) < n:
        return frozenset((w,) for w in words)
    return frozenset(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


def resemblance(a: frozenset[tuple[str, ...]], b: frozenset[tuple[str, ...]]) -> float:
    """Broder's resemblance of two shingle sets: |a & b| / |a | b| (0 when both are empty)."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def distinct(ranked: Sequence[SearchHit], above: float) -> list[SearchHit]:
    """`ranked` without the hits whose text repeats a better-ranked kept one: word 3-gram
    resemblance above `above`. A filing's certifications by its CEO and by its CFO, or a
    disclaimer on every slide, are one passage said twice: the second copy would take a
    prompt slot and tell the model nothing new. A hit that holds a reference the question
    names (`SearchHit.reference`) is always kept.

    >>> from docqa.types import SearchHit
    >>> def hit(i: int, text: str) -> SearchHit:
    ...     return SearchHit(doc_id="d", path="p", page=i, page_end=i, score=0.0, kind="text",
    ...                      text=text, chunk_index=i)
    >>> cert = ("certify that the annual report on Form 10-K for the fiscal year"
    ...         " complies with the Act")
    >>> hs = [hit(1, "I, Ann Lee, " + cert), hit(2, "I, Bo Kim, " + cert), hit(3, "Revenue rose")]
    >>> round(resemblance(shingles(hs[0].text), shingles(hs[1].text)), 2)
    0.71
    >>> [h.page for h in distinct(hs, 0.7)]
    [1, 3]
    """
    kept: list[SearchHit] = []
    seen: list[frozenset[tuple[str, ...]]] = []
    for h in ranked:
        s = shingles(h.text)
        if h.reference is None and any(resemblance(s, t) > above for t in seen):
            continue
        kept.append(h)
        seen.append(s)
    return kept


def named_first(hits: Sequence[SearchHit]) -> list[SearchHit]:
    """For each figure, table or section the question names (`SearchHit.reference`), its
    best-ranked chunk, in rank order: what leads a prompt's passages."""
    seen: set[str] = set()
    first: list[SearchHit] = []
    for h in hits:
        if h.reference and h.reference not in seen:
            seen.add(h.reference)
            first.append(h)
    return first


def lead_with_named(hits: Sequence[SearchHit]) -> list[SearchHit]:
    """`hits` reordered: `named_first(hits)`, then the others in rank order."""
    first = named_first(hits)
    return first + [h for h in hits if not any(h is f for f in first)]
