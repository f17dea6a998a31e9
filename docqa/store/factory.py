"""`open_store`: the store the settings name. Apart from the protocol module, which never
imports its implementations."""

from __future__ import annotations

from docqa.config import Settings
from docqa.store.base import Store


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
