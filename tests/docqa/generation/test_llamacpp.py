"""llama.cpp backend on SmolLM2-135M (the fast test model, ~90 tok/s)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from llama_cpp import Llama

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
from docqa.generation.llamacpp import (
    LlamaCppGenerator,
    LlamaCppLogitsModel,
    batch_plan,
    load_llama,
)
from docqa.models import ModelRegistry

QUESTION = [
    ChatMessage(role="system", content="You answer in one short sentence."),
    ChatMessage(role="user", content="What is the capital of France?"),
]
STORY = [ChatMessage(role="user", content="Write a short story about a lighthouse keeper.")]


@pytest.fixture(scope="module")
def gen(smollm2_path: Path) -> Iterator[LlamaCppGenerator]:
    # one thread: on a shared 2-core machine two spinning ggml threads can be 5-40x slower
    g = LlamaCppGenerator(smollm2_path, name="smollm2", n_ctx=2048, threads=1)
    yield g
    g.close()


@pytest.fixture(scope="module")
def lm(gen: LlamaCppGenerator) -> LlamaCppLogitsModel:
    return LlamaCppLogitsModel(gen.llama)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return np.asarray(e / e.sum(axis=-1, keepdims=True))


def test_implements_the_protocols_and_reports_the_real_window(
    gen: LlamaCppGenerator, lm: LlamaCppLogitsModel
) -> None:
    assert isinstance(gen, Generator) and isinstance(lm, LogitsModel)
    assert gen.context_window == 8192, "SmolLM2's training window, from the GGUF"
    assert gen.n_ctx == 2048, "the allocated context, as configured"
    assert lm.n_vocab == 49152
    assert 2 in lm.eos_token_ids, "<|im_end|> ends a turn"


def test_greedy_generate_matches_llama_cpp_chat_completion(gen: LlamaCppGenerator) -> None:
    out = gen.generate(QUESTION, GenerationConfig(max_tokens=40))
    # llama-cpp's own path from an empty cache, so that both evaluate the prompt in the same
    # batches (its prefix reuse would decode the last token alone: other kernels on AVX-512)
    gen.llama.reset()
    ref = gen.llama.create_chat_completion(
        [m.model_dump() for m in QUESTION], temperature=0.0, max_tokens=40, repeat_penalty=1.0
    )
    assert "Paris" in out.text
    assert out.text == ref["choices"][0]["message"]["content"]  # type: ignore[index]
    assert out.prompt_tokens == ref["usage"]["prompt_tokens"]  # type: ignore[index]
    assert out.completion_tokens == ref["usage"]["completion_tokens"]  # type: ignore[index]
    assert out.finish_reason == "stop" and out.counts_exact
    assert out.time_to_first_token is not None and 0 < out.time_to_first_token <= out.seconds


def test_token_counts_use_the_model_tokenizer_and_the_chat_template(
    gen: LlamaCppGenerator,
) -> None:
    text = "Revenue grew 12% to $4.2 billion in fiscal 2024."
    assert gen.count_tokens(text) == len(gen.llama.tokenize(text.encode(), add_bos=False))
    prompt = gen.chat_prompt(QUESTION)
    assert prompt.startswith("<|im_start|>system\nYou answer in one short sentence.<|im_end|>")
    assert prompt.endswith("<|im_start|>assistant\n"), "generation prompt from the template"
    n = gen.count_chat_tokens(QUESTION)
    assert n == gen.generate(QUESTION, GenerationConfig(max_tokens=1)).prompt_tokens
    content = sum(gen.count_tokens(m.content) for m in QUESTION)
    assert content < n < content + 20, "template markers are counted as single special tokens"


def test_stream_yields_pieces_that_join_to_the_generated_text(gen: LlamaCppGenerator) -> None:
    cfg = GenerationConfig(max_tokens=60)
    pieces = list(gen.stream(STORY, cfg))
    assert len(pieces) > 10 and all(pieces)
    assert "".join(pieces) == gen.generate(STORY, cfg).text


def test_max_tokens_ends_with_length(gen: LlamaCppGenerator) -> None:
    out = gen.generate(STORY, GenerationConfig(max_tokens=12))
    assert out.finish_reason == "length"
    assert out.completion_tokens == 12
    assert gen.count_tokens(out.text) in range(10, 15)


def test_stop_string_ends_generation_and_is_never_shown(gen: LlamaCppGenerator) -> None:
    full = gen.generate(STORY, GenerationConfig(max_tokens=60)).text
    words = full.split()
    stop = words[len(words) // 2]
    cut = full.index(stop)
    out = gen.generate(STORY, GenerationConfig(max_tokens=60, stop=[stop]))
    assert out.text == full[:cut]
    assert out.finish_reason == "stop"
    assert stop not in "".join(gen.stream(STORY, GenerationConfig(max_tokens=60, stop=[stop])))


def test_sampling_is_reproducible_with_a_seed(gen: LlamaCppGenerator) -> None:
    cfg = GenerationConfig(max_tokens=30, temperature=1.0, seed=1234)
    a, b = gen.generate(STORY, cfg).text, gen.generate(STORY, cfg).text
    assert a == b
    others = {gen.generate(STORY, cfg.model_copy(update={"seed": s})).text for s in range(4)}
    assert len(others) > 1, "different seeds sample different stories"


def test_prompt_longer_than_the_context_is_refused_with_numbers(
    gen: LlamaCppGenerator,
) -> None:
    long = [ChatMessage(role="user", content="word " * 3000)]
    with pytest.raises(
        GenerationError,
        match=r"prompt has \d+ tokens but the allocated context \(model window \d+\) is 2048",
    ):
        gen.generate(long)


def test_greedy_decoding_through_extend_reproduces_generate(
    gen: LlamaCppGenerator, lm: LlamaCppLogitsModel
) -> None:
    reference = gen.generate(STORY, GenerationConfig(max_tokens=48))
    logits = lm.prefill(gen.chat_tokens(STORY))
    out: list[int] = []
    while len(out) < 48:
        token = int(np.argmax(logits))
        if token in lm.eos_token_ids:
            break
        out.append(token)
        logits = lm.extend([token])[0]
    assert lm.detokenize(out) == reference.text
    assert len(out) == reference.completion_tokens


def test_extend_scores_k_tokens_in_one_pass_like_appending_them_one_by_one(
    gen: LlamaCppGenerator, lm: LlamaCppLogitsModel
) -> None:
    prompt = gen.chat_tokens(QUESTION)
    follow = lm.tokenize("The capital of France is Paris, a city on the Seine.")
    lm.prefill(prompt)
    batched = lm.extend(follow)
    assert batched.shape == (len(follow), lm.n_vocab) and batched.dtype == np.float32
    assert lm.n_past == len(prompt) + len(follow)
    lm.truncate(len(prompt))
    single = np.stack([lm.extend([t])[0] for t in follow])
    # llama.cpp's CPU kernels differ with the batch shape: close, not bit-equal (see the
    # flash-attention test below). The argmax and the distributions agree.
    assert np.array_equal(batched.argmax(-1), single.argmax(-1))
    assert np.abs(_softmax(batched) - _softmax(single)).max() < 0.1
    assert np.allclose(batched, single, atol=1.5, rtol=0.0)
    # the same rows as llama-cpp's own batched eval (logits_all) of that sequence
    ref = Llama(
        str(gen.model_path),
        n_ctx=512,
        logits_all=True,
        verbose=False,
        n_threads=1,
        n_threads_batch=1,
    )
    ref.eval(prompt)
    ref.eval(follow)
    assert np.allclose(batched, ref.scores[len(prompt) : len(prompt) + len(follow)], atol=1e-3)
    ref.close()


def test_with_flash_attention_batched_logits_equal_one_by_one(smollm2_path: Path) -> None:
    lm = LlamaCppLogitsModel(load_llama(smollm2_path, n_ctx=512, threads=1, flash_attn=True))
    ids = lm.tokenize("The quick brown fox jumps over the lazy dog near the river bank.")
    lm.prefill(ids[:3])
    batched = lm.extend(ids[3:])
    lm.truncate(3)
    single = np.stack([lm.extend([t])[0] for t in ids[3:]])
    np.testing.assert_allclose(batched, single, rtol=1e-5, atol=1e-5)
    lm.close()
    lm.llama.close()


def test_truncate_then_extend_again_gives_the_same_logits(lm: LlamaCppLogitsModel) -> None:
    ids = lm.tokenize("Page 12 reports total revenue of 4.2 billion dollars for the year.")
    lm.prefill(ids[:5])
    first = lm.extend(ids[5:])
    lm.truncate(5)
    assert lm.n_past == 5 and lm.tokens == ids[:5]
    again = lm.extend(ids[5:])
    np.testing.assert_array_equal(first, again)
    with pytest.raises(ValueError):
        lm.truncate(lm.n_past + 1)


class _Counting(LlamaCppLogitsModel):
    """The real model, recording the tokens of each decode."""

    def __init__(self, llama: Llama) -> None:
        super().__init__(llama)
        self.decoded: list[int] = []

    def _decode(self, ids: Sequence[int], all_rows: bool) -> np.ndarray:  # type: ignore[type-arg]
        self.decoded.append(len(ids))
        return super()._decode(ids, all_rows)


def test_prefill_reuses_the_cached_prefix_only_at_a_batch_cut(gen: LlamaCppGenerator) -> None:
    lm = _Counting(gen.llama)
    lm.truncate(0)
    head = lm.tokenize("A document prefix that is long enough to matter, followed by")
    ids = [*head, *lm.tokenize(" a question?")]
    full = lm.prefill(ids, boundary=len(head))
    assert lm.n_past == len(ids) and lm.decoded == [len(head), len(ids) - len(head)]
    assert lm.reusable(ids) == len(head)
    # the same prompt again: its tail is decoded again in the same batch, the same logits
    again = lm.prefill(ids)
    assert lm.decoded[-1] == len(ids) - len(head)
    np.testing.assert_array_equal(full, again)
    # another question on the prefix reuses it; the common words after it are decoded again
    other = [*head, *lm.tokenize(" a question about it?")]
    lm.prefill(other)
    assert lm.decoded[-1] == len(other) - len(head) and lm.tokens == other
    # a prompt sharing less than a whole batch is decoded from the start, as on a cold cache
    cold = lm.prefill(head[:-2])
    assert lm.decoded[-1] == len(head) - 2
    lm.truncate(0)
    np.testing.assert_array_equal(cold, lm.prefill(head[:-2]))
    assert lm.reusable([]) == 0


def test_save_and_load_state_restore_the_cache(lm: LlamaCppLogitsModel, tmp_path: Path) -> None:
    doc = lm.tokenize("The annual report states that net income rose to 1.3 billion. " * 8)
    question = lm.tokenize(" What was net income?")
    lm.prefill(doc)
    state = lm.save_state()
    path = tmp_path / "doc.kv"
    size = lm.save_state_file(path)
    assert size == path.stat().st_size and abs(size - len(state)) < 64
    expected = lm.extend(question)

    lm.prefill(lm.tokenize("Something else entirely."))
    lm.load_state(state)
    assert lm.tokens == doc and lm.n_past == len(doc)
    np.testing.assert_array_equal(lm.extend(question), expected)

    lm.truncate(0)
    lm.load_state_file(path)
    assert lm.tokens == doc
    np.testing.assert_array_equal(lm.extend(question), expected)


def test_state_of_another_model_or_garbage_is_refused(
    lm: LlamaCppLogitsModel, tmp_path: Path
) -> None:
    lm.prefill(lm.tokenize("hello there"))
    state = bytearray(lm.save_state())
    forged = bytes(state).replace(lm.fingerprint.encode(), b"0" * len(lm.fingerprint), 1)
    with pytest.raises(GenerationError, match="another model"):
        lm.load_state(forged)
    with pytest.raises(GenerationError, match="not a docqa"):
        lm.load_state(b"junk" * 10)
    (tmp_path / "junk.kv").write_bytes(b"junk" * 10)
    with pytest.raises(GenerationError, match="not a docqa"):
        lm.load_state_file(tmp_path / "junk.kv")


def test_generate_reuses_a_prefix_the_logits_model_put_in_the_cache(
    gen: LlamaCppGenerator, lm: LlamaCppLogitsModel, tmp_path: Path
) -> None:
    cfg = GenerationConfig(max_tokens=30)
    prompt = gen.chat_tokens(QUESTION)
    # the document's state computed now, then the question generated after it
    lm.truncate(0)
    lm.prefill(prompt[:-2])
    lm.save_state_file(tmp_path / "prefix.kv")
    expected = gen.generate(QUESTION, cfg)
    assert batch_plan(gen.llama).cuts[-2:] == [len(prompt) - 2, len(prompt)]
    # ... the same prefix loaded from disk after other work, and kept in memory
    lm.prefill(lm.tokenize("unrelated text that overwrites the cache"))
    lm.load_state_file(tmp_path / "prefix.kv")
    assert lm.reusable(prompt) == len(prompt) - 2
    assert gen.generate(QUESTION, cfg).text == expected.text
    assert gen.generate(QUESTION, cfg).text == expected.text


def test_load_generator_and_logits_model_from_settings(registry: ModelRegistry) -> None:
    settings = GenerationSettings(model="smollm2", max_n_ctx=1024, threads=1)
    gen = load_generator(settings, registry)
    assert isinstance(gen, LlamaCppGenerator)
    assert gen.n_ctx == 1024 and gen.context_window == 8192 and gen.name == "smollm2"
    lm = load_logits_model(settings, registry, gen)
    assert isinstance(lm, LlamaCppLogitsModel) and lm.llama is gen.llama, "one model, shared"
    own = load_logits_model(settings.model_copy(update={"n_ctx": 256}), registry)
    assert isinstance(own, LlamaCppLogitsModel) and own.n_ctx == 256
    own.llama.close()
    gen.close()


def test_n_ctx_is_what_was_asked_for_when_llama_cpp_rounds_it_up(registry: ModelRegistry) -> None:
    # llama.cpp allocates 1,024 for 800, but llama-cpp-python's token array holds 800: a prompt
    # of 801..1024 tokens would fail (or a saved state of that size fail to load), so 800 it is
    settings = GenerationSettings(model="smollm2", n_ctx=800, threads=1)
    gen = load_generator(settings, registry)
    assert isinstance(gen, LlamaCppGenerator)
    assert gen.llama.n_ctx() >= 800 and gen.n_ctx == 800
    lm = load_logits_model(settings, registry, gen)
    assert lm is not None and lm.n_ctx == 800
    with pytest.raises(GenerationError, match="800"):
        gen.generate([ChatMessage(role="user", content="word " * 900)])
    gen.close()


def test_settings_pointing_at_a_missing_or_non_gguf_model_fail_clearly(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    with pytest.raises(GenerationError, match="needs a GGUF file"):
        load_generator(GenerationSettings(model="HuggingFaceTB/SmolLM2-135M-Instruct"), registry)
    with pytest.raises(GenerationError, match="base_url is not set"):
        load_generator(GenerationSettings(backend="openai", model="m"), registry)
    with pytest.raises(GenerationError, match="needs a local backend"):
        load_logits_model(GenerationSettings(backend="openai", base_url="http://x/v1"), registry)


def _shape_dependent_prompt(
    gen: LlamaCppGenerator, lm: LlamaCppLogitsModel
) -> tuple[list[ChatMessage], np.ndarray, bool]:  # type: ignore[type-arg]
    """A chat whose last-token logits differ when that token is decoded alone after its prefix
    (what llama-cpp's own prefix reuse does) instead of in the prompt's batch; on this CPU and
    build some prompt lengths show it (AVX2 with SmolLM2's Q4_1 here: 24, 80, 300 tokens; on
    AVX-512, most). Returns the chat, its full-prefill logits and whether the difference
    showed (it is measured by hand through the private decode; docqa never decodes so)."""
    sentence = "Net income rose to 1.3 billion dollars while revenue fell. "
    messages: list[ChatMessage] = []
    full = np.empty(0)
    for n in range(1, 25):
        messages = [ChatMessage(role="user", content=f"{sentence * n}Summarise the report.")]
        prompt = gen.chat_tokens(messages)
        lm.truncate(0)
        full = lm.prefill(prompt)
        lm.truncate(len(prompt) - 1)
        if not np.array_equal(full, lm._decode(prompt[-1:], all_rows=False)):
            return messages, full, True
    return messages, full, False


def test_a_cached_prefix_never_changes_the_logits_or_the_answer(
    gen: LlamaCppGenerator, lm: LlamaCppLogitsModel
) -> None:
    messages, full, shape_dependent = _shape_dependent_prompt(gen, lm)
    prompt = gen.chat_tokens(messages)
    cfg = GenerationConfig(max_tokens=40)
    lm.truncate(0)
    cold = gen.generate(messages, cfg).text
    streamed = "".join(gen.stream(messages, cfg))  # the prompt and the answer are cached now
    assert streamed == cold
    np.testing.assert_array_equal(lm.prefill(prompt), full)
    np.testing.assert_array_equal(lm.prefill(prompt), full)  # and with only the prompt cached
    assert gen.generate(messages, cfg).text == cold
    print(f"{len(prompt)}-token prompt; batch-shape dependent logits here: {shape_dependent}")


def test_probe_reports_the_first_token_probability_the_prefill_gives(
    gen: LlamaCppGenerator, lm: LlamaCppLogitsModel
) -> None:
    plain = gen.generate(QUESTION, GenerationConfig(max_tokens=8))
    assert plain.probe_probability is None, "no probe asked"
    first = lm.detokenize(lm.tokenize(plain.text)[:1])
    probs = _softmax(lm.prefill(gen.chat_tokens(QUESTION)).astype(np.float64))
    for probe in (plain.text, "Not found in the documents.", "Banana"):
        run = gen.generate(QUESTION, GenerationConfig(max_tokens=8, probe=probe))
        assert run.text == plain.text, "probing changes nothing in the answer"
        expected = float(probs[lm.tokenize(probe)[0]])
        assert run.probe_probability == pytest.approx(expected, rel=1e-3, abs=1e-6)
    greedy = gen.generate(QUESTION, GenerationConfig(max_tokens=8, probe=first))
    assert greedy.probe_probability == pytest.approx(float(probs.max()), rel=1e-3)
