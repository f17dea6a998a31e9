from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from docqa.config import EmbeddingSettings
from docqa.embedding import Embedder, load_embedder
from docqa.models import ModelRegistry

PASSAGES = [
    "Northwind Traders reported revenue of 412 million dollars in fiscal 2024.",
    "The reactor vessel is cooled by a closed loop of molten salt.",
    "Employees may carry over five days of unused vacation into the next year.",
]


@pytest.mark.parametrize(("model", "window"), [("minilm", 256), ("bge-small", 512)])
def test_offline_embedders_rank_the_relevant_passage_first(
    model: str, window: int, tmp_path: Path
) -> None:
    emb = load_embedder(EmbeddingSettings(model=model), ModelRegistry(tmp_path))
    assert isinstance(emb, Embedder)
    assert emb.dim == 384
    assert emb.max_tokens == window - 2
    docs = emb.embed_documents(PASSAGES)
    assert docs.shape == (3, 384)
    assert np.allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-4)
    for i, q in enumerate(
        [
            "How much revenue did Northwind make?",
            "How is the reactor cooled?",
            "Can I keep vacation days I did not use?",
        ]
    ):
        scores = docs @ emb.embed_query(q)
        assert int(np.argmax(scores)) == i


def test_token_count_is_the_models_own(tmp_path: Path) -> None:
    emb = load_embedder(EmbeddingSettings(model="minilm"), ModelRegistry(tmp_path))
    assert emb.count_tokens("") == 0
    assert emb.count_tokens("revenue") == 1
    long = "antidisestablishmentarianism " * 40
    assert emb.count_tokens(long) > 200
