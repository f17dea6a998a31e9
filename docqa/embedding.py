"""Dense embedders (`Embedder` protocol): sentence-transformers, and ONNX for the INT8 BGE.

Every embedder exposes its real token window (`max_tokens`, special tokens excluded) and its
own tokenizer (`count_tokens`), so the chunker can guarantee that nothing is truncated.

Example:
    >>> emb = load_embedder(EmbeddingSettings(), ModelRegistry(cache))  # doctest: +SKIP
    >>> emb.embed_documents(["Revenue was $1,577 million."]).shape  # doctest: +SKIP
    (1, 384)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
from tokenizers import Tokenizer

from docqa.config import EmbeddingSettings
from docqa.memory import release_free_heap
from docqa.models import ModelRegistry

Vectors = npt.NDArray[np.float32]
Precision = Literal["float32", "bfloat16"]
Threads = int | Callable[[], int] | None
"""Threads for one embedding call: a number, or a function asked before each model batch (how
many cores are free at that moment); None: the embedder's own setting."""


@runtime_checkable
class Embedder(Protocol):
    name: str
    dim: int
    max_tokens: int
    """Content tokens per passage that the model sees (its window minus special tokens)."""

    @property
    def precision(self) -> str:
        """The arithmetic it runs in (`float32`, `bfloat16`, `int8`), for reports."""
        ...

    def count_tokens(self, text: str) -> int: ...
    def embed_documents(self, texts: Sequence[str], threads: Threads = None) -> Vectors: ...
    def embed_query(self, text: str) -> Vectors: ...


def _normalize(x: npt.NDArray[Any]) -> Vectors:
    x = x.astype(np.float32, copy=False)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    out: Vectors = (x / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)
    return out


def native_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 in hardware (AMX tiles or AVX512-BF16), where torch's
    bfloat16 autocast is faster than float32; elsewhere it is emulated and slower."""
    import torch

    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(bool(getattr(torch.cpu, probe, lambda: False)()) for probe in probes)


def resolve_precision(
    precision: Literal["auto", "float32", "bfloat16"], device: str, native: bool
) -> Precision:
    """The arithmetic an embedder runs in: `auto` is bfloat16 on a CPU with `native` bfloat16,
    float32 otherwise (a GPU keeps its model's own dtype)."""
    if precision == "auto":
        return "bfloat16" if native and device == "cpu" else "float32"
    return precision


class SentenceTransformerEmbedder:
    """Any sentence-transformers model (MiniLM is the offline default), in float32 or under
    bfloat16 autocast (`precision`)."""

    def __init__(
        self,
        path: Path | str,
        name: str,
        batch_size: int = 32,
        device: str = "cpu",
        threads: int | None = None,
        precision: Precision = "float32",
    ) -> None:
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # noise in a CLI

        self.threads = threads
        """torch intra-op threads while embedding (set for each call, restored after it: a
        transformers generator in the same process keeps its own); None: torch's."""
        self.name = name
        self.batch_size = batch_size
        self.precision: Precision = precision
        self._device_type = torch.device(device).type
        self.model = SentenceTransformer(str(path), device=device)
        dim = self.model.get_embedding_dimension()
        if not dim:
            raise ValueError(f"{path}: the model does not declare its embedding dimension")
        self.dim = int(dim)
        self._tok = self.model.tokenizer
        window = self.model.max_seq_length
        if window is None:
            raise ValueError(f"{path}: the model does not declare its token window")
        self.max_tokens = window - self._tok.num_special_tokens_to_add(pair=False)

    def count_tokens(self, text: str) -> int:
        return len(
            self._tok(text, add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
        )

    def embed_documents(self, texts: Sequence[str], threads: Threads = None) -> Vectors:
        import torch

        chosen = self.threads if threads is None else threads
        before = torch.get_num_threads()
        try:
            if callable(chosen):
                out = self._encode_by_batch(texts, chosen)
            else:
                if chosen:
                    torch.set_num_threads(chosen)
                out = self._encode(texts)
        finally:
            torch.set_num_threads(before)
        release_free_heap()
        if self.precision == "bfloat16":  # unit length in float32, not in the autocast's rounding
            return _normalize(np.asarray(out, dtype=np.float32))
        vectors: Vectors = np.asarray(out, dtype=np.float32)
        return vectors

    def _encode(self, texts: Sequence[str]) -> npt.NDArray[Any]:
        import torch

        bf16 = self.precision == "bfloat16"
        with torch.autocast(self._device_type, dtype=torch.bfloat16, enabled=bf16):
            out: npt.NDArray[Any] = self.model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=not bf16,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return out

    def _encode_by_batch(self, texts: Sequence[str], threads: Callable[[], int]) -> Vectors:
        """`_encode` one model batch at a time, each with the threads `threads()` gives just
        before it. The batches are sentence-transformers' own (the texts longest first, cut
        every `batch_size`), so the vectors are those of one call over all of `texts`."""
        import torch

        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            torch.set_num_threads(max(1, threads()))
            out[rows] = self._encode([texts[i] for i in rows])
        return out

    def embed_query(self, text: str) -> Vectors:
        vector: Vectors = self.embed_documents([text])[0]
        return vector


class OnnxBertEmbedder:
    """A BERT-style ONNX encoder with CLS pooling (bge-small-en-v1.5 INT8).

    Written against onnxruntime directly: sentence-transformers' ONNX backend expects an
    Optimum export layout that the carrier package does not have.
    """

    QUERY_PREFIX = "Represent this sentence for searching relevant passages: "

    def __init__(
        self,
        folder: Path,
        name: str,
        batch_size: int = 32,
        threads: int | None = None,
        window: int = 512,
    ) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(
            str(folder / "model.onnx"), opts, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self.session.get_inputs()}
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_truncation()
        self.name = name
        self.precision = "int8"
        self.batch_size = batch_size
        self.window = window
        self.max_tokens = window - self.tokenizer.num_special_tokens_to_add(False)
        self.dim = int(self._run(["probe"]).shape[1])

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def _run(self, texts: Sequence[str]) -> Vectors:
        encs = self.tokenizer.encode_batch(list(texts))
        length = min(self.window, max(len(e.ids) for e in encs))
        ids = np.zeros((len(encs), length), dtype=np.int64)
        mask = np.zeros_like(ids)
        for i, e in enumerate(encs):
            n = min(len(e.ids), length)
            ids[i, :n] = e.ids[:n]
            mask[i, :n] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self.session.run(None, feeds)[0]
        return _normalize(hidden[:, 0, :])

    def embed_documents(self, texts: Sequence[str], threads: Threads = None) -> Vectors:
        """`threads` is not used: ONNX Runtime fixes its threads when the session is made."""
        if not texts:
            return np.zeros((0, getattr(self, "dim", 0)), dtype=np.float32)
        parts = [
            self._run(texts[i : i + self.batch_size]) for i in range(0, len(texts), self.batch_size)
        ]
        joined: Vectors = np.concatenate(parts)
        return joined

    def embed_query(self, text: str) -> Vectors:
        vector: Vectors = self._run([self.QUERY_PREFIX + text])[0]
        return vector


def load_embedder(settings: EmbeddingSettings, registry: ModelRegistry) -> Embedder:
    path = registry.path(settings.model)
    if settings.model == "bge-small" or (
        isinstance(path, Path)
        and (path / "model.onnx").exists()
        and not (path / "modules.json").exists()
    ):
        assert isinstance(path, Path)
        return OnnxBertEmbedder(path, settings.model, settings.batch_size, settings.threads)
    precision = resolve_precision(
        settings.precision,
        settings.device,
        native_bfloat16() if settings.precision == "auto" else False,
    )
    return SentenceTransformerEmbedder(
        path, settings.model, settings.batch_size, settings.device, settings.threads, precision
    )
