from __future__ import annotations

from collections.abc import Sequence

import pytest

from docqa.citations.checker import CitationChecker, is_claim
from docqa.citations.verifiers import GroundingVerifier, VerifierScore
from docqa.types import Passage, Verdict

REVENUE = Passage(
    n=1,
    text="Best Buy reported revenue of $46,298 million in fiscal 2023, down from $51,761 "
    "million in fiscal 2022.",
    page=40,
)
STORES = Passage(
    n=2, text="Best Buy operated 978 Domestic stores at the end of fiscal 2023.", page=19
)
PARIS = Passage(
    n=3, text="The weather in Paris is mild in spring and the museums are busy.", page=1
)
PASSAGES = [REVENUE, STORES, PARIS]


@pytest.fixture
def checker() -> CitationChecker:
    return CitationChecker(GroundingVerifier())


def test_supported_answer(checker: CitationChecker) -> None:
    r = checker.check(
        "Best Buy's revenue was $46.3 billion in fiscal 2023 [1]. It had 978 Domestic stores [2].",
        PASSAGES,
    )
    assert [s.verdict for s in r.sentences] == [Verdict.supported, Verdict.supported]
    assert [s.repaired_citations for s in r.sentences] == [None, None]
    assert (r.citation_recall, r.citation_precision) == (1.0, 1.0)
    quote = r.sentences[0].quote
    assert quote is not None and quote.passage == 1 and "$46,298 million" in quote.text


def test_swapped_citation_is_repaired(checker: CitationChecker) -> None:
    r = checker.check(
        "Best Buy's revenue was $46.3 billion in fiscal 2023 [2]. It had 978 Domestic stores [1].",
        PASSAGES,
    )
    assert [s.verdict for s in r.sentences] == [Verdict.unsupported, Verdict.unsupported]
    assert [s.repaired_citations for s in r.sentences] == [[1], [2]]
    assert r.sentences[1].reasons[-1] == "supported by [2] instead"
    assert (r.citation_recall, r.citation_precision) == (0.0, 0.0)


def test_changed_number_is_unsupported_and_not_repaired(checker: CitationChecker) -> None:
    r = checker.check("Best Buy had 979 Domestic stores in fiscal 2023 [2].", PASSAGES)
    (s,) = r.sentences
    assert s.verdict is Verdict.unsupported and s.score <= 0.25
    assert s.repaired_citations is None
    assert s.reasons[0] == "not in the cited text: 979"


def test_sentence_without_citation(checker: CitationChecker) -> None:
    r = checker.check(
        "Revenue fell to $46,298 million in fiscal 2023. "
        "I could not find the store count in the documents.",
        PASSAGES,
    )
    claim, abstention = r.sentences
    assert claim.claim and claim.verdict is Verdict.unsupported and claim.score == 0.0
    assert claim.reasons[0] == "no citation" and claim.repaired_citations == [1]
    assert not abstention.claim and abstention.verdict is Verdict.supported
    # the abstention is left out: recall over the one claim; no citations at all: precision 0
    assert (r.citation_recall, r.citation_precision) == (0.0, 0.0)


def test_only_non_claims(checker: CitationChecker) -> None:
    r = checker.check("The documents do not mention the dividend.", PASSAGES)
    assert [s.claim for s in r.sentences] == [False]
    assert (r.citation_recall, r.citation_precision) == (1.0, 1.0)


def test_citation_to_a_passage_that_does_not_exist(checker: CitationChecker) -> None:
    r = checker.check("Revenue was $46,298 million in fiscal 2023 [7].", PASSAGES)
    (s,) = r.sentences
    assert s.missing_citations == [7] and s.irrelevant_citations == [7]
    assert s.verdict is Verdict.unsupported and s.score == 0.0
    assert s.reasons[0] == "cites passages that do not exist: [7]"
    assert s.repaired_citations == [1]
    assert (r.citation_recall, r.citation_precision) == (0.0, 0.0)


def test_existing_citation_still_supports_next_to_a_missing_one(checker: CitationChecker) -> None:
    r = checker.check("Revenue was $46,298 million in fiscal 2023 [1][7].", PASSAGES)
    (s,) = r.sentences
    assert s.verdict is Verdict.supported and s.missing_citations == [7]
    assert s.repaired_citations == [1]
    assert (r.citation_recall, r.citation_precision) == (1.0, 0.5)


def test_precision_one_relevant_one_irrelevant_citation(checker: CitationChecker) -> None:
    r = checker.check("Best Buy had 978 Domestic stores in fiscal 2023 [2][3].", PASSAGES)
    (s,) = r.sentences
    assert s.verdict is Verdict.supported and s.irrelevant_citations == [3]
    assert s.repaired_citations is None
    assert (r.citation_recall, r.citation_precision) == (1.0, 0.5)


def test_precision_both_citations_needed(checker: CitationChecker) -> None:
    # each passage holds one of the two numbers: neither alone supports, both are needed
    r = checker.check(
        "In fiscal 2023 revenue was $46,298 million and there were 978 Domestic stores [1][2].",
        PASSAGES,
    )
    (s,) = r.sentences
    assert s.verdict is Verdict.supported and s.irrelevant_citations == []
    assert (r.citation_recall, r.citation_precision) == (1.0, 1.0)


def test_recall_is_averaged_over_claims(checker: CitationChecker) -> None:
    r = checker.check(
        "Revenue was $46,298 million [1]. There were 978 Domestic stores [2]. "
        "There were 1,200 Canadian stores [2].",
        PASSAGES,
    )
    assert [s.verdict for s in r.sentences] == [
        Verdict.supported,
        Verdict.supported,
        Verdict.unsupported,
    ]
    assert r.citation_recall == pytest.approx(2 / 3)
    assert r.citation_precision == pytest.approx(2 / 3)


class Scripted:
    """Scores a sentence by a table: sentence text -> score."""

    name = "scripted"

    def __init__(self, table: dict[str, float]) -> None:
        self.table = table
        self.seen: list[tuple[str, tuple[int, ...]]] = []

    def score(self, sentence: str, passages: Sequence[Passage]) -> VerifierScore:
        self.seen.append((sentence, tuple(p.n for p in passages)))
        return VerifierScore(self.table[sentence])


def test_verdict_thresholds() -> None:
    v = Scripted({"Alpha rose.": 0.5, "Beta rose.": 0.49, "Gamma rose.": 0.25, "Delta rose.": 0.24})
    checker = CitationChecker(v, supported_at=0.5, unsupported_below=0.25, repair=False)
    r = checker.check(
        "Alpha rose [1]. Beta rose [1]. Gamma rose [1]. Delta rose [1].",
        [PARIS.model_copy(update={"n": 1})],
    )
    assert [s.verdict.value for s in r.sentences] == [
        "supported",
        "partial",
        "partial",
        "unsupported",
    ]
    assert r.sentences[0].scores == {"scripted": 0.5}


def test_each_pair_is_scored_once() -> None:
    v = Scripted({"Alpha rose.": 0.9})
    CitationChecker(v).check("Alpha rose [1][2]. Alpha rose [2][1].", PASSAGES)
    # joint, each alone, each left out (= the other alone): 3 distinct pairs in all
    assert sorted(v.seen) == [("Alpha rose.", (1,)), ("Alpha rose.", (1, 2)), ("Alpha rose.", (2,))]


def test_repair_scores_only_the_passages_that_share_words_with_the_sentence() -> None:
    # a long-context answer: every page is a passage; the right one is page 30 of 30
    filler = [
        Passage(n=n, text=f"Page {n} discusses store design and employee training.", page=n)
        for n in range(1, 30)
    ]
    pages = [*filler, REVENUE.model_copy(update={"n": 30, "page": 30})]
    sentence = "Best Buy's revenue was $46.3 billion in fiscal 2023 [3]."
    everything = CitationChecker(GroundingVerifier(), repair_candidates=None).check(sentence, pages)
    v = Counting(GroundingVerifier())
    (s,) = CitationChecker(v, repair_candidates=4).check(sentence, pages).sentences
    assert s.verdict is Verdict.unsupported
    assert s.repaired_citations == [30] == everything.sentences[0].repaired_citations
    # the joint check of [3], then 4 repair candidates, not the 29 other pages
    assert len(v.seen) == 1 + 4 and (30,) in [ns for _, ns in v.seen]
    with pytest.raises(ValueError, match="repair_candidates"):
        CitationChecker(v, repair_candidates=0)


class Counting:
    """Passes through to a verifier and records what was scored."""

    def __init__(self, inner: GroundingVerifier) -> None:
        self.inner = inner
        self.name = inner.name
        self.seen: list[tuple[str, tuple[int, ...]]] = []

    def score(self, sentence: str, passages: Sequence[Passage]) -> VerifierScore:
        self.seen.append((sentence, tuple(p.n for p in passages)))
        return self.inner.score(sentence, passages)


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="two passages are numbered 1"):
        CitationChecker(GroundingVerifier()).check("x [1].", [REVENUE, REVENUE])
    with pytest.raises(ValueError, match="unsupported_below"):
        CitationChecker(GroundingVerifier(), supported_at=0.2, unsupported_below=0.5)
    r = CitationChecker(GroundingVerifier()).check("", PASSAGES)
    assert (r.sentences, r.citation_recall, r.citation_precision) == ([], 1.0, 1.0)


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("I could not find this in the documents.", False),
        ("The provided documents do not mention the dividend.", False),
        ("This is not mentioned in the sources.", False),
        ("The question is not answerable from the context.", False),
        ("There is no information about the CEO in the documents.", False),
        ("I don't know.", False),
        ("Key figures:", False),
        ("Yes.", False),
        ("The company did not pay a dividend.", True),
        ("Revenue fell 3%.", True),
        ("Sales in 2023 were not disclosed by segment.", True),
    ],
)
def test_is_claim(sentence: str, expected: bool) -> None:
    assert is_claim(sentence) is expected
