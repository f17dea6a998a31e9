"""Hybrid search over the store: the query embedded densely and as BM25, the two lists fused
(RRF) by the store with ties ranked by document and position (`QdrantStore.search`).

Example:
    >>> searcher = Searcher(store, embedder, Bm25Encoder())  # doctest: +SKIP
    >>> searcher.run("What was revenue in 2024?", k=5)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence

from docqa.embedding import Embedder
from docqa.sparse import Bm25Encoder
from docqa.store.base import SearchMode, Store
from docqa.types import Document, SearchHit


class DocumentNotFoundError(LookupError):
    pass


def resolve_document(store: Store, ref: str) -> Document:
    """A document of the store by id, file name or path; a clear error when none or several
    match."""
    return pick_document(store.list_documents(), ref)


def pick_document(docs: Sequence[Document], ref: str) -> Document:
    """The one of `docs` that `ref` names (id, path, or a file name only one of them has);
    `DocumentNotFoundError` saying why otherwise."""
    exact = [d for d in docs if ref in (d.doc_id, d.path)]
    if exact:
        return exact[0]
    by_name = [d for d in docs if d.filename == ref]
    if len(by_name) == 1:
        return by_name[0]
    if len(by_name) > 1:
        ids = ", ".join(f"{d.doc_id} ({d.path})" for d in by_name)
        raise DocumentNotFoundError(f"'{ref}' names several documents; use an id: {ids}")
    raise DocumentNotFoundError(
        f"no document '{ref}' in the store ({len(docs)} documents; see `docqa docs`)"
    )


class Searcher:
    def __init__(
        self, store: Store, embedder: Embedder, bm25: Bm25Encoder, prefetch: int = 50
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.bm25 = bm25
        self.prefetch = prefetch

    def run(
        self,
        query: str,
        k: int = 8,
        doc_ids: Sequence[str] | None = None,
        mode: SearchMode = "hybrid",
    ) -> list[SearchHit]:
        dense = None if mode == "sparse" else self.embedder.embed_query(query).tolist()
        sparse = None if mode == "dense" else self.bm25.query(query)
        return self.store.search(
            dense, sparse, k=k, doc_ids=doc_ids, mode=mode, prefetch=self.prefetch
        )
