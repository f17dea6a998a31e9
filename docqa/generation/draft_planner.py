"""How many tokens to draft at each step of speculative decoding, from what it costs here.

Speculative decoding pays only when a pass of the target over 1 + k tokens costs less than the
tokens it is expected to yield. On a GPU that pass costs about as much as a single-token one; on
a CPU it does not (`make bench-speculative`: on 2 cores, a pass over 16 tokens costs 7-10
single-token passes), so a fixed draft length can make decoding slower than plain decoding.
`DraftPlanner` measures, while it decodes:

- the target's pass time as a line in the tokens it scores, `a + b * (n - 1)` (least squares
  over the passes so far, recent passes weighing more as the context grows);
- the drafter's time as a line in the tokens it proposes;
- the drafter's per-token acceptance `alpha`: a draft of k tokens is taken as accepted token by
  token with probability alpha until the first miss (the maximum-likelihood estimate from the
  drafts so far, starting from a prior of 0.5 worth two tokens);

and picks the k in 0..k_max with the most expected tokens per second,
`(1 + alpha + ... + alpha^k) / (pass(1 + k) + draft(k))`. k = 0 is a plain decoding step. After a
plain step the acceptance is still learned: a cheap drafter's proposal is checked against the
tokens the target then produces (a shadow draft, never scored), and a costly drafter is tried
again with a short draft every `explore_every` plain steps.

Example:
    >>> planner = DraftPlanner(k_max=16, initial=10)
    >>> k = planner.choose()  # 10: nothing measured yet
    >>> planner.record_pass(1 + k, 0.36)  # the target scored 11 tokens in 0.36 s
    >>> planner.record_draft(k, accepted=4, seconds=0.0)
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["DraftPlanner", "LinearCost"]


@dataclass
class LinearCost:
    """Seconds as `a + b * x`, fitted by least squares with each earlier sample's weight
    multiplied by `decay` per new sample. With one distinct x the cost is taken as proportional
    to x + 1 (the pessimistic guess for a pass: no gain from scoring tokens together)."""

    decay: float = 0.9
    _w: float = 0.0
    _sx: float = 0.0
    _sy: float = 0.0
    _sxx: float = 0.0
    _sxy: float = 0.0
    _xs: set[float] = field(default_factory=set)

    @property
    def samples(self) -> bool:
        return self._w > 0

    def add(self, x: float, seconds: float) -> None:
        d = self.decay
        self._w = self._w * d + 1.0
        self._sx = self._sx * d + x
        self._sy = self._sy * d + seconds
        self._sxx = self._sxx * d + x * x
        self._sxy = self._sxy * d + x * seconds
        self._xs.add(x)

    def coefficients(self) -> tuple[float, float]:
        """(a, b); (0, 0) before any sample."""
        if not self._w:
            return 0.0, 0.0
        mx, my = self._sx / self._w, self._sy / self._w
        var = self._sxx / self._w - mx * mx
        if len(self._xs) < 2 or var <= 1e-12:
            per = my / (mx + 1.0)
            return per, per
        b = (self._sxy / self._w - mx * my) / var
        a = my - b * mx
        # a noisy fit must not make a pass free or make tokens cost nothing
        a = max(a, 0.05 * my)
        return a, max(b, 0.0)

    def __call__(self, x: float) -> float:
        a, b = self.coefficients()
        return a + b * x


class DraftPlanner:
    """Chooses each step's draft length (`choose`) from measured pass and draft times and the
    drafter's acceptance (`record_pass`, `record_draft`); see the module docstring."""

    def __init__(
        self,
        k_max: int = 16,
        initial: int = 10,
        *,
        prior_alpha: float = 0.5,
        prior_tokens: float = 2.0,
        decay: float = 0.95,
        explore_every: int = 16,
        explore_tokens: int = 2,
        cheap_draft: float = 0.1,
    ) -> None:
        if k_max < 1 or initial < 0:
            raise ValueError("k_max must be at least 1 and initial at least 0")
        self.k_max = k_max
        self.initial = min(initial, k_max)
        self.explore_every = explore_every
        self.explore_tokens = max(1, min(explore_tokens, k_max))
        self.cheap_draft = cheap_draft
        self.decay = decay
        self.passes = LinearCost()
        """Seconds of a target pass against the drafted tokens it scores (n - 1)."""
        self.drafts = LinearCost()
        """Seconds of a drafter call against the tokens it proposed."""
        self._accepted = prior_alpha * prior_tokens
        self._missed = (1.0 - prior_alpha) * prior_tokens
        self._plain_steps = 0

    @property
    def alpha(self) -> float:
        """The estimated probability that the drafter's next token is accepted."""
        return self._accepted / (self._accepted + self._missed)

    def record_pass(self, n_tokens: int, seconds: float) -> None:
        """A target pass that scored `n_tokens` (its own next token plus the drafts)."""
        self.passes.add(float(n_tokens - 1), seconds)

    def record_draft(self, drafted: int, accepted: int, seconds: float | None) -> None:
        """A draft of `drafted` tokens of which the first `accepted` matched the target's;
        `seconds` the drafter took (None for a shadow draft whose time was already counted)."""
        if drafted <= 0:
            return
        self._accepted = self._accepted * self.decay + accepted
        self._missed = self._missed * self.decay + (1.0 if accepted < drafted else 0.0)
        if seconds is not None:
            self.drafts.add(float(drafted), seconds)

    def record_plain_draft_time(self, drafted: int, seconds: float) -> None:
        """The time of a shadow draft (proposed during a plain step, not scored)."""
        if drafted > 0:
            self.drafts.add(float(drafted), seconds)

    def expected_rate(self, k: int) -> float:
        """Expected tokens per second of a step that drafts `k` tokens."""
        alpha = self.alpha
        tokens = 1.0 + sum(alpha**i for i in range(1, k + 1))
        seconds = self.passes(float(k)) + (self.drafts(float(k)) if k else 0.0)
        return tokens / seconds if seconds > 0 else float("inf")

    def choose(self) -> int:
        """Tokens to draft now: the best expected rate, `initial` before any pass is measured,
        and a short exploring draft after `explore_every` plain steps of a costly drafter."""
        if not self.passes.samples:
            k = self.initial
        else:
            k = max(range(self.k_max + 1), key=self.expected_rate)
            if k == 0 and not self.shadow_worthwhile():
                self._plain_steps += 1
                if self._plain_steps >= self.explore_every:
                    k = self.explore_tokens
        if k:
            self._plain_steps = 0
        return k

    def shadow_worthwhile(self) -> bool:
        """Whether a draft costs so little next to a pass (under `cheap_draft` of a
        single-token pass, e.g. n-gram lookup) that it is proposed during plain steps too, to
        keep measuring the acceptance."""
        if not self.drafts.samples:
            return True
        one = self.passes(0.0)
        return one > 0 and self.drafts(float(self.k_max)) < self.cheap_draft * one
