"""transformers backend on SmolLM2, loaded from the same GGUF as llama.cpp (de-quantized).

Loading converts the GGUF tokenizer and tensors (~25 s here), hence `slow`; one load per module.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from docqa.config import GenerationSettings
from docqa.generation import (
    ChatMessage,
    GenerationConfig,
    GenerationError,
    Generator,
    LogitsModel,
    load_generator,
    load_logits_model,
)
from docqa.generation.llamacpp import LlamaCppGenerator
from docqa.generation.transformers_backend import (
    TransformersGenerator,
    TransformersLogitsModel,
    load_transformers,
)
from docqa.models import ModelRegistry

pytestmark = pytest.mark.slow

QUESTION = [ChatMessage(role="user", content="What is the capital of France?")]
STORY = [ChatMessage(role="user", content="Write a short story about a lighthouse keeper.")]


@pytest.fixture(scope="module")
def loaded(smollm2_path: Path) -> tuple[Any, Any]:
    return load_transformers(smollm2_path, device="cpu", threads=1)


@pytest.fixture(scope="module")
def gen(loaded: tuple[Any, Any]) -> TransformersGenerator:
    return TransformersGenerator(*loaded, name="smollm2")


@pytest.fixture(scope="module")
def lm(loaded: tuple[Any, Any]) -> TransformersLogitsModel:
    return TransformersLogitsModel(*loaded)


@pytest.fixture(scope="module")
def llama_gen(smollm2_path: Path) -> Iterator[LlamaCppGenerator]:
    g = LlamaCppGenerator(smollm2_path, n_ctx=1024, threads=1)
    yield g
    g.close()


def test_protocols_window_and_template_match_the_gguf(
    gen: TransformersGenerator, lm: TransformersLogitsModel, llama_gen: LlamaCppGenerator
) -> None:
    assert isinstance(gen, Generator) and isinstance(lm, LogitsModel)
    assert gen.context_window == llama_gen.context_window == 8192
    assert lm.n_vocab == 49152 and 2 in lm.eos_token_ids
    assert gen.chat_prompt(QUESTION) == llama_gen.chat_prompt(QUESTION)
    assert gen.chat_tokens(QUESTION) == llama_gen.chat_tokens(QUESTION)
    text = "Net revenue rose 12% to $4.2 billion (see page 37)."
    assert gen.count_tokens(text) == llama_gen.count_tokens(text)


def test_generate_and_stream(gen: TransformersGenerator) -> None:
    out = gen.generate(QUESTION, GenerationConfig(max_tokens=30))
    assert "Paris" in out.text and out.finish_reason == "stop"
    assert out.prompt_tokens == gen.count_chat_tokens(QUESTION)
    assert 0 < out.completion_tokens < 30
    assert out.time_to_first_token is not None and out.time_to_first_token <= out.seconds
    cfg = GenerationConfig(max_tokens=24)
    pieces = list(gen.stream(STORY, cfg))
    assert len(pieces) > 3
    capped = gen.generate(STORY, cfg)
    assert "".join(pieces) == capped.text
    assert capped.finish_reason == "length" and capped.completion_tokens == 24


def test_stop_string_is_cut_and_ends_generation(gen: TransformersGenerator) -> None:
    full = gen.generate(STORY, GenerationConfig(max_tokens=40)).text
    stop = full.split()[5]
    out = gen.generate(STORY, GenerationConfig(max_tokens=40, stop=[stop]))
    assert out.text == full[: full.index(stop)] and out.finish_reason == "stop"
    assert out.completion_tokens < 40


def test_greedy_decoding_through_extend_reproduces_generate(
    gen: TransformersGenerator, lm: TransformersLogitsModel
) -> None:
    reference = gen.generate(STORY, GenerationConfig(max_tokens=32))
    logits = lm.prefill(gen.chat_tokens(STORY))
    out: list[int] = []
    while len(out) < 32:
        token = int(np.argmax(logits))
        if token in lm.eos_token_ids:
            break
        out.append(token)
        logits = lm.extend([token])[0]
    assert lm.detokenize(out) == reference.text
    assert len(out) == reference.completion_tokens


def test_extend_rows_truncate_and_state(lm: TransformersLogitsModel, tmp_path: Path) -> None:
    ids = lm.tokenize("The annual report states that net income rose to 1.3 billion dollars.")
    lm.prefill(ids[:4])
    batched = lm.extend(ids[4:])
    assert batched.shape == (len(ids) - 4, lm.n_vocab) and lm.n_past == len(ids)
    lm.truncate(4)
    assert lm.tokens == ids[:4]
    single = np.stack([lm.extend([t])[0] for t in ids[4:]])
    np.testing.assert_allclose(batched, single, atol=1e-3, rtol=1e-4)

    lm.truncate(6)
    state = lm.save_state()
    path = tmp_path / "state.pt"
    assert lm.save_state_file(path) > 0
    expected = lm.extend(ids[6:])
    lm.prefill(lm.tokenize("Something else."))
    lm.load_state(state)
    assert lm.tokens == ids[:6]
    np.testing.assert_allclose(lm.extend(ids[6:]), expected, atol=1e-5)
    lm.truncate(0)
    lm.load_state_file(path)
    np.testing.assert_allclose(lm.extend(ids[6:]), expected, atol=1e-5)


def test_special_tokens_are_parsed_only_when_asked(lm: TransformersLogitsModel) -> None:
    assert lm.tokenize("<|im_end|>", special=True) == [2]
    assert 2 not in lm.tokenize("<|im_end|>")


def test_settings_route_to_transformers(
    registry: ModelRegistry, gen: TransformersGenerator
) -> None:
    lm = load_logits_model(
        GenerationSettings(backend="transformers", model="smollm2"), registry, gen
    )
    assert isinstance(lm, TransformersLogitsModel) and lm.model is gen.model
    with pytest.raises(GenerationError, match="does not download"):
        load_generator(
            GenerationSettings(backend="transformers", model="nobody/no-such-model"), registry
        )


def test_probe_reports_the_first_token_probability_the_prefill_gives(
    gen: TransformersGenerator, lm: TransformersLogitsModel
) -> None:
    plain = gen.generate(QUESTION, GenerationConfig(max_tokens=8))
    assert plain.probe_probability is None
    z = lm.prefill(gen.chat_tokens(QUESTION)).astype(np.float64)
    probs = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    for probe in (plain.text, "Not found in the documents.", "Banana"):
        run = gen.generate(QUESTION, GenerationConfig(max_tokens=8, probe=probe))
        assert run.text == plain.text
        expected = float(probs[lm.tokenize(probe)[0]])
        assert run.probe_probability == pytest.approx(expected, rel=1e-3, abs=1e-6)
    first = lm.detokenize(lm.tokenize(plain.text)[:1])
    greedy = gen.generate(QUESTION, GenerationConfig(max_tokens=4, probe=first))
    assert greedy.probe_probability == pytest.approx(float(probs.max()), rel=1e-3)
