"""Speculative decoding with SmolLM2: greedy identity on transformers and on llama.cpp (token
for token where llama.cpp is built without batch kernels, `make setup LLAMA_EXACT=1`, so that a
pass of up to 7 tokens scores each as alone, and drafts are cut to fit; on the default build,
whose batched rows differ from one-by-one rows by up to ~0.8 logit on this model, wherever
the top-2 margin exceeds that noise), the drafters, and the statistics of the sampling rules
on hand-made distributions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from docqa.generation import ChatMessage, LogitsModel
from docqa.generation.draft_planner import DraftPlanner
from docqa.generation.llamacpp import (
    LlamaCppLogitsModel,
    exact_pass_tokens,
    load_llama,
    system_info,
)
from docqa.generation.speculative import (
    ModelDrafter,
    NGramDrafter,
    accept_or_resample,
    describe_speculative,
    greedy_decode,
    greedy_speculative,
    rapid_greedy,
    rapid_target,
    sampled_speculative,
    softmax,
)
from docqa.types import SpeculativeReport

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


Reference = tuple[list[int], list[int], list[float], float]


def batch_noise(lm: LogitsModel, prompt: list[int], tokens: list[int], k: int = 11) -> float:
    """The largest logit difference between rows scored in one pass of `k` tokens and the same
    rows scored one by one (0 where the backend is batch-invariant)."""
    lm.prefill(prompt)
    batched = lm.extend(tokens[:k])
    lm.truncate(len(prompt))
    single = np.stack([lm.extend([t])[0] for t in tokens[:k]])
    lm.truncate(len(prompt))
    return float(np.abs(batched - single).max())


@pytest.fixture(scope="module")
def reference(target: LlamaCppLogitsModel) -> Reference:
    prompt = target.tokenize(PROMPT)
    out = greedy_decode(target, prompt, max_tokens=60)
    exact = target.max_exact_pass
    noise = batch_noise(target, prompt, out.tokens, k=exact if exact > 1 else 11)
    return prompt, out.tokens, out.margins, noise


def test_the_report_line_says_whether_the_answer_is_long_contexts_own() -> None:
    rep = SpeculativeReport(
        drafter="ngram",
        drafted=120,
        accepted=45,
        acceptance_rate=0.375,
        passes=61,
        decode_tokens_per_second=12.3,
        draft_seconds=0.01,
    )
    line = describe_speculative(rep)
    assert line.startswith("speculative (ngram drafter): 45 of 120 drafted tokens accepted (38%)")
    assert "61 passes" in line and "12.3 tok/s" in line and "may part from" in line
    exact = describe_speculative(rep.model_copy(update={"exact": True}))
    assert exact.endswith("the long-context answer token for token")
    warmed = describe_speculative(rep.model_copy(update={"drafter_prefill_seconds": 21.04}))
    assert "12.3 tok/s (the drafter read its passages in 21.0 s before)" in warmed
    assert "read its passages" not in line
    leaning = describe_speculative(rep.model_copy(update={"eta": 3.0}))
    assert "retrieval-augmented target (eta 3)" in leaning and "may change" in leaning


def test_the_exact_pass_is_read_from_the_builds_kernels() -> None:
    assert exact_pass_tokens("CPU : AVX2 = 1 | LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 |") == 1
    assert exact_pass_tokens("CPU : AVX2 = 1 | OPENMP = 1 | REPACK = 1 |") == 1
    assert exact_pass_tokens("CPU : AVX512 = 1 | AMX_INT8 = 1 | OPENMP = 1 |") == 1
    assert exact_pass_tokens("CPU : AVX2 = 1 | OPENMP = 1 |") == 7


@pytest.mark.skipif(
    exact_pass_tokens(system_info()) == 1,
    reason="llama.cpp built with batch kernels (make setup LLAMA_EXACT=1 builds it without)",
)
def test_an_exact_build_scores_a_pass_of_up_to_7_tokens_as_single_tokens(
    target: LlamaCppLogitsModel, reference: Reference
) -> None:
    """Without llamafile's sgemm and weight repacking (ggml's tiled K-quant matmul still takes
    passes of 8+ tokens) every row of a 7-token pass is bit for bit its one-token row, so
    greedy speculative decoding is the plain greedy output (the tests above then compare them
    exactly)."""
    assert target.max_exact_pass == 7
    assert reference[3] == 0.0  # the largest change over passes of 7


def _target_choice_wherever_clear(
    lm: LogitsModel, prompt: list[int], got: list[int], noise: float, want: list[int]
) -> None:
    """Every token of `got` is the target's own greedy choice after `got`'s preceding tokens
    (scored one at a time, as plain decoding does) wherever that choice's top-2 margin exceeds
    twice the batch-shape noise (either logit may move by `noise`), and such positions are most
    of the answer; exactly the reference `want` when the backend is batch-invariant (noise 0).

    Checked on `got`'s own prefixes rather than as a common prefix with `want`: once the two
    part at a close margin they continue differently, and a prefix check would stop there."""
    row = lm.prefill(prompt)
    checked = 0
    for i, tok in enumerate(got):
        second, first = np.argsort(row)[-2:]
        if row[first] - row[second] > 2 * noise:
            assert tok == int(first), f"position {i}: not the target's clear greedy choice"
            checked += 1
        row = lm.extend([tok])[0]
    assert checked >= 0.6 * len(got), f"only {checked} of {len(got)} positions are clear"
    if noise == 0:
        assert got == want


def test_ngram_drafter_proposes_what_followed_the_latest_match() -> None:
    d = NGramDrafter([1, 2, 3, 4, 9, 2, 3, 5, 6], max_ngram=2)
    assert d.propose([7, 2, 3], 3) == [5, 6]  # the latest "2 3" is followed by 5 6
    assert d.propose([7, 8, 4], 2) == [9, 2]  # no bigram "8 4": the unigram "4"
    assert d.propose([42], 3) == []
    assert d.propose([], 3) == []


def test_greedy_speculative_with_ngram_lookup_is_the_targets_greedy_output(
    target: LlamaCppLogitsModel, reference: Reference
) -> None:
    prompt, want, _, noise = reference
    steps: list[list[int]] = []
    out = greedy_speculative(
        target, prompt, NGramDrafter(target.tokenize(PASSAGE)), 60, on_tokens=steps.append
    )
    assert target.n_past == len(prompt) + len(out.tokens) - 1  # the cache is left consistent
    _target_choice_wherever_clear(target, prompt, out.tokens, noise, want)
    assert [t for s in steps for t in s] == out.tokens  # streamed as decided
    st = out.stats
    assert st.drafter == "ngram" and st.tokens == len(out.tokens)
    # copying the passage: most drafts are accepted, far fewer passes than tokens
    assert st.accepted > 0.5 * st.tokens and st.passes < 0.5 * st.tokens
    assert 0 < st.acceptance_rate <= 1 and st.tokens_per_second > 0


def test_greedy_speculative_with_a_model_drafter_is_the_targets_greedy_output(
    smollm2_path: Path,
    target: LlamaCppLogitsModel,
    reference: Reference,
) -> None:
    """Self-speculation: the same weights in a second context reading the passage alone."""
    prompt, want, _, noise = reference
    drafter_lm = _lm(smollm2_path)
    try:
        short = drafter_lm.tokenize(f"{PASSAGE}\n\nCopied:\n")
        out = greedy_speculative(target, prompt, ModelDrafter(drafter_lm, short, "self"), 60)
    finally:
        drafter_lm.close()
        drafter_lm.llama.close()
    _target_choice_wherever_clear(target, prompt, out.tokens, noise, want)
    assert out.stats.drafter == "self" and out.stats.accepted > 0


class _Wrong:
    name = "wrong"

    def propose(self, context: list[int], k: int) -> list[int]:
        return [int(context[-1]) + 1] * k  # never what a model would say


def test_a_useless_drafter_changes_nothing_but_the_speed(
    target: LlamaCppLogitsModel, reference: Reference
) -> None:
    prompt, want, _, noise = reference
    out = greedy_speculative(target, prompt, _Wrong(), 60, gamma=4)
    _target_choice_wherever_clear(target, prompt, out.tokens, noise, want)
    # rejections shrink the draft to one token: about one pass per token
    assert out.stats.passes >= len(out.tokens) - 1


def test_the_cost_planner_keeps_the_output_and_stops_scoring_a_useless_drafter(
    target: LlamaCppLogitsModel, reference: Reference
) -> None:
    prompt, want, _, noise = reference
    copied = greedy_speculative(
        target, prompt, NGramDrafter(target.tokenize(PASSAGE)), 60, planner=DraftPlanner()
    )
    assert target.n_past == len(prompt) + len(copied.tokens) - 1
    _target_choice_wherever_clear(target, prompt, copied.tokens, noise, want)
    wrong = greedy_speculative(target, prompt, _Wrong(), 60, planner=DraftPlanner())
    _target_choice_wherever_clear(target, prompt, wrong.tokens, noise, want)
    # the first draft (10 tokens) is rejected; after it the planner only drafts in the
    # shadow (a free drafter) and scores nothing it has learned to be wrong
    assert wrong.stats.drafted <= 12 and wrong.stats.accepted == 0
    grown = greedy_speculative(target, prompt, _Wrong(), 60, gamma=10)
    assert grown.stats.drafted >= len(grown.tokens) - 1  # `grow` drafts at every step


def test_greedy_speculative_is_token_for_token_the_greedy_output_on_transformers(
    smollm2_path: Path,
) -> None:
    """transformers on the CPU in float32 is batch-invariant to ~1e-5: exact identity, for the
    n-gram drafter and for a model drafter (the same weights on the passage alone)."""
    from docqa.generation.transformers_backend import TransformersLogitsModel, load_transformers

    model, tokenizer = load_transformers(smollm2_path, device="cpu", threads=1)
    lm = TransformersLogitsModel(model, tokenizer)
    drafter_lm = TransformersLogitsModel(model, tokenizer)
    prompt = lm.tokenize(PROMPT)
    want = greedy_decode(lm, prompt, max_tokens=40)
    noise = batch_noise(lm, prompt, want.tokens)
    assert noise < 1e-3
    ngram = greedy_speculative(lm, prompt, NGramDrafter(lm.tokenize(PASSAGE)), 40)
    assert ngram.tokens == want.tokens and ngram.stats.accepted > 0
    short = drafter_lm.tokenize(f"{PASSAGE}\n\nCopied:\n")
    own = greedy_speculative(lm, prompt, ModelDrafter(drafter_lm, short, "self"), 40)
    assert own.tokens == want.tokens and own.stats.accepted > 0


def test_max_tokens_and_the_stop_tokens_end_the_output(
    target: LlamaCppLogitsModel, reference: Reference
) -> None:
    prompt, want, _, _ = reference
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


class MarkovLM:
    """A hand-made model whose next-token distribution depends on the last token only
    (`table[last]`), with the cache calls speculative decoding makes: the exact distribution of
    its sequences is known, so a sampler's output can be checked against it."""

    def __init__(self, table: np.ndarray) -> None:
        self.table = np.log(table)
        self._tokens: list[int] = []
        self.eos_token_ids: frozenset[int] = frozenset()
        self.n_vocab = table.shape[1]
        self.max_exact_pass: int | None = None  # rows do not depend on the pass

    @property
    def tokens(self) -> list[int]:
        return list(self._tokens)

    @property
    def n_past(self) -> int:
        return len(self._tokens)

    def prefill(self, ids: list[int], boundary: int | None = None) -> np.ndarray:
        self._tokens = list(ids)
        return np.asarray(self.table[ids[-1]])

    def extend(self, ids: list[int]) -> np.ndarray:
        self._tokens += ids
        return np.stack([self.table[t] for t in ids])

    def truncate(self, n_tokens: int) -> None:
        del self._tokens[n_tokens:]


class BatchShapedLM(MarkovLM):
    """A `MarkovLM` whose rows from a pass over more than `exact` tokens lean toward token
    `lean` by `by` logits, as llama.cpp's batched kernels differ from its one-token kernels
    (a stock wheel: `exact` 1; docqa's build: 7)."""

    def __init__(self, table: np.ndarray, lean: int, by: float, exact: int = 1) -> None:
        super().__init__(table)
        self.lean, self.by, self.exact = lean, by, exact
        self.max_exact_pass = exact  # what it declares (a test may declare it wrongly)

    def extend(self, ids: list[int]) -> np.ndarray:
        rows = super().extend(ids)
        if len(ids) > self.exact:
            rows = rows.copy()
            rows[:, self.lean] += self.by
        return rows


class _Cycle:
    """Drafts the cycle 0, 1, 2, 0, 1, 2, ...: what the batched rows of `CLOSE_CALL` prefer."""

    name = "cycle"

    def propose(self, context: list[int], k: int) -> list[int]:
        return [(context[-1] + 1 + i) % 3 for i in range(k)]


def _blended_reference(
    target: MarkovLM, reader: MarkovLM, prompt: list[int], own: list[int], n: int, eta: float
) -> list[int]:
    """RAPID's greedy target decoded one token at a time, without drafts: at each position the
    argmax of rapid_target(target's logits, reader's distribution)."""
    out: list[int] = []
    while len(out) < n:
        z = target.prefill(prompt + out)
        q = softmax(reader.prefill(own + out))
        tok = int(np.argmax(rapid_target(z, q, eta)))
        if tok in target.eos_token_ids:
            break
        out.append(tok)
    return out


def _tables(seed: int, n: int = 6) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.ones(n), size=n), rng.dirichlet(np.full(n, 0.3), size=n)


def test_rapid_greedy_is_the_argmax_of_rapids_target_at_every_token() -> None:
    parted = 0
    for seed in range(6):
        t_table, q_table = _tables(seed)
        target, reader = MarkovLM(t_table), MarkovLM(q_table)
        target.eos_token_ids = frozenset({5})
        prompt, own = [0, 3], [4, 1, 2]
        plain = greedy_decode(target, prompt, 30).tokens  # type: ignore[arg-type]
        for eta in (0.0, 1.5, 4.0):
            want = _blended_reference(target, reader, prompt, own, 30, eta)
            out = rapid_greedy(
                target,  # type: ignore[arg-type]
                prompt,
                ModelDrafter(reader, own, "reader"),  # type: ignore[arg-type]
                30,
                eta=eta,
                gamma=3,
            )
            assert out.tokens == want, (seed, eta)
            # the cache holds what was decided (the last token may wait for the next pass)
            assert target.tokens in (prompt + out.tokens, prompt + out.tokens[:-1])
            assert out.finish_reason == ("stop" if len(want) < 30 else "length")
            assert out.stats.tokens == len(want) and out.stats.accepted <= out.stats.drafted
            if eta == 0.0:
                assert out.tokens == plain  # no lean: the target's own greedy output
            parted += out.tokens != plain
    assert parted >= 3  # a leaning target does change answers


def test_rapid_greedy_keeps_every_draft_of_a_drafter_that_reads_alike() -> None:
    table, _ = _tables(7)
    target, reader = MarkovLM(table), MarkovLM(table)
    out = rapid_greedy(
        target,  # type: ignore[arg-type]
        [0],
        ModelDrafter(reader, [0], "same"),  # type: ignore[arg-type]
        40,
        eta=3.0,
    )
    assert out.tokens == greedy_decode(target, [0], 40).tokens  # type: ignore[arg-type]
    assert out.stats.accepted == out.stats.drafted == 40
    assert out.stats.passes < 10  # many tokens per pass


class _CountingLM(MarkovLM):
    def __init__(self, table: np.ndarray) -> None:
        super().__init__(table)
        self.prefills = 0

    def prefill(self, ids: list[int], boundary: int | None = None) -> np.ndarray:
        self.prefills += 1
        return super().prefill(ids, boundary)


def test_a_warmed_drafter_reads_its_prompt_once() -> None:
    """Warmed before decoding, a model drafter never reads its prompt again: the decoding rate
    is the decoding's, whichever way decoding starts."""
    t_table, q_table = _tables(3)
    for decode in ("greedy", "rapid"):
        reader = _CountingLM(q_table)
        drafter = ModelDrafter(reader, [4, 1, 2], "reader")
        assert drafter.warm(2) >= 0 and reader.prefills == 1
        target = MarkovLM(t_table)
        if decode == "greedy":
            out = greedy_speculative(target, [0, 3], drafter, 30, gamma=3)  # type: ignore[arg-type]
        else:
            out = rapid_greedy(target, [0, 3], drafter, 30, eta=1.0, gamma=3)  # type: ignore[arg-type]
        assert reader.prefills == 1 and out.stats.drafted > 0, decode
        assert drafter.warm(2) >= 0 and reader.prefills == 1  # its prompt is still there


def test_rapid_greedy_cuts_drafts_to_the_pass_the_target_scores_exactly() -> None:
    """Passes of more than 3 tokens lean toward token 0 by 5 logits; declared exact up to 3,
    the drafts are cut so that every row is scored as alone."""
    for seed in range(4):
        t_table, q_table = _tables(seed)
        plain, reader = MarkovLM(t_table), MarkovLM(q_table)
        shaped = BatchShapedLM(t_table, lean=0, by=5.0, exact=3)
        want = _blended_reference(plain, reader, [1], [2], 30, 2.0)
        out = rapid_greedy(
            shaped,  # type: ignore[arg-type]
            [1],
            ModelDrafter(MarkovLM(q_table), [2], "reader"),  # type: ignore[arg-type]
            30,
            eta=2.0,
            gamma=8,
        )
        assert out.tokens == want, seed


CLOSE_CALL = np.array(
    [[0.1, 0.7, 0.1, 0.1], [0.1, 0.1, 0.7, 0.1], [0.38, 0.11, 0.11, 0.40], [0.7, 0.1, 0.1, 0.1]]
)
"""After token 2, token 3 leads token 0 by log(0.40 / 0.38) = 0.05 logit: a close call."""


def test_a_close_call_read_from_a_batch_is_scored_again_alone() -> None:
    lm = BatchShapedLM(CLOSE_CALL, lean=0, by=0.3)  # a batch turns the close call to 0
    want = greedy_decode(lm, [0], 24).tokens  # type: ignore[arg-type]
    assert want[:4] == [1, 2, 3, 0]
    loose = greedy_speculative(lm, [0], _Cycle(), 24, gamma=4)  # type: ignore[arg-type]
    assert loose.tokens != want and loose.stats.rechecks == 0
    out = greedy_speculative(lm, [0], _Cycle(), 24, gamma=4, recheck_margin=0.5)  # type: ignore[arg-type]
    assert out.tokens == want
    assert out.stats.rechecks > 0 and out.stats.accepted > 0
    assert out.stats.passes < len(want)  # still fewer passes than tokens


def test_drafts_are_cut_to_the_pass_the_target_scores_exactly() -> None:
    """A target whose passes of up to 3 tokens are exact: drafts of 2 keep every close call as
    plain decoding makes it, with no recheck; drafts of 4 would lean it the other way."""
    lm = BatchShapedLM(CLOSE_CALL, lean=0, by=0.3, exact=3)
    want = greedy_decode(lm, [0], 24).tokens  # type: ignore[arg-type]
    out = greedy_speculative(lm, [0], _Cycle(), 24, gamma=4)  # type: ignore[arg-type]
    assert out.tokens == want
    assert out.stats.rechecks == 0 and out.stats.drafted <= 2 * out.stats.passes
    assert out.stats.accepted > 0 and out.stats.passes < len(want)
    lm.max_exact_pass = 5  # the same kernels declared exact up to 5: passes of 5 lean
    assert greedy_speculative(lm, [0], _Cycle(), 24, gamma=4).tokens != want  # type: ignore[arg-type]


TARGET_CHAIN = np.array(
    [[0.1, 0.6, 0.2, 0.1], [0.3, 0.1, 0.5, 0.1], [0.25, 0.25, 0.25, 0.25], [0.7, 0.1, 0.1, 0.1]]
)
DRAFT_CHAIN = np.array(
    [[0.4, 0.1, 0.1, 0.4], [0.1, 0.6, 0.1, 0.2], [0.1, 0.1, 0.1, 0.7], [0.25, 0.25, 0.25, 0.25]]
)


def _chain_joint(table: np.ndarray, start: int, n: int) -> np.ndarray:
    """The exact distribution of the next `n` tokens after `start`, as an array indexed by them."""
    joint = table[start]
    for _ in range(n - 1):
        joint = np.einsum("...i,ij->...ij", joint, table)
    return joint


def test_speculative_sampling_outputs_the_targets_distribution() -> None:
    target = MarkovLM(TARGET_CHAIN)
    draft_lm = MarkovLM(DRAFT_CHAIN)
    drafter = ModelDrafter(draft_lm, [0], name="markov")  # type: ignore[arg-type]
    rng = np.random.default_rng(7)
    n, counts = 20_000, np.zeros((4, 4, 4))
    drafted = accepted = 0
    for _ in range(n):
        drafter.start = None
        out = sampled_speculative(
            target,  # type: ignore[arg-type]
            [0],
            drafter,
            3,
            temperature=1.0,
            rng=rng,
            gamma=2,
        )
        counts[tuple(out.tokens)] += 1
        drafted += out.stats.drafted
        accepted += out.stats.accepted
    freq = counts / n
    want = _chain_joint(TARGET_CHAIN, 0, 3)
    assert np.abs(freq - want).sum() / 2 < 0.03  # total variation over the 64 sequences
    # the test can tell: the drafter's own sequences are far from the target's
    assert np.abs(_chain_joint(DRAFT_CHAIN, 0, 3) - want).sum() / 2 > 0.3
    assert drafted > 0 and 0 < accepted < drafted  # drafts were checked, some were kept
    # with a drafter that always agrees (the target's own chain), every draft is kept
    same = ModelDrafter(MarkovLM(TARGET_CHAIN), [0], name="same")  # type: ignore[arg-type]
    out = sampled_speculative(target, [0], same, 40, temperature=1.0, rng=rng)  # type: ignore[arg-type]
    assert out.stats.accepted == out.stats.drafted > 0


def test_speculative_sampling_near_zero_temperature_is_greedy_speculative(
    target: LlamaCppLogitsModel,
) -> None:
    prompt = target.tokenize(PROMPT)
    drafter = NGramDrafter(target.tokenize(PASSAGE), vocab=target.n_vocab)
    greedy = greedy_speculative(target, prompt, drafter, 40)
    cold = sampled_speculative(
        target, prompt, drafter, 40, temperature=1e-4, rng=np.random.default_rng(0)
    )
    assert cold.tokens == greedy.tokens and cold.stats.accepted == greedy.stats.accepted
    assert cold.stats.accepted > 10  # the passage is copied: most of it drafted and kept
    # at temperature 1 the same seed gives the same answer, another seed may not
    a, b = (
        sampled_speculative(
            target, prompt, drafter, 40, temperature=1.0, rng=np.random.default_rng(s)
        )
        for s in (1, 1)
    )
    assert a.tokens == b.tokens
    with pytest.raises(ValueError, match="temperature > 0"):
        sampled_speculative(
            target, prompt, drafter, 5, temperature=0.0, rng=np.random.default_rng()
        )


REPORT = " ".join(
    f"[p. {p}] In quarter {q} of fiscal {y} the {unit} unit shipped {400 + 37 * p:,} units, "
    f"revenue was ${12 + p * 1.7:.1f} million and {p + 3} new customers signed contracts."
    for p, (q, y, unit) in enumerate(
        [(q, y, u) for y in (2022, 2023) for q in (1, 2, 3, 4) for u in ("Harbor", "Summit")],
        start=1,
    )
)


@pytest.mark.slow
def test_the_15b_target_with_the_05b_drafter(qwen_path: Path, drafter_path: Path) -> None:
    """The product's pair: the answering 1.5B over the whole report, the 0.5B (same
    tokenizer) drafting from one passage; every clear position is the 1.5B's greedy choice."""
    from docqa.generation.llamacpp import LlamaCppGenerator

    qwen = LlamaCppGenerator(qwen_path, name="qwen2.5-1.5b", n_ctx=4096, threads=1)
    small = _lm(drafter_path)
    try:
        lm = LlamaCppLogitsModel(qwen.llama)
        ask = "List the quarters of fiscal 2023 with the Summit unit's shipped units, revenue "
        ask += "and new customers, citing each page as [p. N]."
        target_prompt = qwen.chat_tokens(
            [ChatMessage(role="user", content=f"Report:\n{REPORT}\n\nQuestion: {ask}")]
        )
        passage = REPORT[REPORT.index("[p. 10]") :]
        draft_prompt = qwen.chat_tokens(
            [ChatMessage(role="user", content=f"Report:\n{passage}\n\nQuestion: {ask}")]
        )
        assert small.tokenize(REPORT) == lm.tokenize(REPORT)  # the same tokenizer
        want = greedy_decode(lm, target_prompt, max_tokens=80)
        noise = batch_noise(lm, target_prompt, want.tokens)
        out = greedy_speculative(lm, target_prompt, ModelDrafter(small, draft_prompt), 80)
        _target_choice_wherever_clear(lm, target_prompt, out.tokens, noise, want.tokens)
        st = out.stats
        assert st.drafter == "model" and st.accepted > 0.5 * st.drafted
        assert st.passes < 0.6 * st.tokens  # most passes verify several tokens
    finally:
        small.close()
        small.llama.close()
        qwen.close()
