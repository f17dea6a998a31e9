"""Evaluation records, their summary (`summary.json`), a Markdown report and plots.

One `EvalRecord` per (question, strategy): what was asked, the gold, the answer, its score (see
`eval.scoring`), pages, tokens, latency, citation support and the route taken. From a list of
records:

- `summarize(records)` -> the `summary.json` dict: per strategy, per strategy x document type,
  per strategy x answer format and per strategy x document length bin: accuracy (strict and
  lenient), MMLongBench score and F1, abstention precision/recall, evidence-page recall@k,
  citation page precision/recall, token cost, latency, citation support ("not measured" when the
  checker did not run), route shares, and the failure breakdown (`failures`: count and share of
  each `failure_category`);
- `write_report(records, out_dir, model=...)` -> `summary.json`, `report.md` (tables with the
  date, model and machine) and PNG plots: accuracy vs document length (binned page counts),
  accuracy vs cost (mean prompt tokens, mean seconds) per strategy, router choices when the
  records carry routes, and the failure breakdown per strategy when some question has gold
  evidence pages (with a per-question table in the report).

Failure breakdown: where an answer to a question with gold evidence pages was lost. Each record
gets one `failure_category`, from the pages of the candidates the retriever returned (the
reranked pool, `EvalRecord.candidate_pages`), the pages of the passages the model was given
(`retrieved_pages`) and the score: "not retrieved" (no evidence page among the candidates),
"retrieved, not in prompt" (among the candidates, cut by the passage budget), "in prompt, wrong",
"right". Whole-page strategies have the prompt's pages as their pool (long context: every page
read; closed book: none), so they are never "retrieved, not in prompt". See `candidate_pool` for
records written before candidates were recorded.

Plots use matplotlib's Agg canvas directly (`Figure` + `FigureCanvasAgg`, no pyplot), so no
display or global backend is touched.

Example:
    >>> from eval.report import EvalRecord, write_report
    >>> rec = EvalRecord(item_id="q1", strategy="rag", doc="a.pdf", question="?", gold="5",
    ...                  answer="It is 5 [1].", answer_format="Int", score=1.0, correct=True)
    >>> files = write_report([rec], Path("out"), model="qwen2.5-1.5b")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from pydantic import BaseModel, Field

from docqa.types import (
    Answer,
    Computation,
    Passage,
    RouteSignals,
    SpeculativeReport,
    TermGrounding,
)
from eval.datasets import QAItem
from eval.scoring import (
    abstention_scores,
    citation_page_scores,
    mmlongbench_f1,
    page_recall_at_k,
    pages_of,
    score_answer,
)

__all__ = [
    "FAILURE_CATEGORIES",
    "NOT_MEASURED",
    "PAGES_SHOWN",
    "PAGE_BINS",
    "EvalRecord",
    "FailureCategory",
    "ReportFiles",
    "candidate_pool",
    "common_ids",
    "common_subset",
    "drop_kind",
    "error_record",
    "failure_breakdown",
    "failure_category",
    "group_metrics",
    "machine_info",
    "make_record",
    "page_bin",
    "pct",
    "plot_accuracy_vs_cost",
    "plot_accuracy_vs_length",
    "plot_failure_breakdown",
    "plot_router_choices",
    "rank_order",
    "read_records",
    "read_written_records",
    "render_markdown",
    "rescore",
    "skipped_record",
    "skipped_summary",
    "summarize",
    "write_records",
    "write_report",
]

T = TypeVar("T")

NOT_MEASURED = "not measured"
WHOLE_DOCUMENT = ("long-context", "speculative")
"""Routes whose prompt holds every page of the document."""
PAGE_BINS: tuple[int, ...] = (10, 50, 100, 200)
"""Upper bounds of the document length bins (pages): 1-10, 11-50, 51-100, 101-200, >200."""


class EvalRecord(BaseModel):
    """One answer of one strategy to one question, scored."""

    item_id: str
    strategy: str
    """The strategy as run: "rag", "long-context", "router", "speculative", ..."""
    doc: str
    question: str
    gold: str
    answer: str = ""
    """The answer text with its `[n]` markers."""
    abstained: bool = False
    unanswerable: bool = False
    score: float = 0.0
    """0..1 (ANLS for strings), see `eval.scoring.AnswerScore.score`."""
    correct: bool = False
    correct_strict: bool | None = None
    score_method: str | None = None
    answer_format: str
    doc_type: str | None = None
    source: str | None = None
    doc_pages: int | None = None
    doc_tokens: int | None = None
    evidence_pages: list[int] | None = None
    retrieved_pages: list[int] = Field(default_factory=list)
    """Pages of the passages the model was given, in rank order."""
    candidate_pages: list[int] = Field(default_factory=list)
    """Pages of every candidate the retriever returned (`Answer.candidate_pages`: the reranked
    pool the passages were chosen from), best first. Empty for closed book, for a search that
    found nothing, and in records written before it was recorded (see `candidate_pool`)."""
    cited_pages: list[int] = Field(default_factory=list)
    k: int | None = None
    """The k of `page_recall_at_k` (None: all retrieved pages)."""
    page_recall_at_k: float | None = None
    citation_page_precision: float | None = None
    citation_page_recall: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    ttft: float | None = None
    """Seconds to the first answer token."""
    seconds: float | None = None
    """Total seconds for the question."""
    generation_seconds: float | None = None
    check_seconds: float | None = None
    """Seconds the citation checker took (None: it did not run)."""
    citation_recall: float | None = None
    """ALCE citation recall from the checker; None = not measured."""
    citation_precision: float | None = None
    route: str | None = None
    """The strategy the engine actually used (the router's choice for "auto")."""
    route_reasons: list[str] = Field(default_factory=list)
    route_signals: RouteSignals | None = None
    """What the router knew (`Route.signals`): `eval.fit_router` fits `auto` on these."""
    speculative: SpeculativeReport | None = None
    """How a speculative answer was decoded (drafter, acceptance, decode tokens/s)."""
    computation: Computation | None = None
    """The formula, operands and result when RAG computed the answer (or why it did not)."""
    terms: TermGrounding | None = None
    """The answer's names and figures and those in no passage (`Answer.terms`): what
    `eval.abstain_signal` replays `answer.abstain_ungrounded` on."""
    abstain_probability: float | None = None
    """`Answer.abstain_probability`: the model's first-token probability of abstaining."""
    model: str | None = None
    error: str | None = None
    skipped: str | None = None
    """Why the strategy did not run on this question (e.g. the document does not fit the
    model's window); skipped records are counted, not scored."""


def make_record(
    item: QAItem,
    strategy: str,
    answer: Answer,
    *,
    doc_pages: int | None = None,
    doc_tokens: int | None = None,
    k: int | None = None,
    retrieved_pages: Sequence[int] | None = None,
) -> EvalRecord:
    """Score an engine `Answer` to `item` into a record.

    Retrieved pages default to the pages of the answer's passages: for a RAG answer in rank
    order (`rank_order` undoes the prompt's "lost in the middle" order), otherwise (long context:
    whole pages in document order) as given. Pass `retrieved_pages` to override. Cited pages are
    the pages of the answer's citations. Both only count pages of `item.doc`. Candidate pages are
    the answer's as they are (an eval question is asked of its own document alone). Page recall
    is only computed for retrieval (a whole-document prompt holds every page)."""
    if retrieved_pages is not None:
        retrieved = list(retrieved_pages)
    elif answer.route.strategy == "rag" and all(p.rank is not None for p in answer.passages):
        ranked: list[Passage] = sorted(answer.passages, key=lambda p: p.rank or 0)
        retrieved = pages_of(ranked, doc=item.doc)
    elif answer.route.strategy == "rag":  # answers recorded before passages carried a rank
        retrieved = pages_of(rank_order(answer.passages), doc=item.doc)
    else:
        retrieved = pages_of(answer.passages, doc=item.doc)
    record = EvalRecord(
        **_item_fields(item, strategy, doc_pages, doc_tokens),
        answer=answer.answer,
        abstained=answer.abstained,
        retrieved_pages=retrieved,
        candidate_pages=list(answer.candidate_pages),
        cited_pages=pages_of(answer.citations, doc=item.doc),
        k=k,
        # whole-document prompts hold every page: their recall would be 1 by construction;
        # 0.0 marks "to be measured" for `rescore`
        page_recall_at_k=0.0 if retrieved and answer.route.strategy == "rag" else None,
        prompt_tokens=answer.tokens.prompt,
        completion_tokens=answer.tokens.completion,
        ttft=answer.timings.time_to_first_token,
        generation_seconds=answer.timings.generation or None,
        check_seconds=answer.timings.check or None,
        seconds=answer.timings.total,
        citation_recall=answer.citation_recall,
        citation_precision=answer.citation_precision,
        route=answer.route.strategy,
        route_reasons=list(answer.route.reasons),
        route_signals=answer.route.signals,
        speculative=answer.speculative,
        computation=answer.computation,
        terms=answer.terms,
        abstain_probability=answer.abstain_probability,
        model=answer.model or None,
    )
    return rescore(record)


ITEM_FIELDS = frozenset(
    {
        "item_id",
        "strategy",
        "doc",
        "question",
        "gold",
        "unanswerable",
        "answer_format",
        "doc_type",
        "source",
        "doc_pages",
        "doc_tokens",
        "evidence_pages",
    }
)
"""The fields of a record that come from the question and its document (`_item_fields`); the
rest are the answer's."""


def item_fields(record: EvalRecord) -> dict[str, Any]:
    """`record`'s `ITEM_FIELDS`: a new record of the same question starts from them."""
    return record.model_dump(include=set(ITEM_FIELDS))


def _item_fields(
    item: QAItem, strategy: str, doc_pages: int | None, doc_tokens: int | None
) -> dict[str, Any]:
    """The fields of a record that come from the question and its document (`ITEM_FIELDS`)."""
    return {
        "item_id": item.id,
        "strategy": strategy,
        "doc": item.doc,
        "question": item.question,
        "gold": item.answer,
        "unanswerable": item.unanswerable,
        "answer_format": item.answer_format,
        "doc_type": item.doc_type,
        "source": item.source,
        "doc_pages": doc_pages,
        "doc_tokens": doc_tokens,
        "evidence_pages": item.evidence_pages,
    }


def rank_order(passages: Sequence[T]) -> list[T]:
    """Undo `docqa.retrieval.lost_in_the_middle` (ranks 1, 3, 5, ... at the front, ..., 4, 2 at
    the back): the passages of a RAG prompt best-first again.

    >>> rank_order([1, 3, 5, 4, 2])
    [1, 2, 3, 4, 5]
    """
    front, back = 0, len(passages) - 1
    out: list[T] = []
    while front <= back:
        out.append(passages[front])
        if front != back:
            out.append(passages[back])
        front, back = front + 1, back - 1
    return out


def error_record(
    item: QAItem,
    strategy: str,
    error: str,
    *,
    seconds: float | None = None,
    doc_pages: int | None = None,
    doc_tokens: int | None = None,
) -> EvalRecord:
    """A question the strategy failed on (exception, timeout): scored 0, counted in accuracy."""
    return EvalRecord(
        **_item_fields(item, strategy, doc_pages, doc_tokens),
        seconds=seconds,
        error=error,
    )


def rescore(record: EvalRecord) -> EvalRecord:
    """The record scored again from what it holds (answer, gold, format, pages): a scoring fix
    applies to answers already computed, without running a model again. Errors and skips are
    returned as they are."""
    if record.error is not None or record.skipped is not None:
        return record
    scored = score_answer(
        record.gold,
        record.answer,
        record.answer_format,
        abstained=record.abstained,
        unanswerable=record.unanswerable,
        question=record.question,
    )
    gold_pages = record.evidence_pages or []
    cite_p, cite_r = citation_page_scores(record.cited_pages, gold_pages)
    recall = record.page_recall_at_k
    if recall is not None and record.retrieved_pages:
        recall = page_recall_at_k(record.retrieved_pages, gold_pages, record.k)
    return record.model_copy(
        update={
            "score": scored.score,
            "correct": scored.correct,
            "correct_strict": scored.strict,
            "score_method": scored.method,
            "citation_page_precision": cite_p,
            "citation_page_recall": cite_r,
            "page_recall_at_k": recall,
        }
    )


def skipped_record(
    item: QAItem, strategy: str, reason: str, *, doc_pages: int | None = None
) -> EvalRecord:
    """A question the strategy was not run on (e.g. the document does not fit): not scored."""
    return EvalRecord(**_item_fields(item, strategy, doc_pages, None), skipped=reason)


def write_records(records: Iterable[EvalRecord], path: Path) -> Path:
    """Records as JSON lines."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(r.model_dump_json() + "\n" for r in records), encoding="utf-8")
    return path


def write_summary(folder: Path, stem: str, summary: dict[str, Any], text: str) -> None:
    """A records tool's output: `<stem>.json` (the figures) and `<stem>.md` (the table)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stem}.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    (folder / f"{stem}.md").write_text(text, encoding="utf-8")


def read_written_records(path: Path) -> Iterator[EvalRecord]:
    """The records of an answers file that a run may still be writing, or was killed while
    writing: a torn or unreadable line (a crash mid-write) is skipped, not an error."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            yield EvalRecord.model_validate_json(line)
        except ValueError:
            continue


def read_records(path: Path) -> list[EvalRecord]:
    return [
        EvalRecord.model_validate_json(line)
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]


# --- failure breakdown --------------------------------------------------------------------------

FailureCategory = Literal[
    "not retrieved",
    "retrieved, not in prompt",
    "not in prompt (pool unknown)",
    "in prompt, wrong",
    "right",
    "wrong (no gold pages)",
    "abstained (right)",
    "answered (wrong)",
    "error",
]
FAILURE_CATEGORIES: tuple[FailureCategory, ...] = get_args(FailureCategory)
"""Every `failure_category`, in the order of the tables: the losses of questions with gold
evidence pages along the pipeline (retrieval, passage budget, model), the right answers, then
the questions without gold pages, unanswerable questions and errors."""


def candidate_pool(record: EvalRecord) -> list[int] | None:
    """The pages of the candidates the record's answer was chosen from; None when unknown.

    - long context (the route taken, or the strategy when no route is recorded): the prompt's
      pages, every page read; closed book: none;
    - retrieval: `candidate_pages`; when those are empty, an empty prompt is taken as an empty
      pool (the search found nothing: the passage budget always keeps the best `min_passages`
      candidates, 2 by default; a record that carries candidates always lists the prompt's
      pages among them), while a prompt with pages means the record was written before
      candidates were recorded (or by a strategy that does not record them): unknown.
    """
    route = record.route or record.strategy
    if route == "closed-book":
        return []
    if route in WHOLE_DOCUMENT:
        return list(record.retrieved_pages)
    if record.candidate_pages or not record.retrieved_pages:
        return list(record.candidate_pages)
    return None


def failure_category(record: EvalRecord) -> FailureCategory:
    """Where the record's answer was lost (see the module doc), one category per record:

    - an error: "error";
    - an unanswerable question: "abstained (right)" or "answered (wrong)";
    - a correct answer: "right" (a right answer is never counted as lost, even when no evidence
      page was in its prompt: closed-book knowledge, or another page that holds the answer);
    - an answerable question without gold evidence pages: "wrong (no gold pages)";
    - a wrong answer (an abstention included) with an evidence page in the prompt: "in prompt,
      wrong"; else, with the candidate pool unknown (`candidate_pool`): "not in prompt (pool
      unknown)"; with an evidence page among the candidates: "retrieved, not in prompt"; else
      "not retrieved".
    """
    if record.error is not None:
        return "error"
    if record.unanswerable:
        return "abstained (right)" if record.abstained else "answered (wrong)"
    if record.correct:
        return "right"
    gold = set(record.evidence_pages or [])
    if not gold:
        return "wrong (no gold pages)"
    if gold & set(record.retrieved_pages):
        return "in prompt, wrong"
    pool = candidate_pool(record)
    if pool is None:
        return "not in prompt (pool unknown)"
    return "retrieved, not in prompt" if gold & set(pool) else "not retrieved"


def _has_gold_pages(record: EvalRecord) -> bool:
    return bool(record.evidence_pages) and not record.unanswerable


def failure_breakdown(records: Sequence[EvalRecord]) -> dict[str, Any]:
    """Count and share (of `n`) of each `failure_category` among `records` (skipped records
    left out), every category listed; `with_gold_pages`: the records of answerable questions
    with gold evidence pages, whose categories tell where answers were lost."""
    scored = [r for r in records if r.skipped is None]
    counts = Counter(failure_category(r) for r in scored)
    n = len(scored)
    return {
        "n": n,
        "with_gold_pages": sum(_has_gold_pages(r) for r in scored),
        "counts": {c: counts.get(c, 0) for c in FAILURE_CATEGORIES},
        "shares": {c: _round(counts.get(c, 0) / n) if n else None for c in FAILURE_CATEGORIES},
    }


# --- metrics ------------------------------------------------------------------------------------


def _mean(values: Iterable[float | int | None]) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def _percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def group_metrics(records: Sequence[EvalRecord]) -> dict[str, Any]:
    """The metrics of one group of records (errors count as wrong answers)."""
    n = len(records)
    answerable = [r for r in records if not r.unanswerable]
    unanswerable = [r for r in records if r.unanswerable]
    ok = [r for r in records if r.error is None]
    abst = abstention_scores([r.abstained for r in ok], [r.unanswerable for r in ok])
    seconds = [r.seconds for r in ok if r.seconds is not None]
    strict = [r.correct_strict for r in records if r.correct_strict is not None or r.error]
    cit_r = _mean(r.citation_recall for r in ok)
    cit_p = _mean(r.citation_precision for r in ok)
    routes = Counter(r.route for r in ok if r.route)
    return {
        "n": n,
        "errors": n - len(ok),
        "answered": sum(not r.abstained for r in ok),
        "abstained": sum(r.abstained for r in ok),
        "accuracy": _round(_mean(r.correct for r in records)),
        "accuracy_strict": _round(_mean(bool(s) for s in strict)),
        "score": _round(_mean(r.score for r in records)),
        "f1": _round(
            mmlongbench_f1(
                [r.score for r in records],
                [r.unanswerable for r in records],
                [r.abstained or r.error is not None for r in records],
            )
        ),
        "answerable": {
            "n": len(answerable),
            "accuracy": _round(_mean(r.correct for r in answerable)),
        },
        "unanswerable": {
            "n": len(unanswerable),
            "accuracy": _round(_mean(r.correct for r in unanswerable)),
        },
        "abstention": {
            "precision": _round(abst.precision),
            "recall": _round(abst.recall),
            "f1": _round(abst.f1),
        },
        "pages": {
            "recall_at_k": _round(_mean(r.page_recall_at_k for r in ok)),
            "n": sum(r.page_recall_at_k is not None for r in ok),
            "k": sorted({r.k for r in ok if r.k is not None}),
            "citation_precision": _round(_mean(r.citation_page_precision for r in ok)),
            "citation_recall": _round(_mean(r.citation_page_recall for r in ok)),
        },
        "tokens": {
            "prompt_mean": _round(_mean(r.prompt_tokens for r in ok), 1),
            "completion_mean": _round(_mean(r.completion_tokens for r in ok), 1),
            "prompt_total": sum(r.prompt_tokens or 0 for r in ok),
            "completion_total": sum(r.completion_tokens or 0 for r in ok),
        },
        "latency": {
            "seconds_mean": _round(_mean(seconds), 3),
            "seconds_p50": _round(_percentile(seconds, 0.5), 3),
            "seconds_p90": _round(_percentile(seconds, 0.9), 3),
            "ttft_mean": _round(_mean(r.ttft for r in ok), 3),
            # decode speed: completion tokens over generation seconds (speculative: its own)
            "decode_tokens_per_second_mean": _round(_mean(_decode_speed(r) for r in ok), 2),
            "check_mean": _round(_mean(r.check_seconds for r in ok), 3),
            "check_share_of_generation": _check_share(ok),
        },
        "citation_support": {
            "citation_recall": NOT_MEASURED if cit_r is None else _round(cit_r),
            "citation_precision": NOT_MEASURED if cit_p is None else _round(cit_p),
        },
        "routes": {k: _round(v / sum(routes.values())) for k, v in sorted(routes.items())},
        "failures": failure_breakdown(records),
        "speculative": _speculative_summary(ok),
        "computation": _computation_summary(ok),
    }


def _computation_summary(records: Sequence[EvalRecord]) -> dict[str, Any] | None:
    """How the computed answers did (`answer.compute`): questions where a computation was tried,
    where it gave the answer, and the accuracy of each part (None: none was tried)."""
    tried = [r for r in records if r.computation is not None]
    if not tried:
        return None
    used = [r for r in tried if r.computation is not None and r.computation.used]
    dropped = [r for r in tried if r not in used]
    return {
        "tried": len(tried),
        "used": len(used),
        "accuracy_used": _round(_mean(float(r.correct) for r in used)),
        "accuracy_dropped": _round(_mean(float(r.correct) for r in dropped)),
        "dropped_reasons": dict(
            Counter(
                drop_kind(r.computation.error or "") for r in dropped if r.computation
            ).most_common()
        ),
    }


def drop_kind(error: str) -> str:
    """A dropped computation's reason without its names and numbers, for counting."""
    if error.startswith("no value found"):
        return "an operand not found"
    if "not stated in any passage" in error:
        return "an operand stated in no passage"
    if "copied as the same figure" in error:
        return "two operands copied as one figure"
    return re.sub(r"'[^']*'|\d+", "…", error.split(":")[0])


def _speculative_summary(records: Sequence[EvalRecord]) -> dict[str, Any] | None:
    """Drafted and accepted tokens of the speculative answers among `records` (None: none)."""
    reps = [r.speculative for r in records if r.speculative is not None]
    if not reps:
        return None
    drafted = sum(x.drafted for x in reps)
    return {
        "drafters": sorted({x.drafter for x in reps}),
        "drafted": drafted,
        "accepted": sum(x.accepted for x in reps),
        "acceptance_rate": _round(sum(x.accepted for x in reps) / drafted) if drafted else None,
        "passes": sum(x.passes for x in reps),
    }


def _decode_speed(r: EvalRecord) -> float | None:
    if r.speculative is not None:
        return r.speculative.decode_tokens_per_second
    if r.completion_tokens and r.generation_seconds:
        return r.completion_tokens / r.generation_seconds
    return None


def _check_share(records: Sequence[EvalRecord]) -> float | None:
    """Citation-check seconds over generation seconds, on the answers that have both."""
    both = [r for r in records if r.check_seconds is not None and r.generation_seconds]
    gen = sum(r.generation_seconds or 0.0 for r in both)
    return _round(sum(r.check_seconds or 0.0 for r in both) / gen) if gen else None


def page_bin(pages: int | None, bins: Sequence[int] = PAGE_BINS) -> str | None:
    """The label of the length bin of a document of `pages` pages ("1-10", ..., ">200")."""
    if pages is None:
        return None
    low = 1
    for high in bins:
        if pages <= high:
            return f"{low}-{high}"
        low = high + 1
    return f">{bins[-1]}"


def _bin_labels(bins: Sequence[int]) -> list[str]:
    labels, low = [], 1
    for high in bins:
        labels.append(f"{low}-{high}")
        low = high + 1
    return [*labels, f">{bins[-1]}"]


def _by(
    records: Iterable[EvalRecord], key: Callable[[EvalRecord], Any]
) -> dict[Any, list[EvalRecord]]:
    groups: dict[Any, list[EvalRecord]] = defaultdict(list)
    for r in records:
        groups[key(r)].append(r)
    return groups


_STRATEGY_ORDER = ("closed-book", "rag", "long-context", "auto", "speculative", "llama-index")


def _strategies(records: Sequence[EvalRecord]) -> list[str]:
    """The strategies present, docqa's own in a fixed order, then any other as they come: the
    same column order in every table however the records were appended (resumed runs)."""
    seen = list(dict.fromkeys(r.strategy for r in records))
    known = [s for s in _STRATEGY_ORDER if s in seen]
    return known + [s for s in seen if s not in _STRATEGY_ORDER]


def machine_info() -> dict[str, Any]:
    """Platform, CPU count and total RAM of this machine (for the report header)."""
    ram: float | None
    try:
        import psutil

        ram = psutil.virtual_memory().total / 2**30
    except Exception:  # pragma: no cover - psutil is a dependency; be robust anyway
        try:
            ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        except (ValueError, OSError, AttributeError):
            ram = None
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "ram_gib": None if ram is None else round(ram, 1),
    }


def summarize(
    records: Sequence[EvalRecord],
    *,
    model: str = "",
    date: str | None = None,
    machine: dict[str, Any] | None = None,
    bins: Sequence[int] = PAGE_BINS,
) -> dict[str, Any]:
    """The `summary.json` content (see the module doc). Skipped records are counted per
    strategy (with their reasons, one per document) and left out of every metric; `common`
    compares the strategies on the questions all of them answered."""
    all_records = records
    records = [r for r in all_records if r.skipped is None]
    strategies = _strategies(all_records)
    per_strategy = _by(records, lambda r: r.strategy)
    models = sorted({r.model for r in records if r.model})
    out: dict[str, Any] = {
        "date": date or datetime.now(UTC).isoformat(timespec="seconds"),
        "model": model or ", ".join(models),
        "machine": machine if machine is not None else machine_info(),
        "n_records": len(all_records),
        "n_questions": len({r.item_id for r in all_records}),
        "strategies": {s: group_metrics(per_strategy[s]) for s in strategies},
        "skipped": skipped_summary(all_records),
        "common": common_subset(records, strategies),
        "by_doc_type": {},
        "by_answer_format": {},
        "by_doc_length": {},
    }
    for s in strategies:
        rs = per_strategy[s]
        types = _by(rs, lambda r: r.doc_type or "unknown")
        out["by_doc_type"][s] = {t: group_metrics(types[t]) for t in sorted(types)}
        formats = _by(rs, lambda r: r.answer_format)
        out["by_answer_format"][s] = {f: group_metrics(formats[f]) for f in sorted(formats)}
        lengths = _by(
            [r for r in rs if r.doc_pages is not None], lambda r: page_bin(r.doc_pages, bins)
        )
        out["by_doc_length"][s] = {
            b: {
                "n": len(lengths[b]),
                "accuracy": _round(_mean(r.correct for r in lengths[b])),
                "score": _round(_mean(r.score for r in lengths[b])),
            }
            for b in _bin_labels(bins)
            if b in lengths
        }
    return out


def skipped_summary(records: Sequence[EvalRecord]) -> dict[str, Any]:
    """Per strategy with skips: how many questions, and the reason per document."""
    out: dict[str, Any] = {}
    for s, rs in _by([r for r in records if r.skipped is not None], lambda r: r.strategy).items():
        reasons: dict[str, str] = {}
        for r in rs:
            reasons.setdefault(r.doc, r.skipped or "")
        out[s] = {"n": len(rs), "documents": len(reasons), "reasons": reasons}
    return out


def common_ids(records: Sequence[EvalRecord], strategies: Sequence[str]) -> list[str]:
    """The questions every strategy answered (errors included, skips excluded), sorted."""
    ran = _by([r for r in records if r.skipped is None], lambda r: r.item_id)
    return sorted(i for i, rs in ran.items() if set(strategies) <= {r.strategy for r in rs})


def common_subset(records: Sequence[EvalRecord], strategies: Sequence[str]) -> dict[str, Any]:
    """Accuracy per strategy on the questions every strategy answered (`common_ids`): the
    like-for-like comparison when long context skipped long documents."""
    keep = set(common_ids(records, strategies))
    per = _by([r for r in records if r.item_id in keep], lambda r: r.strategy)
    return {
        "n": len(keep),
        "accuracy": {s: _round(_mean(r.correct for r in per.get(s, []))) for s in strategies},
        "score": {s: _round(_mean(r.score for r in per.get(s, []))) for s in strategies},
    }


# --- plots --------------------------------------------------------------------------------------


_KNOWN_COLORS = {
    "rag": "C0",
    "long-context": "C1",
    "router": "C2",
    "auto": "C2",
    "speculative": "C3",
    "closed-book": "C4",
}


def _color(name: str, names: Sequence[str]) -> str:
    """One colour per strategy or route name, the same in every plot."""
    if name in _KNOWN_COLORS:
        return _KNOWN_COLORS[name]
    others = [n for n in names if n not in _KNOWN_COLORS]
    return f"C{(5 + others.index(name)) % 10}" if name in others else "C9"


def save_figure(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(str(path), dpi=110, format="png")
    return path


def plot_accuracy_vs_length(
    records: Sequence[EvalRecord], path: Path, bins: Sequence[int] = PAGE_BINS
) -> Path | None:
    """Accuracy per document length bin (pages), a line per strategy; n per point annotated.
    None (no file) when no record knows its document's page count."""
    known = [r for r in records if r.doc_pages is not None]
    if not known:
        return None
    labels = [b for b in _bin_labels(bins) if any(page_bin(r.doc_pages, bins) == b for r in known)]
    fig = Figure(figsize=(7.0, 4.2))
    ax = fig.add_subplot()
    strategies = _strategies(known)
    for j, s in enumerate(strategies):
        groups = _by([r for r in known if r.strategy == s], lambda r: page_bin(r.doc_pages, bins))
        idx = [i for i, b in enumerate(labels) if b in groups]
        # a small sideways shift per strategy, so that equal accuracies do not hide each other
        shift = 0.06 * (j - (len(strategies) - 1) / 2)
        xs = [i + shift for i in idx]
        ys = [100 * (_mean(r.correct for r in groups[labels[i]]) or 0.0) for i in idx]
        ax.plot(xs, ys, marker="o", label=s, color=_color(s, strategies))
        for i, x, y in zip(idx, xs, ys, strict=True):
            ax.annotate(
                f"n={len(groups[labels[i]])}",
                (x, y),
                textcoords="offset points",
                xytext=(0, 6),
                ha="center",
                fontsize=7,
            )
    ax.set_xticks(range(len(labels)), labels)
    ax.set_xlabel("document length (pages)")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 110)
    ax.set_title("Accuracy vs document length")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_accuracy_vs_cost(records: Sequence[EvalRecord], path: Path) -> Path | None:
    """The RAG-vs-long-context trade-off in one picture: a point per strategy at (mean prompt
    tokens, accuracy) and at (mean seconds per question, accuracy). A panel is left out when no
    record has its cost; None (no file) when neither has any.

    When a strategy skipped questions (long context on documents that do not fit), its filled
    point stands on fewer, shorter documents than the others; hollow points then show every
    strategy on the questions all of them answered, the like-for-like comparison."""
    strategies = _strategies(records)
    common = set(common_ids(records, strategies)) if len(strategies) > 1 else set()
    all_ids = {r.item_id for r in records}
    subsets: list[tuple[Sequence[EvalRecord], bool]] = [(records, True)]
    if common and common != all_ids:
        subsets.append(([r for r in records if r.item_id in common], False))
    panels: list[tuple[str, Callable[[EvalRecord], float | int | None]]] = []
    if any(r.prompt_tokens for r in records):
        panels.append(("mean prompt tokens per question", lambda r: r.prompt_tokens))
    if any(r.seconds for r in records):
        panels.append(("mean seconds per question", lambda r: r.seconds))
    if not panels or not strategies:
        return None
    fig = Figure(figsize=(5.0 * len(panels), 4.2))
    for i, (label, cost) in enumerate(panels, 1):
        ax = fig.add_subplot(1, len(panels), i)
        points: list[tuple[str, float, float, bool]] = []
        for subset, filled in subsets:
            for s in strategies:
                rs = [r for r in subset if r.strategy == s]
                x = _mean(cost(r) for r in rs if r.error is None)
                if x is not None:
                    points.append((s, x, 100 * (_mean(r.correct for r in rs) or 0.0), filled))
        x_span = max((x for _, x, _, _ in points), default=1.0) or 1.0
        for j, (s, x, y, filled) in enumerate(points):
            color = _color(s, strategies)
            ax.scatter(
                [x],
                [y],
                s=60,
                color=color if filled else "none",
                edgecolors=color,
                linewidths=1.5,
            )
            if not filled:
                continue
            # labels of (nearly) coinciding points are stacked, not printed over each other
            near = sum(
                abs(x - x2) < 0.04 * x_span and abs(y - y2) < 4 for _, x2, y2, _ in points[:j]
            )
            ax.annotate(
                s, (x, y), textcoords="offset points", xytext=(6, 4 - 11 * near), fontsize=8
            )
        if len(subsets) > 1:
            ax.scatter([], [], s=60, color="grey", label="filled: every question it answered")
            ax.scatter(
                [],
                [],
                s=60,
                color="none",
                edgecolors="grey",
                linewidths=1.5,
                label=f"hollow: the {len(common)} questions all answered",
            )
            ax.legend(fontsize=7, loc="upper right")
        ax.set_xlabel(label)
        ax.set_ylabel("accuracy (%)")
        # room above the best point for its label and the legend, not a mostly empty 0-100
        top = max((y for _, _, y, _ in points), default=0.0)
        ax.set_ylim(0, min(105.0, max(40.0, 10.0 * math.ceil(top / 10.0) + 20.0)))
        ax.set_xlim(left=0)
        ax.grid(alpha=0.3)
    fig.suptitle("Accuracy vs cost per strategy")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_router_choices(records: Sequence[EvalRecord], path: Path) -> Path | None:
    """Share of the routes taken (`record.route`) per strategy, as stacked horizontal bars.
    None (no file) when no record has a route."""
    with_route = [r for r in records if r.route]
    if not with_route:
        return None
    strategies = _strategies(with_route)
    routes = sorted({r.route for r in with_route if r.route})
    shares: dict[str, list[float]] = {}
    for s in strategies:
        counts = Counter(r.route for r in with_route if r.strategy == s)
        total = sum(counts.values())
        shares[s] = [100 * counts.get(route, 0) / total for route in routes]
    fig = Figure(figsize=(7.0, 1.8 + 0.6 * len(strategies)))
    ax = fig.add_subplot()
    left = [0.0] * len(strategies)
    for j, route in enumerate(routes):
        widths = [shares[s][j] for s in strategies]
        ax.barh(strategies, widths, left=left, label=route, color=_color(route, routes))
        for y, (x0, w) in enumerate(zip(left, widths, strict=True)):
            if w >= 8:
                ax.text(x0 + w / 2, y, f"{w:.0f}%", ha="center", va="center", fontsize=8)
        left = [a + b for a, b in zip(left, widths, strict=True)]
    ax.set_xlim(0, 100)
    ax.set_xlabel("share of questions (%)")
    ax.set_title("Router choices")
    ax.invert_yaxis()
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=max(len(routes), 1))
    fig.tight_layout()
    return save_figure(fig, path)


_FAILURE_COLORS: dict[str, str] = {
    "not retrieved": "#d62728",
    "retrieved, not in prompt": "#ff7f0e",
    "not in prompt (pool unknown)": "#e7ba52",
    "in prompt, wrong": "#9467bd",
    "right": "#2ca02c",
    "wrong (no gold pages)": "#8c8c8c",
    "abstained (right)": "#98df8a",
    "answered (wrong)": "#f7b6d2",
    "error": "#3b3b3b",
}


def plot_failure_breakdown(records: Sequence[EvalRecord], path: Path) -> Path | None:
    """Share of each `failure_category` per strategy, as stacked horizontal bars (the categories
    that occur, in table order). None (no file) when no question has gold evidence pages: the
    breakdown would only repeat the accuracy."""
    scored = [r for r in records if r.skipped is None]
    if not any(_has_gold_pages(r) for r in scored):
        return None
    strategies = _strategies(scored)
    per = {s: Counter(failure_category(r) for r in scored if r.strategy == s) for s in strategies}
    present = [c for c in FAILURE_CATEGORIES if any(per[s][c] for s in strategies)]
    fig = Figure(figsize=(8.0, 2.2 + 0.6 * len(strategies)))
    ax = fig.add_subplot()
    left = [0.0] * len(strategies)
    for category in present:
        widths = [100 * per[s][category] / sum(per[s].values()) for s in strategies]
        ax.barh(strategies, widths, left=left, label=category, color=_FAILURE_COLORS[category])
        r, g, b = to_rgb(_FAILURE_COLORS[category])
        ink = "white" if 0.299 * r + 0.587 * g + 0.114 * b < 0.45 else "black"
        for y, (x0, w) in enumerate(zip(left, widths, strict=True)):
            if w >= 8:
                ax.text(x0 + w / 2, y, f"{w:.0f}%", ha="center", va="center", fontsize=8, color=ink)
        left = [a + b for a, b in zip(left, widths, strict=True)]
    ax.set_xlim(0, 100)
    ax.set_xlabel("share of questions (%)")
    ax.set_title("Failure breakdown: where answers are lost")
    ax.invert_yaxis()
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=3)
    fig.tight_layout()
    return save_figure(fig, path)


# --- Markdown -----------------------------------------------------------------------------------


def pct(value: Any) -> str:
    """A share as a percentage with one decimal; '–' for None."""
    return "–" if value is None else f"{100 * float(value):.1f}%"


def _num(value: Any, digits: int = 0) -> str:
    return "–" if value is None else f"{float(value):,.{digits}f}"


def _support(value: Any) -> str:
    return value if isinstance(value, str) else pct(value)


def _machine_line(machine: dict[str, Any]) -> str:
    ram = machine.get("ram_gib")
    return (
        f"{machine.get('platform')} ({machine.get('machine')}), "
        f"{machine.get('cpu_count')} CPUs, {'?' if ram is None else ram} GiB RAM, "
        f"Python {machine.get('python')}"
    )


def _order_key(key: str) -> tuple[int, int, str]:
    """Length bins ("1-10", ">200") by their number, other keys alphabetically."""
    m = re.match(r">?(\d+)", key)
    return (0, int(m.group(1)) + (key.startswith(">")), key) if m else (1, 0, key)


def _group_table(groups: dict[str, dict[str, dict[str, Any]]], title: str) -> list[str]:
    """Rows: group values; columns: strategies; cells: accuracy (n)."""
    strategies = list(groups)
    keys = sorted({k for g in groups.values() for k in g}, key=_order_key)
    if not keys:
        return []
    lines = [f"## {title}", "", f"| {title.split(' by ')[-1]} | " + " | ".join(strategies) + " |"]
    lines.append("|---|" + "---:|" * len(strategies))
    for k in keys:
        cells = []
        for s in strategies:
            m = groups[s].get(k)
            cells.append("–" if m is None else f"{pct(m['accuracy'])} ({m['n']})")
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    return [*lines, ""]


_FAILURE_NOTE = (
    "Each answer in one category. For a question with gold evidence pages: *not retrieved* (no "
    "evidence page among the pages of the candidates the retriever returned, the reranked pool), "
    "*retrieved, not in prompt* (among the candidates, but the passage budget did not give it to "
    "the model), *in prompt, wrong* (given to the model, answer wrong or abstained), *right*; "
    "*not in prompt (pool unknown)*: no evidence page in the prompt, and the record (written "
    "before candidates were recorded) cannot tell the first two apart. Long context's candidates "
    "are the pages it read, closed book's none. Without gold pages: *right* / *wrong (no gold "
    "pages)*; unanswerable: *abstained (right)* / *answered (wrong)*. Errors count apart."
)

PAGES_SHOWN = 10
"""Pages listed per cell of the per-question failure table (the rest are counted)."""


def _failure_table(summary: dict[str, Any]) -> list[str]:
    """Rows: strategies; columns: the categories that occur; cells: count (share)."""
    failures = {s: m["failures"] for s, m in summary["strategies"].items() if "failures" in m}
    if not any(f["with_gold_pages"] for f in failures.values()):
        return []
    present = [c for c in FAILURE_CATEGORIES if any(f["counts"][c] for f in failures.values())]
    lines = [
        "## Failure breakdown",
        "",
        _FAILURE_NOTE,
        "",
        "| strategy | n | " + " | ".join(present) + " |",
        "|---|" + "---:|" * (len(present) + 1),
    ]
    for s, f in failures.items():
        cells = [f"{f['counts'][c]} ({pct(f['shares'][c])})" for c in present]
        lines.append(f"| {s} | {f['n']} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _page_list(pages: Sequence[int], gold: set[int], limit: int = PAGES_SHOWN) -> str:
    """The first `limit` pages, evidence pages in bold, then how many more (naming the evidence
    pages among them): `**4**, 9, 2 … +12 (incl. **30**)`."""
    if not pages:
        return "–"

    def fmt(p: int) -> str:
        return f"**{p}**" if p in gold else str(p)

    text = ", ".join(fmt(p) for p in pages[:limit])
    rest = pages[limit:]
    if rest:
        text += f" … +{len(rest)}"
        hidden = [fmt(p) for p in rest if p in gold]
        if hidden:
            text += f" (incl. {', '.join(hidden)})"
    return text


def _candidates_cell(record: EvalRecord, gold: set[int]) -> str:
    if record.error is not None:
        return "–"
    route = record.route or record.strategy
    if route in WHOLE_DOCUMENT:
        return "= prompt"
    pool = candidate_pool(record)
    if pool is None:
        return "unknown"
    return _page_list(pool, gold) if pool else "none"


def _failure_rows(records: Sequence[EvalRecord]) -> list[str]:
    """The per-question failure table: one row per (question, strategy), questions in the order
    they come, strategies in the tables' order. Empty when no question has gold pages."""
    scored = [r for r in records if r.skipped is None]
    if not any(_has_gold_pages(r) for r in scored):
        return []
    order = {s: i for i, s in enumerate(_strategies(scored))}
    questions = {i: n for n, i in enumerate(dict.fromkeys(r.item_id for r in scored))}
    lines = [
        "## Failure breakdown per question",
        "",
        f"Evidence pages in bold; at most {PAGES_SHOWN} pages shown per cell. Candidates: the "
        "pages of the reranked pool, best first; prompt: the pages of the passages given.",
        "",
        "| question | document | strategy | category | evidence pages | candidate pages "
        "| prompt pages |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in sorted(scored, key=lambda r: (questions[r.item_id], order[r.strategy])):
        gold = set(r.evidence_pages or [])
        cells = [
            _cell(r.item_id),
            _cell(r.doc),
            r.strategy,
            failure_category(r),
            ", ".join(str(p) for p in r.evidence_pages or []) or "–",
            _candidates_cell(r, gold),
            "–" if r.error is not None else _page_list(r.retrieved_pages, gold),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def render_markdown(
    summary: dict[str, Any],
    plots: dict[str, Path] | None = None,
    records: Sequence[EvalRecord] | None = None,
) -> str:
    """`report.md` from a summary (plots linked by file name, relative to the report); with
    `records`, the per-question failure table at the end."""
    lines = [
        "# docqa evaluation report",
        "",
        f"- Date: {summary['date']}",
        f"- Model: {summary['model'] or 'unknown'}",
        f"- Machine: {_machine_line(summary['machine'])}",
        f"- Records: {summary['n_records']} ({summary['n_questions']} questions x "
        f"{len(summary['strategies'])} strategies)",
        "",
        "Accuracy: share of questions answered correctly (numbers searched in the answer, strings "
        "by ANLS >= 0.5 or containment; see `eval/scoring.py`); strict: the paper's rule on the "
        "extracted short answer; score: mean MMLongBench score (ANLS for strings); F1: "
        "MMLongBench's F1 over answerable questions. Unanswerable questions count as correct when "
        "the system abstained. Errors count as wrong.",
        "",
        "## Strategies",
        "",
        "| strategy | n | accuracy | strict | score | F1 | answerable | unanswerable "
        "| abstain P | abstain R | page R@k | cited page P | cited page R | prompt tok "
        "| completion tok | mean s | p90 s | TTFT s | citation R | citation P | errors |",
        "|---|" + "---:|" * 20,
    ]
    for s, m in summary["strategies"].items():
        k = m["pages"]["k"]
        recall = pct(m["pages"]["recall_at_k"])
        if k and m["pages"]["recall_at_k"] is not None:
            recall += f" (k={','.join(str(x) for x in k)})"
        lines.append(
            "| "
            + " | ".join(
                [
                    s,
                    str(m["n"]),
                    pct(m["accuracy"]),
                    pct(m["accuracy_strict"]),
                    pct(m["score"]),
                    pct(m["f1"]),
                    f"{pct(m['answerable']['accuracy'])} ({m['answerable']['n']})",
                    f"{pct(m['unanswerable']['accuracy'])} ({m['unanswerable']['n']})",
                    pct(m["abstention"]["precision"]),
                    pct(m["abstention"]["recall"]),
                    recall,
                    pct(m["pages"]["citation_precision"]),
                    pct(m["pages"]["citation_recall"]),
                    _num(m["tokens"]["prompt_mean"]),
                    _num(m["tokens"]["completion_mean"]),
                    _num(m["latency"]["seconds_mean"], 2),
                    _num(m["latency"]["seconds_p90"], 2),
                    _num(m["latency"]["ttft_mean"], 2),
                    _support(m["citation_support"]["citation_recall"]),
                    _support(m["citation_support"]["citation_precision"]),
                    str(m["errors"]),
                ]
            )
            + " |"
        )
    lines.append("")
    costs = [
        f"{s} {_num(m['latency']['check_mean'], 2)} s per answer "
        f"({pct(m['latency']['check_share_of_generation'])} of generation time)"
        for s, m in summary["strategies"].items()
        if m["latency"].get("check_mean") is not None
    ]
    if costs:
        lines += ["Citation check cost: " + "; ".join(costs) + ".", ""]
    skipped = summary.get("skipped") or {}
    if skipped:
        lines += ["## Skipped", ""]
        for s, sk in skipped.items():
            lines.append(
                f"- {s}: {sk['n']} questions on {sk['documents']} documents not run "
                "(not counted in its metrics):"
            )
            lines += [f"  - {doc}: {why}" for doc, why in sk["reasons"].items()]
        lines.append("")
    common = summary.get("common") or {}
    if skipped and common.get("n"):
        names = list(common["accuracy"])
        lines += [
            f"## Like for like: the {common['n']} questions every strategy answered",
            "",
            "| | " + " | ".join(names) + " |",
            "|---|" + "---:|" * len(names),
            "| accuracy | " + " | ".join(pct(common["accuracy"][n]) for n in names) + " |",
            "| score | " + " | ".join(pct(common["score"][n]) for n in names) + " |",
            "",
        ]
    lines += _group_table(summary["by_doc_type"], "Accuracy by document type")
    lines += _group_table(summary["by_answer_format"], "Accuracy by answer format")
    lines += _group_table(summary["by_doc_length"], "Accuracy by document length (pages)")
    lines += _failure_table(summary)
    routed = {s: m["routes"] for s, m in summary["strategies"].items() if m["routes"]}
    if routed:
        names = sorted({r for shares in routed.values() for r in shares})
        lines += ["## Routes taken", "", "| strategy | " + " | ".join(names) + " |"]
        lines.append("|---|" + "---:|" * len(names))
        for s, shares in routed.items():
            lines.append(f"| {s} | " + " | ".join(pct(shares.get(n)) for n in names) + " |")
        lines.append("")
    if plots:
        lines += ["## Plots", ""]
        for title, p in plots.items():
            lines += [f"![{title}]({p.name})", ""]
    if records is not None:
        lines += _failure_rows(records)
    return "\n".join(lines)


class ReportFiles(BaseModel):
    summary: Path
    markdown: Path
    plots: dict[str, Path] = Field(default_factory=dict)
    """Title -> PNG path, for the plots that had data."""


def write_report(
    records: Sequence[EvalRecord],
    out_dir: Path,
    *,
    model: str = "",
    date: str | None = None,
    machine: dict[str, Any] | None = None,
    bins: Sequence[int] = PAGE_BINS,
) -> ReportFiles:
    """Write `summary.json`, `report.md` and the PNG plots into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = summarize(records, model=model, date=date, machine=machine, bins=bins)
    records = [r for r in records if r.skipped is None]
    plots: dict[str, Path] = {}
    made = {
        "Accuracy vs document length": plot_accuracy_vs_length(
            records, out_dir / "accuracy_vs_length.png", bins
        ),
        "Accuracy vs cost": plot_accuracy_vs_cost(records, out_dir / "accuracy_vs_cost.png"),
        "Router choices": plot_router_choices(records, out_dir / "router_choices.png"),
        "Failure breakdown": plot_failure_breakdown(records, out_dir / "failure_breakdown.png"),
    }
    plots = {title: p for title, p in made.items() if p is not None}
    summary_path = out_dir / "summary.json"
    summary_path.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", "utf-8")
    md_path = out_dir / "report.md"
    md_path.write_text(render_markdown(summary, plots, records), encoding="utf-8")
    return ReportFiles(summary=summary_path, markdown=md_path, plots=plots)
