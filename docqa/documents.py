"""Operations on stored documents that every front end (CLI, REST service, ingestion's folder
sync) shares, written once."""

from __future__ import annotations

from docqa.config import Settings
from docqa.store.base import Store


def remove_document(store: Store, settings: Settings, doc_id: str) -> int:
    """Delete the document's record, pages and chunks, and every saved long-context KV state
    that holds it (they would never be used again, only take disk). Returns the number of
    KV states dropped."""
    from docqa.answer.kvcache import DocumentKVCache  # not at import: ingestion rarely needs it

    store.delete_document(doc_id)
    return DocumentKVCache(settings.kv_cache_dir, 0).invalidate(doc_id)
