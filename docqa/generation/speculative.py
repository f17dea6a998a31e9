"""Speculative decoding on the `LogitsModel` seam: the engine of RAPID's drafting.

The target holds its whole context (for RAPID: the document) in its KV cache. A drafter proposes
`gamma` tokens; the target scores them all in one `extend` (one forward pass) and keeps the
longest prefix it agrees with plus its own next token, so every step yields at least one token
and, when the drafts are good, many for the price of one pass.

- `greedy_speculative`: greedy mode. The output is the target's own greedy output, token for
  token wherever the target's logits do not depend on how many tokens a pass scores:
  transformers, and llama.cpp built without llamafile's sgemm and weight repacking (`make
  setup LLAMA_EXACT=1`) for passes of up to 7 tokens (`LogitsModel.max_exact_pass`; drafts
  are cut to fit). The default build scores a batch differently from one token (a margin
  moved by up to 0.44 logit on the 1.5B, 0.8 on SmolLM2), so a close call can go the other way
  and the answer part from plain decoding there; `recheck_margin` scores such calls again
  alone.
- Drafters (`Drafter`): `NGramDrafter` (prompt lookup: what followed the latest occurrence of the
  last few tokens in a source text, e.g. the retrieved passages and the document; no model) and
  `ModelDrafter` (a second `LogitsModel` decoding greedily from its own short context: the 0.5B
  model with the same tokenizer, or the target's weights on the retrieved passages alone).
- Sampling mode's rules: `accept_or_resample` (accept a drafted token with probability
  min(1, p/q), else draw from the residual max(0, p - q)) and `rapid_target` (RAPID's
  retrieval-augmented target distribution softmax(z - eta * M * (p - q)), M the tokens where
  q >= 0.1 max q; eta = 0 is the target's own distribution).
- `rapid_greedy`: greedy decoding of that retrieval-augmented target, deterministic: each token
  is the argmax of `rapid_target(z, q, eta)`, z the target's logits over the whole document
  and q the distribution of a model drafter reading the retrieved passages
  (`ScoringDrafter`). Where the two readings agree the drafts are accepted as in greedy mode;
  where they part, a token the drafter is sure of can win over one the target is unsure of.

Draft length adapts: by default it grows by 2 after a fully accepted draft (up to `gamma_max`)
and falls to one more than the accepted count after a rejection; with a `DraftPlanner`
(`docqa.generation.draft_planner`) each step drafts what the measured pass and draft times and
the drafter's acceptance say pays, which on a CPU is often nothing.

Example:
    >>> drafter = NGramDrafter(lm.tokenize(passages))  # doctest: +SKIP
    >>> out = greedy_speculative(lm, prompt_ids, drafter, max_tokens=200)  # doctest: +SKIP
    >>> out.stats.acceptance_rate, out.stats.tokens_per_second  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from docqa.generation.base import Logits, LogitsModel, common_prefix_length
from docqa.generation.draft_planner import DraftPlanner
from docqa.types import SpeculativeReport

__all__ = [
    "Drafter",
    "ModelDrafter",
    "NGramDrafter",
    "SamplingDrafter",
    "ScoringDrafter",
    "SpeculativeOutput",
    "SpeculativeStats",
    "accept_or_resample",
    "describe_speculative",
    "greedy_decode",
    "greedy_speculative",
    "rapid_greedy",
    "rapid_target",
    "sampled_speculative",
    "softmax",
    "top2_margin",
    "verify_limit",
]

Probs = npt.NDArray[np.float64]


class Drafter(Protocol):
    @property
    def name(self) -> str: ...

    def propose(self, context: Sequence[int], k: int) -> list[int]:
        """Up to `k` tokens that may follow `context` (the target's prompt, then its output so
        far); fewer or none when it has no guess."""
        ...


class SamplingDrafter(Drafter, Protocol):
    """A drafter for sampling mode: it also says from which distribution each drafted token
    was drawn, which the acceptance rule needs (`accept_or_resample`)."""

    def propose_sampled(
        self, context: Sequence[int], k: int, temperature: float, rng: np.random.Generator
    ) -> tuple[list[int], list[Probs]]:
        """Up to `k` tokens drawn after `context`, and for each the distribution `q` it was
        drawn from (one-hot for a drafter that does not sample)."""
        ...


class ScoringDrafter(Drafter, Protocol):
    """A drafter that gives its distribution at every position it drafts (a model reading the
    retrieved passages), which `rapid_greedy` blends with the target's."""

    def follow(self, prompt_tokens: int) -> None:
        """The target's prompt is the first `prompt_tokens` tokens of every context it is
        given; what follows them is output, which the drafter reads after its own prompt."""
        ...

    def propose_scored(self, context: Sequence[int], k: int) -> tuple[list[int], list[Probs]]:
        """Up to `k` (at least one) greedy tokens after `context`, and for each the drafter's
        distribution (temperature 1) at its position."""
        ...


@dataclass
class SpeculativeStats:
    drafter: str
    drafted: int = 0
    """Tokens the drafter proposed."""
    accepted: int = 0
    """Drafted tokens the target agreed with."""
    passes: int = 0
    """Target forward passes (one `extend` each) after the prompt."""
    tokens: int = 0
    """Tokens generated."""
    seconds: float = 0.0
    """Decoding, after the prompt's prefill."""
    draft_seconds: float = 0.0
    """Of which in the drafter."""
    rechecks: int = 0
    """Close calls scored again alone (`recheck_margin`)."""
    exact: bool = False
    """Greedy on a target whose verification passes score each token as alone: the output is
    the plain greedy output token for token (`LogitsModel.max_exact_pass`)."""

    @property
    def acceptance_rate(self) -> float:
        return self.accepted / self.drafted if self.drafted else 0.0

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


@dataclass
class SpeculativeOutput:
    tokens: list[int]
    finish_reason: str
    """`stop` (an end-of-generation token, not included) or `length`."""
    stats: SpeculativeStats
    margins: list[float] = field(default_factory=list)
    """The target's top-1 minus top-2 logit at each generated token (how clear its choice was)."""


def top2_margin(row: Logits) -> float:
    """The top-1 minus the top-2 logit of `row`: how clear a greedy choice is."""
    top2 = np.partition(row, -2)[-2:]
    return float(top2[1] - top2[0])


def greedy_decode(
    target: LogitsModel,
    prompt: Sequence[int],
    max_tokens: int,
    stop: frozenset[int] | None = None,
) -> SpeculativeOutput:
    """Plain greedy decoding, one token per pass: the reference `greedy_speculative` must equal,
    and the baseline its speed is measured against."""
    stop = target.eos_token_ids if stop is None else stop
    stats = SpeculativeStats(drafter="none")
    row = target.prefill(prompt)
    t0 = time.perf_counter()
    out: list[int] = []
    margins: list[float] = []
    reason = "length"
    while len(out) < max_tokens:
        tok = int(np.argmax(row))
        if tok in stop:
            reason = "stop"
            break
        out.append(tok)
        margins.append(top2_margin(row))
        if len(out) == max_tokens:
            break
        row = target.extend([tok])[0]
        stats.passes += 1
    stats.tokens, stats.seconds = len(out), time.perf_counter() - t0
    return SpeculativeOutput(out, reason, stats, margins)


def _close_step(
    target: LogitsModel,
    base: int,
    accepted: int,
    step: list[int],
    stats: SpeculativeStats,
    on_tokens: Callable[[list[int]], None] | None,
) -> None:
    """After a verification pass from cache length `base`: count the accepted drafts, hand on
    the step's tokens, and drop the rejected drafts from the target's cache (it keeps the
    step's first token and the accepted ones)."""
    stats.accepted += accepted
    if on_tokens:
        on_tokens(step)
    target.truncate(base + 1 + accepted)


def describe_speculative(report: SpeculativeReport) -> str:
    """One line on how a speculative answer was decoded, for people (the CLI)."""
    rate = f"{report.acceptance_rate:.0%}" if report.drafted else "-"
    if report.eta > 0:
        same = (
            f"RAPID's retrieval-augmented target (eta {report.eta:g}): the drafter's reading "
            "of the passages may change the long-context answer"
        )
    elif report.exact:
        same = "the long-context answer token for token"
    else:
        same = (
            "may part from the long-context answer at a close call "
            "(make setup LLAMA_EXACT=1 builds a llama.cpp that does not)"
        )
    read = (
        f" (the drafter read its passages in {report.drafter_prefill_seconds:.1f} s before)"
        if report.drafter_prefill_seconds > 0
        else ""
    )
    return (
        f"speculative ({report.drafter} drafter): {report.accepted} of {report.drafted} drafted "
        f"tokens accepted ({rate}) in {report.passes} passes, "
        f"{report.decode_tokens_per_second} tok/s{read}; {same}"
    )


def verify_limit(target: LogitsModel) -> int | None:
    """The most tokens a verification pass scores (the step's token and its draft): the
    target's `max_exact_pass` where a pass of several tokens is exact; None: no cut (any pass
    is exact, or none of several tokens is)."""
    exact = target.max_exact_pass
    return exact if exact is not None and exact > 1 else None


def _draft_cap(target: LogitsModel) -> int | None:
    """The most tokens a draft may hold so that its pass fits `verify_limit`."""
    limit = verify_limit(target)
    return None if limit is None else limit - 1


def _grown(k: int, accepted: int, drafted: int, gamma_max: int) -> int:
    """The grow rule's next draft length: +2 after a fully accepted draft (up to `gamma_max`),
    else one more than the accepted count."""
    return min(gamma_max, k + 2) if accepted == drafted else max(1, accepted + 1)


def greedy_speculative(
    target: LogitsModel,
    prompt: Sequence[int],
    drafter: Drafter,
    max_tokens: int,
    *,
    stop: frozenset[int] | None = None,
    gamma: int = 10,
    gamma_max: int = 16,
    planner: DraftPlanner | None = None,
    recheck_margin: float = 0.0,
    on_tokens: Callable[[list[int]], None] | None = None,
) -> SpeculativeOutput:
    """Greedy speculative decoding of up to `max_tokens` after `prompt` (the target's cache is
    made to hold `prompt` first; a cached prefix is reused). `on_tokens` receives each step's
    accepted tokens as they are decided.

    Draft length: with a `planner` (`DraftPlanner`), each step drafts what its measured costs
    and acceptance say pays, possibly nothing; without one it starts at `gamma`, grows by 2
    after a fully accepted draft (up to `gamma_max`) and falls to one more than the accepted
    count after a rejection.

    `recheck_margin`: a choice read from a row of a multi-token pass whose top-1 minus top-2
    logit is below it is not trusted. The step ends before it, and the last kept token is
    scored again alone, as plain decoding scores it. Where a batch's logits differ from one
    token's (llama.cpp's default build), this keeps close calls as plain decoding makes
    them, for one extra single-token pass per close call.

    A pass scores the step's token and its draft together, so a draft is cut to
    `target.max_exact_pass - 1` tokens where the target declares that size (a build whose
    passes of up to that many tokens give each token the logits it gets alone): the output is
    then the plain greedy output bit for bit. A target exact for one token only (1) keeps
    drafts of any length and the close calls above."""
    stop = target.eos_token_ids if stop is None else stop
    prompt = list(prompt)
    stats = SpeculativeStats(drafter=drafter.name, exact=target.max_exact_pass != 1)
    cap = _draft_cap(target)
    row = target.prefill(prompt)
    t0 = time.perf_counter()
    out: list[int] = []
    margins: list[float] = []
    k = max(1, gamma)
    shadow: tuple[int, list[int]] | None = None  # a plain step's unscored draft: (at, tokens)

    def settle_shadow() -> None:
        nonlocal shadow
        if shadow is None or planner is None:
            return
        at, proposed = shadow
        got = out[at:]
        same = common_prefix_length(proposed, got)
        if same < min(len(proposed), len(got)) or len(got) >= len(proposed):
            planner.record_draft(len(proposed), same, None)
            shadow = None

    while True:
        # `row` is the target's distribution of the next token; that token is not cached yet
        tok = int(np.argmax(row))
        if tok in stop:
            reason = "stop"
            break
        out.append(tok)
        margins.append(top2_margin(row))
        settle_shadow()
        step = [tok]
        if len(out) >= max_tokens:
            reason = "length"
            if on_tokens:
                on_tokens(step)
            break
        room = max_tokens - len(out)
        unscored = False
        if planner is not None:
            want = planner.choose()
            unscored = want == 0 and shadow is None and planner.shadow_worthwhile()
            want = planner.k_max if unscored else want
        else:
            want = k
        if cap is not None:
            want = min(want, cap)
        td = time.perf_counter()
        draft = drafter.propose(prompt + out, min(want, room)) if want else []
        took = time.perf_counter() - td
        stats.draft_seconds += took
        if unscored and planner is not None:
            planner.record_plain_draft_time(len(draft), took)
            shadow = (len(out), draft) if draft else None
            draft = []
        base = target.n_past
        tp = time.perf_counter()
        rows = target.extend([tok, *draft])  # row i: what follows [tok, *draft][i]
        if planner is not None:
            planner.record_pass(1 + len(draft), time.perf_counter() - tp)
        stats.passes += 1
        stats.drafted += len(draft)
        accepted = 0
        finished = False
        for i, d in enumerate(draft):
            best = int(np.argmax(rows[i]))
            if best != d or top2_margin(rows[i]) < recheck_margin:
                break
            if d in stop:  # the target would stop here: the drafted end token is not output
                finished = True
                break
            accepted += 1
            out.append(d)
            margins.append(top2_margin(rows[i]))
            step.append(d)
            if len(out) >= max_tokens:
                finished = True
                break
        if planner is not None and draft:
            planner.record_draft(len(draft), accepted, took)
        _close_step(target, base, accepted, step, stats, on_tokens)
        if finished:
            reason = "stop" if len(out) < max_tokens else "length"
            break
        row = rows[accepted]
        if draft and top2_margin(row) < recheck_margin:
            # a close call read from a batch: score the last kept token again, alone
            target.truncate(target.n_past - 1)
            row = target.extend([step[-1]])[0]
            stats.passes += 1
            stats.rechecks += 1
        if planner is None and draft:  # the planner sets the next length itself
            k = _grown(k, accepted, len(draft), gamma_max)
    stats.tokens, stats.seconds = len(out), time.perf_counter() - t0
    return SpeculativeOutput(out, reason, stats, margins)


class NGramDrafter:
    """Prompt lookup: find the longest suffix of the context (`max_ngram` down to `min_ngram`
    tokens) in `source` and propose the tokens that followed its latest occurrence there."""

    def __init__(
        self,
        source: Sequence[int],
        max_ngram: int = 3,
        min_ngram: int = 1,
        vocab: int | None = None,
    ) -> None:
        self.source = [int(t) for t in source]
        self.vocab = vocab if vocab is not None else max(self.source, default=0) + 1
        """Size of the one-hot `q` of sampling mode: the target's vocabulary."""
        self.sizes = range(max_ngram, min_ngram - 1, -1)
        self.index: dict[tuple[int, ...], int] = {}
        for n in self.sizes:
            for i in range(len(self.source) - n):
                self.index[tuple(self.source[i : i + n])] = i + n  # the latest wins

    @property
    def name(self) -> str:
        return "ngram"

    def propose(self, context: Sequence[int], k: int) -> list[int]:
        for n in self.sizes:
            if len(context) < n:
                continue
            at = self.index.get(tuple(context[-n:]))
            if at is not None:
                return self.source[at : at + k]
        return []

    def propose_sampled(
        self, context: Sequence[int], k: int, temperature: float, rng: np.random.Generator
    ) -> tuple[list[int], list[Probs]]:
        """The lookup's tokens, each with a one-hot `q`: the lookup does not sample, so a
        drafted token is accepted with the target's own probability of it."""
        del temperature, rng
        draft = self.propose(context, k)
        return draft, [_one_hot(t, self.vocab) for t in draft]


class ModelDrafter:
    """A `LogitsModel` drafting greedily from its own context: `prompt` (e.g. the retrieved
    passages and the question, in the target's chat template) followed by the target's output
    so far. Its cache is rolled back to what the target accepted before each draft."""

    def __init__(self, lm: LogitsModel, prompt: Sequence[int], name: str = "model") -> None:
        self.lm = lm
        self.prompt = [int(t) for t in prompt]
        self._name = name
        self.start: int | None = None
        """Length of the target's prompt: the first call's context minus nothing generated."""

    @property
    def name(self) -> str:
        return self._name

    def _first_row(self, context: Sequence[int]) -> Logits:
        """The drafter's logits after its prompt and the target's output in `context`."""
        if self.start is None:  # not told (`follow`): the first call holds one output token
            self.start = len(context) - 1
        own = self.prompt + list(context[self.start :])
        cached = self.lm.tokens
        keep = min(common_prefix_length(cached, own), len(own) - 1)
        if keep < len(self.prompt) - 1:  # first use, or something else used the model
            return self.lm.prefill(own)
        self.lm.truncate(keep)
        row: Logits = self.lm.extend(own[keep:])[-1]
        return row

    def _draft(self, context: Sequence[int], k: int, pick: Callable[[Logits], int]) -> list[int]:
        """Up to `k` tokens after `context`, each chosen by `pick` from the drafter's logits;
        an end-of-generation token ends the draft."""
        row = self._first_row(context)
        draft: list[int] = []
        while len(draft) < k:
            tok = pick(row)
            draft.append(tok)
            if tok in self.lm.eos_token_ids or len(draft) == k:
                break
            row = self.lm.extend([tok])[0]
        return draft

    def propose_sampled(
        self, context: Sequence[int], k: int, temperature: float, rng: np.random.Generator
    ) -> tuple[list[int], list[Probs]]:
        qs: list[Probs] = []

        def sample(row: Logits) -> int:
            qs.append(softmax(np.asarray(row, dtype=np.float64) / temperature))
            return _sample(qs[-1], rng)

        return self._draft(context, k, sample), qs

    def propose(self, context: Sequence[int], k: int) -> list[int]:
        return self._draft(context, k, lambda row: int(np.argmax(row)))

    def follow(self, prompt_tokens: int) -> None:
        self.start = prompt_tokens

    def warm(self, prompt_tokens: int) -> float:
        """Read the drafter's own prompt now, before decoding starts (the target's prompt is
        `prompt_tokens` long), so that the first draft does not carry that prefill and the
        decoding rate is the decoding's; the seconds it took."""
        t0 = time.perf_counter()
        self.follow(prompt_tokens)
        if common_prefix_length(self.lm.tokens, self.prompt) < len(self.prompt):
            self.lm.prefill(self.prompt)
        return time.perf_counter() - t0

    def propose_scored(self, context: Sequence[int], k: int) -> tuple[list[int], list[Probs]]:
        qs: list[Probs] = []

        def best(row: Logits) -> int:
            qs.append(softmax(row))
            return int(np.argmax(row))

        return self._draft(context, max(1, k), best), qs


def _one_hot(token: int, size: int) -> Probs:
    q = np.zeros(max(size, token + 1), dtype=np.float64)
    q[token] = 1.0
    return q


def softmax(z: npt.ArrayLike) -> Probs:
    x = np.asarray(z, dtype=np.float64)
    e = np.exp(x - x.max())
    return np.asarray(e / e.sum(), dtype=np.float64)


def accept_or_resample(
    p: Probs, q: Probs, token: int, rng: np.random.Generator
) -> tuple[bool, int]:
    """Speculative sampling's rule for one drafted `token` (drawn from the drafter's `q`):
    accepted with probability min(1, p[token] / q[token]); otherwise a token drawn from the
    residual max(0, p - q), renormalised. Either way the token returned is distributed as `p`."""
    ratio = float(p[token] / q[token]) if q[token] > 0 else 0.0
    if rng.random() < min(1.0, ratio):
        return True, token
    residual = np.maximum(p - q, 0.0)
    total = residual.sum()
    dist = residual / total if total > 0 else p
    return False, int(rng.choice(len(p), p=dist))


def rapid_target(z_target: npt.ArrayLike, q_draft: Probs, eta: float) -> Probs:
    """RAPID's retrieval-augmented target distribution: softmax(z - eta * M * (p - q)) with p the
    target's distribution, q the drafter's and M the tokens where q >= 0.1 max q (the drafter's
    plausible tokens). eta = 0: the target's own distribution."""
    z = np.asarray(z_target, dtype=np.float64)
    p = softmax(z)
    mask = q_draft >= 0.1 * q_draft.max()
    return softmax(z - eta * mask * (p - q_draft))


def _fit(q: Probs, n: int) -> Probs:
    """`q` over the target's `n` tokens (a one-hot `q` may be shorter or longer)."""
    if len(q) >= n:
        return q[:n]
    return np.concatenate([q, np.zeros(n - len(q))])


def _sample(p: Probs, rng: np.random.Generator) -> int:
    return int(rng.choice(len(p), p=p))


def sampled_speculative(
    target: LogitsModel,
    prompt: Sequence[int],
    drafter: SamplingDrafter,
    max_tokens: int,
    *,
    temperature: float,
    rng: np.random.Generator,
    eta: float = 0.0,
    stop: frozenset[int] | None = None,
    gamma: int = 10,
    gamma_max: int = 16,
    on_tokens: Callable[[list[int]], None] | None = None,
) -> SpeculativeOutput:
    """Speculative sampling at `temperature` > 0: each drafted token is accepted with
    probability min(1, p/q), and at the first rejection a token is drawn from the residual
    max(0, p - q) instead (`accept_or_resample`); after a fully accepted draft the next token is
    drawn from the target. With `eta` = 0, p is the target's own distribution softmax(z / T),
    so the output is distributed as plain sampling from the target; with `eta` > 0, p is RAPID's
    retrieval-augmented target (`rapid_target`), which leans towards what the drafter, reading
    the retrieved passages, finds plausible. Draft length as `greedy_speculative`'s grow rule,
    cut as its drafts are to the pass the target scores exactly."""
    if temperature <= 0:
        raise ValueError("sampled_speculative needs temperature > 0: use greedy_speculative")
    stop = target.eos_token_ids if stop is None else stop
    prompt = list(prompt)
    stats = SpeculativeStats(drafter=drafter.name)
    cap = _draft_cap(target)
    row = target.prefill(prompt)
    t0 = time.perf_counter()
    out: list[int] = []
    k = max(1, gamma)
    forced: int | None = None  # a token drawn from a rejection's residual: the next one

    def target_probs(z: Logits, q: Probs | None) -> Probs:
        scaled = np.asarray(z, dtype=np.float64) / temperature
        if q is None or eta == 0.0:
            return softmax(scaled)
        return rapid_target(scaled, _fit(q, len(scaled)), eta)

    reason = "length"
    while True:
        tok = forced if forced is not None else _sample(target_probs(row, None), rng)
        forced = None
        if tok in stop:
            reason = "stop"
            break
        out.append(tok)
        step = [tok]
        if len(out) >= max_tokens:
            if on_tokens:
                on_tokens(step)
            break
        td = time.perf_counter()
        want = k if cap is None else min(k, cap)
        draft, qs = drafter.propose_sampled(
            prompt + out, min(want, max_tokens - len(out)), temperature, rng
        )
        stats.draft_seconds += time.perf_counter() - td
        base = target.n_past
        rows = target.extend([tok, *draft])  # row i: what follows [tok, *draft][i]
        stats.passes += 1
        stats.drafted += len(draft)
        accepted = 0
        finished = False
        for i, d in enumerate(draft):
            p = target_probs(rows[i], qs[i])
            ok, drawn = accept_or_resample(p, _fit(qs[i], len(p)), d, rng)
            if not ok:
                forced = drawn
                break
            if d in stop:
                finished = True
                break
            accepted += 1
            out.append(d)
            step.append(d)
            if len(out) >= max_tokens:
                finished = True
                break
        _close_step(target, base, accepted, step, stats, on_tokens)
        if finished:
            reason = "stop" if len(out) < max_tokens else "length"
            break
        row = rows[accepted]
        if draft:
            k = _grown(k, accepted, len(draft), gamma_max)
    stats.tokens, stats.seconds = len(out), time.perf_counter() - t0
    return SpeculativeOutput(out, reason, stats)


def rapid_greedy(
    target: LogitsModel,
    prompt: Sequence[int],
    drafter: ScoringDrafter,
    max_tokens: int,
    *,
    eta: float,
    stop: frozenset[int] | None = None,
    gamma: int = 10,
    gamma_max: int = 16,
    on_tokens: Callable[[list[int]], None] | None = None,
) -> SpeculativeOutput:
    """Greedy decoding of RAPID's retrieval-augmented target: every output token is the argmax
    of `rapid_target(z, q, eta)`, z the target's logits (the whole document in its cache) and q
    the drafter's distribution (the retrieved passages in its own) at that position. With
    `eta` = 0 that is the target's greedy output; with `eta` > 0 a token the drafter finds far
    likelier than the target does gains up to `eta` logits, so a confident reading of the
    passages can win over an unsure reading of the whole document.

    The drafter proposes greedily from q, with q at each drafted position; one pass of the
    target scores the drafts (with the last chosen token when it is not cached yet). Drafts are
    kept while each is the blended argmax; the first that is not is replaced by the blended
    choice. After a fully kept draft the target's next row waits for the drafter's next q.
    Draft length: `greedy_speculative`'s grow rule, cut to the target's exact pass."""
    stop = target.eos_token_ids if stop is None else stop
    prompt = list(prompt)
    stats = SpeculativeStats(drafter=drafter.name)
    cap = _draft_cap(target)
    drafter.follow(len(prompt))
    row: Logits | None = target.prefill(prompt)  # None: out[-1] is not in the target's cache
    t0 = time.perf_counter()
    out: list[int] = []
    k = max(1, gamma)
    reason = "length"

    def choice(z: Logits, q: Probs) -> int:
        return int(np.argmax(rapid_target(z, _fit(q, len(z)), eta)))

    while len(out) < max_tokens:
        want = min(k, max_tokens - len(out))
        if cap is not None:
            want = min(want, cap if row is None else cap + 1)
        td = time.perf_counter()
        draft, qs = drafter.propose_scored(prompt + out, want)
        stats.draft_seconds += time.perf_counter() - td
        stats.drafted += len(draft)
        if row is not None and choice(row, qs[0]) != draft[0]:
            rows: list[Logits] = [row]  # the first draft is out: no pass needed to know it
            base = target.n_past
        elif row is not None:
            base = target.n_past
            rows = [row, *target.extend(draft)]  # rows[i]: what follows out + draft[:i]
            stats.passes += 1
        else:
            base = target.n_past + 1  # after out[-1], which this pass caches
            rows = list(target.extend([out[-1], *draft]))
            stats.passes += 1
        kept: list[int] = []
        chosen: int | None = None
        for i, d in enumerate(draft):  # a first draft already out stops at i = 0
            tok = choice(rows[i], qs[i])
            if tok in stop:
                reason = "stop"
                break
            if tok != d:
                chosen = tok
                break
            kept.append(d)
            if len(out) + len(kept) >= max_tokens:
                break
        stats.accepted += len(kept)
        out.extend(kept)
        target.truncate(base + len(kept))
        step = kept if chosen is None else [*kept, chosen]
        if chosen is not None:
            out.append(chosen)
        if on_tokens and step:
            on_tokens(step)
        if reason == "stop":
            break
        row = rows[len(kept)] if chosen is None else None
        k = _grown(k, len(kept), len(draft), gamma_max)
    stats.tokens, stats.seconds = len(out), time.perf_counter() - t0
    return SpeculativeOutput(out, reason, stats)
