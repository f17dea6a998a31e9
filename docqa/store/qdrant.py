"""`QdrantStore`: the `Store` protocol written once over a small backend seam.

The seam (`Backend`) has only the low-level operations both engines offer: upsert points,
set payload / delete / scroll / count by filter, a dense or a sparse query on the chunks,
flush and close. Hybrid search fuses the two lists here (`rrf`), not in the engine: tied
scores must be ranked the same way every time. Filters are plain mappings (`Where`),
translated by each backend.
Everything the visibility protocol needs (generations, `visible` flags, deterministic point
ids, payload layout) lives here, so `EdgeStore` and `ClientStore` cannot drift apart.

Three collections: `chunks` (dense `dense` + sparse `bm25` vectors), `pages` and
`documents` (payload only).
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

import numpy as np

from docqa.store.base import EmbeddingMismatchError, SearchMode
from docqa.types import Chunk, DocStatus, Document, Page, SearchHit, SparseVector

Collection = Literal["chunks", "pages", "documents"]
COLLECTIONS: tuple[Collection, ...] = ("chunks", "pages", "documents")
CONTENT: tuple[Collection, ...] = ("chunks", "pages")
"""The collections that hold a generation's content."""
DENSE = "dense"
SPARSE = "bm25"
RRF_K = 60
"""Reciprocal rank fusion constant: score = sum 1 / (k + rank). 60 is the value of the RRF
paper; Qdrant's server default (2) lets a single list's top hit outrank agreement of both."""
TIE_MARGIN = 16
"""Hits fetched past a search's cut, so that chunks tied with the last one kept are among
them when ties are broken (`QdrantStore.search`)."""

IndexKind = Literal["keyword", "bool"]
INDEXES: dict[Collection, dict[str, IndexKind]] = {
    "chunks": {"doc_id": "keyword", "generation": "keyword", "visible": "bool"},
    "pages": {"doc_id": "keyword", "generation": "keyword", "visible": "bool"},
    "documents": {"doc_id": "keyword"},
}
"""The payload indexes each collection gets: every field a filter below uses."""

_ID_NAMESPACE = uuid.UUID("5b0c4f3e-8d1a-4f5e-9c57-3a0e2f1d6b7a")

Payload = dict[str, Any]


@dataclass(frozen=True)
class AnyOf:
    """Filter condition: the field equals one of `values`."""

    values: tuple[str, ...]


@dataclass(frozen=True)
class NoneOf:
    """Filter condition: the field is missing or equals none of `values`."""

    values: tuple[str, ...]


Condition = str | int | bool | AnyOf | NoneOf
Where = Mapping[str, Condition]
"""A conjunction: every field must satisfy its condition; a scalar means equality.
The empty mapping matches every point."""


@dataclass(frozen=True)
class PointData:
    id: str
    payload: Payload
    dense: list[float] | None = None
    sparse: SparseVector | None = None


class Backend(ABC):
    """Low-level operations on the three collections of one Qdrant engine."""

    @abstractmethod
    def upsert(self, collection: Collection, points: Sequence[PointData]) -> None: ...

    @abstractmethod
    def set_payload(self, collection: Collection, where: Where, payload: Payload) -> None: ...

    @abstractmethod
    def delete(self, collection: Collection, where: Where) -> None: ...

    @abstractmethod
    def scroll(self, collection: Collection, where: Where) -> list[Payload]:
        """Payloads of every matching point, in no particular order."""

    @abstractmethod
    def count(self, collection: Collection, where: Where) -> int: ...

    @abstractmethod
    def query(
        self, where: Where, limit: int, vector: list[float] | SparseVector
    ) -> list[tuple[float, Payload]]:
        """The `limit` best chunks matching `where` for one vector (a dense list of floats:
        the `dense` vectors; a `SparseVector`: BM25), by score; tied points come in no fixed
        order."""

    @abstractmethod
    def flush(self, collections: Sequence[Collection] = COLLECTIONS) -> None:
        """Make every acknowledged write to `collections` durable."""

    @abstractmethod
    def close(self) -> None: ...


def point_id(*parts: str | int) -> str:
    """Deterministic point id: rewriting a generation after a crash overwrites, never
    duplicates."""
    return str(uuid.uuid5(_ID_NAMESPACE, "/".join(str(p) for p in parts)))


def _document_id(doc_id: str) -> str:
    return point_id("document", doc_id)


def _chunk_id(doc_id: str, generation: str, index: int) -> str:
    return point_id("chunk", doc_id, generation, index)


def _page_id(doc_id: str, generation: str, page: int) -> str:
    return point_id("page", doc_id, generation, page)


class QdrantStore:
    """The `Store` over any `Backend`: see the visibility protocol in `docqa.store`.

    Example:
        >>> store = EdgeStore(tmp / "store", dim=384)  # doctest: +SKIP
        >>> store.put_document(doc)  # status indexing, fresh generation  # doctest: +SKIP
        >>> store.add_chunks(chunks, dense, sparse, doc.generation)  # doctest: +SKIP
        >>> store.publish(doc)  # doctest: +SKIP
        >>> store.search(dense=q, sparse=bm25.query("revenue"), k=5)  # doctest: +SKIP
    """

    def __init__(self, backend: Backend, dim: int, batch: int = 256) -> None:
        if dim < 1 or batch < 1:
            raise ValueError(f"dim and batch must be positive, got dim={dim} batch={batch}")
        self.dim = dim
        self._backend = backend
        self._batch = batch
        self._closed = False

    # -- document records --------------------------------------------------------------
    def put_document(self, doc: Document) -> None:
        self._put(doc)
        # The record is what the next ingest run trusts to find a half-written generation.
        self._backend.flush(("documents",))

    def get_document(self, doc_id: str) -> Document | None:
        rows = self._backend.scroll("documents", {"doc_id": doc_id})
        return Document.model_validate(rows[0]) if rows else None

    def list_documents(self) -> list[Document]:
        rows = self._backend.scroll("documents", {"record": "document"})
        docs = [Document.model_validate(p) for p in rows]
        return sorted(docs, key=lambda d: (d.filename, d.path))

    def bind_embedder(self, model: str) -> None:
        meta = self._backend.scroll("documents", {"record": "meta"})
        if meta:
            built_with, dim = meta[0].get("embedding_model"), meta[0].get("dim")
            if built_with != model or dim != self.dim:
                raise EmbeddingMismatchError(
                    f"this store was built with the embedding model '{built_with}' ({dim}-d); "
                    f"the settings name '{model}' ({self.dim}-d). Use that model again, or "
                    "ingest into another DOCQA_HOME / collection prefix"
                )
            return
        point = PointData(
            id=point_id("meta", "store"),
            payload={"record": "meta", "embedding_model": model, "dim": self.dim},
        )
        self._backend.upsert("documents", [point])
        self._backend.flush(("documents",))

    # -- content of one ingestion generation ----------------------------------------------
    def add_pages(self, pages: Sequence[Page], generation: str) -> None:
        _check_generation(generation)
        for start in range(0, len(pages), self._batch):
            points = [
                PointData(
                    id=_page_id(p.doc_id, generation, p.page),
                    payload={
                        **p.model_dump(mode="json"),
                        "generation": generation,
                        "visible": False,
                    },
                )
                for p in pages[start : start + self._batch]
            ]
            self._backend.upsert("pages", points)

    def add_chunks(
        self,
        chunks: Sequence[Chunk],
        dense: Sequence[Sequence[float]],
        sparse: Sequence[SparseVector],
        generation: str,
    ) -> None:
        _check_generation(generation)
        if not len(chunks) == len(dense) == len(sparse):
            raise ValueError(
                f"add_chunks: {len(chunks)} chunks, {len(dense)} dense and "
                f"{len(sparse)} sparse vectors: one of each per chunk"
            )
        paths = self._paths({c.doc_id for c in chunks})
        for start in range(0, len(chunks), self._batch):
            end = start + self._batch
            rows = np.asarray(dense[start:end], dtype=np.float32)
            if rows.ndim != 2 or rows.shape[1] != self.dim:
                raise ValueError(
                    f"add_chunks: dense vectors of shape {rows.shape}, store dim {self.dim}"
                )
            points = [
                PointData(
                    id=_chunk_id(c.doc_id, generation, c.index),
                    payload={
                        **c.model_dump(mode="json"),
                        "path": paths[c.doc_id],
                        "generation": generation,
                        "visible": False,
                    },
                    dense=vector,
                    # A text of stopwords only has no BM25 terms; the point is then dense-only.
                    sparse=sv if sv.indices else None,
                )
                for c, vector, sv in zip(
                    chunks[start:end], rows.tolist(), sparse[start:end], strict=True
                )
            ]
            self._backend.upsert("chunks", points)

    def publish(self, doc: Document) -> None:
        _check_generation(doc.generation)
        other: Where = {"doc_id": doc.doc_id, "generation": NoneOf((doc.generation,))}
        mine: Where = {"doc_id": doc.doc_id, "generation": doc.generation}
        for collection in CONTENT:
            self._backend.delete(collection, other)
        for collection in CONTENT:
            self._backend.set_payload(collection, mine, {"visible": True})
        status = DocStatus.partial if doc.failed_pages else DocStatus.ready
        self._put(doc.model_copy(update={"status": status}))
        self._backend.flush()

    def discard(self, doc_id: str, keep_generation: str | None = None) -> None:
        where: dict[str, Condition] = {"doc_id": doc_id}
        if keep_generation is not None:
            where["generation"] = NoneOf((keep_generation,))
        for collection in CONTENT:
            self._backend.delete(collection, where)
        self._backend.flush()

    def delete_document(self, doc_id: str) -> None:
        for collection in COLLECTIONS:
            self._backend.delete(collection, {"doc_id": doc_id})
        self._backend.flush()

    # -- reading --------------------------------------------------------------------------
    def search(
        self,
        dense: Sequence[float] | None,
        sparse: SparseVector | None,
        k: int,
        doc_ids: Sequence[str] | None = None,
        mode: SearchMode = "hybrid",
        prefetch: int = 50,
    ) -> list[SearchHit]:
        """Visible chunks by score. `hybrid` given only one of the two vectors searches
        with that one; a BM25 query without terms (stopwords only) matches nothing."""
        if mode == "dense" and dense is None:
            raise ValueError("search(mode='dense') needs a dense vector")
        if mode == "sparse" and sparse is None:
            raise ValueError("search(mode='sparse') needs a sparse vector")
        if dense is None and sparse is None:
            raise ValueError("search needs a dense or a sparse vector")
        query_dense = None
        if dense is not None and mode != "sparse":
            query_dense = [float(x) for x in dense]
            if len(query_dense) != self.dim:
                raise ValueError(f"query vector of size {len(query_dense)}, store dim {self.dim}")
        query_sparse = sparse if sparse is not None and sparse.indices and mode != "dense" else None
        if k < 1 or (doc_ids is not None and not doc_ids):
            return []
        if query_dense is None and query_sparse is None:
            return []
        where: dict[str, Condition] = {"visible": True}
        if doc_ids is not None:
            where["doc_id"] = AnyOf(tuple(doc_ids))
        # Equal scores are common (the same text on many pages: a download stamp, a header; RRF
        # gives the same score to chunks ranked alike in the two lists) and the engine returns
        # tied points in no fixed order: the same question could get other candidates, so
        # other passages. Each list is fetched past its cut and its ties broken by document
        # and position before the lists are fused (the engine's own fusion would rank tied
        # points as they come), and the fused list likewise.
        if query_dense is not None and query_sparse is not None:
            depth = max(prefetch, k)
            hits = rrf(
                [self._ranked(where, query_dense, depth), self._ranked(where, query_sparse, depth)]
            )
            return _by_score(hits)[:k]
        vector = query_dense if query_dense is not None else query_sparse
        assert vector is not None
        return self._ranked(where, vector, k)

    def _ranked(
        self, where: Where, vector: list[float] | SparseVector, limit: int
    ) -> list[SearchHit]:
        """The `limit` best chunks for one vector, ties broken by document and position."""
        rows = self._backend.query(where, limit=limit + max(limit, TIE_MARGIN), vector=vector)
        return _by_score([_hit(score, payload) for score, payload in rows])[:limit]

    def get_pages(self, doc_id: str) -> list[Page]:
        rows = self._backend.scroll("pages", {"doc_id": doc_id, "visible": True})
        return sorted((Page.model_validate(p) for p in rows), key=lambda p: p.page)

    def get_chunks(self, doc_id: str) -> list[Chunk]:
        rows = self._backend.scroll("chunks", {"doc_id": doc_id, "visible": True})
        return sorted((Chunk.model_validate(p) for p in rows), key=lambda c: c.index)

    def count_chunks(self, doc_id: str | None = None, visible_only: bool = True) -> int:
        return self._backend.count("chunks", _content_where(doc_id, visible_only))

    def count_pages(self, doc_id: str | None = None, visible_only: bool = True) -> int:
        return self._backend.count("pages", _content_where(doc_id, visible_only))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._backend.flush()
        finally:
            self._backend.close()

    def __enter__(self) -> QdrantStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- helpers --------------------------------------------------------------------------
    def _put(self, doc: Document) -> None:
        payload = {**doc.model_dump(mode="json"), "record": "document"}
        self._backend.upsert("documents", [PointData(id=_document_id(doc.doc_id), payload=payload)])

    def _paths(self, doc_ids: set[str]) -> dict[str, str]:
        paths: dict[str, str] = {}
        for doc_id in doc_ids:
            doc = self.get_document(doc_id)
            if doc is None:
                raise ValueError(
                    f"add_chunks: no record for document {doc_id!r}: put_document first"
                )
            paths[doc_id] = doc.path
        return paths


def _check_generation(generation: str) -> None:
    if not generation:
        raise ValueError("an empty generation: put_document with a fresh generation first")


def _content_where(doc_id: str | None, visible_only: bool) -> dict[str, Condition]:
    where: dict[str, Condition] = {}
    if doc_id is not None:
        where["doc_id"] = doc_id
    if visible_only:
        where["visible"] = True
    return where


TIE_DIGITS = 6
"""Scores equal to this many decimals are a tie: copies of one text can score a few units in
the last float digit apart (qdrant-client's local mode computes in another order for points
written in another order)."""


def _by_score(hits: list[SearchHit]) -> list[SearchHit]:
    """`hits` best first, equal scores (`TIE_DIGITS`) by document and position."""
    return sorted(hits, key=lambda h: (-round(h.score, TIE_DIGITS), h.doc_id, h.chunk_index))


def rrf(lists: Sequence[Sequence[SearchHit]], k: int = RRF_K) -> list[SearchHit]:
    """Reciprocal rank fusion: each chunk scores the sum of 1 / (k + position) over the
    `lists` it is in (positions from 0, as Qdrant's RRF counts them), in no particular order.
    Written here because the engine's fusion ranks tied points in whatever order it returns
    them (`QdrantStore.search`); qdrant-client's `reciprocal_rank_fusion` wants its
    `ScoredPoint`s, which the embedded engine does not return.

    >>> from docqa.types import SearchHit
    >>> def hit(i: int) -> SearchHit:
    ...     return SearchHit(doc_id="d", path="p", page=1, page_end=1, score=0.0, kind="text",
    ...                      text=str(i), chunk_index=i)
    >>> fused = rrf([[hit(1), hit(2)], [hit(2), hit(3)]], k=60)
    >>> [(h.chunk_index, round(h.score * 3660, 3)) for h in fused]
    [(1, 61.0), (2, 121.0), (3, 60.0)]
    """
    score: dict[tuple[str, int], float] = {}
    first: dict[tuple[str, int], SearchHit] = {}
    for hits in lists:
        for position, h in enumerate(hits):
            key = (h.doc_id, h.chunk_index)
            score[key] = score.get(key, 0.0) + 1.0 / (k + position)
            first.setdefault(key, h)
    return [first[key].model_copy(update={"score": s}) for key, s in score.items()]


def _hit(score: float, p: Payload) -> SearchHit:
    return SearchHit(
        doc_id=p["doc_id"],
        path=p["path"],
        page=p["page_start"],
        page_end=p["page_end"],
        score=score,
        kind=p["kind"],
        text=p["text"],
        chunk_index=p["index"],
        heading=p.get("heading"),
        boxes=p.get("boxes") or [],
        context=p.get("context"),
    )
