"""Types and protocols of the generation layer.

Two seams, each with few implementations:

- `Generator`: chat in, text out (streamed), with the model's own token counts and its real
  context window. Strategies and front ends are written against it.
- `LogitsModel`: token level. `prefill` a context, `extend` it by k tokens and get k logit rows
  from ONE forward pass, `truncate` the KV cache, save and load the state. Speculative drafting
  (RAPID), the LLM judge and the document KV cache are written against it.

Example:
    >>> msgs = [ChatMessage(role="user", content="What is 2+2?")]
    >>> cfg = GenerationConfig(max_tokens=16)
    >>> cfg.temperature  # greedy unless asked otherwise
    0.0
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, Field

Role = Literal["system", "user", "assistant"]
FinishReason = Literal["stop", "length"]
Logits = npt.NDArray[np.float32]
T = TypeVar("T")


class GenerationError(RuntimeError):
    """A generation backend failed in a way the user can act on (server down, bad model...)."""


class ChatMessage(BaseModel):
    role: Role
    content: str


class GenerationConfig(BaseModel):
    max_tokens: int = Field(default=512, ge=1)
    temperature: float = Field(default=0.0, ge=0.0)
    """0: greedy decoding (deterministic, the same output on every backend run)."""
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    stop: list[str] = Field(default_factory=list)
    """Stop strings: generation ends before the first of them; none of it is returned."""
    seed: int | None = None
    probe: str | None = None
    """A text (e.g. the abstention reply) whose first token's probability at the answer's first
    position is reported as `Generation.probe_probability`: how close the model came to starting
    with it, whatever it wrote. Local backends only."""


class Generation(BaseModel):
    text: str
    prompt_tokens: int
    completion_tokens: int
    """Generated tokens, the end-of-turn token not included (as OpenAI's `usage` counts)."""
    finish_reason: FinishReason
    seconds: float
    time_to_first_token: float | None
    """Seconds from the call to the first non-empty text piece; None when nothing was produced."""
    probe_probability: float | None = None
    """The probability the model gave `GenerationConfig.probe`'s first token as the answer's
    first token (softmax of the raw logits, before temperature or top-p); None when no probe was
    asked or the backend cannot see logits (HTTP)."""
    counts_exact: bool = True
    """False when a backend could only approximate the token counts (e.g. an HTTP server that
    reports no usage and has no tokenize endpoint)."""


@runtime_checkable
class ChatTokens(Protocol):
    """A local generator's prompt tokens: what token-level work on its prompts needs (the
    document KV cache, speculative decoding) beside the `Generator` protocol."""

    def chat_prompt(self, messages: Sequence[ChatMessage]) -> str:
        """The prompt text after the chat template, with the generation prompt."""
        ...

    def chat_tokens(self, messages: Sequence[ChatMessage]) -> list[int]:
        """Its token ids, exactly as the generator feeds them to the model."""
        ...


@runtime_checkable
class Generator(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def context_window(self) -> int:
        """The model's real window (training context), which may exceed the allocated n_ctx."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes inside a prompt (no BOS/EOS added), by the model's tokenizer."""
        ...

    def count_chat_tokens(self, messages: Sequence[ChatMessage]) -> int:
        """Prompt tokens of `messages` after the chat template, with the generation prompt."""
        ...

    def stream(
        self, messages: Sequence[ChatMessage], config: GenerationConfig | None = None
    ) -> Iterator[str]:
        """Text pieces as they are generated (stop strings never appear)."""
        ...

    def generate(
        self,
        messages: Sequence[ChatMessage],
        config: GenerationConfig | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> Generation:
        """The whole answer with its counts; `on_text` gets each text piece as it is
        generated (streaming with the counts at the end)."""
        ...


@runtime_checkable
class LogitsModel(Protocol):
    """Token-level access to one sequence held in the model's KV cache.

    Logit rows are raw (pre-softmax) float32 vectors of length `n_vocab`. Row i of `extend(ids)`
    is the distribution of the token that follows `ids[i]`.
    """

    @property
    def n_vocab(self) -> int: ...

    @property
    def eos_token_ids(self) -> frozenset[int]:
        """Every end-of-generation token (end of turn, end of text...)."""
        ...

    @property
    def n_past(self) -> int:
        """Tokens currently in the KV cache."""
        ...

    @property
    def max_exact_pass(self) -> int | None:
        """The most tokens one `extend` may score while giving each token bit for bit the
        logits it gets scored alone. None: any number (the kernels do not depend on the batch
        shape); 1: no pass of several tokens is exact. Where it is above 1, speculative
        decoding verifies at most this many tokens a pass, so that its greedy output is the
        plain greedy output; at 1 it drafts freely and a close call may part."""
        ...

    @property
    def tokens(self) -> list[int]:
        """The token ids currently in the KV cache, in order."""
        ...

    def tokenize(self, text: str, special: bool = False) -> list[int]:
        """Token ids of `text`, no BOS added. `special=True` parses special-token text such as
        `<|im_end|>` into its id (for templates); False tokenizes it as plain text (documents)."""
        ...

    def detokenize(self, ids: Sequence[int]) -> str: ...

    def prefill(self, ids: Sequence[int], boundary: int | None = None) -> Logits:
        """Make the cache hold exactly `ids`; return the logits of the last position.

        A cached prefix is reused up to the last batch cut within it (`BatchPlan`), so the
        logits do not depend on what was cached before. `boundary`: the end of a part of `ids`
        that later prompts share (passages, a document): a batch ends there, so a later
        prefill reuses everything before it."""
        ...

    def reusable(self, ids: Sequence[int]) -> int:
        """Tokens of `ids` that `prefill(ids)` would keep from the cache (not decode again)."""
        ...

    def extend(self, ids: Sequence[int]) -> Logits:
        """Append `ids` and return their k x n_vocab logit rows, scored together."""
        ...

    def truncate(self, n_tokens: int) -> None:
        """Drop everything in the cache after the first `n_tokens` tokens."""
        ...

    def save_state(self) -> bytes:
        """The cache (tokens and KV) as bytes, for `load_state` on the same model."""
        ...

    def load_state(self, data: bytes) -> None: ...

    def save_state_file(self, path: Path) -> int:
        """Write the state to `path` without holding a second copy in memory; returns bytes."""
        ...

    def load_state_file(self, path: Path) -> None: ...


def common_prefix_length(a: Sequence[T], b: Sequence[T]) -> int:
    """How many leading tokens `a` and `b` share (KV-cache reuse), or characters of two texts.

    >>> common_prefix_length([1, 2, 3], [1, 2, 4, 5])
    2
    """
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class BatchPlan:
    """Where a KV cache's prompt batches ended, so that a cached prefix is reused only where a
    fresh evaluation would have cut a batch too.

    CPU kernels may compute a token's logits differently with the shape of its batch: on
    AVX-512, llama.cpp uses one kernel for a batch of tokens and another for a single token, so
    "decode the last token again after a prefix hit" gives other logits than a full prefill, and
    greedy decoding can pick another word. The fix is to make the batches a function of the
    prompt, not of what happens to be cached: a prompt is evaluated from its reuse point in
    chunks of `n_batch`, and the reuse point is the last recorded *cut* (the end of an earlier
    prompt batch) within the common prefix, never the common prefix itself. A prefix declared
    as a segment (the document of a long-context prompt, prefilled and saved on its own) is a
    cut; so the same question gives the same tokens whether its prefix came from memory, from
    disk or was computed just now. Generated tokens are decoded one at a time and are no cuts.

    Example:
        >>> plan = BatchPlan(n_batch=4)
        >>> plan.record(0, 10)  # a 10-token prompt evaluated from scratch: 0-4, 4-8, 8-10
        >>> plan.cuts
        [0, 4, 8, 10]
        >>> plan.reuse_point(cached=list(range(12)), ids=list(range(10)))  # same prompt again
        8
        >>> plan.reuse_point(cached=list(range(12)), ids=[*range(10), 99])  # a longer one
        10
    """

    def __init__(self, n_batch: int) -> None:
        if n_batch < 1:
            raise ValueError("n_batch must be positive")
        self.n_batch = n_batch
        self.cuts: list[int] = [0]

    def reuse_point(self, cached: Sequence[int], ids: Sequence[int]) -> int:
        """Tokens of `cached` to keep before evaluating `ids` (at least one token of `ids` is
        always evaluated, for its logits)."""
        limit = min(common_prefix_length(cached, ids), len(ids) - 1)
        return max(c for c in self.cuts if c <= limit)

    @staticmethod
    def segments(start: int, end: int, boundary: int | None) -> list[tuple[int, int]]:
        """[start, end) split at `boundary` when it lies inside: the spans a prefill evaluates,
        each recorded and cut into chunks on its own.

        >>> BatchPlan.segments(0, 10, 6), BatchPlan.segments(7, 10, 6)
        ([(0, 6), (6, 10)], [(7, 10)])
        """
        if boundary is not None and start < boundary < end:
            return [(start, boundary), (boundary, end)]
        return [(start, end)]

    def chunks(self, start: int, end: int) -> list[tuple[int, int]]:
        """The batches that evaluate positions [start, end)."""
        return [(a, min(a + self.n_batch, end)) for a in range(start, end, self.n_batch)]

    def record(self, start: int, end: int) -> None:
        """Positions [start, end) were just evaluated in `chunks(start, end)`; anything cached
        beyond `start` before is gone."""
        self.cuts = [c for c in self.cuts if c <= start] + [b for _, b in self.chunks(start, end)]

    def truncate(self, n_tokens: int) -> None:
        """The cache was cut back to `n_tokens` (which need not be a cut)."""
        self.cuts = [c for c in self.cuts if c <= n_tokens]

    def reset(self, cuts: Sequence[int] = ()) -> None:
        """A state was loaded whose batches ended at `cuts` (0 is always one)."""
        self.cuts = sorted({0, *(int(c) for c in cuts)})


def drain(pieces: Iterator[str], on_text: Callable[[str], None] | None) -> str:
    """The whole text of a stream of pieces, each handed to `on_text` as it arrives."""
    out: list[str] = []
    for piece in pieces:
        out.append(piece)
        if on_text is not None:
            on_text(piece)
    return "".join(out)


def resolve_config(config: GenerationConfig | None) -> GenerationConfig:
    return config if config is not None else GenerationConfig()


class StopFilter:
    """Hold back streamed text that may be the start of a stop string; cut at a full one.

    llama.cpp's and transformers' token loops stream text pieces that can end in the middle of
    a stop string; what is shown must never contain one (OpenAI semantics).

    Example:
        >>> f = StopFilter(["</answer>"])
        >>> f.push("The sum is 4.</ans"), f.push("wer> tail"), f.stopped
        ('The sum is 4.', '', True)
    """

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = [s for s in stops if s]
        self.stopped = False
        self._pending = ""

    def push(self, piece: str) -> str:
        """Feed a piece; return the text that is now safe to show."""
        if self.stopped:
            return ""
        text = self._pending + piece
        cut = min((i for i in (text.find(s) for s in self.stops) if i >= 0), default=-1)
        if cut >= 0:
            self.stopped = True
            self._pending = ""
            return text[:cut]
        hold = 0
        for s in self.stops:
            for n in range(min(len(s) - 1, len(text)), 0, -1):
                if text.endswith(s[:n]):
                    hold = max(hold, n)
                    break
        self._pending = text[len(text) - hold :]
        return text[: len(text) - hold]

    def flush(self) -> str:
        """At the end of generation: the held-back text was not a stop string after all."""
        out, self._pending = ("" if self.stopped else self._pending), ""
        return out


@dataclass
class RunStats:
    """What a token loop reports besides its text."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: FinishReason = "length"
    first_piece_at: float | None = None
    probe_probability: float | None = None


def token_probability(logits: Any, token: int) -> float:
    """softmax(`logits`)[`token`], computed stably in float64."""
    z = np.asarray(logits, dtype=np.float64).reshape(-1)
    z = np.exp(z - z.max())
    return float(z[token] / z.sum())


class LocalTokenGenerator(ABC):
    """The `Generator` methods shared by the backends that run their own token loop
    (llama.cpp, transformers): each supplies `chat_tokens` and `_run`."""

    @abstractmethod
    def _tokenize(self, text: str) -> list[int]:
        """`text`'s token ids as the model reads plain text (no special tokens, no BOS)."""

    @abstractmethod
    def chat_tokens(self, messages: Sequence[ChatMessage]) -> list[int]: ...

    @abstractmethod
    def _run(
        self,
        messages: Sequence[ChatMessage],
        config: GenerationConfig,
        stats: RunStats,
        start: float,
    ) -> Iterator[str]: ...

    def count_tokens(self, text: str) -> int:
        return len(self._tokenize(text))

    def count_chat_tokens(self, messages: Sequence[ChatMessage]) -> int:
        return len(self.chat_tokens(messages))

    def _first_token(self, text: str | None) -> int | None:
        """The first token of `text` (a `GenerationConfig.probe`), or None for no text."""
        ids = self._tokenize(text) if text else []
        return ids[0] if ids else None

    @staticmethod
    def _answer_room(
        prompt: Sequence[int], capacity: str, limit: int, config: GenerationConfig, stats: RunStats
    ) -> int:
        """Tokens the answer may take: `config.max_tokens` within what the prompt leaves of
        `limit` (described by `capacity`); an error when the prompt alone fills it."""
        stats.prompt_tokens = len(prompt)
        room = limit - len(prompt)
        if room <= 0:
            raise GenerationError(
                f"the prompt has {len(prompt)} tokens but the {capacity} is {limit}; shorten "
                "the prompt or raise generation.n_ctx"
            )
        return min(config.max_tokens, room)

    def stream(
        self, messages: Sequence[ChatMessage], config: GenerationConfig | None = None
    ) -> Iterator[str]:
        return self._run(messages, resolve_config(config), RunStats(), time.perf_counter())

    def generate(
        self,
        messages: Sequence[ChatMessage],
        config: GenerationConfig | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> Generation:
        stats = RunStats()
        start = time.perf_counter()
        text = drain(self._run(messages, resolve_config(config), stats, start), on_text)
        return Generation(
            text=text,
            prompt_tokens=stats.prompt_tokens,
            completion_tokens=stats.completion_tokens,
            finish_reason=stats.finish_reason,
            seconds=time.perf_counter() - start,
            time_to_first_token=(
                None if stats.first_piece_at is None else stats.first_piece_at - start
            ),
            probe_probability=stats.probe_probability,
        )
