"""The citation checker: verdicts per sentence, ALCE citation recall / precision, repairs.

For each sentence of the answer (see `split.split_answer`):

1. Its citations are resolved to passages. A citation to a passage that does not exist is
   reported in `missing_citations`, counts as an irrelevant citation, and supports nothing; the
   sentence is judged on the citations that do exist.
2. `score` is the verifier's probability that the cited passages, together, support it.
   verdict = supported (score >= `supported_at`), partial (>= `unsupported_below`), else
   unsupported. "Supports" below means verdict supported.
3. Citation recall (ALCE): the share of claim sentences whose cited passages together support
   them. A sentence without citations counts 0, unless it is not a claim (an abstention such as
   "I could not find this in the documents.", a lead-in ending in ":", or a sentence with no
   content word or number): non-claims are left out of recall, get verdict supported with score
   1.0 and `claim=False` so that front ends do not flag them. A sentence with citations is always
   treated as a claim.
4. Citation precision (ALCE): relevant citations / all citations. A citation is irrelevant when
   its sentence is not supported, when its passage does not exist, or when (in a supported
   sentence with several citations) it does not support the sentence alone AND the other
   citations still support it without it. Differences from ALCE's script: a missing passage number
   does not zero the whole sentence (it is counted as one irrelevant citation), and non-claims are
   left out.
5. Repair: a claim the cited passages do not support, but which another passage supports on its
   own (score >= `supported_at`), gets `repaired_citations = [best such passage]`. A supported
   sentence that also cites missing passages gets its existing citations as the repair. Only
   the `repair_candidates` other passages sharing the most (rarest) content words with the
   sentence are scored: a long-context answer has every page as a passage, and scoring each of
   its sentences against 30 pages made the check cost as much as the generation.

Answers with no claim have recall 1.0; answers with claims but no citation have precision 0.0,
with neither claims nor citations 1.0.

Example:
    >>> from docqa.citations.verifiers import GroundingVerifier
    >>> from docqa.types import Passage
    >>> checker = CitationChecker(GroundingVerifier())
    >>> r = checker.check("Revenue was $46.3 billion [2].",
    ...                   [Passage(n=1, text="Revenue $46,298 million"), Passage(n=2, text="Stores: 978")])
    >>> r.sentences[0].verdict.value, r.sentences[0].repaired_citations, r.citation_recall
    ('unsupported', [1], 0.0)
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence

from docqa.citations.numbers import extract_quantities
from docqa.citations.split import AnswerSentence, split_answer
from docqa.citations.text import content_stems
from docqa.citations.verifiers import (
    ChatRenderer,
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
from docqa.config import CitationSettings, GenerationSettings
from docqa.generation.base import LogitsModel
from docqa.models import ModelNotFoundError, ModelRegistry
from docqa.types import CitationReport, Passage, SentenceCheck, Verdict

__all__ = [
    "CitationChecker",
    "build_checker",
    "citation_report",
    "extra_citations",
    "is_claim",
    "shown_citations",
]

_Getter = Callable[[str, Sequence[int]], VerifierScore]


def citation_report(checks: Sequence[SentenceCheck]) -> CitationReport:
    """The report of checked sentences with ALCE's scores over the claims: citation recall, the
    share of claims their citations support (1.0 without claims), and citation precision, the
    share of the claims' citations that are not irrelevant (0.0 without citations, 1.0 when
    nothing was claimed)."""
    claims = [c for c in checks if c.claim]
    supported = sum(c.verdict is Verdict.supported for c in claims)
    total = sum(len(c.citations) for c in claims)
    relevant = total - sum(len(c.irrelevant_citations) for c in claims)
    recall = supported / len(claims) if claims else 1.0
    vacuous = 0.0 if claims else 1.0
    precision = relevant / total if total else vacuous
    return CitationReport(
        sentences=list(checks), citation_recall=recall, citation_precision=precision
    )


_SOURCES = r"(?:provided |given |retrieved |cited |available |these |the )*(?:documents?|sources?|passages?|context|excerpts?|texts?|information|pages?|filings?|reports?|materials?)"
_NON_CLAIM = [
    re.compile(
        r"\b(?:i|we)\s+(?:could|can|was|were|am|are)?\s*(?:not|n['’]t|unable to)\s+"
        r"(?:be able to\s+)?(?:find|locate|determine|answer|verify|confirm|identify|tell)",
        re.I,
    ),
    re.compile(
        rf"\b{_SOURCES}\s+(?:do(?:es)?\s+not|don['’]t|doesn['’]t|did\s+not|didn['’]t)\s+"
        r"(?:\w+\s+)?(?:contain|mention|say|specify|provide|include|state|discuss|address|"
        r"indicate|give|cover|disclose|report)",
        re.I,
    ),
    re.compile(
        r"\bnot\s+(?:explicitly\s+|directly\s+)?(?:mentioned|found|available|provided|specified|"
        rf"stated|discussed|given|disclosed|covered|present)\s+in\s+{_SOURCES}",
        re.I,
    ),
    re.compile(
        r"\b(?:not answerable|unanswerable|cannot be answered|can['’]t be answered|"
        r"cannot be determined|insufficient information|not enough information)\b",
        re.I,
    ),
    re.compile(
        rf"\bno\s+(?:information|data|mention|details?)\s+(?:\w+\s+){{0,6}}in\s+{_SOURCES}", re.I
    ),
    re.compile(r"^\s*i\s+(?:do not|don['’]t)\s+know\b", re.I),
]


def is_claim(sentence: str) -> bool:
    """False for sentences that assert nothing a passage could support.

    >>> is_claim("I could not find this in the documents."), is_claim("Key figures:")
    (False, False)
    >>> is_claim("Revenue fell 3%."), is_claim("The company did not pay a dividend.")
    (True, True)
    """
    text = sentence.strip()
    if text.endswith(":"):
        return False
    if any(p.search(text) for p in _NON_CLAIM):
        return False
    return bool(content_stems(text) or extract_quantities(text))


def shown_citations(check: SentenceCheck, *, needed_only: bool = False) -> list[int]:
    """The passages a checked sentence points its reader to: its repair when the checker made
    one, else its own citations; with `needed_only`, a supported sentence leaves out those the
    checker calls not needed (`irrelevant_citations`: not supporting it alone while the others
    still support it without them).

    >>> chk = SentenceCheck(text="x", citations=[1, 2], verdict=Verdict.supported, score=0.9,
    ...                     irrelevant_citations=[2])
    >>> shown_citations(chk), shown_citations(chk, needed_only=True)
    ([1, 2], [1])
    """
    if check.repaired_citations is not None:
        return list(check.repaired_citations)
    if needed_only and check.verdict == Verdict.supported:
        return [n for n in check.citations if n not in check.irrelevant_citations]
    return list(check.citations)


def extra_citations(check: SentenceCheck) -> list[int]:
    """The citations of a checked sentence that `shown_citations(needed_only=True)` leaves out:
    none unless it is supported and not repaired.

    >>> extra_citations(SentenceCheck(text="x", citations=[1, 2], verdict=Verdict.supported,
    ...                               score=0.9, irrelevant_citations=[2]))
    [2]
    """
    if check.repaired_citations is not None:
        return []
    needed = shown_citations(check, needed_only=True)
    return [n for n in check.citations if n not in needed]


class CitationChecker:
    """Checks an answer's citations with one `Verifier` (usually a `CombinedVerifier`)."""

    def __init__(
        self,
        verifier: Verifier,
        *,
        supported_at: float = 0.5,
        unsupported_below: float = 0.25,
        repair: bool = True,
        repair_candidates: int | None = 5,
    ) -> None:
        if not 0.0 <= unsupported_below <= supported_at <= 1.0:
            raise ValueError("need 0 <= unsupported_below <= supported_at <= 1")
        if repair_candidates is not None and repair_candidates < 1:
            raise ValueError("repair_candidates must be at least 1 (None: every passage)")
        self.verifier = verifier
        self.supported_at = supported_at
        self.unsupported_below = unsupported_below
        self.repair = repair
        self.repair_candidates = repair_candidates

    def _verdict(self, score: float) -> Verdict:
        if score >= self.supported_at:
            return Verdict.supported
        if score >= self.unsupported_below:
            return Verdict.partial
        return Verdict.unsupported

    def check(self, answer: str, passages: Sequence[Passage]) -> CitationReport:
        by_n: dict[int, Passage] = {}
        for p in passages:
            if p.n in by_n:
                raise ValueError(f"two passages are numbered {p.n}")
            by_n[p.n] = p
        sentences = split_answer(answer)
        cache: dict[tuple[str, tuple[int, ...]], VerifierScore] = {}

        def run(requests: set[tuple[str, tuple[int, ...]]]) -> None:
            todo = sorted(k for k in requests if k not in cache and k[1])
            scores = score_many(self.verifier, [(s, [by_n[n] for n in ns]) for s, ns in todo])
            cache.update(zip(todo, scores, strict=True))

        def get(text: str, ns: Sequence[int]) -> VerifierScore:
            key = (text, tuple(sorted(ns)))
            return cache[key] if key[1] else VerifierScore(0.0)

        valid = [[n for n in s.citations if n in by_n] for s in sentences]
        claims = [bool(s.citations) or is_claim(s.text) for s in sentences]

        # pass 1: joint support, and for multi-citation sentences each citation alone and the
        # others without it (ALCE precision)
        need: set[tuple[str, tuple[int, ...]]] = set()
        for s, ns, claim in zip(sentences, valid, claims, strict=True):
            if not claim or not ns:
                continue
            need.add((s.text, tuple(sorted(ns))))
            if len(ns) > 1:
                for n in ns:
                    need.add((s.text, (n,)))
                    need.add((s.text, tuple(sorted(m for m in ns if m != n))))
        run(need)

        # pass 2: candidates for repair, each other passage alone
        candidates: dict[str, list[int]] = {}
        if self.repair:
            need = set()
            shortlist: _Shortlist | None = None
            for s, ns, claim in zip(sentences, valid, claims, strict=True):
                if claim and (not ns or get(s.text, ns).score < self.supported_at):
                    shortlist = shortlist or _Shortlist(by_n, self.repair_candidates)
                    candidates[s.text] = shortlist(s.text, exclude=ns)
                    need.update((s.text, (n,)) for n in candidates[s.text])
            run(need)

        checks = [
            self._check_sentence(s, ns, claim, candidates.get(s.text, []), get)
            for s, ns, claim in zip(sentences, valid, claims, strict=True)
        ]
        return citation_report(checks)

    def _check_sentence(
        self,
        s: AnswerSentence,
        ns: list[int],
        claim: bool,
        candidates: list[int],
        get: _Getter,
    ) -> SentenceCheck:
        missing = [n for n in s.citations if n not in ns]
        if not claim:
            return SentenceCheck(
                text=s.text,
                citations=s.citations,
                verdict=Verdict.supported,
                score=1.0,
                reasons=["not a claim: nothing to cite"],
                start=s.start,
                end=s.end,
                claim=False,
            )
        reasons: list[str] = []
        if missing:
            reasons.append(
                "cites passages that do not exist: " + ", ".join(f"[{n}]" for n in missing)
            )
        if not s.citations:
            reasons.append("no citation")
        joint = get(s.text, ns)
        verdict = self._verdict(joint.score) if ns else Verdict.unsupported
        supported = verdict is Verdict.supported
        reasons.extend(joint.reasons)

        irrelevant = list(missing)
        if not supported:
            irrelevant.extend(ns)
        elif len(ns) > 1:
            for n in ns:
                alone = get(s.text, [n]).score >= self.supported_at
                rest = get(s.text, [m for m in ns if m != n]).score >= self.supported_at
                if not alone and rest:
                    irrelevant.append(n)
                    reasons.append(f"[{n}] is not needed: the other citations support the sentence")

        repaired: list[int] | None = None
        if supported and missing:
            repaired = ns
        elif not supported and self.repair:
            best: tuple[float, int] | None = None
            for n in candidates:
                sc = get(s.text, [n]).score
                if sc >= self.supported_at and (best is None or sc > best[0]):
                    best = (sc, n)
            if best is not None:
                repaired = [best[1]]
                reasons.append(f"supported by [{best[1]}] instead")

        return SentenceCheck(
            text=s.text,
            citations=s.citations,
            verdict=verdict,
            score=round(joint.score, 4),
            quote=joint.quote,
            repaired_citations=repaired,
            reasons=reasons,
            start=s.start,
            end=s.end,
            claim=True,
            missing_citations=missing,
            irrelevant_citations=irrelevant,
            scores={self.verifier.name: round(joint.score, 4), **joint.details},
        )


class _Shortlist:
    """The passages most likely to support a sentence: most shared content stems, each weighted
    by its rarity among the passages (idf), ties in passage order.

    Hand-written: a set intersection over the stems the grounding verifier already uses; a
    BM25 library would add a dependency and a tokenizer of its own for a few dozen passages.
    """

    def __init__(self, by_n: Mapping[int, Passage], k: int | None) -> None:
        self.by_n = by_n
        self.k = k
        self.stems: dict[int, set[str]] = {}
        self.idf: dict[str, float] = {}

    def __call__(self, sentence: str, *, exclude: Sequence[int]) -> list[int]:
        pool = [n for n in self.by_n if n not in exclude]
        if self.k is None or len(pool) <= self.k:
            return pool  # nothing to rank (a RAG answer's 5 passages): no stemming either
        if not self.stems:
            self.stems = {n: set(content_stems(p.text)) for n, p in self.by_n.items()}
            df = Counter(stem for stems in self.stems.values() for stem in stems)
            self.idf = {stem: math.log(1 + len(self.by_n) / c) for stem, c in df.items()}
        words = set(content_stems(sentence))
        weight = {n: sum(self.idf[w] for w in words & self.stems[n]) for n in pool}
        return sorted(pool, key=lambda n: -weight[n])[: self.k]


def build_checker(
    settings: CitationSettings,
    registry: ModelRegistry,
    logits_model: LogitsModel | None = None,
    *,
    chat_tokens: ChatRenderer | None = None,
    generation: GenerationSettings | None = None,
) -> CitationChecker:
    """The `CitationChecker` the settings describe.

    Members of the `CombinedVerifier`, cheapest first (so that grounding's ceiling spares the
    costlier ones, see `CombinedVerifier.skip_below`), each weighted by `DEFAULT_WEIGHTS`:
    grounding; the reranker (`settings.reranker`: None when installed, True required, False
    off); an NLI cross-encoder when `settings.nli_model` is set; the LLM judge when
    `settings.judge` is on.

    The judge runs on `logits_model` when given: pass the answering generator's (e.g.
    `load_logits_model(s.generation, registry, generator)`), so that the weights are loaded
    once. Without it the judge's model is loaded here: `settings.judge_model`, else
    `generation.model`, with the other `generation` settings (defaults when None).
    `chat_tokens` renders the judge's chat; None: the model's own template (`chat_renderer`).

    `settings.enabled` and `settings.on_unsupported` are for the answering layer (whether to
    check, what to do with the verdicts); the checker is built regardless.

    Example:
        >>> from docqa.config import Settings
        >>> s = Settings(home="/tmp/dq")
        >>> checker = build_checker(s.citations, ModelRegistry(s.cache_dir))  # doctest: +SKIP
    """
    members: list[Verifier] = [GroundingVerifier()]
    if settings.reranker is not False:
        try:
            members.append(RerankerVerifier.from_registry(registry))
        except ModelNotFoundError:
            if settings.reranker:
                raise
    if settings.nli_model:
        members.append(NliVerifier(settings.nli_model))
    if settings.judge:
        if logits_model is None:
            from docqa.generation import load_logits_model

            gen = generation or GenerationSettings()
            if settings.judge_model:
                gen = gen.model_copy(update={"model": settings.judge_model})
            logits_model = load_logits_model(gen, registry)
        members.append(
            LLMJudgeVerifier(
                logits_model,
                chat_tokens or chat_renderer(logits_model),
                max_passage_tokens=settings.judge_max_passage_tokens,
            )
        )
    return CitationChecker(
        CombinedVerifier.default(*members),
        supported_at=settings.supported_at,
        unsupported_below=settings.partial_at,
        repair=settings.repair,
        repair_candidates=settings.repair_candidates,
    )
