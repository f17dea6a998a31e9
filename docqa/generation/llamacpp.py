"""llama.cpp backend (llama-cpp-python, GGUF): the CPU default.

`LlamaCppGenerator` chats with the chat template stored in the GGUF (rendered by llama-cpp's own
`Jinja2ChatFormatter`, as `create_chat_completion` does). `LlamaCppLogitsModel` gives token-level
access to the same `Llama` object, so a prefix it computed (e.g. a document loaded from the KV
cache on disk) is reused by the next `generate()` on the same prompt prefix.

Neither class is thread-safe: one `Llama` holds one KV cache.

Example:
    >>> gen = LlamaCppGenerator(Path("model.gguf"), n_ctx=4096)  # doctest: +SKIP
    >>> for piece in gen.stream([ChatMessage(role="user", content="Hi")]):  # doctest: +SKIP
    ...     print(piece, end="")
    >>> lm = LlamaCppLogitsModel(gen.llama)  # doctest: +SKIP
    >>> rows = lm.extend(lm.tokenize("Hello world"))  # doctest: +SKIP
"""

from __future__ import annotations

import codecs
import ctypes
import hashlib
import json
import os
import struct
import time
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, cast

import llama_cpp
import numpy as np
from llama_cpp import Llama
from llama_cpp._utils import suppress_stdout_stderr
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from docqa.generation.base import (
    BatchPlan,
    ChatMessage,
    GenerationConfig,
    GenerationError,
    LocalTokenGenerator,
    Logits,
    RunStats,
    StopFilter,
    token_probability,
)

_STATE_MAGIC = b"DOCQA-LLAMA-KV1\n"
_PLANS: weakref.WeakKeyDictionary[Any, BatchPlan] = weakref.WeakKeyDictionary()


def batch_plan(llama: Llama) -> BatchPlan:
    """The batch plan of `llama`'s KV cache, shared by every generator and logits model that
    use this `Llama` (see `BatchPlan`: why a cached prefix is reused only at a batch cut)."""
    plan = _PLANS.get(llama)
    if plan is None or plan.n_batch != int(llama.n_batch):
        plan = _PLANS[llama] = BatchPlan(int(llama.n_batch))
    return plan


def system_info() -> str:
    """llama.cpp's own line of the CPU features its loaded kernels use (AVX2, AVX512...)."""
    info = llama_cpp.llama_print_system_info()
    return info.decode() if isinstance(info, bytes) else str(info)


BATCH_KERNELS = ("LLAMAFILE", "REPACK", "AMX_INT8", "KLEIDIAI")
"""Features of `system_info` whose kernels score a pass of several tokens differently from one
token: llamafile's sgemm takes every pass of 2+ tokens; repacked (or AMX, KleidiAI) weights have
their own GEMM beside the one-token GEMV. Measured on the 1.5B: a logit moved by up to 0.44."""

TILED_MIN_ROWS = 8
"""ggml's tiled K-quant matmul (`ggml_tiled_min_batch` in the llama.cpp of llama-cpp-python
0.3.36) takes passes of this many tokens or more; smaller passes use the one-token kernels."""


def exact_pass_tokens(info: str) -> int:
    """The most tokens one pass can score with each token's logits bit for bit those it gets
    alone, for a build whose `system_info` is `info`: 1 where a batch kernel of
    `BATCH_KERNELS` is in (the default build, and wheels from PyPI), else up to the tiled
    matmul's floor (a build with `-DGGML_LLAMAFILE=OFF -DGGML_CPU_REPACK=OFF`, as
    `make setup LLAMA_EXACT=1` makes)."""
    if any(f"{name} = 1" in info for name in BATCH_KERNELS):
        return 1
    return TILED_MIN_ROWS - 1


def usable_n_ctx(llama: Any) -> int:
    """Tokens a `Llama` can hold. llama.cpp rounds the context up (to a multiple of 256), but
    llama-cpp-python sizes its token array by the n_ctx asked for: beyond that, evaluating or
    loading a saved state fails. So the smaller of the two."""
    return min(int(llama.n_ctx()), int(llama.input_ids.shape[0]))


def default_threads() -> int:
    """The cores this process may run on (llama-cpp's own default is half of them)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def gguf_context_length(path: Path) -> int:
    """The model's training context (`<arch>.context_length`) without allocating a context.

    A vocab-only load reads the metadata in ~0.1-0.4 s; `llama_model_n_ctx_train` is 0 on such a
    load, so the key is read from the metadata instead.
    """
    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    with suppress_stdout_stderr(disable=False):
        model = llama_cpp.llama_model_load_from_file(str(path).encode(), params)
    if model is None:
        raise GenerationError(f"llama.cpp could not read the GGUF file {path}")
    try:

        def meta(key: str) -> str | None:
            buf = ctypes.create_string_buffer(256)
            n = llama_cpp.llama_model_meta_val_str(model, key.encode(), buf, ctypes.sizeof(buf))
            return buf.value.decode() if n >= 0 else None

        arch = meta("general.architecture")
        value = meta(f"{arch}.context_length") if arch else None
        if value is None:
            raise GenerationError(f"{path} has no context_length in its GGUF metadata")
        return int(value)
    finally:
        llama_cpp.llama_model_free(model)


def load_llama(
    model_path: Path,
    *,
    n_ctx: int | None = None,
    max_n_ctx: int = 32768,
    threads: int | None = None,
    threads_batch: int | None = None,
    n_batch: int = 512,
    seed: int = 0,
    flash_attn: bool = False,
) -> Llama:
    """A `Llama` with n_ctx = `n_ctx`, or min(model window, `max_n_ctx`) when None; prompts
    prefilled on `threads_batch` threads (None: `threads`)."""
    if not Path(model_path).is_file():
        raise GenerationError(f"GGUF model file not found: {model_path}")
    ctx = n_ctx if n_ctx is not None else min(gguf_context_length(model_path), max_n_ctx)
    n_threads = threads or default_threads()
    return Llama(
        model_path=str(model_path),
        n_ctx=ctx,
        n_batch=min(n_batch, ctx),
        n_ubatch=min(n_batch, ctx),
        n_threads=n_threads,
        n_threads_batch=threads_batch or n_threads,
        seed=seed,
        logits_all=False,
        flash_attn=flash_attn,
        verbose=False,
    )


def _token_text(llama: Llama, token: int) -> str:
    if token < 0:
        return ""
    return llama.detokenize([token], special=True).decode("utf-8", errors="replace")


def _chat_formatter(llama: Llama) -> Jinja2ChatFormatter:
    template = llama.metadata.get("tokenizer.chat_template")
    if not template:
        raise GenerationError(
            f"{llama.model_path} has no chat template in its GGUF metadata "
            "(tokenizer.chat_template); use an instruction-tuned GGUF that ships one"
        )
    return Jinja2ChatFormatter(
        template=template,
        eos_token=_token_text(llama, llama.token_eos()),
        bos_token=_token_text(llama, llama.token_bos()),
        stop_token_ids=[llama.token_eos()],
    )


def _eog_ids(llama: Llama) -> frozenset[int]:
    vocab = llama_cpp.llama_model_get_vocab(llama.model)
    return frozenset(t for t in range(llama.n_vocab()) if llama_cpp.llama_vocab_is_eog(vocab, t))


class LlamaCppGenerator(LocalTokenGenerator):
    """`Generator` on a GGUF model through llama-cpp-python."""

    def __init__(
        self,
        model_path: Path,
        *,
        name: str | None = None,
        n_ctx: int | None = None,
        max_n_ctx: int = 32768,
        threads: int | None = None,
        threads_batch: int | None = None,
        n_batch: int = 512,
        seed: int = 0,
        flash_attn: bool = False,
        llama: Llama | None = None,
    ) -> None:
        self.model_path = Path(model_path)
        self.llama = llama or load_llama(
            self.model_path,
            n_ctx=n_ctx,
            max_n_ctx=max_n_ctx,
            threads=threads,
            threads_batch=threads_batch,
            n_batch=n_batch,
            seed=seed,
            flash_attn=flash_attn,
        )
        self._name = name or self.model_path.stem
        self._window = int(llama_cpp.llama_model_n_ctx_train(self.llama.model))
        self.seed = seed
        self._formatter = _chat_formatter(self.llama)
        self._eog = _eog_ids(self.llama)

    @property
    def name(self) -> str:
        return self._name

    @property
    def context_window(self) -> int:
        return self._window

    @property
    def n_ctx(self) -> int:
        """The allocated context (prompt + answer must fit in it)."""
        return usable_n_ctx(self.llama)

    def close(self) -> None:
        self.llama.close()

    def _tokenize(self, text: str) -> list[int]:
        return self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=False)

    def chat_prompt(self, messages: Sequence[ChatMessage]) -> str:
        """The prompt text after the GGUF's chat template, with the generation prompt."""
        msgs = cast(Any, [m.model_dump() for m in messages])
        return self._formatter(messages=msgs).prompt

    def chat_tokens(self, messages: Sequence[ChatMessage]) -> list[int]:
        # the same tokenization create_chat_completion applies to a Jinja2-rendered prompt
        prompt = self.chat_prompt(messages)
        return self.llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)

    def _run(
        self,
        messages: Sequence[ChatMessage],
        config: GenerationConfig,
        stats: RunStats,
        start: float,
    ) -> Iterator[str]:
        # The token loop is ours, on llama-cpp's `Llama.generate` (its sampler chain and its
        # KV prefix reuse), rather than `create_chat_completion(stream=True)`: that stream reports
        # no token usage and its chunks are not one per token, so completion counts and the end
        # reason (end of turn vs stop string) could only be guessed. The prompt is rendered and
        # tokenized exactly as create_chat_completion does; the tests check both give the same
        # text. What we add by hand is the stop-string hold-back (StopFilter).
        prompt = self.chat_tokens(messages)
        capacity = f"allocated context (model window {self.context_window})"
        max_tokens = self._answer_room(prompt, capacity, self.n_ctx, config, stats)
        # Reuse the cache only up to a batch cut (BatchPlan): `Llama.generate` would keep the
        # whole common prefix and decode the rest in other batches than a fresh run, and on
        # some CPUs (AVX-512) that changes the logits and so the greedy answer.
        plan = batch_plan(self.llama)
        cached = [int(t) for t in self.llama.input_ids[: self.llama.n_tokens]]
        keep = plan.reuse_point(cached, prompt)
        if keep < self.llama.n_tokens:
            self.llama.n_tokens = keep
            self.llama._requires_eval = True
        plan.record(keep, len(prompt))
        self.llama.set_seed(config.seed if config.seed is not None else self.seed)
        stops = StopFilter(config.stop)
        utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        # OpenAI semantics: temperature and top_p only; llama-cpp's extra samplers are off.
        tokens = self.llama.generate(
            prompt,
            temp=config.temperature,
            top_p=config.top_p,
            top_k=0,
            min_p=0.0,
            typical_p=1.0,
            repeat_penalty=1.0,
        )
        probe = self._first_token(config.probe)
        try:
            for token in tokens:
                if probe is not None:
                    # the context's last logits are still the prompt's: the ones just sampled
                    logits = llama_cpp.llama_get_logits_ith(self.llama.ctx, -1)
                    row = np.ctypeslib.as_array(logits, shape=(self.llama.n_vocab(),))
                    stats.probe_probability = token_probability(row, probe)
                    probe = None
                if token in self._eog:
                    stats.finish_reason = "stop"
                    break
                stats.completion_tokens += 1
                out = stops.push(utf8.decode(self.llama.detokenize([token])))
                if out:
                    if stats.first_piece_at is None:
                        stats.first_piece_at = time.perf_counter()
                    yield out
                if stops.stopped:
                    stats.finish_reason = "stop"
                    break
                if stats.completion_tokens >= max_tokens:
                    stats.finish_reason = "length"
                    break
        finally:
            tokens.close()
        tail = stops.push(utf8.decode(b"", final=True)) + stops.flush()
        if tail:
            if stats.first_piece_at is None:
                stats.first_piece_at = time.perf_counter()
            yield tail


class LlamaCppLogitsModel:
    """`LogitsModel` on a `Llama` (sequence 0 of its KV cache).

    Decodes through the low-level API with our own batch, so that logits are computed only for
    the rows asked for (a `Llama(logits_all=True)` keeps an n_ctx x n_vocab float array: 20 GB
    for Qwen at 32K). `Llama.n_tokens` / `Llama.input_ids` are kept in step, so the `Llama`'s
    own `generate()` reuses whatever prefix this model has put in the cache.
    """

    def __init__(self, llama: Llama) -> None:
        self.llama = llama
        self._n_vocab = int(llama.n_vocab())
        self._eog = _eog_ids(llama)
        self._n_batch = int(llama.n_batch)
        self._batch = llama_cpp.llama_batch_init(self._n_batch, 0, 1)
        self._finalizer = weakref.finalize(self, llama_cpp.llama_batch_free, self._batch)
        meta = json.dumps(llama.metadata, sort_keys=True).encode()
        params = int(llama_cpp.llama_model_n_params(llama.model))
        self.fingerprint = f"{hashlib.sha256(meta).hexdigest()[:16]}-{params}-{self._n_vocab}"
        """Identifies the model a saved state belongs to (GGUF metadata + sizes)."""
        self._max_exact_pass = exact_pass_tokens(system_info())

    @property
    def n_vocab(self) -> int:
        return self._n_vocab

    @property
    def max_exact_pass(self) -> int:
        return self._max_exact_pass

    @property
    def eos_token_ids(self) -> frozenset[int]:
        return self._eog

    @property
    def n_ctx(self) -> int:
        return usable_n_ctx(self.llama)

    @property
    def n_past(self) -> int:
        return int(self.llama.n_tokens)

    @property
    def tokens(self) -> list[int]:
        return [int(t) for t in self.llama.input_ids[: self.llama.n_tokens]]

    def close(self) -> None:
        self._finalizer()

    def tokenize(self, text: str, special: bool = False) -> list[int]:
        return self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=special)

    def detokenize(self, ids: Sequence[int]) -> str:
        return self.llama.detokenize(list(ids)).decode("utf-8", errors="replace")

    def _memory(self) -> Any:
        return llama_cpp.llama_get_memory(self.llama.ctx)

    def _decode(self, ids: Sequence[int], all_rows: bool) -> Logits:
        ids = [int(t) for t in ids]
        if not ids:
            raise ValueError("no tokens to decode")
        n_past = self.n_past
        if n_past + len(ids) > self.n_ctx:
            raise GenerationError(
                f"{n_past} cached + {len(ids)} new tokens exceed the allocated context {self.n_ctx}"
            )
        ctx = self.llama.ctx
        llama_cpp.llama_memory_seq_rm(self._memory(), 0, n_past, -1)
        batch = self._batch
        rows: list[Logits] = []
        last = np.empty(0, dtype=np.float32)
        batch_plan(self.llama).record(n_past, n_past + len(ids))
        for start in range(0, len(ids), self._n_batch):
            chunk = ids[start : start + self._n_batch]
            final_chunk = start + len(chunk) == len(ids)
            batch.n_tokens = len(chunk)
            for i, token in enumerate(chunk):
                batch.token[i] = token
                batch.pos[i] = n_past + start + i
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = 0
                batch.logits[i] = all_rows or (final_chunk and i == len(chunk) - 1)
            rc = llama_cpp.llama_decode(ctx, batch)
            if rc != 0:
                # the cache may hold part of the chunk: cut back to what we know is there
                llama_cpp.llama_memory_seq_rm(self._memory(), 0, n_past + start, -1)
                self.llama.n_tokens = n_past + start
                batch_plan(self.llama).truncate(n_past + start)
                raise GenerationError(f"llama_decode failed with code {rc}")
            at = n_past + start
            self.llama.input_ids[at : at + len(chunk)] = chunk
            self.llama.n_tokens = at + len(chunk)
            if all_rows:
                out = np.ctypeslib.as_array(
                    llama_cpp.llama_get_logits(ctx), shape=(len(chunk) * self._n_vocab,)
                )
                rows.append(out.reshape(len(chunk), self._n_vocab).copy())
            elif final_chunk:
                out = np.ctypeslib.as_array(
                    llama_cpp.llama_get_logits_ith(ctx, len(chunk) - 1), shape=(self._n_vocab,)
                )
                last = out.copy()
        # `Llama.generate` may sample at once from the context's current logits when the
        # prompt is fully cached; ours (or none, after truncate/load) are not the ones it
        # expects, so make it re-evaluate the last prompt token. Private flag in 0.3.36.
        self.llama._requires_eval = True
        return np.concatenate(rows) if all_rows else last

    def reusable(self, ids: Sequence[int]) -> int:
        return batch_plan(self.llama).reuse_point(self.tokens, [int(t) for t in ids]) if ids else 0

    def prefill(self, ids: Sequence[int], boundary: int | None = None) -> Logits:
        ids = [int(t) for t in ids]
        if not ids:
            raise ValueError("prefill needs at least one token")
        # only up to a batch cut (BatchPlan), and at least the last token for its logits
        keep = batch_plan(self.llama).reuse_point(self.tokens, ids)
        self.truncate(keep)
        last = np.empty(0, dtype=np.float32)
        for a, b in BatchPlan.segments(keep, len(ids), boundary):
            last = self._decode(ids[a:b], all_rows=False)
        return last

    def extend(self, ids: Sequence[int]) -> Logits:
        # one llama_decode per n_batch tokens (one forward pass for k <= n_batch)
        return self._decode(ids, all_rows=True)

    def truncate(self, n_tokens: int) -> None:
        if not 0 <= n_tokens <= self.n_past:
            raise ValueError(f"cannot truncate to {n_tokens}: {self.n_past} tokens cached")
        if not llama_cpp.llama_memory_seq_rm(self._memory(), 0, n_tokens, -1):
            raise GenerationError("this model's cache cannot be truncated (recurrent model)")
        self.llama.n_tokens = n_tokens
        batch_plan(self.llama).truncate(n_tokens)
        self.llama._requires_eval = True

    # State: a header (magic, length-prefixed JSON: fingerprint, tokens, batch cuts), then
    # llama.cpp's sequence state (KV cells of sequence 0, no logits buffer).

    def _header(self) -> bytes:
        cuts = [c for c in batch_plan(self.llama).cuts if c <= self.n_past]
        meta = json.dumps({"model": self.fingerprint, "tokens": self.tokens, "cuts": cuts}).encode()
        return _STATE_MAGIC + struct.pack("<Q", len(meta)) + meta

    def _seq_state(self) -> tuple[ctypes.Array[ctypes.c_uint8], int]:
        ctx = self.llama.ctx
        size = int(llama_cpp.llama_state_seq_get_size(ctx, 0))
        buf = (ctypes.c_uint8 * size)()
        n = int(llama_cpp.llama_state_seq_get_data(ctx, buf, size, 0))
        if n == 0 and self.n_past > 0:
            raise GenerationError("llama.cpp returned an empty sequence state")
        return buf, n

    def _parse_header(self, head: bytes) -> tuple[list[int], list[int], int]:
        if not head.startswith(_STATE_MAGIC):
            raise GenerationError("not a docqa llama.cpp KV state")
        at = len(_STATE_MAGIC)
        (size,) = struct.unpack("<Q", head[at : at + 8])
        meta = json.loads(head[at + 8 : at + 8 + size])
        if meta["model"] != self.fingerprint:
            raise GenerationError(
                f"this KV state was saved by another model ({meta['model']}, this one is "
                f"{self.fingerprint})"
            )
        tokens = [int(t) for t in meta["tokens"]]
        if len(tokens) > self.n_ctx:
            raise GenerationError(
                f"the state holds {len(tokens)} tokens; the allocated context is {self.n_ctx}"
            )
        # states saved before cuts were recorded have none: the whole prefix is one segment
        cuts = [int(c) for c in meta.get("cuts", []) if 0 <= int(c) <= len(tokens)]
        return tokens, cuts, at + 8 + size

    def _restore(
        self, tokens: list[int], cuts: list[int], buf: ctypes.Array[ctypes.c_uint8], n: int
    ) -> None:
        llama_cpp.llama_memory_seq_rm(self._memory(), 0, 0, -1)
        self.llama.n_tokens = 0
        if tokens and int(llama_cpp.llama_state_seq_set_data(self.llama.ctx, buf, n, 0)) == 0:
            raise GenerationError("llama.cpp refused the saved sequence state")
        self.llama.input_ids[: len(tokens)] = tokens
        self.llama.n_tokens = len(tokens)
        self.llama._requires_eval = True
        batch_plan(self.llama).reset([*cuts, len(tokens)])

    def save_state(self) -> bytes:
        buf, n = self._seq_state()
        return self._header() + ctypes.string_at(buf, n)

    def load_state(self, data: bytes) -> None:
        tokens, cuts, offset = self._parse_header(data)
        n = len(data) - offset
        buf = (ctypes.c_uint8 * n).from_buffer_copy(data, offset)
        self._restore(tokens, cuts, buf, n)

    def save_state_file(self, path: Path) -> int:
        buf, n = self._seq_state()
        header = self._header()
        tmp = path.with_name(path.name + ".partial")
        with tmp.open("wb") as f:
            f.write(header)
            f.write(memoryview(buf)[:n])
        tmp.replace(path)
        return len(header) + n

    def load_state_file(self, path: Path) -> None:
        with path.open("rb") as f:
            head = f.read(len(_STATE_MAGIC) + 8)
            if not head.startswith(_STATE_MAGIC):
                raise GenerationError(f"{path} is not a docqa llama.cpp KV state")
            (size,) = struct.unpack("<Q", head[len(_STATE_MAGIC) :])
            head += f.read(size)
            tokens, cuts, offset = self._parse_header(head)
            n = path.stat().st_size - offset
            buf = (ctypes.c_uint8 * n)()
            if f.readinto(memoryview(buf).cast("B")) != n:
                raise GenerationError(f"{path} is truncated")
        self._restore(tokens, cuts, buf, n)
