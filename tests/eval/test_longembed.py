from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from docqa.config import EmbeddingSettings
from docqa.embedding import Embedder, SentenceTransformerEmbedder, load_embedder
from docqa.models import ModelRegistry
from eval.longembed import LongTextEmbedder, interpolate_positions, load_long_embedder

SHORT = "Northwind Traders reported revenue of 412 million dollars in fiscal 2024."
FILLER = (
    "The committee met on Tuesday to review the agenda and approve the minutes of the "
    "previous meeting, then adjourned for lunch. "
) * 14  # ~340 tokens: more than MiniLM's 254-token window on its own
TOPIC = (
    "The reactor vessel is cooled by a closed loop of molten salt pumped through graphite "
    "channels and a heat exchanger. "
) * 6
LONG = FILLER + TOPIC
QUERY = "How is the reactor vessel cooled?"


@pytest.fixture(scope="module")
def minilm(tmp_path_factory: pytest.TempPathFactory) -> SentenceTransformerEmbedder:
    emb = load_embedder(EmbeddingSettings(), ModelRegistry(tmp_path_factory.mktemp("cache")))
    assert isinstance(emb, SentenceTransformerEmbedder)
    return emb


def test_subwindow_of_a_short_text_is_the_plain_embedding(
    minilm: SentenceTransformerEmbedder,
) -> None:
    long = LongTextEmbedder(minilm, "subwindow")
    assert isinstance(long, Embedder)
    assert long.windows(SHORT)[0].text == SHORT
    assert np.array_equal(long.embed_documents([SHORT]), minilm.embed_documents([SHORT]))
    assert np.array_equal(long.embed_query(QUERY), minilm.embed_query(QUERY))


def test_windows_fit_the_model_cover_the_text_and_overlap(
    minilm: SentenceTransformerEmbedder,
) -> None:
    long = LongTextEmbedder(minilm, "subwindow", overlap=16)
    windows = long.windows(LONG)
    assert minilm.count_tokens(LONG) > minilm.max_tokens
    assert len(windows) == 2
    assert windows[0].start == 0 and windows[-1].end == len(LONG.rstrip())
    for w in windows:
        # cut between words: re-tokenizing a window gives exactly its tokens, within the window
        assert minilm.count_tokens(w.text) == w.tokens <= minilm.max_tokens
        assert w.text == LONG[w.start : w.end]
    assert windows[1].start < windows[0].end  # the overlap
    assert abs(windows[0].tokens - windows[1].tokens) <= 8  # balanced, not 254 + a stub


def test_subwindow_sees_content_past_the_window(minilm: SentenceTransformerEmbedder) -> None:
    truncated = LongTextEmbedder(minilm, "truncate").embed_documents([LONG])[0]
    pooled = LongTextEmbedder(minilm, "subwindow").embed_documents([LONG])[0]
    assert np.isclose(np.linalg.norm(pooled), 1.0, atol=1e-5)
    assert not np.allclose(pooled, truncated, atol=1e-3)
    q = minilm.embed_query(QUERY)
    # the topic sits in the second half, which truncation never sees
    assert float(pooled @ q) > float(truncated @ q) + 0.1


def test_interpolation_accepts_long_inputs_on_a_copy(minilm: SentenceTransformerEmbedder) -> None:
    before = minilm.embed_documents([LONG])
    long = LongTextEmbedder(minilm, "interpolate", target_positions=1024)
    model = long.long_model
    assert model.max_seq_length == 1024 and long.max_tokens == 1022
    table = model[0].auto_model.embeddings.position_embeddings.weight
    original = minilm.model[0].auto_model.embeddings.position_embeddings.weight
    assert table.shape[0] == 1024
    # every 2nd interpolated position is an original one: short texts keep their meaning
    assert np.allclose(table[::2].detach().numpy(), original.detach().numpy())

    vectors = long.embed_documents([LONG, SHORT])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    q = long.embed_query(QUERY)
    assert float(vectors[0] @ q) > float(before[0] @ q) + 0.1
    assert np.array_equal(vectors[1], minilm.embed_documents([SHORT])[0])  # keep_short

    # the shared embedder is untouched
    assert minilm.model.max_seq_length == 256 and minilm.max_tokens == 254
    assert original.shape[0] == 512
    assert np.array_equal(minilm.embed_documents([LONG]), before)


def test_extend_without_interpolation_and_errors(minilm: SentenceTransformerEmbedder) -> None:
    extended = interpolate_positions(minilm.model, 512)
    assert extended.max_seq_length == 512
    assert extended[0].auto_model.embeddings.position_embeddings.weight.shape[0] == 512
    with pytest.raises(ValueError, match="must exceed"):
        interpolate_positions(minilm.model, 256, source=512)
    with pytest.raises(ValueError, match="mode"):
        LongTextEmbedder(minilm, "magic")  # type: ignore[arg-type]


def test_bge_onnx_subwindow_and_no_interpolation(tmp_path: Path) -> None:
    bge = load_embedder(EmbeddingSettings(model="bge-small"), ModelRegistry(tmp_path))
    long = LongTextEmbedder(bge, "subwindow")
    assert np.array_equal(long.embed_documents([SHORT]), bge.embed_documents([SHORT]))
    text = LONG * 3  # ~1,460 tokens: three windows of bge's 510 (32 overlap)
    windows = long.windows(text)
    assert bge.count_tokens(text) > 2 * bge.max_tokens
    assert len(windows) == 3
    assert all(bge.count_tokens(w.text) == w.tokens <= bge.max_tokens for w in windows)
    with pytest.raises(ValueError, match="interpolate"):
        LongTextEmbedder(bge, "interpolate")


def test_loader_wraps_the_given_embedder_in_the_asked_mode(
    minilm: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    long = load_long_embedder(EmbeddingSettings(), ModelRegistry(tmp_path), base=minilm)
    assert long.mode == "interpolate" and long.base is minilm
    assert long.max_tokens > minilm.max_tokens
    sub = load_long_embedder(
        EmbeddingSettings(), ModelRegistry(tmp_path), base=minilm, mode="subwindow"
    )
    assert sub.mode == "subwindow" and sub.base is minilm
