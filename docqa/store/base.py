"""The `Store` protocol: what the engine, ingestion and front ends may ask of a store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from docqa.types import Chunk, Document, Page, SearchHit, SparseVector

if TYPE_CHECKING:
    from docqa.config import Settings

SearchMode = Literal["hybrid", "dense", "sparse"]


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
        generation, and store `doc` (its status set to ready)."""
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
        """Visible chunks only. `hybrid`: dense and BM25 candidates fused by Qdrant's RRF."""
        ...

    def get_pages(self, doc_id: str) -> list[Page]: ...
    def get_chunks(self, doc_id: str) -> list[Chunk]: ...
    def count_chunks(self, doc_id: str | None = None, visible_only: bool = True) -> int: ...
    def count_pages(self, doc_id: str | None = None, visible_only: bool = True) -> int: ...

    def close(self) -> None: ...


def open_store(settings: Settings, dim: int, embedding_model: str | None = None) -> Store:
    """The store the settings name: Qdrant Edge in `<home>/store` by default.

    `embedding_model` is recorded on first use; opening the store later with another model
    fails clearly instead of mixing vectors of two models."""
    store: Store
    if settings.store.kind == "edge":
        from docqa.store.edge import EdgeStore

        store = EdgeStore(settings.store_dir, dim=dim, batch=settings.store.upsert_batch)
    else:
        from docqa.store.client import ClientStore

        if not settings.store.url:
            raise ValueError(
                "DOCQA_STORE__KIND=qdrant needs DOCQA_STORE__URL: a Qdrant server URL, "
                "or a folder / ':memory:' for qdrant-client's local mode"
            )
        store = ClientStore(
            settings.store.url,
            dim=dim,
            api_key=settings.store.api_key,
            prefix=settings.store.prefix,
            batch=settings.store.upsert_batch,
        )
    if embedding_model is not None:
        try:
            store.bind_embedder(embedding_model)
        except BaseException:
            store.close()
            raise
    return store
