"""Speculative decoding on SmolLM2 through llama.cpp (greedy identity, drafters, statistics of
the sampling rules on hand-made distributions)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from docqa.generation.llamacpp import LlamaCppLogitsModel, load_llama
from docqa.generation.speculative import (
    ModelDrafter,
    NGramDrafter,
    accept_or_resample,
    greedy_decode,
    greedy_speculative,
    rapid_target,
    softmax,
)

PASSAGE = (
    "The Brightwater plant produced 4,210 tonnes of recycled glass in March. Energy use per "
    "tonne fell by 6 percent after the new furnace was commissioned. Two night shifts were "
    "merged, and overtime dropped to 310 hours."
)
PROMPT = f"Passage: {PASSAGE}\n\nThe passage, copied word for word:\n"


def _lm(path: Path) -> LlamaCppLogitsModel:
    return LlamaCppLogitsModel(load_llama(path, n_ctx=1024, threads=1))


@pytest.fixture(scope="module")
def target(smollm2_path: Path) -> Iterator[LlamaCppLogitsModel]:
    lm = _lm(smollm2_path)
    yield lm
    lm.close()
    lm.llama.close()


@pytest.fixture(scope="module")
def reference(target: LlamaCppLogitsModel) -> tuple[list[int], list[int], list[float]]:
    prompt = target.tokenize(PROMPT)
    out = greedy_decode(target, prompt, max_tokens=60)
    return prompt, out.tokens, out.margins


def _same_up_to_a_near_tie(got: list[int], want: list[int], margins: list[float]) -> None:
    """Equal token for token; a difference is allowed only after a position where the target's
    top two logits were within 1e-3 (batch shape can flip an exact near-tie)."""
    for i, (a, b) in enumerate(zip(got, want, strict=False)):
        if a != b:
            assert min(margins[: i + 1]) < 1e-3, f"differs at {i} with clear margins"
            return
    assert len(got) == len(want)


def test_ngram_drafter_proposes_what_followed_the_latest_match() -> None:
    d = NGramDrafter([1, 2, 3, 4, 9, 2, 3, 5, 6], max_ngram=2)
    assert d.propose([7, 2, 3], 3) == [5, 6]  # the latest "2 3" is followed by 5 6
    assert d.propose([7, 8, 4], 2) == [9, 2]  # no bigram "8 4": the unigram "4"
    assert d.propose([42], 3) == []
    assert d.propose([], 3) == []


def test_greedy_speculative_with_ngram_lookup_is_the_targets_greedy_output(
    target: LlamaCppLogitsModel, reference: tuple[list[int], list[int], list[float]]
) -> None:
    prompt, want, margins = reference
    steps: list[list[int]] = []
    out = greedy_speculative(
        target, prompt, NGramDrafter(target.tokenize(PASSAGE)), 60, on_tokens=steps.append
    )
    _same_up_to_a_near_tie(out.tokens, want, margins)
    assert [t for s in steps for t in s] == out.tokens  # streamed as decided
    st = out.stats
    assert st.drafter == "ngram" and st.tokens == len(out.tokens)
    # copying the passage: most drafts are accepted, far fewer passes than tokens
    assert st.accepted > 0.5 * st.tokens and st.passes < 0.5 * st.tokens
    assert 0 < st.acceptance_rate <= 1 and st.tokens_per_second > 0
    assert target.n_past == len(prompt) + len(out.tokens) - 1  # the cache is left consistent


def test_greedy_speculative_with_a_model_drafter_is_the_targets_greedy_output(
    smollm2_path: Path,
    target: LlamaCppLogitsModel,
    reference: tuple[list[int], list[int], list[float]],
) -> None:
    """Self-speculation: the same weights in a second context reading the passage alone."""
    prompt, want, margins = reference
    drafter_lm = _lm(smollm2_path)
    try:
        short = drafter_lm.tokenize(f"{PASSAGE}\n\nCopied:\n")
        out = greedy_speculative(target, prompt, ModelDrafter(drafter_lm, short, "self"), 60)
    finally:
        drafter_lm.close()
        drafter_lm.llama.close()
    _same_up_to_a_near_tie(out.tokens, want, margins)
    assert out.stats.drafter == "self" and out.stats.accepted > 0


class _Wrong:
    name = "wrong"

    def propose(self, context: list[int], k: int) -> list[int]:
        return [int(context[-1]) + 1] * k  # never what a model would say


def test_a_useless_drafter_changes_nothing_but_the_speed(
    target: LlamaCppLogitsModel, reference: tuple[list[int], list[int], list[float]]
) -> None:
    prompt, want, margins = reference
    out = greedy_speculative(target, prompt, _Wrong(), 60, gamma=4)
    _same_up_to_a_near_tie(out.tokens, want, margins)
    # rejections shrink the draft to one token: about one pass per token
    assert out.stats.passes >= len(out.tokens) - 1


def test_max_tokens_and_the_stop_tokens_end_the_output(
    target: LlamaCppLogitsModel, reference: tuple[list[int], list[int], list[float]]
) -> None:
    prompt, want, _ = reference
    drafter = NGramDrafter(target.tokenize(PASSAGE))
    short = greedy_speculative(target, prompt, drafter, 7)
    assert short.tokens == want[:7] and short.finish_reason == "length"
    # a stop token the target would produce at position 5 ends the output before it
    stopped = greedy_speculative(target, prompt, drafter, 60, stop=frozenset({want[5]}))
    assert stopped.tokens == want[: want.index(want[5])] and stopped.finish_reason == "stop"


P = np.array([0.5, 0.2, 0.15, 0.1, 0.05])
Q = np.array([0.1, 0.4, 0.1, 0.3, 0.1])


def _sample(p: np.ndarray, q: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, float]:
    rng = np.random.default_rng(seed)
    counts = np.zeros(len(p))
    accepted = 0
    for _ in range(n):
        draft = int(rng.choice(len(q), p=q))
        ok, tok = accept_or_resample(p, q, draft, rng)
        counts[tok] += 1
        accepted += ok
    return counts / n, accepted / n


def test_accept_or_resample_outputs_the_target_distribution() -> None:
    freq, rate = _sample(P, Q, 40_000, seed=1)
    assert np.abs(freq - P).sum() / 2 < 0.01  # total variation
    # the acceptance rate is sum(min(p, q)) in expectation
    assert rate == pytest.approx(np.minimum(P, Q).sum(), abs=0.01)
    same, always = _sample(P, P, 5_000, seed=2)
    assert always == 1.0 and np.abs(same - P).sum() / 2 < 0.03


def test_rapid_target_with_eta_zero_is_the_target_distribution() -> None:
    z = np.log(P) + 3.0
    assert np.allclose(rapid_target(z, Q, 0.0), softmax(z))
    freq, _ = _sample(rapid_target(z, Q, 0.0), Q, 40_000, seed=3)
    assert np.abs(freq - P).sum() / 2 < 0.01
    # eta > 0 moves the target towards the drafter on the drafter's plausible tokens
    moved = rapid_target(z, Q, 2.0)
    assert moved.sum() == pytest.approx(1.0)
    assert moved[1] > P[1] and moved[0] < P[0]
