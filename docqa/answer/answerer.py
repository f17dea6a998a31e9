"""`Answerer.ask`: question -> route -> strategy -> streamed answer -> citation check -> `Answer`.

Routes (`strategy`):

- `rag`, `long-context`, `closed-book`: that strategy, or a clear error (`AnswerError`,
  `DoesNotFitError`) when it cannot run.
- `auto`: `docqa.answer.router` decides from measured signals (the documents' tokens against
  the window, the cost of reading them whole, the question's scope, the reranker scores, whether
  RAG abstained): one small document is read whole; otherwise RAG first, and long context when
  RAG abstains, where the document fits, is affordable, and the best passage's score lies in the
  fitted fallback range. The route's `reasons` say which step decided and with what numbers, its
  `signals` what was measured (recorded for every strategy, so `eval.fit_router` can fit `auto`
  on the fixed strategies' eval records).

Long context reuses the document's KV state (`kvcache.py`) when the generator is the llama.cpp
backend sharing its model with a `LogitsModel`; other backends prefill each time (an
OpenAI-compatible server does its own prompt caching).

Example:
    >>> answer = runtime.answerer.ask("What was Boeing's backlog?", docs=[doc])  # doctest: +SKIP
    >>> answer.route.strategy, answer.citations[0].page  # doctest: +SKIP
    ('rag', 34)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from docqa.answer.compute import Calculator, Computed, noted_prompt
from docqa.answer.formula import apply_to_report, confirming_figure, needs_computation
from docqa.answer.kvcache import DocumentKVCache
from docqa.answer.premise import Mentions, absent_premises, premise_caveat, premises
from docqa.answer.prompts import (
    ABSTAIN,
    RESTATE,
    is_abstention,
    is_hollow,
    normalize_page_citations,
    numbered_passages,
    rag_messages,
)
from docqa.answer.router import Router, question_scope, retrieval_signals
from docqa.answer.strategies import (
    DoesNotFitError,
    Prompt,
    allocated_context,
    closed_book_prompt,
    drafting_messages,
    long_context_prompt,
    rag_prompt,
)
from docqa.answer.visual import visual_caveat
from docqa.citations.checker import CitationChecker, extra_citations, shown_citations
from docqa.citations.split import split_answer, without_repeats
from docqa.citations.terms import ground_terms
from docqa.config import Settings
from docqa.generation import ChatMessage, Generation, Generator, LogitsModel, answer_config
from docqa.generation.base import ChatTokens, common_prefix_length
from docqa.generation.draft_planner import DraftPlanner
from docqa.generation.speculative import (
    ModelDrafter,
    NGramDrafter,
    SamplingDrafter,
    SpeculativeOutput,
    greedy_speculative,
    rapid_greedy,
    sampled_speculative,
)
from docqa.retrieval import Retriever
from docqa.store.base import PerVersion, Store
from docqa.types import (
    Answer,
    AnswerSentence,
    Box,
    Citation,
    CitationReport,
    Computation,
    Document,
    Passage,
    Route,
    RouteSignals,
    SpeculativeReport,
    Strategy,
    StrategyChoice,
    TermGrounding,
    Timings,
    TokenCounts,
)

__all__ = ["AnswerError", "Answerer"]

TextSink = Callable[[str], None]

MAX_PREMISE_DOCUMENTS = 50
"""`answer.premise_check` reads every document in scope once (then keeps what it mentions): a
question over a larger library is not checked."""


def _terms(question: str, run: _Run) -> TermGrounding | None:
    """The names and figures the answer adds to the question, against every passage it was
    given (labels included: a model may name the file or page); None without passages."""
    passages = run.prompt.passages
    if not passages:
        return None
    return ground_terms(run.text, question, [numbered_passages(passages)])


class AnswerError(RuntimeError):
    """The question cannot be answered as asked (no documents, long context over many...)."""


@dataclass
class _Run:
    prompt: Prompt
    generation: Generation
    text: str
    prefill_seconds: float
    cached_tokens: int
    first_text_at: float | None
    unsure: str | None = None
    """Why nothing was generated (retrieval not confident enough), when so."""
    speculative: SpeculativeReport | None = None
    computation: Computation | None = None
    """Set when the question asked for arithmetic and a computation was tried (`used`: this
    run's text is its answer)."""


def _declined(prompt: Prompt, reason: str) -> _Run:
    """A run in which docqa answered "not found" itself, for `reason`, generating nothing."""
    nothing = Generation(
        text=ABSTAIN,
        prompt_tokens=0,
        completion_tokens=0,
        finish_reason="stop",
        seconds=0.0,
        time_to_first_token=None,
    )
    return _Run(prompt, nothing, ABSTAIN, 0.0, 0, None, reason)


def _quote_box(p: Passage) -> Box | None:
    """The union of the passage's boxes on its page (or, without any there, on the page of its
    first box)."""
    if not p.boxes:
        return None
    boxes = [b for b in p.boxes if b.page == p.page] or [
        b for b in p.boxes if b.page == p.boxes[0].page
    ]
    return Box(
        page=boxes[0].page,
        x0=min(b.x0 for b in boxes),
        y0=min(b.y0 for b in boxes),
        x1=max(b.x1 for b in boxes),
        y1=max(b.y1 for b in boxes),
    )


def _computed_run(out: Computed, first_text_at: float | None) -> _Run:
    """The computed answer as a run: docqa's text over the computation's passages."""
    return _Run(
        out.prompt,
        out.generation,
        out.text or "",
        0.0,
        0,
        first_text_at,
        computation=out.computation,
    )


def _side_run(out: Computed, note: str | None = None) -> _Run:
    """A computation that did not become the answer: its cost, and why, in its notes."""
    prompt = out.prompt if note is None else noted_prompt(note, out.prompt.retrieval_seconds)
    return _Run(prompt, out.generation, "", 0.0, 0, None, computation=out.computation)


class Answerer:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        retriever: Retriever,
        generator: Generator,
        *,
        checker: CitationChecker | None = None,
        logits_model: LogitsModel | None = None,
        kv_cache: DocumentKVCache | None = None,
        drafter_model: Callable[[], LogitsModel] | None = None,
    ) -> None:
        """`logits_model` must share `generator`'s model and KV cache (llama.cpp) for the
        document cache (and speculative decoding) to apply; otherwise leave it None.
        `drafter_model` loads the drafter's model when a `self` or `model` drafter is first
        used (`answer.drafter`)."""
        self.settings = settings
        self.store = store
        self.retriever = retriever
        self.generator = generator
        self.checker = checker
        self.lm = logits_model
        self.kv_cache = kv_cache
        self.drafter_model = drafter_model
        self._mentions = PerVersion(self._read_mentions)
        """What each document version mentions: `answer.premise_check`."""

    # -- public ---------------------------------------------------------------------------

    def ask(
        self,
        question: str,
        docs: Sequence[Document] | None = None,
        strategy: StrategyChoice | None = None,
        *,
        on_text: TextSink | None = None,
        on_status: TextSink | None = None,
    ) -> Answer:
        """Answer `question` about `docs` (None: every ready document). `on_text` receives the
        answer as it is generated; `on_status` one-line notes (routing, prefill)."""
        question = question.strip()
        if not question:
            raise AnswerError("the question is empty")
        choice: StrategyChoice = strategy or self.settings.answer.strategy
        start = time.perf_counter()
        scope = list(docs) if docs else None
        signals = RouteSignals(
            window=allocated_context(self.generator), scope=question_scope(question)
        )
        if choice != "closed-book":
            declined = self._premise_abstention(question, choice, scope, start, on_status, signals)
            if declined is not None:
                return declined
        if choice == "closed-book":
            run = self._generate(
                closed_book_prompt(question, form=self.settings.answer.form_hints),
                start,
                on_text,
                on_status,
            )
            reasons = ["asked for closed-book"]
            return self._finish(question, choice, [run], reasons, scope, start, signals)
        if choice == "rag":
            signals.documents = len(self._require_documents(scope))
            runs = self._rag_runs(question, scope, start, on_text, on_status)
            self._rag_signals(signals, runs[-1])
            return self._finish(question, choice, runs, ["asked for rag"], scope, start, signals)
        if choice == "long-context":
            lc_docs = self._long_context_scope(scope)
            prompt = self._long_context_prompt(question, lc_docs)
            self._long_context_signals(signals, prompt, len(lc_docs))
            run = self._generate(prompt, start, on_text, on_status)
            reasons = ["asked for long-context"]
            return self._finish(question, choice, [run], reasons, scope, start, signals)
        if choice == "speculative":
            lc_docs = self._long_context_scope(scope)
            prompt = self._long_context_prompt(question, lc_docs)
            self._long_context_signals(signals, prompt, len(lc_docs))
            drafts = self._drafts(question, prompt, scope)
            run = self._speculate(prompt, drafts, start, on_text, on_status)
            reasons = [f"asked for speculative ({self.settings.answer.drafter} drafter)"]
            return self._finish(question, choice, [run], reasons, scope, start, signals)
        return self._auto(question, scope, start, on_text, on_status, signals)

    # -- premises -------------------------------------------------------------------------

    def _premise_abstention(
        self,
        question: str,
        choice: StrategyChoice,
        scope: list[Document] | None,
        start: float,
        on_status: TextSink | None,
        signals: RouteSignals,
    ) -> Answer | None:
        """The answer "not found", given at once and naming the premises that made it so, when
        the question names one no document in scope mentions (`answer.premise_check`); else
        None. A library-wide question over more than `MAX_PREMISE_DOCUMENTS` documents is not
        checked (each document's pages would be read once first)."""
        if not self.settings.answer.premise_check or not premises(question):
            return None
        docs = self._require_documents(scope)
        if len(docs) > MAX_PREMISE_DOCUMENTS:
            return None
        absent = absent_premises(question, [self._mentions.of(d) for d in docs])
        if not absent:
            return None
        caveat = premise_caveat(absent, len(docs))
        reason = "not searched: " + ", ".join(f"{p.kind} {p.text!r}" for p in absent)
        reason += " is in no document in scope (answer.premise_check)"
        if on_status:
            on_status(f"Not generating: {caveat}")
        strategy: Strategy = "long-context" if choice in ("long-context", "speculative") else "rag"
        run = _declined(Prompt(strategy=strategy, messages=[], passages=[]), reason)
        signals.documents = len(docs)
        answer = self._finish(question, choice, [run], [reason], scope, start, signals)
        return answer.model_copy(update={"caveats": [caveat, *answer.caveats]})

    def _read_mentions(self, doc: Document) -> Mentions:
        return Mentions.of_pages([p.text for p in self.store.get_pages(doc.doc_id)])

    # -- routing --------------------------------------------------------------------------

    def _auto(
        self,
        question: str,
        scope: list[Document] | None,
        start: float,
        on_text: TextSink | None,
        on_status: TextSink | None,
        signals: RouteSignals,
    ) -> Answer:
        """`docqa.answer.router` decides; this runs what it chose and records the signals."""
        router = Router(self.settings.answer)
        candidates = self._require_documents(scope)
        lc: Prompt | None = None
        if len(candidates) <= 3:
            try:
                lc = self._long_context_prompt(question, candidates)
            except DoesNotFitError as e:
                signals.document_tokens, signals.fits = e.tokens, False
        self._long_context_signals(signals, lc, len(candidates))
        first = router.first(signals)
        if first.strategy == "long-context" and lc is not None:
            run = self._generate(lc, start, on_text, on_status)
            return self._finish(question, "auto", [run], [first.reason], scope, start, signals)
        rags = self._rag_runs(question, scope, start, on_text, on_status)
        rag = rags[-1]
        self._rag_signals(signals, rag)
        then = router.after_rag(signals)
        if not signals.rag_abstained:
            reasons = [f"RAG first (Self-Route): {then.reason}", first.reason]
            return self._finish(question, "auto", rags, reasons, scope, start, signals)
        found = rag.unsure or "the model found no answer in the passages"
        reasons = [f"RAG first (Self-Route): {found}", first.reason, then.reason]
        if then.strategy is None or lc is None:
            return self._finish(question, "auto", rags, reasons, scope, start, signals)
        if on_status:
            on_status("The passages did not hold the answer: reading the whole document.")
        run = self._generate(lc, start, on_text, on_status)
        signals.fallback_abstain_probability = run.generation.probe_probability
        kept = router.after_fallback(signals)
        return self._finish(
            question, "auto", [*rags, run], reasons, scope, start, signals, withdraw=kept
        )

    def _long_context_signals(
        self, signals: RouteSignals, prompt: Prompt | None, documents: int
    ) -> None:
        signals.documents = documents
        if prompt is None:
            return
        cfg = self.settings.answer
        signals.document_tokens, signals.fits = prompt.prompt_tokens, True
        signals.cached = self._is_cached(prompt)
        signals.prefill_seconds = (
            0.0 if signals.cached else prompt.prompt_tokens / cfg.prefill_tokens_per_second
        )

    def _rag_signals(self, signals: RouteSignals, run: _Run) -> None:
        top, margin, above = retrieval_signals(
            run.prompt.passages, self.settings.answer.min_rerank_score
        )
        signals.top_score, signals.margin, signals.passages_above = top, margin, above
        signals.rag_abstained = is_abstention(run.text)
        signals.rag_unsure = run.unsure is not None

    def _require_documents(self, scope: list[Document] | None) -> list[Document]:
        if scope:
            return scope
        ready = [d for d in self.store.list_documents() if d.status.visible]
        if not ready:
            raise AnswerError("no document is ingested yet: run `docqa ingest FOLDER` first")
        return ready

    def _long_context_scope(self, scope: list[Document] | None) -> list[Document]:
        docs = self._require_documents(scope)
        if scope is None and len(docs) > 1:
            raise AnswerError(
                f"long context reads whole documents and {len(docs)} are ingested: name the "
                "documents to read (or use the rag or auto strategy)"
            )
        return docs

    def _long_context_prompt(self, question: str, docs: Sequence[Document]) -> Prompt:
        return long_context_prompt(
            question,
            docs,
            self.store,
            self.generator,
            self._reserve(),
            form=self.settings.answer.form_hints,
            align_tables=self.settings.answer.align_tables,
        )

    def _drafts(self, question: str, prompt: Prompt, scope: list[Document] | None) -> Prompt:
        """The retrieved passages `speculative`'s drafter reads, in the long-context `prompt`'s
        form (`strategies.drafting_messages`)."""
        retrieved = self.rag_prompt(question, scope)
        cfg = self.settings.answer
        messages = drafting_messages(
            question, prompt, retrieved, form=cfg.form_hints, align_tables=cfg.align_tables
        )
        return replace(retrieved, messages=messages)

    def _reserve(self) -> int:
        cfg = self.settings.answer
        return cfg.long_context_reserve or self.settings.generation.max_answer_tokens

    def rag_prompt(self, question: str, scope: list[Document] | None) -> Prompt:
        """The RAG prompt `ask` gives the model for `question` over `scope` (None: every
        document). Search is deterministic, so the same store gives the same passages."""
        # the passages get what the model's context leaves beside the instructions, the
        # question and the answer (a small n_ctx would otherwise overflow with the budget)
        cfg = self.settings.answer
        bare = self.generator.count_chat_tokens(
            rag_messages(question, [], form=cfg.form_hints, question_first=cfg.question_first)
        )
        room = allocated_context(self.generator) - bare - self.settings.generation.max_answer_tokens
        return rag_prompt(
            question,
            self.retriever,
            self.generator.count_tokens,
            self.settings.answer,
            doc_ids=[d.doc_id for d in scope] if scope else None,
            room=max(0, room),
        )

    def _rag_runs(
        self,
        question: str,
        scope: list[Document] | None,
        start: float,
        on_text: TextSink | None,
        on_status: TextSink | None,
    ) -> list[_Run]:
        """RAG's runs, the answer's last. A question that asks for arithmetic is also computed
        by docqa (`answer.compute`): `check` answers from the passages first and keeps that
        answer when it states the computed result, else gives the computed answer; `replace`
        gives the computed answer whenever the computation holds. A computation that did not
        become the answer is a run of its own before it (its time and tokens count)."""
        prompt = self.rag_prompt(question, scope)
        mode = self.settings.answer.compute
        if mode == "off" or not needs_computation(question) or not prompt.passages:
            return [self._generate(prompt, start, on_text, on_status)]
        doc_ids = [d.doc_id for d in scope] if scope else None
        shares = self.lm is not None and isinstance(self.generator, ChatTokens)
        calc = Calculator(
            self.generator,
            self.retriever,
            self.settings,
            share_prefix=self._share_prefix if shares else None,
        )
        if mode == "replace":
            if on_status:
                on_status("The question asks for arithmetic: planning the formula.")
            out = calc.run(question, prompt, doc_ids)
            if out.text is not None:
                if on_text is not None:
                    on_text(out.text)
                # the only run: the RAG prompt's retrieval and notes are its too
                own = out.prompt
                out.prompt = replace(
                    own,
                    retrieval_seconds=prompt.retrieval_seconds + own.retrieval_seconds,
                    notes=[*prompt.notes, *own.notes],
                )
                return [_computed_run(out, time.perf_counter())]
            if on_status:
                on_status(f"Not computed ({out.computation.error}): answering from the passages.")
            return [_side_run(out), self._generate(prompt, start, on_text, on_status)]
        rag = self._generate(prompt, start, on_text, on_status)
        if on_status:
            on_status(
                "The question asks for arithmetic: checking it by computing from the figures."
            )
        out = calc.run(question, prompt, doc_ids)
        c = out.computation
        if out.text is None:
            rag.computation = c
            return [_side_run(out), rag]
        agrees = None if is_abstention(rag.text) else confirming_figure(rag.text, c)
        if agrees is not None:
            c.used, c.agrees = False, agrees
            note = f"docqa computed {c.formula} = {c.result_text}: the answer's {agrees} agrees"
            rag.computation = c
            return [_side_run(out, note), rag]
        if on_status:
            on_status(
                f"docqa computed {c.result_text}, which the model's answer does not state: "
                "answering with the computation."
            )
        c.replaced = rag.text
        return [rag, _computed_run(out, rag.first_text_at)]

    # -- generation -----------------------------------------------------------------------

    def _cache_usable(self) -> bool:
        return (
            self.settings.answer.kv_cache
            and self.kv_cache is not None
            and self.lm is not None
            and isinstance(self.generator, ChatTokens)
        )

    def _prefix_ids(self, prompt: Prompt) -> list[int]:
        """The prompt's tokens up to the question: the part shared by every question on the
        documents. Kept on the prompt: it tokenizes the whole document."""
        if prompt.prefix_ids is None:
            prompt.prefix_ids = self._tokens_before(prompt.messages, "Question: ")
        return prompt.prefix_ids

    def _tokens_before(self, messages: Sequence[ChatMessage], marker: str) -> list[int]:
        """The prompt's tokens before the last `marker` (computed on the rendered template,
        then matched against the full prompt's tokens so that a merge at the boundary cannot
        make the prefix differ)."""
        assert self.lm is not None and isinstance(self.generator, ChatTokens)
        gen = self.generator
        full = gen.chat_tokens(messages)
        rendered = gen.chat_prompt(messages)
        head = self.lm.tokenize(rendered[: rendered.rfind(marker)], special=True)
        return full[: common_prefix_length(full, head)]

    def _share_prefix(self, messages: Sequence[ChatMessage], marker: str) -> float:
        """`compute.SharePrefix` on this model's KV cache: the tokens before `marker` prefilled
        as a segment (a batch ends where they end), so the next prompts that share them reuse
        all of them. Seconds spent."""
        t0 = time.perf_counter()
        assert self.lm is not None
        prefix = self._tokens_before(messages, marker)
        if len(prefix) > 1:
            self.lm.prefill(prefix)
        return time.perf_counter() - t0

    def _doc_keys(self, prompt: Prompt) -> list[tuple[str, str]]:
        return [(d.doc_id, d.sha256) for d in prompt.docs]

    def _is_cached(self, prompt: Prompt) -> bool:
        if not self._cache_usable():
            return False
        assert self.kv_cache is not None and self.lm is not None
        return self.kv_cache.has(self.lm, self._prefix_ids(prompt), self._doc_keys(prompt))

    def _unsure(self, prompt: Prompt) -> str | None:
        """Why a RAG prompt is abstained on without generating (`answer.abstain_below`: the
        best passage's reranker logit is below it), or None."""
        floor = self.settings.answer.abstain_below
        if prompt.strategy != "rag" or floor is None:
            return None
        if not prompt.passages:
            return "the search found no passage"
        scores = [p.score for p in prompt.passages if p.score is not None]
        if not scores:  # not reranked: RRF scores say nothing about relevance
            return None
        best = max(scores)
        if best >= floor:
            return None
        return f"the best passage's reranker logit {best:.2f} is below {floor:g} (answer.abstain_below)"

    def _generate(
        self,
        prompt: Prompt,
        start: float,
        on_text: TextSink | None,
        on_status: TextSink | None,
    ) -> _Run:
        unsure = self._unsure(prompt)
        if unsure is not None:
            prompt.notes.append(unsure)
            if on_status:
                on_status(f"Not generating: {unsure}.")
            return _declined(prompt, unsure)
        prefill, cached = 0.0, 0
        if prompt.strategy == "long-context" and self._cache_usable():
            prefill, cached = self._warm(prompt, on_status)
        first: list[float] = []

        def sink(piece: str) -> None:
            if not first:
                first.append(time.perf_counter())
            if on_text is not None:
                on_text(piece)

        # the abstention reply's first-token probability: a confidence signal at no cost
        config = answer_config(self.settings.generation, probe=ABSTAIN)
        gen = self.generator.generate(prompt.messages, config, on_text=sink)
        text = normalize_page_citations(gen.text) if prompt.page_citations else gen.text
        return _Run(prompt, gen, text, prefill, cached, first[0] if first else None)

    def _warm(self, prompt: Prompt, on_status: TextSink | None) -> tuple[float, int]:
        """Put the documents' KV state in the model's cache (from disk, or computed and saved):
        (prefill seconds, cached tokens)."""
        assert self.kv_cache is not None and self.lm is not None
        prefix = self._prefix_ids(prompt)
        if on_status and not self._is_cached(prompt):
            est = len(prefix) / self.settings.answer.prefill_tokens_per_second
            on_status(
                f"Reading the document once ({len(prefix):,} tokens, ~{est:.0f} s); "
                "later questions on it reuse this."
            )
        warm = self.kv_cache.warm(self.lm, prefix, self._doc_keys(prompt))
        return (0.0, warm.tokens) if warm.cached else (warm.seconds, 0)

    def _speculate(
        self,
        prompt: Prompt,
        drafts: Prompt,
        start: float,
        on_text: TextSink | None,
        on_status: TextSink | None,
    ) -> _Run:
        """The long-context answer, decoded by the target over the whole document with a
        drafter reading `drafts`' passages (`docqa.generation.speculative`): greedy at
        temperature 0 (the same answer as `long-context`; with `answer.rapid_eta` > 0 greedy
        over RAPID's retrieval-augmented target, `rapid_greedy`), else speculative sampling
        (with that target when `answer.rapid_eta` > 0)."""
        if not self._cache_usable():
            raise AnswerError(
                "speculative decoding needs token-level access to the answering model: the "
                "llama.cpp backend with the document cache on (generation.backend=llamacpp, "
                "answer.kv_cache=true)"
            )
        eta = self.settings.answer.rapid_eta
        greedy = self.settings.generation.temperature == 0
        if greedy and eta > 0 and self.settings.answer.drafter == "ngram":
            raise AnswerError(
                "answer.rapid_eta > 0 at temperature 0 blends the drafter's reading of the "
                "passages into the long-context model's: it needs a model drafter "
                "(answer.drafter=self or model), not ngram"
            )
        assert self.lm is not None and isinstance(self.generator, ChatTokens)
        lm, gen = self.lm, self.generator
        prefill, cached = self._warm(prompt, on_status)
        full = gen.chat_tokens(prompt.messages)
        drafter = self._drafter(prompt, drafts)
        shown_chars = 0  # of the output text, streamed so far
        first: list[float] = []
        out_ids: list[int] = []

        def on_tokens(step: list[int]) -> None:
            nonlocal shown_chars
            out_ids.extend(step)
            text = lm.detokenize(out_ids)
            if text.endswith("\ufffd"):  # a character split across tokens: wait for the rest
                return
            piece = text[shown_chars:]
            if piece:
                if not first:
                    first.append(time.perf_counter())
                shown_chars = len(text)
                if on_text is not None:
                    on_text(piece)

        t0 = time.perf_counter()
        warmed = drafter.warm(len(full)) if isinstance(drafter, ModelDrafter) else 0.0
        cfg = self.settings.generation
        room = allocated_context(self.generator) - len(full)
        limit = max(1, min(cfg.max_answer_tokens, room))
        out: SpeculativeOutput
        if greedy and eta > 0:
            assert isinstance(drafter, ModelDrafter)  # checked above
            out = rapid_greedy(
                lm,
                full,
                drafter,
                limit,
                eta=eta,
                gamma=self.settings.answer.draft_tokens,
                on_tokens=on_tokens,
            )
        elif cfg.temperature > 0:
            out = sampled_speculative(
                lm,
                full,
                drafter,
                limit,
                temperature=cfg.temperature,
                rng=np.random.default_rng(cfg.seed),
                eta=eta,
                gamma=self.settings.answer.draft_tokens,
                on_tokens=on_tokens,
            )
        else:
            out = greedy_speculative(
                lm,
                full,
                drafter,
                limit,
                gamma=self.settings.answer.draft_tokens,
                planner=(
                    DraftPlanner(initial=self.settings.answer.draft_tokens)
                    if self.settings.answer.draft_policy == "cost"
                    else None
                ),
                recheck_margin=self.settings.answer.recheck_margin,
                on_tokens=on_tokens,
            )
        text = lm.detokenize(out.tokens)
        if text[shown_chars:] and on_text is not None:
            on_text(text[shown_chars:])
        st = out.stats
        generation = Generation(
            text=text,
            prompt_tokens=len(full),
            completion_tokens=len(out.tokens),
            finish_reason="stop" if out.finish_reason == "stop" else "length",
            seconds=time.perf_counter() - t0,
            time_to_first_token=first[0] - t0 if first else None,
        )
        report = SpeculativeReport(
            drafter=st.drafter,
            drafted=st.drafted,
            accepted=st.accepted,
            acceptance_rate=round(st.acceptance_rate, 4),
            passes=st.passes,
            decode_tokens_per_second=round(st.tokens_per_second, 2),
            draft_seconds=round(st.draft_seconds, 3),
            drafter_prefill_seconds=round(warmed, 3),
            rechecks=st.rechecks,
            exact=st.exact,
            eta=eta,
        )
        spec = replace(prompt, strategy="speculative")
        shown = normalize_page_citations(text) if prompt.page_citations else text
        return _Run(
            spec,
            generation,
            shown,
            prefill,
            cached,
            first[0] if first else None,
            speculative=report,
        )

    def _drafter(self, prompt: Prompt, drafts: Prompt) -> SamplingDrafter:
        """`answer.drafter` over the retrieved passages (`drafts`)."""
        assert self.lm is not None and isinstance(self.generator, ChatTokens)
        kind = self.settings.answer.drafter
        if kind == "ngram":
            passages = "\n\n".join(p.text for p in drafts.passages)
            # passages last: where both hold a match, the passages' continuation wins
            source = [*self._prefix_ids(prompt), *self.lm.tokenize(passages)]
            return NGramDrafter(source, vocab=self.lm.n_vocab)
        if self.drafter_model is None:
            raise AnswerError(f"answer.drafter={kind} needs a drafter model; none was provided")
        model = self.drafter_model()
        probe = "Revenue rose 10.7% to $503.8 million [p. 4]."
        if model.n_vocab != self.lm.n_vocab or model.tokenize(probe) != self.lm.tokenize(probe):
            raise AnswerError(
                f"the drafter model ({self.settings.answer.drafter_model}) does not share the "
                "answering model's tokenizer: choose one of the same family, or drafter=ngram"
            )
        name = "self" if kind == "self" else self.settings.answer.drafter_model
        return ModelDrafter(model, self.generator.chat_tokens(drafts.messages), name)

    def long_context_tokens(self, question: str, docs: Sequence[Document]) -> list[int]:
        """The tokens `long-context` and `speculative` decode after for `question` about `docs`
        (chat template applied): for measuring the target on its own (`eval.spec_agreement`)."""
        if not isinstance(self.generator, ChatTokens):
            raise AnswerError(f"{self.generator.name} does not expose its prompt's tokens")
        prompt = self._long_context_prompt(question.strip(), docs)
        return self.generator.chat_tokens(prompt.messages)

    # -- the Answer -----------------------------------------------------------------------

    def _check(self, run: _Run) -> tuple[CitationReport | None, float]:
        if self.checker is None or not self.settings.citations.enabled or not run.prompt.passages:
            return None, 0.0
        t0 = time.perf_counter()
        report = self.checker.check(run.text, run.prompt.passages)
        if run.computation is not None and run.computation.used:
            report = apply_to_report(report, run.computation)
        return report, time.perf_counter() - t0

    def _act_on_unsupported(
        self, run: _Run, report: CitationReport
    ) -> tuple[_Run, CitationReport, list[str], float]:
        """`citations.on_unsupported`: `flag` leaves the answer as it is; `drop` removes the
        unsupported claims from its text; `regenerate` asks the model once more, telling it which
        sentences its passages did not support, and keeps the new answer when it has fewer
        unsupported claims. Returns the run, its report, the dropped sentences, extra check
        seconds."""
        policy = self.settings.citations.on_unsupported
        bad = [s for s in report.sentences if s.claim and s.verdict == "unsupported"]
        computed = run.computation is not None and run.computation.used
        # a computed answer is docqa's text, not the model's: it is flagged, never rewritten
        if policy == "flag" or not bad or computed:
            return run, report, [], 0.0
        if policy == "drop":
            keep = [s for s in report.sentences if s not in bad]
            # nothing supported left: say so rather than print nothing
            text = " ".join(run.text[s.start : s.end].strip() for s in keep) if keep else ABSTAIN
            dropped = [s.text for s in bad]
            new = _Run(
                run.prompt,
                run.generation,
                text,
                run.prefill_seconds,
                run.cached_tokens,
                run.first_text_at,
            )
            checked, seconds = self._check(new)
            return new, checked or report, dropped, seconds
        listing = "\n".join(f"- {s.text}" for s in bad)
        request = (
            "These sentences of your answer are not supported by the passages they "
            f"cite:\n{listing}\nRewrite the answer using only facts stated in the passages, "
            "and cite the passage of each sentence."
        )
        # the retry replaces the run: it keeps its notes and prefill
        notes = [*run.prompt.notes, "regenerated once after the citation check"]
        retry = self._ask_again(run, request, notes, run.prefill_seconds)
        checked, seconds = self._check(retry)
        if checked is None:
            return run, report, [], seconds
        still = sum(1 for s in checked.sentences if s.claim and s.verdict == "unsupported")
        if still < len(bad) and not is_abstention(retry.text):
            return retry, checked, [], seconds
        return run, report, [], seconds

    def _ask_again(self, run: _Run, request: str, notes: list[str], prefill_seconds: float) -> _Run:
        """`run`'s conversation continued: its reply, then `request` as the user's next message,
        answered once (not streamed) over the same passages."""
        messages = [
            *run.prompt.messages,
            ChatMessage(role="assistant", content=run.text),
            ChatMessage(role="user", content=request),
        ]
        prompt = Prompt(
            strategy=run.prompt.strategy,
            messages=messages,
            passages=run.prompt.passages,
            context_tokens=run.prompt.context_tokens,
            page_citations=run.prompt.page_citations,
            docs=run.prompt.docs,
            notes=notes,
            candidate_pages=run.prompt.candidate_pages,
        )
        gen = self.generator.generate(messages, answer_config(self.settings.generation))
        text = normalize_page_citations(gen.text) if prompt.page_citations else gen.text
        return _Run(prompt, gen, text, prefill_seconds, run.cached_tokens, run.first_text_at)

    def _restate(self, run: _Run) -> _Run:
        """Ask once more when the answer is hollow (`is_hollow`: citation markers where the answer
        should be). The new run is added to the first (`_finish` sums the runs' timings and
        tokens), so it carries only its own note and no prefill of its own."""
        note = f"asked again: the answer {run.text.strip()[:60]!r} gave passage numbers only"
        return self._ask_again(run, RESTATE, [note], 0.0)

    def _withdraw(self, run: _Run, terms: TermGrounding | None) -> str | None:
        """Why the answer is replaced by "not found", or None: `answer.abstain_probability` (the
        model gave at least that probability to answering so) or `answer.abstain_ungrounded`
        (at least that share of the names and figures it adds to the question are in no
        passage). A computed answer is docqa's own text and is never withdrawn; the caller
        does not ask for an abstention."""
        if run.computation and run.computation.used:
            return None
        p, at = run.generation.probe_probability, self.settings.answer.abstain_probability
        if p is not None and at is not None and p >= at:
            return (
                f"withdrawn: the model gave {p:.2f} to answering {ABSTAIN!r} "
                f"(answer.abstain_probability {at:g})"
            )
        limit = self.settings.answer.abstain_ungrounded
        if limit is None or terms is None:
            return None
        share = terms.ungrounded_share
        if share is None or share < limit:
            return None
        missing = ", ".join(repr(t) for t in terms.ungrounded[:4])
        return (
            f"withdrawn: {len(terms.ungrounded)} of its {len(terms.terms)} names and figures "
            f"are in no passage ({missing}; answer.abstain_ungrounded {limit:g})"
        )

    def _finish(
        self,
        question: str,
        requested: StrategyChoice,
        runs: list[_Run],
        reasons: list[str],
        scope: list[Document] | None,
        start: float,
        signals: RouteSignals | None = None,
        withdraw: str | None = None,
    ) -> Answer:
        """The `Answer` of the last of `runs`. `withdraw`: the caller's reason to replace that
        run's answer by "not found" (the router's); else `_withdraw` decides."""
        if withdraw is None and runs[-1].unsure is None and is_hollow(runs[-1].text):
            runs = [*runs, self._restate(runs[-1])]
        run = runs[-1]
        text, repeats = without_repeats(run.text)
        if repeats:
            run = replace(run, text=text)
            runs = [*runs[:-1], run]
            reasons = [*reasons, f"removed {len(repeats)} sentence(s) repeating an earlier one"]
        abstained = is_abstention(run.text)
        terms = None if abstained else _terms(question, run)
        dropped: list[str] = []
        withdrawn = None if abstained else (withdraw or self._withdraw(run, terms))
        if withdrawn is not None:
            dropped = [s.text for s in split_answer(run.text)]
            run = replace(run, text=ABSTAIN)
            runs = [*runs[:-1], run]
            abstained = True
        report, check_seconds = (None, 0.0) if abstained else self._check(run)
        if report is not None:
            checked, report, dropped, more = self._act_on_unsupported(run, report)
            check_seconds += more
            if checked is not run:
                run = checked
                runs = [*runs[:-1], run]
                terms = _terms(question, run)
            abstained = is_abstention(run.text)
        by_n = {p.n: p for p in run.prompt.passages}
        sentences: list[AnswerSentence] = []
        quotes: dict[int, str] = {}
        if report is not None:
            for chk in report.sentences:
                sentences.append(
                    AnswerSentence(
                        text=chk.text,
                        citations=chk.citations,
                        verdict=chk.verdict,
                        score=chk.score,
                        repaired_citations=chk.repaired_citations,
                        claim=chk.claim,
                        extra_citations=extra_citations(chk),
                    )
                )
                if chk.quote is not None and chk.quote.passage not in quotes:
                    quotes[chk.quote.passage] = chk.quote.text
        else:
            sentences = [
                AnswerSentence(text=piece.text, citations=piece.citations, claim=not abstained)
                for piece in split_answer(run.text)
            ]
        needed_only = self.settings.citations.needed_only
        shown = (
            [n for chk in report.sentences for n in shown_citations(chk, needed_only=needed_only)]
            if report is not None
            else [n for s in sentences for n in s.citations]
        )
        cited = [n for n in dict.fromkeys(shown) if n in by_n]
        citations = []
        for n in cited:
            p = by_n[n]
            box = _quote_box(p)
            citations.append(
                Citation(
                    n=n,
                    doc_id=p.doc_id,
                    path=p.path,
                    page=p.page,
                    page_end=p.page_end,
                    bbox=box,
                    quote=quotes.get(n) or " ".join(p.text.split()[:40]),
                    text=p.text,
                )
            )
        end = time.perf_counter()
        ttft = run.first_text_at - start if run.first_text_at is not None else None
        retrieval = sum(r.prompt.retrieval_seconds for r in runs)
        notes = [n for r in runs for n in r.prompt.notes]
        if withdrawn is not None:
            notes.append(withdrawn)
        return Answer(
            question=question,
            answer=run.text,
            abstained=abstained,
            sentences=sentences,
            citations=citations,
            passages=run.prompt.passages,
            candidate_pages=list(run.prompt.candidate_pages),
            route=Route(
                strategy=run.prompt.strategy,
                requested=requested,
                reasons=reasons + notes,
                signals=signals,
            ),
            timings=Timings(
                retrieval=retrieval,
                prefill=sum(r.prefill_seconds for r in runs),
                time_to_first_token=ttft,
                generation=sum(r.generation.seconds for r in runs),
                check=check_seconds,
                total=end - start,
            ),
            tokens=TokenCounts(
                prompt=sum(r.generation.prompt_tokens for r in runs),
                completion=sum(r.generation.completion_tokens for r in runs),
                context=run.prompt.context_tokens,
                cached=run.cached_tokens,
            ),
            model=self.generator.name,
            doc_ids=[d.doc_id for d in scope] if scope else [],
            dropped_sentences=dropped,
            citation_recall=report.citation_recall if report else None,
            citation_precision=report.citation_precision if report else None,
            finish_reason=run.generation.finish_reason,
            speculative=next((r.speculative for r in runs if r.speculative), None),
            computation=next((r.computation for r in runs if r.computation), None),
            terms=terms,
            caveats=[c for c in (visual_caveat(question),) if c is not None],
            abstain_probability=next(
                (
                    r.generation.probe_probability
                    for r in reversed(runs)
                    if r.generation.probe_probability is not None
                ),
                None,
            ),
        )
