"""Long-context embedding: embed texts longer than the embedder's window (LongEmbed methods).

Three training-free ways to give one vector to a text of any length (a whole PDF page, say):

- `truncate`: the plain embedder; the model cuts the text at its window (MiniLM: 256 tokens).
- `subwindow`: split the text on the model's own tokens into windows that fit the model (with a
  small overlap, cut on word boundaries), embed every window, mean-pool them (weighted by window
  length by default) and L2-normalise. Works for every embedder that exposes its tokenizer
  (MiniLM through sentence-transformers, bge-small through onnxruntime).
- `interpolate`: position interpolation (PI, as in LongEmbed) for BERT-style models with learned
  absolute positions: the learned position-embedding matrix is linearly interpolated to
  `target_positions` rows and the window raised to match, on a copy of the model (the shared
  embedder is never modified). Texts that fit the original window keep the original model, which
  the interpolated table reproduces exactly at positions `i * factor` (LongEmbed does the same);
  so queries embed as before.

Which one wins on this project's documents is measured by `python -m eval.bench_longembed`
(evidence-page recall@5 on the dev corpus), and whether whole-page vectors help chunk retrieval
by `python -m eval.bench_pagefusion`. They did not (eval/BENCHMARKS.md): the answering path
uses chunks alone, so this module lives with the benchmarks, not in the engine.

Example:
    >>> base = load_embedder(EmbeddingSettings(), ModelRegistry(cache))  # doctest: +SKIP
    >>> long = LongTextEmbedder(base, mode="subwindow")  # doctest: +SKIP
    >>> pages = long.embed_documents([page.text for page in pages])  # doctest: +SKIP
    >>> scores = pages @ long.embed_query("What was the 2023 revenue?")  # doctest: +SKIP
    >>> long = load_long_embedder(EmbeddingSettings(), ModelRegistry(cache), mode="interpolate")  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from docqa.config import EmbeddingSettings
from docqa.embedding import (
    Embedder,
    OnnxBertEmbedder,
    SentenceTransformerEmbedder,
    Threads,
    Vectors,
    _normalize,
    load_embedder,
)
from docqa.models import ModelRegistry

LongMode = Literal["truncate", "subwindow", "interpolate"]
LONG_MODES: tuple[LongMode, ...] = ("truncate", "subwindow", "interpolate")


@dataclass(frozen=True)
class Window:
    """A piece of a text that fits the model: its characters and its token count."""

    text: str
    start: int
    """Character offsets in the source text."""
    end: int
    tokens: int


class LongTextEmbedder:
    """An `Embedder` for texts longer than the base embedder's window.

    `mode`: `truncate` | `subwindow` | `interpolate` (see the module docstring).
    `overlap`: tokens shared by consecutive sub-windows. `weighted`: weight sub-windows by their
    token count when pooling (else a plain mean). `max_tokens`: sub-window mode only, tokens past
    it are dropped (bounds the cost of pathological texts). `target_positions`: interpolate mode,
    the new window; `source_positions`: how many learned positions to stretch over it (None: all
    the model has, e.g. 512 for MiniLM whose window is only 256). `keep_short`: interpolate mode,
    texts that fit the original window use the original model (queries, short pages).
    """

    def __init__(
        self,
        base: Embedder,
        mode: LongMode = "subwindow",
        *,
        overlap: int = 32,
        weighted: bool = True,
        max_tokens: int = 8192,
        target_positions: int = 2048,
        source_positions: int | None = None,
        keep_short: bool = True,
    ) -> None:
        if mode not in LONG_MODES:
            raise ValueError(f"mode must be one of {LONG_MODES}, not {mode!r}")
        self.base = base
        self.mode: LongMode = mode
        self.name = f"{base.name}+{mode}"
        self.dim = base.dim
        self.precision = base.precision
        self.weighted = weighted
        self.keep_short = keep_short
        self.overlap = overlap
        self._cap = max(max_tokens, base.max_tokens)
        self._long: SentenceTransformerEmbedder | None = None
        if mode == "truncate":
            self.max_tokens = base.max_tokens
        elif mode == "subwindow":
            if not 0 <= overlap < base.max_tokens // 2:
                raise ValueError(f"overlap must be in [0, {base.max_tokens // 2}), not {overlap}")
            _tokenizer_of(base)  # fail now, not at the first long text
            self.max_tokens = self._cap
        else:
            if not isinstance(base, SentenceTransformerEmbedder):
                raise ValueError(
                    "interpolate needs a sentence-transformers model with learned absolute "
                    f"positions; {base.name} is {type(base).__name__}"
                )
            self._long = _interpolated_embedder(base, target_positions, source_positions)
            self.max_tokens = self._long.max_tokens

    @property
    def long_model(self) -> Any:
        """Interpolate mode: the interpolated sentence-transformers copy (else None)."""
        return None if self._long is None else self._long.model

    def count_tokens(self, text: str) -> int:
        return self.base.count_tokens(text)

    def embed_query(self, text: str) -> Vectors:
        """Queries are short: the base embedder's own query path (e.g. bge's instruction);
        interpolate mode uses the interpolated model when the query does not fit the original
        window or `keep_short` is off."""
        if self._long is not None and (
            not self.keep_short or self.base.count_tokens(text) > self.base.max_tokens
        ):
            return self._long.embed_query(text)
        return self.base.embed_query(text)

    def embed_documents(self, texts: Sequence[str], threads: Threads = None) -> Vectors:
        """`threads` goes to the base embedder in `truncate` mode; the other modes embed with
        their embedders' own threads."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.mode == "truncate":
            return self.base.embed_documents(texts, threads)
        if self.mode == "interpolate":
            return self._embed_interpolated(texts)
        return self._embed_subwindows(texts)

    # -----------------------------------------------------------------------------------------
    # sub-windows

    def windows(self, text: str) -> list[Window]:
        """The sub-windows of `text` (the whole text when it fits the base window).

        Written by hand: the libraries at hand cut long inputs (sentence-transformers truncates)
        rather than split them, and splitting must use the embedder's own tokenizer so that every
        window fits its window exactly. Windows are balanced (a 300-token text gives two of ~166
        tokens, not 254 + 78) and cut only between words, so re-tokenizing a window's text gives
        back the same tokens.
        """
        window = self.base.max_tokens
        offsets, words = _tokenize(self.base, text)
        n = min(len(offsets), self._cap)
        if n <= window:
            # the text itself (not a slice): fits the model, so identical to the plain embedding
            return [Window(text, 0, len(text), n)]
        overlap = self.overlap
        count = math.ceil((n - overlap) / (window - overlap))
        length = math.ceil((n + (count - 1) * overlap) / count)  # <= window
        out: list[Window] = []
        start = 0
        while True:
            end = n if n - start <= window else _word_start(words, start + length, start + 1)
            a, b = offsets[start][0], offsets[end - 1][1]
            out.append(Window(text[a:b], a, b, end - start))
            if end >= n:
                return out
            start = _word_start(words, max(end - overlap, start + 1), end, forward=True)

    def _embed_subwindows(self, texts: Sequence[str]) -> Vectors:
        per_text = [self.windows(t) for t in texts]
        vectors = self.base.embed_documents([w.text for ws in per_text for w in ws])
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        i = 0
        for row, ws in enumerate(per_text):
            block = vectors[i : i + len(ws)]
            i += len(ws)
            if len(ws) == 1:  # a text that fits: the base vector itself, bit for bit
                out[row] = block[0]
                continue
            weights = np.array([w.tokens if self.weighted else 1 for w in ws], dtype=np.float32)
            out[row] = _normalize((weights @ block)[None, :])[0]
        return out

    # -----------------------------------------------------------------------------------------
    # position interpolation

    def _embed_interpolated(self, texts: Sequence[str]) -> Vectors:
        assert self._long is not None
        if not self.keep_short:
            return self._long.embed_documents(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        short = [
            i for i, t in enumerate(texts) if self.base.count_tokens(t) <= self.base.max_tokens
        ]
        longer = sorted(set(range(len(texts))) - set(short))
        if short:
            out[short] = self.base.embed_documents([texts[i] for i in short])
        if longer:
            out[longer] = self._long.embed_documents([texts[i] for i in longer])
        return out


def _tokenizer_of(base: Embedder) -> Any:
    if isinstance(base, SentenceTransformerEmbedder):
        return base.model.tokenizer
    if isinstance(base, OnnxBertEmbedder):
        return base.tokenizer
    raise ValueError(f"subwindow needs the embedder's tokenizer; {type(base).__name__} has none")


def _tokenize(base: Embedder, text: str) -> tuple[list[tuple[int, int]], list[int | None]]:
    """(character offsets, word index) of every content token of `text`."""
    tok = _tokenizer_of(base)
    if isinstance(base, OnnxBertEmbedder):  # a `tokenizers.Tokenizer` (truncation is off)
        enc = tok.encode(text, add_special_tokens=False)
        return [tuple(o) for o in enc.offsets], list(enc.word_ids)
    batch = tok(
        text,
        add_special_tokens=False,
        truncation=False,
        return_offsets_mapping=True,
        verbose=False,
    )
    return [tuple(o) for o in batch["offset_mapping"]], list(batch.word_ids())


def _word_start(words: list[int | None], i: int, bound: int, forward: bool = False) -> int:
    """The token index nearest `i` that starts a word, searching backward down to `bound` (or
    forward up to it); `i` itself when there is none (a word longer than a window is cut)."""
    n = len(words)

    def starts(j: int) -> bool:
        return j >= n or words[j] is None or words[j] != words[j - 1]

    step = 1 if forward else -1
    for j in range(i, bound + step, step):
        if starts(j):
            return j
    return i


def _interpolated_embedder(
    base: SentenceTransformerEmbedder, target: int, source: int | None
) -> SentenceTransformerEmbedder:
    """A shallow copy of `base` whose model is `interpolate_positions(base.model, ...)` (the
    embedder's constructor only loads from a path; the copy shares nothing that is changed)."""
    long = copy.copy(base)
    long.model = interpolate_positions(base.model, target, source)
    long._tok = long.model.tokenizer
    specials = long._tok.num_special_tokens_to_add(pair=False)
    long.max_tokens = target - specials
    # keep the tokens per batch of the short model: attention memory grows with length squared
    window = base.max_tokens + specials
    long.batch_size = max(1, base.batch_size * window // target)
    return long


def interpolate_positions(model: Any, target: int, source: int | None = None) -> Any:
    """A copy of a sentence-transformers model with its position embeddings interpolated.

    The first `source` learned positions (None: all of them) are stretched linearly over
    `target` positions: new position q is old position q / factor (factor = target / source),
    interpolated between its two neighbours, so new[i * factor] == old[i] exactly. When `target`
    fits the learned positions and `source` is None, nothing is interpolated: only the window is
    raised (MiniLM has 512 learned positions but a 256-token window).

    Written by hand rather than with `torch.nn.functional.interpolate`: that one samples at
    half-pixel centres (or stretches the endpoints with align_corners) and so does not keep the
    original embeddings at the integer positions `i * factor` that short texts are mapped to.
    """
    import torch

    new = copy.deepcopy(model)
    hf = new[0].auto_model
    embeddings: Any = getattr(hf, "embeddings", None)
    table = getattr(embeddings, "position_embeddings", None)
    if not isinstance(table, torch.nn.Embedding):
        raise ValueError(
            f"{type(hf).__name__} has no learned absolute position table "
            "(embeddings.position_embeddings); position interpolation does not apply"
        )
    # RoBERTa-style tables start after the padding index; BERT's start at 0
    offset = 0 if table.padding_idx is None else table.padding_idx + 1
    learned = table.num_embeddings - offset
    if source is None and target <= learned:
        new.max_seq_length = target
        return new
    src = learned if source is None else min(source, learned)
    if target <= src:
        raise ValueError(f"target_positions ({target}) must exceed source_positions ({src})")
    old = table.weight.detach()[offset : offset + src]
    x = torch.arange(target, dtype=torch.float64) * (src / target)
    lo = x.floor().long().clamp(max=src - 1)
    hi = (lo + 1).clamp(max=src - 1)
    frac = (x - lo.double()).clamp(max=1.0).to(old.dtype)[:, None]
    stretched = (1 - frac) * old[lo] + frac * old[hi]
    weight = torch.cat([table.weight.detach()[:offset], stretched])
    size = offset + target
    grown = torch.nn.Embedding(size, weight.shape[1], padding_idx=table.padding_idx)
    grown.weight.data.copy_(weight)
    grown.to(table.weight.device)
    embeddings.position_embeddings = grown
    # the buffers BERT slices per input (position ids, default token types) must grow as well
    device = table.weight.device
    if hasattr(embeddings, "position_ids"):
        ids = torch.arange(size, device=device).expand((1, -1))
        embeddings.register_buffer("position_ids", ids, persistent=False)
    if hasattr(embeddings, "token_type_ids"):
        types = torch.zeros((1, size), dtype=torch.long, device=device)
        embeddings.register_buffer("token_type_ids", types, persistent=False)
    hf.config.max_position_embeddings = size
    new.max_seq_length = target
    return new


def load_long_embedder(
    settings: EmbeddingSettings,
    registry: ModelRegistry,
    base: Embedder | None = None,
    mode: LongMode = "interpolate",
) -> LongTextEmbedder:
    """A `mode` long-text embedder (interpolate: the best of bench_longembed) over `base` when
    given (reuse the embedder already loaded), else over `load_embedder(settings)`."""
    return LongTextEmbedder(base or load_embedder(settings, registry), mode)
