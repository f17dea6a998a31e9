"""Citation checking: split an answer into sentences, verify each against its cited passages,
compute ALCE citation recall / precision, and repair wrong citations.

Example:
    >>> from docqa.citations import CitationChecker, CombinedVerifier, GroundingVerifier
    >>> from docqa.types import Passage
    >>> checker = CitationChecker(CombinedVerifier.default(GroundingVerifier()))
    >>> report = checker.check("Revenue was $46.3 billion [1].", [Passage(n=1, text="Revenue 46,298 (in millions)")])
    >>> report.sentences[0].verdict.value
    'supported'
"""

from docqa.citations.checker import CitationChecker, build_checker, is_claim
from docqa.citations.split import AnswerSentence, parse_citations, split_answer, strip_citations
from docqa.citations.verifiers import (
    CombinedVerifier,
    GroundingVerifier,
    LLMJudgeVerifier,
    NliVerifier,
    RerankerVerifier,
    Verifier,
    VerifierScore,
    chat_renderer,
    score_many,
)
from docqa.types import CitationReport, Passage, Quote, SentenceCheck, Verdict

__all__ = [
    "AnswerSentence",
    "CitationChecker",
    "CitationReport",
    "CombinedVerifier",
    "GroundingVerifier",
    "LLMJudgeVerifier",
    "NliVerifier",
    "Passage",
    "Quote",
    "RerankerVerifier",
    "SentenceCheck",
    "Verdict",
    "Verifier",
    "VerifierScore",
    "build_checker",
    "chat_renderer",
    "is_claim",
    "parse_citations",
    "score_many",
    "split_answer",
    "strip_citations",
]
