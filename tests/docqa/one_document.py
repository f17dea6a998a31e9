"""A real Edge store holding one document whose page i+1 is chunk i (texts given), with the
MiniLM embedder and BM25 over it: the corpus of the retrieval tests. Each page's stored text
is its chunk's."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

from docqa.config import Settings
from docqa.embedding import load_embedder
from docqa.models import ModelRegistry
from docqa.retrieval import CrossEncoderReranker, Retriever
from docqa.search import Searcher
from docqa.sparse import Bm25Encoder
from docqa.store.base import Store
from docqa.store.factory import open_store
from docqa.types import Chunk, DocStatus, Document, Page


def one_document_searcher(
    settings: Settings, doc_id: str, filename: str, texts: Sequence[str]
) -> tuple[Searcher, Store]:
    """The searcher over a fresh store with `texts` as document `doc_id`, and the store (for
    the caller to close)."""
    embedder = load_embedder(settings.embedding, ModelRegistry(settings.cache_dir))
    store: Store = open_store(settings, dim=384)
    searcher = Searcher(store, embedder, Bm25Encoder())
    publish_texts(searcher, doc_id, filename, texts)
    return searcher, store


def one_document_retriever(
    home: Path, doc_id: str, filename: str, texts: Sequence[str]
) -> Iterator[Retriever]:
    """For a module fixture (`yield from`): the retriever (search and the cross-encoder) over a
    fresh store in `home` with `texts` as document `doc_id`; the store is closed after."""
    settings = Settings(home=home)
    searcher, store = one_document_searcher(settings, doc_id, filename, texts)
    yield Retriever(searcher, CrossEncoderReranker.from_registry(ModelRegistry(settings.cache_dir)))
    store.close()


def publish_texts(searcher: Searcher, doc_id: str, filename: str, texts: Sequence[str]) -> None:
    """Store `texts` as a new generation of document `doc_id` (page i+1 is chunk i) and make it
    the visible one."""
    store = searcher.store
    doc = Document(
        doc_id=doc_id,
        path=f"library/{filename}",
        filename=filename,
        sha256="0" * 64,
        status=DocStatus.indexing,
        generation=uuid.uuid4().hex,
        pages=len(texts),
        chunks=len(texts),
    )
    store.put_document(doc)
    chunks = [
        Chunk(doc_id=doc_id, index=i, text=t, page_start=i + 1, page_end=i + 1, kind="text")
        for i, t in enumerate(texts)
    ]
    pages = [
        Page(doc_id=doc_id, page=i + 1, text=t, width=612.0, height=792.0)
        for i, t in enumerate(texts)
    ]
    store.add_pages(pages, doc.generation)
    dense = searcher.embedder.embed_documents(list(texts)).tolist()
    store.add_chunks(chunks, dense, searcher.bm25.documents(list(texts)), doc.generation)
    store.publish(doc)
