"""The `Store` protocol: what the engine, ingestion and front ends may ask of a store."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Generic, Literal, Protocol, TypeVar, runtime_checkable

from docqa.types import Chunk, Document, Page, SearchHit, SparseVector

SearchMode = Literal["hybrid", "dense", "sparse"]
T = TypeVar("T")


class StoreLockedError(RuntimeError):
    """Another process holds the embedded store folder."""


class EmbeddingMismatchError(RuntimeError):
    """The store holds vectors of another embedding model than the settings name."""


@runtime_checkable
class Store(Protocol):
    """Documents, pages and chunks with dense + BM25 vectors.

    Example:
        >>> store = open_store(Settings(home=tmp))  # doctest: +SKIP
        >>> store.search(dense=q, sparse=bm25.query("revenue"), k=5)  # doctest: +SKIP
    """

    dim: int

    # -- document records --------------------------------------------------------------
    def put_document(self, doc: Document) -> None: ...
    def get_document(self, doc_id: str) -> Document | None: ...
    def list_documents(self) -> list[Document]: ...

    def bind_embedder(self, model: str) -> None:
        """Record the embedding model on first use; raise `EmbeddingMismatchError` when the
        store was built with another one (vectors of two models must never mix)."""
        ...

    # -- content of one ingestion generation (invisible until published) ------------------
    def add_pages(self, pages: Sequence[Page], generation: str) -> None: ...
    def add_chunks(
        self,
        chunks: Sequence[Chunk],
        dense: Sequence[Sequence[float]],
        sparse: Sequence[SparseVector],
        generation: str,
    ) -> None: ...
    def publish(self, doc: Document) -> None:
        """Make `doc.generation` the visible content of `doc.doc_id`, drop every other
        generation, and store `doc` (its status set to ready, or partial when it has
        `failed_pages`)."""
        ...

    def discard(self, doc_id: str, keep_generation: str | None = None) -> None:
        """Delete the document's chunks and pages of every generation but `keep_generation`."""
        ...

    def delete_document(self, doc_id: str) -> None:
        """Delete chunks and pages first, the record last (a crash leaves no orphan)."""
        ...

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
        """Visible chunks only. `hybrid`: dense and BM25 candidates fused with Qdrant's RRF
        formula; equal scores ranked by document and position in each list and after."""
        ...

    def get_pages(self, doc_id: str) -> list[Page]: ...
    def get_chunks(self, doc_id: str) -> list[Chunk]: ...
    def count_chunks(self, doc_id: str | None = None, visible_only: bool = True) -> int: ...
    def count_pages(self, doc_id: str | None = None, visible_only: bool = True) -> int: ...

    def close(self) -> None: ...


class PerVersion(Generic[T]):
    """What was worked out from one version of each document (its pages, its chunks), kept
    until the document's `generation` changes: a re-ingested document is read again. At most
    `limit` documents are kept, the least recently used dropped first, so a long-running
    service whose documents come and go (deleted, replaced) holds a bounded number."""

    def __init__(self, make: Callable[[Document], T], limit: int = 256) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        self._make = make
        self._limit = limit
        self._known: OrderedDict[str, tuple[str, T]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._known)

    def of(self, doc: Document) -> T:
        known = self._known.get(doc.doc_id)
        if known is None or known[0] != doc.generation:
            known = (doc.generation, self._make(doc))
            self._known[doc.doc_id] = known
        self._known.move_to_end(doc.doc_id)
        while len(self._known) > self._limit:
            self._known.popitem(last=False)
        return known[1]
