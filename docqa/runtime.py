"""Wires the engine's parts from one `Settings`: registry, embedder, BM25, store, searcher.

Parts are built on first use, so `docqa docs` does not load an embedding model.
"""

from __future__ import annotations

from functools import cached_property

from docqa.config import Settings
from docqa.embedding import Embedder, load_embedder
from docqa.models import ModelRegistry
from docqa.search import Searcher
from docqa.sparse import Bm25Encoder
from docqa.store.base import Store, open_store

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
        return load_embedder(self.settings.embedding, self.registry)

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

    def close(self) -> None:
        if "store" in self.__dict__:
            self.store.close()
