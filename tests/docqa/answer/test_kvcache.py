"""The document KV cache on a real llama.cpp model (SmolLM2): computed once, loaded after,
keyed by document hash and model, bounded on disk."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from docqa.answer.kvcache import DocumentKVCache
from docqa.generation.llamacpp import LlamaCppLogitsModel, load_llama

TEXT = "Northwind's revenue rose 10.7% to $503.8 million in 2024. " * 8


@pytest.fixture(scope="module")
def lm(smollm2_path: Path) -> Iterator[LlamaCppLogitsModel]:
    model = LlamaCppLogitsModel(load_llama(smollm2_path, n_ctx=1024, threads=2))
    yield model
    model.close()


@pytest.fixture(autouse=True)
def empty_cache(lm: LlamaCppLogitsModel) -> None:
    lm.truncate(0)


def test_first_warm_computes_and_saves_then_loads(lm: LlamaCppLogitsModel, tmp_path: Path) -> None:
    cache = DocumentKVCache(tmp_path / "kv", max_bytes=1 << 30)
    ids = lm.tokenize(TEXT)
    docs = [("doc1", "sha-a")]
    first = cache.warm(lm, ids, docs)
    assert not first.cached and first.seconds > 0 and first.tokens == len(ids)
    [entry] = cache.entries()
    assert entry.docs == docs and entry.tokens == len(ids) and entry.bytes > 0
    want = lm.extend(lm.tokenize(" Revenue"))[-1].copy()

    lm.truncate(0)  # another prompt took the model's cache
    again = cache.warm(lm, ids, docs)
    assert again.cached and again.key == first.key
    assert lm.tokens == ids
    got = lm.extend(lm.tokenize(" Revenue"))[-1]
    assert np.allclose(got, want, atol=1e-3)  # the loaded state continues like the computed one

    lm.truncate(len(ids))
    assert cache.warm(lm, ids, docs).seconds == 0.0  # already in the model's cache


def test_changed_document_misses_and_drops_its_old_state(
    lm: LlamaCppLogitsModel, tmp_path: Path
) -> None:
    cache = DocumentKVCache(tmp_path / "kv", max_bytes=1 << 30)
    ids = lm.tokenize(TEXT)
    old = cache.warm(lm, ids, [("doc1", "sha-a")])
    lm.truncate(0)
    new = cache.warm(lm, ids, [("doc1", "sha-b")])  # same text, new file hash
    assert not new.cached and new.key != old.key
    assert [e.key for e in cache.entries()] == [new.key]


def test_lru_eviction_and_invalidate(lm: LlamaCppLogitsModel, tmp_path: Path) -> None:
    probe = DocumentKVCache(tmp_path / "probe", max_bytes=1 << 30)
    ids = lm.tokenize(TEXT)
    probe.warm(lm, ids, [("x", "1")])
    size = probe.entries()[0].bytes
    cache = DocumentKVCache(tmp_path / "kv", max_bytes=int(size * 2.5))
    keys = []
    for i in range(3):
        lm.truncate(0)
        keys.append(cache.warm(lm, ids, [(f"doc{i}", "sha")]).key)
    left = {e.key for e in cache.entries()}
    assert left == {keys[1], keys[2]}  # the least recently used went
    assert cache.invalidate("doc2") == 1
    assert {e.key for e in cache.entries()} == {keys[1]}


def test_a_corrupt_state_file_is_recomputed(lm: LlamaCppLogitsModel, tmp_path: Path) -> None:
    cache = DocumentKVCache(tmp_path / "kv", max_bytes=1 << 30)
    ids = lm.tokenize(TEXT)
    first = cache.warm(lm, ids, [("doc1", "sha")])
    (tmp_path / "kv" / f"{first.key}.kv").write_bytes(b"garbage")
    lm.truncate(0)
    again = cache.warm(lm, ids, [("doc1", "sha")])
    assert not again.cached and lm.tokens == ids
