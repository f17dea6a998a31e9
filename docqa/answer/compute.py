"""Computed answers: plan a formula, retrieve each operand, copy the numbers, evaluate by code.

`Calculator.run(question, rag, doc_ids)` takes the question's ordinary RAG prompt and returns a
`Computed`: the `Computation` (formula, operands with their passages, result or why there is
none), the prompt the numbers were copied from (the RAG passages plus each operand's best
passages, renumbered), the two generations summed, and the answer text when the computation
holds. The prompt's retrieval time and notes are the computation's own (the RAG prompt's are
not repeated). The pure steps (parsing, grounding, the safe evaluator, the answer's wording) are in
`docqa.answer.formula`; the Answerer decides when to call this (`answer.compute` and
`formula.needs_computation`) and falls back to the RAG answer when `Computed.text` is None.

Example:
    >>> calc = Calculator(generator, retriever, settings)  # doctest: +SKIP
    >>> out = calc.run("What was the net margin in 2023, in percent?", rag_prompt, [doc_id])  # doctest: +SKIP
    >>> out.computation.result_text, out.text  # doctest: +SKIP
    ('6.31%', '6.31%, computed as net_income / revenue × 100 = $28.7 / $455.1 × 100 [1].\\n...')
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from docqa.answer.formula import (
    COPY_MARKER,
    ComputeError,
    check_operands,
    compose_answer,
    extract_messages,
    format_result,
    operand_values,
    parse_plan,
    parse_value,
    plan_messages,
    safe_eval,
    same_figure_twice,
)
from docqa.answer.strategies import Prompt, allocated_context, hit_passage
from docqa.config import Settings
from docqa.generation import ChatMessage, Generation, Generator, answer_config
from docqa.retrieval import Retriever
from docqa.types import Computation, Passage

__all__ = ["Calculator", "Computed", "noted_prompt"]

_PLAN_TOKENS = 160
_EXTRACT_TOKENS = 32
_PER_OPERAND = 2
"""Best reranked chunks each operand's description adds to the prompt."""
_MAX_PASSAGES = 14
_LABEL_TOKENS = 16
"""A passage's label and separators in the prompt ("[3] (file.pdf, p. 12)")."""
_MAX_OPERANDS = 6
"""Figures one computation may look up (each costs a search and a short generation)."""


@dataclass
class Computed:
    computation: Computation
    prompt: Prompt
    generation: Generation
    """The plan's and the extractions' generations summed (seconds, tokens)."""
    text: str | None
    """The answer when every operand is grounded and the formula evaluates; else None."""


SharePrefix = Callable[[Sequence[ChatMessage], str], float]
"""Evaluates the tokens of a prompt before the last occurrence of a marker as a batch of their
own, so that later prompts sharing them reuse all of them; returns the seconds it took."""


class Calculator:
    def __init__(
        self,
        generator: Generator,
        retriever: Retriever,
        settings: Settings,
        share_prefix: SharePrefix | None = None,
    ) -> None:
        """`share_prefix` (the Answerer's, when the generator's KV cache is addressable): the
        passages of the figures' prompts are evaluated once, and each figure's prompt then
        evaluates only its own last line (without it, a prompt reuses the previous one's cache
        only up to its last 512-token batch cut)."""
        self.generator = generator
        self.retriever = retriever
        self.settings = settings
        self.share_prefix = share_prefix

    def run(self, question: str, rag: Prompt, doc_ids: Sequence[str] | None) -> Computed:
        gen_cfg = self.settings.generation
        plan = self.generator.generate(
            plan_messages(question), answer_config(gen_cfg, max_tokens=_PLAN_TOKENS)
        )
        gens = [plan]
        try:
            formula, operands = parse_plan(plan.text)
            if len(operands) > _MAX_OPERANDS:
                raise ComputeError(
                    f"the plan needs {len(operands)} figures (at most {_MAX_OPERANDS})"
                )
        except ComputeError as e:
            return _failed(Computation(formula="", error=str(e), plan=plan.text), gens, 0.0)
        r0 = time.perf_counter()
        lookups = list(operands.values())
        longest = max(lookups, key=len)
        room = (
            allocated_context(self.generator)
            - self.generator.count_chat_tokens(extract_messages(longest, []))
            - _EXTRACT_TOKENS
        )
        passages = self._passages(rag.passages, lookups, doc_ids, room)
        retrieval = time.perf_counter() - r0
        first = extract_messages(next(iter(operands.values())), passages)
        prompt = Prompt(
            strategy="rag",
            messages=first,
            passages=passages,
            context_tokens=sum(self.generator.count_tokens(p.text) for p in passages),
            retrieval_seconds=retrieval,
            candidate_pages=list(rag.candidate_pages),
        )
        if self.share_prefix is not None and len(operands) > 1:
            shared = self.share_prefix(first, COPY_MARKER)
            # its time counts with the generations (its tokens do: in each prompt's count)
            gens.append(
                Generation(
                    text="",
                    prompt_tokens=0,
                    completion_tokens=0,
                    finish_reason="stop",
                    seconds=shared,
                    time_to_first_token=None,
                )
            )
        read = []
        replies = []
        for name, what in operands.items():
            reply = self.generator.generate(
                extract_messages(what, passages),
                answer_config(gen_cfg, max_tokens=_EXTRACT_TOKENS),
            )
            gens.append(reply)
            replies.append(f"{name}: {reply.text.strip()}")
            read.append(parse_value(name, what, reply.text))
        values = check_operands(read, passages)
        computation = Computation(
            formula=formula, operands=values, plan=plan.text, extraction="\n".join(replies)
        )
        missing = [o.name for o in values if o.value_text is None]
        ungrounded = [o.name for o in values if o.value_text is not None and not o.grounded]
        twice = same_figure_twice(values)
        if missing or ungrounded or twice:
            if missing:
                why = f"no value found for {', '.join(missing)}"
            elif ungrounded:
                why = f"{', '.join(ungrounded)} not stated in any passage of the prompt"
            else:
                why = f"{' and '.join(twice)} copied as the same figure from one passage"
            computation.error = why
            return _failed(computation, gens, retrieval)
        try:
            result = safe_eval(formula, operand_values(values))
        except ComputeError as e:
            computation.error = str(e)
            return _failed(computation, gens, retrieval)
        computation.result = result
        computation.result_text = format_result(result, question, formula)
        computation.used = True
        prompt.notes.append(f"computed {formula} = {computation.result_text} by code")
        return Computed(computation, prompt, _summed(gens), compose_answer(computation))

    def _passages(
        self,
        rag: Sequence[Passage],
        lookups: Sequence[str],
        doc_ids: Sequence[str] | None,
        room: int,
    ) -> list[Passage]:
        """Each operand's best chunks first (in operand order), then the RAG passages, without
        repeats, renumbered from 1, as many as fit in `room` prompt tokens (at least one)."""
        cfg = self.settings.answer
        seen: set[tuple[str | None, int | None, str]] = set()
        out: list[Passage] = []
        used = 0

        def add(p: Passage) -> None:
            nonlocal used
            key = (p.doc_id, p.page, p.text)
            if key in seen or len(out) >= _MAX_PASSAGES:
                return
            cost = self.generator.count_tokens(p.text) + _LABEL_TOKENS
            if out and used + cost > room:
                return
            seen.add(key)
            used += cost
            out.append(p.model_copy(update={"n": len(out) + 1}))

        for what in lookups:
            hits = self.retriever.run(
                what,
                k=_PER_OPERAND,
                doc_ids=doc_ids,
                candidates=cfg.candidates,
                rerank=cfg.rerank,
            )
            for rank, h in enumerate(hits, start=1):
                add(hit_passage(0, h, rank, reranked=cfg.rerank))
        for p in rag:
            add(p)
        return out


def _failed(computation: Computation, gens: list[Generation], retrieval: float) -> Computed:
    """A computation that holds no answer: its own run (the work it cost, the reason in its
    notes); the caller answers from the RAG prompt next."""
    prompt = noted_prompt(f"computation dropped: {computation.error}", retrieval)
    return Computed(computation, prompt, _summed(gens), None)


def noted_prompt(note: str, retrieval_seconds: float) -> Prompt:
    """The prompt of a computation that is not the answer: no messages or passages of its own
    (the answer's are the RAG prompt's), only its retrieval time and a note for the route."""
    return Prompt(
        strategy="rag",
        messages=[],
        passages=[],
        notes=[note],
        retrieval_seconds=retrieval_seconds,
    )


def _summed(gens: Sequence[Generation]) -> Generation:
    return Generation(
        text=gens[-1].text,
        prompt_tokens=sum(g.prompt_tokens for g in gens),
        completion_tokens=sum(g.completion_tokens for g in gens),
        finish_reason=gens[-1].finish_reason,
        seconds=sum(g.seconds for g in gens),
        time_to_first_token=None,
        counts_exact=all(g.counts_exact for g in gens),
    )
