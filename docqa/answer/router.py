"""The `auto` route: which strategy answers a question, decided from measured signals.

Two decisions, each a pure function of `RouteSignals` and the settings (so that the thresholds
can be fitted offline on eval records of the fixed strategies: `python -m eval.fit_router`):

1. `Router.first`, before anything is generated: read the documents whole (long context) or
   retrieve first (RAG). Long context goes first when one small document is in scope
   (`answer.small_document_tokens`: it costs what RAG's passages cost and nothing can be
   missed), or, with `answer.whole_document_first`, when the question is about the whole
   document (a summary, a count, a comparison) and reading it is affordable.
2. `Router.after_rag`, once RAG answered: keep its answer, or, when it abstained, read the
   documents whole (Self-Route). Long context never abstains on its own, so falling back on
   every abstention answers the unanswerable questions RAG rightly declined; the fallback is
   therefore limited to abstentions whose best passage's reranker logit lies in
   [`answer.fallback_min_score`, `answer.fallback_max_score`) (None: unbounded on that side),
   fitted on data.

3. `Router.after_fallback`, once long context answered after RAG abstained: keep its answer,
   or keep RAG's abstention when the long-context model too gave at least
   `answer.fallback_abstain_probability` to answering "not found".

Decisions 1 and 2 need long context to be possible (the prompt fits the window) and affordable
(the KV state is cached, or its estimated prefill is at most `answer.max_prefill_seconds`).
Each decision carries its reason with the numbers it was made on.

Example:
    >>> from docqa.config import AnswerSettings
    >>> from docqa.types import RouteSignals
    >>> s = RouteSignals(documents=1, window=32768, document_tokens=2000, fits=True)
    >>> Router(AnswerSettings()).first(s).strategy
    'long-context'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from docqa.config import AnswerSettings
from docqa.types import Passage, QuestionScope, RouteSignals, Strategy

__all__ = ["Decision", "Router", "describe_signals", "question_scope", "retrieval_signals"]

_WHOLE_DOCUMENT = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"\bsummar(?:y|ies|ise|ize|ised|ized|ising|izing)\b",
        r"\boverview\b",
        r"\bmain (?:points|findings|themes|contributions|takeaways|ideas|topics)\b",
        r"\bhow many\b.*\b(?:in|of|across|throughout) (?:the|this|these) "
        r"(?:paper|document|report|slides?|deck|filing|article|presentation|book|guide)s?\b",
        r"\b(?:list|name) (?:all|every|each)\b",
        r"\ball (?:the )?(?:sections|chapters|figures|tables|authors|pages)\b",
        r"\bwhich (?:sections|chapters|pages|parts)\b",
        r"\bcompar(?:e|es|ed|ing|ison)\b",
        r"\bdifferences? between\b",
        r"\b(?:throughout|in total)\b",
    )
]


def question_scope(question: str) -> QuestionScope:
    """`whole-document` for summaries, counts over the document, lists of all..., comparisons and
    "which sections"; else `fact`.

    >>> question_scope("Summarise the risk factors."), question_scope("What was 2022 revenue?")
    ('whole-document', 'fact')
    """
    return "whole-document" if any(p.search(question) for p in _WHOLE_DOCUMENT) else "fact"


def retrieval_signals(
    passages: Sequence[Passage], bar: float | None
) -> tuple[float | None, float | None, int | None]:
    """(best reranker logit, its margin over the second, passages at or above `bar`) of a RAG
    prompt; Nones when the passages carry no reranker score.

    >>> retrieval_signals([], -2.0)
    (None, None, None)
    """
    scores = sorted((p.score for p in passages if p.score is not None), reverse=True)
    if not scores:
        return None, None, None
    margin = scores[0] - scores[1] if len(scores) > 1 else None
    above = len(scores) if bar is None else sum(1 for s in scores if s >= bar)
    return scores[0], margin, above


@dataclass(frozen=True)
class Decision:
    strategy: Strategy | None
    """The strategy to run next; None: keep the answer there is."""
    reason: str


class Router:
    def __init__(self, cfg: AnswerSettings) -> None:
        self.cfg = cfg

    def first(self, s: RouteSignals) -> Decision:
        """Read the documents whole first, or retrieve first."""
        cfg = self.cfg
        if s.fits and s.document_tokens is not None:
            if s.documents == 1 and s.document_tokens <= cfg.small_document_tokens:
                return Decision(
                    "long-context",
                    f"the whole document is a {s.document_tokens:,}-token prompt "
                    f"(<= {cfg.small_document_tokens:,}): read it all, as cheap as retrieval",
                )
            if cfg.whole_document_first and s.scope == "whole-document" and self._affordable(s):
                return Decision(
                    "long-context",
                    "a question about the whole document, which fits "
                    f"({s.document_tokens:,} tokens, {self._cost(s)}): read it all",
                )
        if s.fits is False and s.document_tokens is not None:
            why = (
                f"long context impossible: a {s.document_tokens:,}-token prompt and the answer "
                f"exceed the {s.window:,}-token context"
            )
        elif s.document_tokens is None:
            why = f"{s.documents} documents in scope: too many to read whole"
        elif s.documents > 1:
            # pages of several files numbered together confused the 1.5B model's citations
            why = f"{s.documents} documents in scope: retrieval across them first"
        else:
            why = (
                f"the document makes a {s.document_tokens:,}-token prompt "
                f"(> {cfg.small_document_tokens:,}): retrieval first"
            )
        return Decision("rag", why)

    def after_rag(self, s: RouteSignals) -> Decision:
        """Keep RAG's answer, or read the documents whole after it abstained."""
        cfg = self.cfg
        if not s.rag_abstained:
            return Decision(None, "the retrieved passages answered")
        if not s.fits or s.document_tokens is None:
            return Decision(None, "kept the abstention: long context cannot run here")
        if not self._affordable(s):
            return Decision(
                None,
                f"kept the abstention: reading the whole document ({s.document_tokens:,} "
                f"tokens) would take ~{s.prefill_seconds or 0:.0f} s of prefill "
                f"(> {cfg.max_prefill_seconds:.0f} s)",
            )
        lo, hi = cfg.fallback_min_score, cfg.fallback_max_score
        top = s.top_score
        if top is not None and ((lo is not None and top < lo) or (hi is not None and top >= hi)):
            bounds = (
                f"[{'-inf' if lo is None else f'{lo:g}'}, {'inf' if hi is None else f'{hi:g}'})"
            )
            return Decision(
                None,
                f"kept the abstention: the best passage's reranker logit {top:.2f} is outside "
                f"{bounds}, where reading the whole document did not pay on the eval records "
                "(answer.fallback_min_score / fallback_max_score)",
            )
        return Decision(
            "long-context",
            f"then long context: the document fits ({s.document_tokens:,} tokens) and "
            + self._cost(s),
        )

    def after_fallback(self, s: RouteSignals) -> str | None:
        """Why RAG's abstention stands although long context answered, or None: keep the
        long-context answer.

        >>> s = RouteSignals(rag_abstained=True, fallback_abstain_probability=0.31)
        >>> Router(AnswerSettings(fallback_abstain_probability=0.2)).after_fallback(s)
        'kept the abstention: long context answered, but gave 0.31 to "not found" (>= 0.2, answer.fallback_abstain_probability)'
        >>> Router(AnswerSettings()).after_fallback(s) is None
        True
        """
        at, p = self.cfg.fallback_abstain_probability, s.fallback_abstain_probability
        if at is None or p is None or p < at:
            return None
        return (
            f'kept the abstention: long context answered, but gave {p:.2f} to "not found" '
            f"(>= {at:g}, answer.fallback_abstain_probability)"
        )

    def _affordable(self, s: RouteSignals) -> bool:
        return bool(s.cached) or (s.prefill_seconds or 0.0) <= self.cfg.max_prefill_seconds

    @staticmethod
    def _cost(s: RouteSignals) -> str:
        if s.cached:
            return "its KV state is cached"
        return f"its prefill is estimated at ~{s.prefill_seconds or 0:.0f} s"


def describe_signals(s: RouteSignals) -> str:
    """The signals in one line, for the front ends.

    >>> describe_signals(RouteSignals(documents=1, window=32768, document_tokens=9000, fits=True,
    ...     cached=False, prefill_seconds=150.0, top_score=3.21, rag_abstained=True))
    '1 document, 9,000 of 32,768 tokens, not cached (~150 s prefill) · a fact question · best passage 3.21 · RAG abstained'
    """
    parts = [f"{s.documents} document{'s' if s.documents != 1 else ''}"]
    if s.document_tokens is not None:
        tokens = f"{s.document_tokens:,} of {s.window:,} tokens"
        if s.fits is False:
            tokens += " (does not fit)"
        elif s.cached:
            tokens += ", cached"
        elif s.cached is False:
            tokens += f", not cached (~{s.prefill_seconds or 0:.0f} s prefill)"
        parts[0] += ", " + tokens
    parts.append(f"a {s.scope} question")
    if s.top_score is not None:
        best = f"best passage {s.top_score:.2f}"
        if s.margin is not None:
            best += f" (+{s.margin:.2f} over the next)"
        if s.passages_above is not None:
            best += f", {s.passages_above} above the bar"
        parts.append(best)
    if s.rag_abstained is not None:
        parts.append("RAG abstained" if s.rag_abstained else "RAG answered")
    return " · ".join(parts)
