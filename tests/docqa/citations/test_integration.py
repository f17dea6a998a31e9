"""The checker on real 10-K pages of the dev corpus (skipped when the corpus is absent)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pymupdf
import pytest

from docqa.citations.checker import CitationChecker
from docqa.citations.verifiers import GroundingVerifier
from docqa.types import Passage, Verdict

_pymupdf: Any = pymupdf  # untyped: its calls go through Any

CORPUS = Path(__file__).resolve().parents[3] / ".." / "shared" / "corpus" / "dev"
TEN_K = CORPUS / "BESTBUY_2023_10K.pdf"


@pytest.mark.integration
def test_real_answer_on_10k_pages() -> None:
    if not TEN_K.exists():
        pytest.skip("dev corpus file BESTBUY_2023_10K.pdf not present")
    with _pymupdf.open(TEN_K) as doc:
        # physical pages 40 (statement of earnings) and 39 (balance sheet)
        earnings, balance = doc[39].get_text(), doc[38].get_text()
    passages = [
        Passage(n=1, text=balance, page=39, path=TEN_K.name),
        Passage(n=2, text=earnings, page=40, path=TEN_K.name),
    ]
    answer = (
        "In fiscal 2023, Best Buy's revenue was $46.3 billion [2] and net earnings were "
        "$1,419 million [2]. Diluted earnings per share were $6.29 [2]. "
        "Cash and cash equivalents were $1,874 million at January 28, 2023 [2]. "
        "Goodwill was $1,483 million [1]."
    )
    r = CitationChecker(GroundingVerifier()).check(answer, passages)
    assert [s.verdict for s in r.sentences] == [
        Verdict.supported,
        Verdict.supported,
        Verdict.unsupported,  # cash is on the balance sheet, [1]
        Verdict.unsupported,  # goodwill is 1,383, not 1,483
    ]
    assert [s.repaired_citations for s in r.sentences] == [None, None, [1], None]
    assert "not in the cited text: $1,483 million" in r.sentences[3].reasons
    # four citations ([2] twice in the first sentence counts once), two relevant
    assert (r.citation_recall, r.citation_precision) == (0.5, 0.5)
