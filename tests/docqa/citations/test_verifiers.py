from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from docqa.citations.verifiers import (
    CombinedVerifier,
    GroundingVerifier,
    NliVerifier,
    VerifierScore,
    entailment_index,
    entailment_probability,
    score_many,
)
from docqa.models import ModelNotFoundError
from docqa.types import Passage

TABLE = Passage(
    n=1,
    text=(
        "Consolidated Statements of Earnings\n$ and shares in millions\n"
        "Fiscal Years Ended January 28, 2023 January 29, 2022\n"
        "Revenue\n$\n 46,298\n$\n 51,761\nGross profit\n 9,912\n 11,640\n"
    ),
    page=40,
    path="docs/BESTBUY_2023_10K.pdf",
)
OTHER = Passage(n=2, text="The weather in Paris is mild in spring and the museums are busy.")


class Fixed:
    """A verifier that returns given scores and counts its calls."""

    def __init__(self, name: str, score: float, ceiling: float | None = None) -> None:
        self.name = name
        self.value = score
        self.ceiling = ceiling
        self.calls = 0

    def score(self, sentence: str, passages: Sequence[Passage]) -> VerifierScore:
        self.calls += 1
        return VerifierScore(self.value, reasons=[f"{self.name} said so"], ceiling=self.ceiling)


def test_grounding_supports_the_same_number_in_another_format() -> None:
    s = GroundingVerifier().score("Revenue was $46.3 billion in fiscal 2023.", [TABLE])
    assert s.score > 0.7
    assert s.ceiling is None and s.reasons == []
    assert s.details["numbers_grounded"] == s.details["numbers"] == 2.0
    assert s.quote is not None and s.quote.passage == 1
    assert TABLE.text[s.quote.start : s.quote.end] == s.quote.text
    assert "46,298" in s.quote.text


def test_grounding_a_changed_digit_scores_low_whatever_the_overlap() -> None:
    g = GroundingVerifier()
    s = g.score("Revenue was $46,398 million in fiscal 2023.", [TABLE])
    assert s.ceiling == pytest.approx(0.05) and s.score == pytest.approx(0.05)
    assert s.reasons[0] == "not in the cited text: $46,398 million"
    # one of two amounts grounded: capped at 0.05 + 0.2 * 0.5
    two = g.score("Revenue was $46,398 million and gross profit $9,912 million.", [TABLE])
    assert two.ceiling == pytest.approx(0.15) and two.score == pytest.approx(0.15)


def test_grounding_unrelated_passage_scores_near_zero() -> None:
    s = GroundingVerifier().score("Gross profit was $9.9 billion.", [OTHER])
    assert s.score == pytest.approx(0.02)
    assert s.quote is None


def test_grounding_uses_the_file_name_for_the_company() -> None:
    g = GroundingVerifier()
    with_path = g.score("Best Buy's gross profit was $9,912 million.", [TABLE])
    without = g.score(
        "Best Buy's gross profit was $9,912 million.", [TABLE.model_copy(update={"path": None})]
    )
    assert with_path.details["entities_grounded"] == 1.0
    assert without.details["entities_grounded"] == 0.0
    assert with_path.score > 0.7 and without.score == pytest.approx(
        with_path.score * 0.45, abs=0.02
    )


def test_grounding_a_wrong_company_is_penalised() -> None:
    g = GroundingVerifier()
    right = g.score("Revenue of Best Buy was $46,298 million.", [TABLE])
    wrong = g.score("Revenue of Walmart was $46,298 million.", [TABLE])
    assert wrong.reasons == ["names not in the cited text: Walmart"]
    assert wrong.score < 0.5 < right.score


def test_grounding_small_numbers_must_sit_near_the_sentence_words() -> None:
    p = Passage(
        n=1, text="Figure 8 shows results. " + "filler text " * 40 + "We count 6 subfigures."
    )
    g = GroundingVerifier()
    assert g.score("There are 6 subfigures.", [p]).ceiling is None
    assert g.score("There are 8 subfigures.", [p]).ceiling == pytest.approx(0.05)


def test_combined_is_logistic_on_log_odds() -> None:
    a, b = Fixed("a", 0.8), Fixed("b", 0.3)
    v = CombinedVerifier([(a, 1.0), (b, 0.5)], bias=0.2)
    z = 0.2 + math.log(0.8 / 0.2) + 0.5 * math.log(0.3 / 0.7)
    s = v.score("x", [OTHER])
    assert s.score == pytest.approx(1 / (1 + math.exp(-z)))
    assert s.details == {"a": 0.8, "b": 0.3}
    assert s.reasons == ["a said so", "b said so"]


def test_combined_respects_a_members_ceiling() -> None:
    capped = Fixed("grounding", 0.1, ceiling=0.1)
    confident = Fixed("reranker", 0.9999)
    v = CombinedVerifier([(capped, 1.0), (confident, 5.0)], skip_below=None)
    assert v.score("x", [OTHER]).score == pytest.approx(0.1)
    assert confident.calls == 1


def test_combined_skips_later_members_when_capped() -> None:
    capped = Fixed("grounding", 0.1, ceiling=0.1)
    costly = Fixed("reranker", 0.9)
    v = CombinedVerifier([(capped, 1.0), (costly, 1.0)])
    s = v.score("x", [OTHER])
    assert costly.calls == 0
    assert s.score == pytest.approx(0.1) and s.details == {"grounding": 0.1}


def test_combined_default_weights() -> None:
    v = CombinedVerifier.default(Fixed("grounding", 0.5), Fixed("reranker", 0.5), Fixed("llm", 0.5))
    assert [w for _, w in v.members] == [1.0, 0.05, 1.0]


def test_score_many_uses_batches_when_available() -> None:
    class Batched(Fixed):
        def score_batch(
            self, items: Sequence[tuple[str, Sequence[Passage]]]
        ) -> list[VerifierScore]:
            self.batches = len(items)
            return [VerifierScore(0.5) for _ in items]

    v = Batched("b", 0.1)
    out = score_many(v, [("x", [OTHER]), ("y", [OTHER])])
    assert [s.score for s in out] == [0.5, 0.5] and v.batches == 2 and v.calls == 0


# --- NLI ------------------------------------------------------------------------------------


def test_nli_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="NLI model path does not exist"):
        NliVerifier(tmp_path / "no-such-model")
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        NliVerifier("./no/such/nli")


@pytest.mark.parametrize(
    ("id2label", "index"),
    [
        ({0: "contradiction", 1: "entailment", 2: "neutral"}, 1),
        ({0: "entailment", 1: "neutral", 2: "contradiction"}, 0),
        ({0: "ENTAILMENT", 1: "NOT_ENTAILMENT"}, 0),
        ({0: "not_entailment", 1: "entailment"}, 1),
        ({0: "non-entailment", 1: "entailment"}, 1),
    ],
)
def test_entailment_index(id2label: dict[int, str], index: int) -> None:
    assert entailment_index(id2label) == index


def test_entailment_index_refuses_unknown_labels() -> None:
    with pytest.raises(ValueError, match="entailment_label"):
        entailment_index({0: "LABEL_0", 1: "LABEL_1"})


def test_entailment_probability() -> None:
    three = np.array([[0.0, 2.0, 0.0], [5.0, -5.0, 0.0]])
    p = entailment_probability(three, 1)
    assert p[0] == pytest.approx(math.exp(2) / (math.exp(2) + 2))
    assert p[1] < 1e-4
    assert entailment_probability(np.array([[0.0], [2.0]]), None).tolist() == pytest.approx(
        [0.5, 1 / (1 + math.exp(-2))]
    )


class _FakeCrossEncoder:
    """The two attributes NliVerifier uses of a sentence-transformers CrossEncoder."""

    def __init__(self, labels: dict[int, str], logits: list[list[float]]) -> None:
        self.model = type("M", (), {"config": type("C", (), {"id2label": labels})()})()
        self.logits = logits
        self.pairs: list[tuple[str, str]] = []

    def predict(self, pairs: list[tuple[str, str]], **kwargs: Any) -> np.ndarray:
        self.pairs = pairs
        self.kwargs = kwargs
        return np.array(self.logits[: len(pairs)])


def test_nli_label_mapping_and_windows(tmp_path: Path) -> None:
    fake = _FakeCrossEncoder(
        {0: "contradiction", 1: "entailment", 2: "neutral"},
        [[0.0, 3.0, 0.0], [0.0, -3.0, 0.0], [4.0, 0.0, 0.0]],
    )
    v = NliVerifier(tmp_path, loader=lambda ref: fake, window_words=6)
    long = Passage(n=1, text="one two three four five six seven eight nine ten eleven twelve")
    s = v.score("the hypothesis", [long])
    # premise read in overlapping windows, hypothesis second; the best window counts
    assert [w for w, _ in fake.pairs] == [
        "one two three four five six",
        "six seven eight nine ten eleven",
        "eleven twelve",
    ]
    assert all(h == "the hypothesis" for _, h in fake.pairs)
    # raw logits are asked for (a one-label CrossEncoder would apply a sigmoid itself)
    assert fake.kwargs["activation_fn"](2.5) == 2.5
    assert s.score == pytest.approx(math.exp(3) / (math.exp(3) + 2))
    (short,) = v.score_batch([("h", [Passage(n=1, text="short premise")])])
    assert short.score == pytest.approx(math.exp(3) / (math.exp(3) + 2))


def test_nli_explicit_label(tmp_path: Path) -> None:
    fake = _FakeCrossEncoder({0: "yes_label", 1: "no_label"}, [[2.0, 0.0]])
    v = NliVerifier(tmp_path, loader=lambda ref: fake, entailment_label="yes_label")
    assert v.score("h", [OTHER]).score == pytest.approx(1 / (1 + math.exp(-2)))


@pytest.mark.skipif(
    not os.environ.get("DOCQA_TEST_NLI_MODEL"),
    reason="no NLI model ships offline; set DOCQA_TEST_NLI_MODEL to a local NLI cross-encoder "
    "to run this test",
)
def test_nli_real_model() -> None:
    v = NliVerifier(os.environ["DOCQA_TEST_NLI_MODEL"])
    p = Passage(n=1, text="Best Buy's revenue in fiscal 2023 was $46.3 billion.")
    yes = v.score("Best Buy's fiscal 2023 revenue was $46.3 billion.", [p]).score
    no = v.score("Best Buy's fiscal 2023 revenue was $12 billion.", [p]).score
    assert yes > 0.5 > no
