"""Wires the engine's parts from one `Settings`: registry, embedder, BM25, store, searcher,
reranker, generator, citation checker, answerer. The one composition root of the engine.

Parts are built on first use, so `docqa docs` does not load an embedding model and `docqa
search` no language model.
"""

from __future__ import annotations

import os
from functools import cached_property
from typing import TYPE_CHECKING

from docqa.config import EmbeddingSettings, Settings
from docqa.embedding import Embedder, load_embedder
from docqa.models import ModelRegistry
from docqa.search import Searcher
from docqa.sparse import Bm25Encoder
from docqa.store.base import Store
from docqa.store.factory import open_store
from docqa.types import Document

if TYPE_CHECKING:
    from docqa.answer import Answerer
    from docqa.citations.checker import CitationChecker
    from docqa.generation import Generator, LogitsModel
    from docqa.retrieval import CrossEncoderReranker, Retriever

# Dimensions of the registry embedders, so a store opens without loading a model.
KNOWN_DIMS = {"minilm": 384, "bge-small": 384}


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def registry(self) -> ModelRegistry:
        return ModelRegistry(self.settings.cache_dir)

    @cached_property
    def embedder(self) -> Embedder:
        return load_embedder(self.embedding_settings(), self.registry)

    def embedding_settings(self) -> EmbeddingSettings:
        """The embedding settings with `threads` resolved: unset, the cores the parser
        processes leave free."""
        emb = self.settings.embedding
        if emb.threads is not None:
            return emb
        free = (os.cpu_count() or 1) - self.settings.ingest.parse_workers
        return emb.model_copy(update={"threads": max(1, free)})

    @cached_property
    def bm25(self) -> Bm25Encoder:
        return Bm25Encoder()

    @cached_property
    def store(self) -> Store:
        model = self.settings.embedding.model
        dim = KNOWN_DIMS.get(model) or self.embedder.dim
        return open_store(self.settings, dim=dim, embedding_model=model)

    @cached_property
    def searcher(self) -> Searcher:
        return Searcher(self.store, self.embedder, self.bm25, self.settings.search.prefetch)

    @cached_property
    def reranker(self) -> CrossEncoderReranker:
        from docqa.retrieval import CrossEncoderReranker

        return CrossEncoderReranker.from_registry(self.registry)

    @cached_property
    def retriever(self) -> Retriever:
        from docqa.retrieval import Retriever

        return Retriever(self.searcher, self.reranker)

    @cached_property
    def generator(self) -> Generator:
        from docqa.generation import load_generator

        return load_generator(self.settings.generation, self.registry)

    @cached_property
    def logits_model(self) -> LogitsModel | None:
        """A `LogitsModel` sharing the generator's model and KV cache (llama.cpp), else None:
        the document KV cache needs both on one cache."""
        if self.settings.generation.backend != "llamacpp":
            return None
        from docqa.generation import load_logits_model

        return load_logits_model(self.settings.generation, self.registry, self.generator)

    @cached_property
    def checker(self) -> CitationChecker:
        from docqa.citations.cli import default_checker

        judge = self.settings.citations.judge and self.settings.citations.judge_model is None
        return default_checker(self.settings, logits_model=self.logits_model if judge else None)

    @cached_property
    def answerer(self) -> Answerer:
        from docqa.answer import Answerer, DocumentKVCache

        cfg = self.settings.answer
        return Answerer(
            self.settings,
            self.store,
            self.retriever,
            self.generator,
            checker=self.checker if self.settings.citations.enabled else None,
            logits_model=self.logits_model if cfg.kv_cache else None,
            kv_cache=DocumentKVCache(self.settings.kv_cache_dir, int(cfg.kv_cache_max_gb * 2**30)),
            drafter_model=lambda: self.drafter_model,
        )

    @cached_property
    def drafter_model(self) -> LogitsModel:
        """The `speculative` strategy's drafter, loaded on first use: the answering model in a
        second context (`answer.drafter=self`) or `answer.drafter_model`, decoding on one
        thread so that the target keeps the other cores, and prefilling its passages on all of
        them (the target waits for that prefill)."""
        from docqa.generation import load_logits_model
        from docqa.generation.llamacpp import default_threads

        gen = self.settings.generation
        cfg = self.settings.answer
        model = gen.model if cfg.drafter == "self" else cfg.drafter_model
        batch = gen.threads_batch or gen.threads or default_threads()
        drafter = gen.model_copy(
            update={"model": model, "threads": 1, "threads_batch": batch, "n_ctx": 8192}
        )
        return load_logits_model(drafter, self.registry)

    def remove_document(self, ref: str) -> Document:
        """Remove a document (by id or file name) with its saved KV states; the removed record.
        Raises `DocumentNotFoundError` when no document matches."""
        from docqa.documents import remove_document
        from docqa.search import resolve_document

        doc = resolve_document(self.store, ref)
        remove_document(self.store, self.settings, doc.doc_id)
        return doc

    def close(self) -> None:
        if "store" in self.__dict__:
            self.store.close()
        drafter = self.__dict__.get("drafter_model")
        if drafter is not None and hasattr(drafter, "close"):
            drafter.close()
            own = getattr(drafter, "llama", None)  # its own model, not the generator's
            if own is not None:
                own.close()
        gen = self.__dict__.get("generator")
        if gen is not None and hasattr(gen, "close"):
            gen.close()
