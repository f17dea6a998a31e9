"""Fixtures for the ingestion tests."""

from __future__ import annotations

import pytest

from docqa.config import EmbeddingSettings
from docqa.embedding import Embedder, load_embedder
from docqa.models import ModelRegistry


@pytest.fixture(scope="module")
def embedder(tmp_path_factory: pytest.TempPathFactory) -> Embedder:
    """The default chunk embedder (MiniLM), loaded once per test module."""
    return load_embedder(EmbeddingSettings(), ModelRegistry(tmp_path_factory.mktemp("cache")))
