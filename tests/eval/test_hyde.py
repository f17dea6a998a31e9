"""HyDE: the answering model's hypothetical passage, and the query the search reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from docqa.generation.llamacpp import LlamaCppGenerator
from docqa.models import ModelRegistry
from eval.hyde import HYDE_SYSTEM, hyde_query, hypothetical_passage


def test_hyde_query_appends_the_passage_to_the_question() -> None:
    assert hyde_query(" What was revenue? ", "Revenue rose.") == "What was revenue?\nRevenue rose."
    assert hyde_query("What was revenue?", "  ") == "What was revenue?"


def test_a_real_model_writes_a_passage_on_the_question(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    path = ModelRegistry(tmp_path_factory.mktemp("model-cache")).path("smollm2")
    assert isinstance(path, Path)
    gen = LlamaCppGenerator(path, n_ctx=1024, threads=1)
    try:
        passage = hypothetical_passage("What was the company's revenue in 2023?", gen, 48)
        words = passage.split()
        assert 3 <= len(words) <= 48  # a passage, within the token budget (a token < a word)
        assert "\n" not in passage  # one line: whitespace is folded
        assert passage != HYDE_SYSTEM
    finally:
        gen.close()
