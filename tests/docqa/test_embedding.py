from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest

from docqa.config import EmbeddingSettings, Settings
from docqa.embedding import (
    Embedder,
    SentenceTransformerEmbedder,
    load_embedder,
    resolve_precision,
)
from docqa.models import ModelRegistry
from docqa.runtime import Runtime

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


@pytest.mark.parametrize(
    ("asked", "device", "native", "runs"),
    [
        ("auto", "cpu", True, "bfloat16"),
        ("auto", "cpu", False, "float32"),
        ("auto", "cuda", True, "float32"),
        ("float32", "cpu", True, "float32"),
        ("bfloat16", "cpu", False, "bfloat16"),
    ],
)
def test_auto_precision_is_bfloat16_only_where_the_cpu_computes_it(
    asked: Literal["auto", "float32", "bfloat16"], device: str, native: bool, runs: str
) -> None:
    assert resolve_precision(asked, device, native) == runs


def test_bfloat16_vectors_match_float32_ones(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    exact = load_embedder(EmbeddingSettings(precision="float32"), registry)
    fast = load_embedder(EmbeddingSettings(precision="bfloat16"), registry)
    assert isinstance(fast, SentenceTransformerEmbedder)
    assert fast.precision == "bfloat16"
    a, b = exact.embed_documents(PASSAGES), fast.embed_documents(PASSAGES)
    assert b.dtype == np.float32
    assert np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    cosines = (a * b).sum(axis=1)
    assert cosines.min() > 0.999
    assert not np.array_equal(a, b)  # the autocast did run: bfloat16 rounds differently
    query = "How is the reactor cooled?"
    assert float(exact.embed_query(query) @ fast.embed_query(query)) > 0.999


def test_unset_threads_are_the_cores_the_parsers_leave_free(tmp_path: Path) -> None:
    cores = os.cpu_count() or 1
    settings = Settings(home=tmp_path)
    settings.ingest.parse_workers = 1
    assert Runtime(settings).embedding_settings().threads == max(1, cores - 1)
    settings.ingest.parse_workers = cores + 3
    assert Runtime(settings).embedding_settings().threads == 1
    settings.embedding.threads = 7
    assert Runtime(settings).embedding_settings().threads == 7


def test_the_embedders_threads_hold_for_its_calls_only(tmp_path: Path) -> None:
    import torch

    before = torch.get_num_threads()
    emb = load_embedder(EmbeddingSettings(threads=1), ModelRegistry(tmp_path))
    seen: list[int] = []
    assert isinstance(emb, SentenceTransformerEmbedder)
    encode = emb.model.encode

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(torch.get_num_threads())
        return encode(*args, **kwargs)

    emb.model.encode = spy  # type: ignore[method-assign]
    emb.embed_documents(PASSAGES)
    assert seen == [1]
    assert torch.get_num_threads() == before


def test_threads_asked_before_each_batch_give_the_vectors_of_one_call(tmp_path: Path) -> None:
    import torch

    before = torch.get_num_threads()
    emb = load_embedder(EmbeddingSettings(threads=1, batch_size=2), ModelRegistry(tmp_path))
    assert isinstance(emb, SentenceTransformerEmbedder)
    texts = [*PASSAGES, "A short one.", "Revenue fell in the third quarter of fiscal 2023."]
    whole = emb.embed_documents(texts)
    answers = iter([2, 1, 5])  # asked once per batch of 2: three batches
    seen: list[int] = []
    encode = emb.model.encode

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(torch.get_num_threads())
        return encode(*args, **kwargs)

    emb.model.encode = spy  # type: ignore[method-assign]
    batched = emb.embed_documents(texts, threads=lambda: next(answers))
    assert seen == [2, 1, 5]
    assert torch.get_num_threads() == before
    # the same batches (longest texts first) as one call makes: the same vectors, row for row
    assert np.allclose(batched, whole, atol=1e-3)
    assert np.argmax(batched @ whole.T, axis=1).tolist() == list(range(len(texts)))
