"""The default generator, Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF assembled from its PyPI
parts): answers from a passage, streams, and its LogitsModel agrees with generate().

Skipped when the 22 carrier packages are not installed (they are not part of `make setup`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from docqa.generation import ChatMessage, GenerationConfig
from docqa.generation.llamacpp import LlamaCppGenerator, LlamaCppLogitsModel

pytestmark = pytest.mark.slow

PASSAGE = (
    "[p. 14] Northwind Traders reported revenue of $812 million for fiscal 2024, up 9% from "
    "$745 million in 2023. Operating margin narrowed to 11.2% because of higher freight costs. "
    "The company opened 14 new distribution centers, bringing the total to 96."
)
ASK = [
    ChatMessage(
        role="system",
        content="Answer from the passage only, in one sentence, and cite the page as [p. N].",
    ),
    ChatMessage(
        role="user",
        content=f"Passage:\n{PASSAGE}\n\nQuestion: How many distribution centers does "
        "Northwind have in total?",
    ),
]


@pytest.fixture(scope="module")
def qwen(qwen_path: Path) -> Iterator[LlamaCppGenerator]:
    # one thread: robust on a shared 2-core machine (two contended threads can be far slower)
    gen = LlamaCppGenerator(qwen_path, name="qwen2.5-1.5b", n_ctx=2048, threads=1)
    yield gen
    gen.close()


def test_answers_from_the_passage_and_streams(qwen: LlamaCppGenerator) -> None:
    assert qwen.context_window == 32768 and qwen.n_ctx == 2048
    cfg = GenerationConfig(max_tokens=48)
    pieces = list(qwen.stream(ASK, cfg))
    answer = "".join(pieces)
    assert len(pieces) > 5
    assert "96" in answer, answer
    assert "14" in answer, f"cites page 14: {answer}"
    out = qwen.generate(ASK, cfg)
    assert out.text == answer, "greedy: the same answer streamed or not"
    assert out.finish_reason == "stop" and out.prompt_tokens == qwen.count_chat_tokens(ASK)
    assert out.time_to_first_token is not None and out.time_to_first_token < out.seconds


def test_logits_model_greedy_matches_generate(qwen: LlamaCppGenerator) -> None:
    lm = LlamaCppLogitsModel(qwen.llama)
    assert lm.n_vocab == 151936 and {151643, 151645} <= lm.eos_token_ids
    reference = qwen.generate(ASK, GenerationConfig(max_tokens=12))
    logits = lm.prefill(qwen.chat_tokens(ASK))
    out: list[int] = []
    while len(out) < 12:
        token = int(np.argmax(logits))
        if token in lm.eos_token_ids:
            break
        out.append(token)
        logits = lm.extend([token])[0]
    assert lm.detokenize(out) == reference.text
