"""The context each strategy gives the model: a `Prompt` (messages, numbered passages, and for
long context the cacheable prefix).

- `rag_prompt`: hybrid search -> cross-encoder rerank -> passage budget (`budget.py`) ->
  "lost in the middle" order -> numbered passages labelled with document and page.
- `long_context_prompt`: every page of the documents, in order. It never truncates: when the
  prompt plus the answer reserve does not fit the allocated context, `DoesNotFitError` says so
  with the numbers.
- `closed_book_prompt`: the question alone.
- `drafting_messages`: the retrieved passages in the long-context prompt's form, for the
  drafter of `speculative`.

Example:
    >>> prompt = rag_prompt("What was revenue?", retriever, gen.count_tokens, settings.answer)  # doctest: +SKIP
    >>> [p.n for p in prompt.passages]  # doctest: +SKIP
    [1, 2, 3]
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import PurePath

from docqa.answer.budget import Selection, select_pages, select_passages
from docqa.answer.prompts import (
    closed_book_messages,
    long_context_messages,
    multi_doc_messages,
    rag_messages,
)
from docqa.answer.tables import table_lead
from docqa.config import AnswerSettings
from docqa.generation import ChatMessage, Generator
from docqa.query import search_question
from docqa.retrieval import Retriever, lead_with_named, lost_in_the_middle, named_first
from docqa.store.base import Store
from docqa.types import Document, Page, Passage, SearchHit, Strategy

__all__ = [
    "DoesNotFitError",
    "Prompt",
    "allocated_context",
    "closed_book_prompt",
    "drafting_messages",
    "long_context_prompt",
    "rag_prompt",
]


class DoesNotFitError(ValueError):
    """The whole documents do not fit the model's context (with room for the answer)."""

    def __init__(self, message: str, *, tokens: int, n_ctx: int, reserve: int) -> None:
        super().__init__(message)
        self.tokens = tokens
        self.n_ctx = n_ctx
        self.reserve = reserve


@dataclass
class Prompt:
    strategy: Strategy
    messages: list[ChatMessage]
    passages: list[Passage]
    context_tokens: int = 0
    """Tokens of the passages / pages (not the instructions or the question)."""
    prompt_tokens: int = 0
    """The whole prompt after the chat template, when it was counted."""
    page_citations: bool = False
    """The model cites `[p. N]` (single-document long context)."""
    docs: list[Document] = field(default_factory=list)
    """Long context: the documents in the prompt."""
    prefix_ids: list[int] | None = None
    """Long context: the prompt's tokens up to the question (the cacheable part), once computed
    (`Answerer` computes it at most once per prompt: it tokenizes the whole document)."""
    retrieval_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    """What the strategy decided and why (passage budget, pages read...)."""
    candidate_pages: list[int] = field(default_factory=list)
    """Pages of every candidate the retriever returned (the reranked pool the passage budget
    chose `passages` from), best first, each page once; a candidate covers `page..page_end`.
    Long context: the pages given; closed book: none."""


def allocated_context(generator: Generator) -> int:
    """Tokens the prompt and answer must fit in: the allocated context when the backend has one
    (llama.cpp's n_ctx), else the model's window."""
    n_ctx = getattr(generator, "n_ctx", None)
    return int(n_ctx) if isinstance(n_ctx, int) else generator.context_window


def hit_passage(
    n: int, hit: SearchHit, rank: int | None = None, *, reranked: bool = False
) -> Passage:
    return Passage(
        n=n,
        rank=rank,
        score=hit.score if reranked else None,
        text=hit.text,
        page=hit.page,
        page_end=hit.page_end,
        doc_id=hit.doc_id,
        path=hit.path,
        boxes=hit.boxes,
    )


def _page_texts(store: Store) -> Callable[[str, int], str | None]:
    """(doc_id, page) -> the stored page's text, each document's pages read once."""
    cache: dict[str, dict[int, str]] = {}

    def text(doc_id: str, page: int) -> str | None:
        if doc_id not in cache:
            cache[doc_id] = {p.page: p.text for p in store.get_pages(doc_id)}
        return cache[doc_id].get(page)

    return text


def rag_prompt(
    question: str,
    retriever: Retriever,
    count_tokens: Callable[[str], int],
    settings: AnswerSettings,
    doc_ids: Sequence[str] | None = None,
    room: int | None = None,
    search_query: str | None = None,
) -> Prompt:
    """The RAG prompt: reranked hits, as many as `budget.select_passages` allows within
    `settings.context_tokens` and, when given, `room` (the passage tokens the model's context
    holds beside the instructions, the question and the answer). `search_query`: what the
    hybrid search reads instead of the question (`Retriever.run`); with
    `settings.search_without_instructions` the search and the reranker read the question
    without its answer-format instructions (`docqa.query.search_question`)."""
    start = time.perf_counter()
    hits = retriever.run(
        search_question(question) if settings.search_without_instructions else question,
        k=settings.candidates if settings.rerank else settings.max_passages,
        doc_ids=doc_ids,
        candidates=settings.candidates,
        rerank=settings.rerank,
        search_query=search_query,
        references=settings.follow_references,
        statements=settings.statements,
        distinct_above=settings.distinct_passages,
    )
    named = named_first(hits)
    hits = lead_with_named(hits)
    select: Callable[..., Selection] = (
        partial(
            select_pages,
            hits,
            _page_texts(retriever.searcher.store),
            max_page_tokens=settings.max_page_tokens,
        )
        if settings.passages == "pages"
        else partial(select_passages, hits)
    )
    sel = select(
        count_tokens=count_tokens,
        min_passages=settings.min_passages,
        max_passages=settings.max_passages,
        min_score=settings.min_rerank_score,
        max_tokens=settings.context_tokens if room is None else min(settings.context_tokens, room),
        scored=settings.rerank,
    )
    rank = {id(h): r for r, h in enumerate(sel.hits, start=1)}
    ordered = (
        list(reversed(sel.hits))
        if settings.passage_order == "best_last"
        else lost_in_the_middle(sel.hits)
    )
    passages = [
        hit_passage(i, h, rank[id(h)], reranked=settings.rerank)
        for i, h in enumerate(ordered, start=1)
    ]
    if settings.table_view == "captioned" and settings.passages == "chunks":
        page_text = _page_texts(retriever.searcher.store)
        for p, h in zip(passages, ordered, strict=True):
            if h.kind == "table" and (text := page_text(h.doc_id, h.page)):
                p.lead = table_lead(text, h.text, count_tokens)
    notes = [
        f"{len(passages)} of {len(hits)} reranked passages ({sel.tokens} tokens): {sel.reason}"
        if hits
        else "the search found no passage"
    ]
    notes += [f"{h.reference} is on p. {h.page}: its passage goes first" for h in named]
    return Prompt(
        strategy="rag",
        messages=rag_messages(
            question,
            passages,
            form=settings.form_hints,
            align_tables=settings.align_tables,
            question_first=settings.question_first,
        ),
        passages=passages,
        context_tokens=sel.tokens,
        retrieval_seconds=time.perf_counter() - start,
        notes=notes,
        candidate_pages=list(
            dict.fromkeys(p for h in hits for p in range(h.page, max(h.page, h.page_end) + 1))
        ),
    )


def _title(doc: Document) -> str:
    name = doc.filename or PurePath(doc.path).name
    return f"{doc.title} ({name})" if doc.title and doc.title != name else name


def long_context_prompt(
    question: str,
    docs: Sequence[Document],
    store: Store,
    generator: Generator,
    reserve: int,
    *,
    form: bool = False,
    align_tables: bool = False,
) -> Prompt:
    """All pages of `docs` (in order). Raises `DoesNotFitError` when prompt + `reserve` exceeds
    the allocated context. `form`: the question's answer-form line (`prompts.question_block`);
    `align_tables`: tables shown aligned (`docqa.answer.tables`)."""
    if not docs:
        raise ValueError("long context needs at least one document")
    start = time.perf_counter()
    passages: list[Passage] = []
    single = len(docs) == 1
    pages_by_doc = []
    for doc in docs:
        pages = sorted(store.get_pages(doc.doc_id), key=lambda p: p.page)
        pages_by_doc.append(pages)
        for p in pages:
            passages.append(
                Passage(
                    n=p.page if single else len(passages) + 1,
                    text=p.text,
                    page=p.page,
                    page_end=p.page,
                    doc_id=doc.doc_id,
                    path=doc.path,
                )
            )
    if single:
        messages = long_context_messages(
            question, _title(docs[0]), pages_by_doc[0], form=form, align_tables=align_tables
        )
    else:
        messages = multi_doc_messages(question, passages, form=form, align_tables=align_tables)
    tokens = generator.count_chat_tokens(messages)
    n_ctx = allocated_context(generator)
    names = ", ".join(d.filename for d in docs)
    n_pages = len(passages)
    if tokens + reserve > n_ctx:
        raise DoesNotFitError(
            f"{names} ({n_pages} pages) makes a {tokens:,}-token prompt; the model's allocated "
            f"context is {n_ctx:,} tokens (window {generator.context_window:,}) with "
            f"{reserve:,} kept for the answer, so {tokens + reserve - n_ctx:,} tokens too many. "
            "Long context never truncates: use the rag (or auto) strategy, or a model with a "
            "larger window (generation.n_ctx / generation.max_n_ctx)",
            tokens=tokens,
            n_ctx=n_ctx,
            reserve=reserve,
        )
    instructions = generator.count_chat_tokens(
        long_context_messages(question, _title(docs[0]), [], form=form)
        if single
        else multi_doc_messages(question, [], form=form)
    )
    return Prompt(
        strategy="long-context",
        messages=messages,
        passages=passages,
        context_tokens=max(0, tokens - instructions),
        prompt_tokens=tokens,
        page_citations=single,
        docs=list(docs),
        retrieval_seconds=time.perf_counter() - start,
        notes=[f"the whole of {names}: {n_pages} pages, {tokens:,} prompt tokens of {n_ctx:,}"],
        candidate_pages=list(dict.fromkeys(p.page for p in passages if p.page is not None)),
    )


def closed_book_prompt(question: str, *, form: bool = False) -> Prompt:
    return Prompt(
        strategy="closed-book",
        messages=closed_book_messages(question, form=form),
        passages=[],
        notes=["no documents: the model's own knowledge (a baseline)"],
    )


def drafting_messages(
    question: str,
    long_context: Prompt,
    retrieved: Prompt,
    *,
    form: bool = False,
    align_tables: bool = False,
) -> list[ChatMessage]:
    """What the drafter of `speculative` reads: `retrieved`'s passages in the form of the
    `long_context` prompt (RAPID drafts from the retrieval in the long-context template), so
    that it is told what the target is told and cites as the target cites. One document: the
    passages as its pages, `[p. N]` in page order, the passages of one page joined. Several:
    the passages numbered `[n]` as their pages are in `long_context`."""
    if long_context.page_citations:
        pages: dict[int, list[str]] = {}
        for p in retrieved.passages:
            if p.page is not None:
                pages.setdefault(p.page, []).append(p.text)
        doc = long_context.docs[0]
        shown = [
            Page(doc_id=doc.doc_id, page=n, text="\n\n".join(texts), width=0, height=0)
            for n, texts in sorted(pages.items())
        ]
        return long_context_messages(
            question, _title(doc), shown, form=form, align_tables=align_tables
        )
    number = {(p.doc_id, p.page): p.n for p in long_context.passages}
    renumbered = sorted(
        (
            p.model_copy(update={"n": number[(p.doc_id, p.page)]})
            for p in retrieved.passages
            if (p.doc_id, p.page) in number
        ),
        key=lambda p: p.n,
    )
    return multi_doc_messages(question, renumbered, form=form, align_tables=align_tables)
