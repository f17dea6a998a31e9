"""transformers backend: any local folder, GGUF file or Hugging Face id (from the user's own
cache; docqa never downloads), on `cuda` when available, else the CPU.

A `.gguf` file is loaded through transformers' GGUF reader (needs the `gguf` and `accelerate`
packages: the `transformers-gguf` extra); it is de-quantized to float32, so this is the
GPU path and a cross-check of llama.cpp, not a fast CPU default.

Example:
    >>> model, tok = load_transformers("HuggingFaceTB/SmolLM2-135M-Instruct")  # doctest: +SKIP
    >>> gen = TransformersGenerator(model, tok, name="smollm2")  # doctest: +SKIP
    >>> lm = TransformersLogitsModel(model, tok)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import io
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    DynamicCache,
    PreTrainedModel,
    StoppingCriteria,
    StoppingCriteriaList,
    TextIteratorStreamer,
)

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

_PREFILL_CHUNK = 512
"""Prefill in slices: bounds the activation memory of a long document's forward pass."""


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_transformers(
    source: str | Path, *, device: str | None = None, threads: int | None = None
) -> tuple[PreTrainedModel, Any]:
    """(model, tokenizer) from a folder, a `.gguf` file or a Hugging Face id."""
    device = device or default_device()
    if threads:
        torch.set_num_threads(threads)
    kwargs: dict[str, Any] = {}
    path = Path(source)
    where = str(source)
    if path.suffix == ".gguf":
        if not path.is_file():
            raise GenerationError(f"GGUF model file not found: {path}")
        where, kwargs["gguf_file"] = str(path.parent), path.name
    dtype = torch.float32 if device == "cpu" else "auto"
    try:
        tokenizer = AutoTokenizer.from_pretrained(where, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(where, dtype=dtype, **kwargs)
    except OSError as e:
        raise GenerationError(
            f"transformers could not load '{source}' (a local folder, a .gguf file, or a "
            f"Hugging Face id already in your cache; docqa does not download): {e}"
        ) from e
    # transformers' stubs type `.to` / `.eval` loosely: go through Any
    loaded: Any = model
    loaded.to(device)
    loaded.eval()
    return model, tokenizer


def _eos_ids(model: PreTrainedModel, tokenizer: Any) -> frozenset[int]:
    ids: set[int] = set()
    configured = getattr(model.generation_config, "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif configured:
        ids.update(int(t) for t in configured)
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    return frozenset(ids)


class _Cancelled(StoppingCriteria):
    """Stops `model.generate` in its thread when the consumer of the stream goes away."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kw: Any) -> Any:
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool)


class TransformersGenerator(LocalTokenGenerator):
    """`Generator` on a transformers causal LM and its tokenizer's chat template."""

    def __init__(self, model: PreTrainedModel, tokenizer: Any, *, name: str = "") -> None:
        self.model = model
        self.tokenizer = tokenizer
        self._name = name or str(getattr(model.config, "name_or_path", "transformers"))
        window = getattr(model.config, "max_position_embeddings", None)
        self._window = int(window or tokenizer.model_max_length)
        self._eos = _eos_ids(model, tokenizer)
        if not getattr(tokenizer, "chat_template", None):
            raise GenerationError(f"the tokenizer of '{self._name}' has no chat template")

    @property
    def name(self) -> str:
        return self._name

    @property
    def context_window(self) -> int:
        return self._window

    def _tokenize(self, text: str) -> list[int]:
        return [int(t) for t in self.tokenizer(text, add_special_tokens=False)["input_ids"]]

    def chat_prompt(self, messages: Sequence[ChatMessage]) -> str:
        prompt = self.tokenizer.apply_chat_template(
            [m.model_dump() for m in messages], add_generation_prompt=True, tokenize=False
        )
        return str(prompt)

    def chat_tokens(self, messages: Sequence[ChatMessage]) -> list[int]:
        # rendered, then tokenized with special tokens parsed: as llama-cpp does, so that both
        # backends count the same prompt the same way
        ids = self.tokenizer(self.chat_prompt(messages), add_special_tokens=False)["input_ids"]
        return [int(t) for t in ids]

    def _run(
        self,
        messages: Sequence[ChatMessage],
        config: GenerationConfig,
        stats: RunStats,
        start: float,
    ) -> Iterator[str]:
        prompt = self.chat_tokens(messages)
        max_new = self._answer_room(prompt, "model window", self.context_window, config, stats)
        device = self.model.device
        input_ids = torch.tensor([prompt], device=device)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        cancel = _Cancelled()
        sampling: dict[str, Any] = (
            {
                "do_sample": True,
                "temperature": config.temperature,
                "top_p": config.top_p,
                "top_k": 0,
            }
            if config.temperature > 0
            else {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        )
        if config.seed is not None:
            torch.manual_seed(config.seed)
        probe = self._first_token(config.probe)
        if probe is not None:  # the raw logits of every step, to read the first one
            sampling |= {"return_dict_in_generate": True, "output_logits": True}
        result: dict[str, Any] = {}

        def work() -> None:
            try:
                result["ids"] = self.model.generate(  # type: ignore[operator]
                    input_ids=input_ids,
                    attention_mask=torch.ones_like(input_ids),
                    max_new_tokens=max_new,
                    eos_token_id=sorted(self._eos),
                    pad_token_id=min(self._eos),
                    streamer=streamer,
                    stopping_criteria=StoppingCriteriaList([cancel]),
                    stop_strings=list(config.stop) or None,
                    tokenizer=self.tokenizer,
                    **sampling,
                )
            except BaseException as e:  # re-raised in the consumer's thread
                result["error"] = e
                end: Any = streamer.end
                end()

        thread = threading.Thread(target=work, name="docqa-generate", daemon=True)
        thread.start()
        stops = StopFilter(config.stop)
        try:
            for piece in streamer:
                out = stops.push(piece)
                if out:
                    if stats.first_piece_at is None:
                        stats.first_piece_at = time.perf_counter()
                    yield out
                if stops.stopped:
                    cancel.event.set()
            tail = stops.flush()
            if tail:
                if stats.first_piece_at is None:
                    stats.first_piece_at = time.perf_counter()
                yield tail
        finally:
            cancel.event.set()
            thread.join()
        if "error" in result:
            raise GenerationError(f"transformers generation failed: {result['error']}") from (
                result["error"]
            )
        out = result["ids"]
        if probe is not None:
            if out.logits:
                stats.probe_probability = token_probability(out.logits[0][0].float().cpu(), probe)
            out = out.sequences
        new = [int(t) for t in out[0, len(prompt) :].tolist()]
        ended_by_eos = bool(new) and new[-1] in self._eos
        while new and new[-1] in self._eos:
            new.pop()  # the end-of-turn token, and any padding after it
        stats.completion_tokens = len(new)
        stats.finish_reason = "stop" if ended_by_eos or stops.stopped else "length"


class TransformersLogitsModel:
    """`LogitsModel` on a transformers causal LM with a `DynamicCache` (cropped to truncate)."""

    def __init__(self, model: PreTrainedModel, tokenizer: Any) -> None:
        self.model: Any = cast(Any, model)
        self.tokenizer = tokenizer
        head = self.model.get_output_embeddings()
        if head is None:
            raise GenerationError("the model has no output embedding (not a causal LM)")
        self._n_vocab = int(head.weight.shape[0])
        self._eos = _eos_ids(model, tokenizer)
        self._tokens: list[int] = []
        self._cache = DynamicCache(config=model.config)
        self._plan = BatchPlan(_PREFILL_CHUNK)
        emb = self.model.get_input_embeddings().weight[:1, :64].detach().float().cpu().numpy()
        digest = hashlib.sha256(model.config.to_json_string().encode() + emb.tobytes())
        self.fingerprint = f"{digest.hexdigest()[:16]}-{self._n_vocab}"

    @property
    def n_vocab(self) -> int:
        return self._n_vocab

    @property
    def max_exact_pass(self) -> None:
        return None  # float32 on the CPU: a pass's rows are one token's to ~1e-5 (tests check it)

    @property
    def eos_token_ids(self) -> frozenset[int]:
        return self._eos

    @property
    def n_past(self) -> int:
        return len(self._tokens)

    @property
    def tokens(self) -> list[int]:
        return list(self._tokens)

    def tokenize(self, text: str, special: bool = False) -> list[int]:
        ids = self.tokenizer(text, add_special_tokens=False, split_special_tokens=not special)[
            "input_ids"
        ]
        return [int(t) for t in ids]

    def detokenize(self, ids: Sequence[int]) -> str:
        return str(self.tokenizer.decode(list(ids)))

    def _forward(self, ids: list[int], keep: int) -> Logits:
        """Run `ids` through the model on top of the cache; logits of the last `keep` rows."""
        with torch.inference_mode():
            out = self.model(
                input_ids=torch.tensor([ids], device=self.model.device),
                past_key_values=self._cache,
                use_cache=True,
                logits_to_keep=keep,
            )
        self._tokens.extend(ids)
        logits: Logits = out.logits[0].float().cpu().numpy()
        return logits

    def reusable(self, ids: Sequence[int]) -> int:
        return self._plan.reuse_point(self._tokens, [int(t) for t in ids]) if ids else 0

    def prefill(self, ids: Sequence[int], boundary: int | None = None) -> Logits:
        ids = [int(t) for t in ids]
        if not ids:
            raise ValueError("prefill needs at least one token")
        # only up to a batch cut (BatchPlan), so the logits do not depend on the cache's past
        keep = self._plan.reuse_point(self._tokens, ids)
        self.truncate(keep)
        last = np.empty(0, dtype=np.float32)
        for a, b in BatchPlan.segments(keep, len(ids), boundary):
            self._plan.record(a, b)
            for lo, hi in self._plan.chunks(a, b):
                last = self._forward(ids[lo:hi], keep=1)[-1]
        return last

    def extend(self, ids: Sequence[int]) -> Logits:
        ids = [int(t) for t in ids]
        if not ids:
            raise ValueError("no tokens to extend with")
        self._plan.record(self.n_past, self.n_past + len(ids))
        return self._forward(ids, keep=len(ids))

    def truncate(self, n_tokens: int) -> None:
        if not 0 <= n_tokens <= self.n_past:
            raise ValueError(f"cannot truncate to {n_tokens}: {self.n_past} tokens cached")
        if n_tokens == 0:
            self._cache = DynamicCache(config=self.model.config)
        elif n_tokens < self.n_past:
            # transformers 5: a negative count of tokens to remove (a positive size raises)
            self._cache.crop(n_tokens - self.n_past)
        del self._tokens[n_tokens:]
        self._plan.truncate(n_tokens)

    def _state(self) -> dict[str, Any]:
        all_layers: list[Any] = list(self._cache.layers)
        layers = [(la.keys.cpu(), la.values.cpu()) for la in all_layers if la.is_initialized]
        cuts = [c for c in self._plan.cuts if c <= self.n_past]
        return {"model": self.fingerprint, "tokens": self._tokens, "layers": layers, "cuts": cuts}

    def _restore(self, state: dict[str, Any]) -> None:
        if state.get("model") != self.fingerprint:
            raise GenerationError(
                f"this KV state was saved by another model ({state.get('model')}, this one is "
                f"{self.fingerprint})"
            )
        cache = DynamicCache(config=self.model.config)
        device = self.model.device
        for i, (k, v) in enumerate(state["layers"]):
            cache.update(k.to(device), v.to(device), i)
        self._cache = cache
        self._tokens = [int(t) for t in state["tokens"]]
        self._plan.reset([*state.get("cuts", []), len(self._tokens)])

    def save_state(self) -> bytes:
        buf = io.BytesIO()
        torch.save(self._state(), buf)
        return buf.getvalue()

    def load_state(self, data: bytes) -> None:
        self._restore(torch.load(io.BytesIO(data), weights_only=True))

    def save_state_file(self, path: Path) -> int:
        tmp = path.with_name(path.name + ".partial")
        torch.save(self._state(), tmp)
        tmp.replace(path)
        return path.stat().st_size

    def load_state_file(self, path: Path) -> None:
        self._restore(torch.load(path, weights_only=True, mmap=True))
