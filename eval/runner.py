"""`docqa eval`: every question of a dataset answered by every strategy, scored, reported.

    docqa eval --dataset ../shared/corpus/dev/qa.jsonl --docs ../shared/corpus/dev \
        --strategies closed-book,rag,long-context,llama-index --out eval/out/dev

1. Load the items (`eval.datasets.load_items`: the dev `qa.jsonl` format, or LaRA texts rendered
   into PDFs under `OUT/lara-pdfs`).
2. Ingest the documents the store lacks (unchanged files are skipped by the ingestor); an item
   whose document failed gets an error record, the others go on.
3. For each strategy in the order given, for each item (grouped by document, so a document's
   long-context KV state is built once and reused): answer, score (`eval.report.make_record`),
   append the record to `OUT/answers.jsonl` at once (flushed and fsynced).
4. `OUT/summary.json`, `OUT/report.md` and the plots (`eval.report.write_report`).

Resuming: records already in `answers.jsonl` for this (item, strategy) are kept, errors excepted
(they are run again); so an interrupted run continues where it stopped, and adding a strategy
to a finished run only runs the new one.

Long context is only tried where the document fits the model's window: otherwise the record is
marked `skipped` with the reason (token numbers), and the report counts skips per strategy.

Strategies: `closed-book`, `rag`, `long-context`, `auto` (docqa's engine), `llama-index` (the
baseline, `eval.llamaindex_rag`), `speculative` (long context decoded from drafts: the same
greedy answer, its drafter figures in the record's `speculative` field).
"""

from __future__ import annotations

import os
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, Field

from docqa.config import Settings
from docqa.runtime import Runtime
from docqa.types import Document, FileStatus
from eval.datasets import QAItem, load_items
from eval.report import (
    EvalRecord,
    ReportFiles,
    error_record,
    make_record,
    read_records,
    read_written_records,
    rescore,
    skipped_record,
)
from eval.report import write_report as _write_report

__all__ = [
    "ENGINE_STRATEGIES",
    "STRATEGIES",
    "EvalEta",
    "EvalProgress",
    "EvalRun",
    "check_strategies",
    "load_done",
    "parse_strategies",
    "report_only",
    "run_eval",
]

ENGINE_STRATEGIES = ("closed-book", "rag", "long-context", "speculative", "auto")
STRATEGIES = (*ENGINE_STRATEGIES, "llama-index")
ANSWERS = "answers.jsonl"


class EvalProgress(Protocol):
    """What a front end shows while an evaluation runs."""

    def note(self, line: str) -> None: ...
    def start(self, todo: Mapping[str, int]) -> None:
        """`todo`: answers to compute per strategy, in the order they will run."""

    def done(self, record: EvalRecord) -> None: ...


class _Quiet:
    def note(self, line: str) -> None: ...
    def start(self, todo: Mapping[str, int]) -> None: ...
    def done(self, record: EvalRecord) -> None: ...


class EvalEta:
    """Time left, from each strategy's own mean seconds per answer.

    One mean over all answers (what rich's and tqdm's ETAs do) is wrong by an order of
    magnitude here: closed book answers in ~1 s, a long-context answer in 20-200 s, and a run of
    skipped questions costs nothing. Hand-written because no progress library estimates per
    kind of task. A strategy with no timed answer yet borrows the mean of all timed answers.
    """

    def __init__(self, todo: Mapping[str, int]) -> None:
        self.left = Counter(todo)
        self.spent: defaultdict[str, float] = defaultdict(float)
        self.timed: Counter[str] = Counter()

    def done(self, record: EvalRecord) -> None:
        self.left[record.strategy] -= 1
        if record.skipped is None and record.seconds:
            self.spent[record.strategy] += record.seconds
            self.timed[record.strategy] += 1

    def seconds_left(self) -> float | None:
        """None until one answer has been timed."""
        n = sum(self.timed.values())
        if not n:
            return None
        overall = sum(self.spent.values()) / n
        return sum(
            left * (self.spent[s] / self.timed[s] if self.timed[s] else overall)
            for s, left in self.left.items()
            if left > 0
        )


class EvalRun(BaseModel):
    """What `run_eval` did: where the files are and how many answers were new."""

    out: Path
    answers: Path
    report: ReportFiles
    records: int
    new: int
    kept: int
    errors: int
    skipped: int
    ingested: dict[str, str] = Field(default_factory=dict)
    """File name -> ingest status ("indexed", "unchanged", "partial (pages not read: 2)",
    "failed: ...")."""
    seconds: float


def parse_strategies(text: str) -> list[str]:
    """`"closed-book,rag"` -> `["closed-book", "rag"]`; a clear error for unknown names."""
    return check_strategies(text.split(","))


def check_strategies(names: Iterable[str]) -> list[str]:
    """The strategy names, stripped and without repeats; a clear error for unknown ones."""
    unique = list(dict.fromkeys(s.strip() for s in names if s.strip()))
    if not unique:
        raise ValueError("no strategy given")
    for n in unique:
        if n not in STRATEGIES:
            raise ValueError(f"unknown strategy '{n}' (choose from {', '.join(STRATEGIES)})")
    return unique


def _require_baseline() -> None:
    """Fail before any work when the llama-index baseline's packages are missing."""
    try:
        import llama_index.embeddings.huggingface
        import llama_index.readers.file  # noqa: F401
    except ImportError as e:
        raise ValueError(
            f"strategy 'llama-index' needs the baseline's packages ({e.name} is missing): "
            "pip install -e '.[dev]'"
        ) from None


def load_done(path: Path) -> dict[tuple[str, str], EvalRecord]:
    """The finished records of an earlier run, by (item id, strategy); errors are left out so
    that they run again. A torn last line (a crash mid-write) is ignored."""
    if not path.is_file():
        return {}
    done: dict[tuple[str, str], EvalRecord] = {}
    for rec in read_written_records(path):
        if rec.error is None:
            done[(rec.item_id, rec.strategy)] = rec
    return done


def _append(path: Path, record: EvalRecord) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(record.model_dump_json() + "\n")
        f.flush()
        os.fsync(f.fileno())


def _rewrite(path: Path, records: Sequence[EvalRecord]) -> None:
    """Keep only the kept records (drops the errors that are about to run again)."""
    tmp = path.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(r.model_dump_json() + "\n" for r in records), encoding="utf-8")
    tmp.replace(path)


class _Docs:
    """The store's documents for the items, ingested when missing, with their page and token
    counts (token counts by the answering model's tokenizer, computed once per document)."""

    def __init__(self, rt: Runtime, items: Sequence[QAItem], progress: EvalProgress) -> None:
        from ingest.pipeline import Ingestor, doc_id_for

        self.rt = rt
        self.by_name: dict[str, Document] = {}
        self.failed: dict[str, str] = {}
        self.status: dict[str, str] = {}
        self._tokens: dict[str, int] = {}
        paths: dict[str, Path] = {}
        for it in items:
            if it.doc_path is None:
                self.failed[it.doc] = f"document '{it.doc}' not found beside the dataset"
            else:
                paths[it.doc] = it.doc_path
        if not paths:
            return
        files = sorted(set(paths.values()))
        progress.note(f"ingesting what is missing of {len(files)} documents")
        report = Ingestor.from_runtime(rt).run(files)
        results = {Path(r.path).resolve(): r for r in report.documents}
        for name, path in paths.items():
            r = results.get(path.resolve())
            doc = rt.store.get_document(doc_id_for(path))
            if r is not None and r.status == FileStatus.failed:
                self.failed[name] = f"ingestion failed: {r.error}"
                self.status[name] = f"failed: {r.error}"
            elif doc is None:
                self.failed[name] = "ingestion left no document"
                self.status[name] = "failed: no document"
            else:
                self.by_name[name] = doc
                self.status[name] = r.status.value if r is not None else "unchanged"
                if doc.failed_pages:  # answered from the pages that could be read
                    lost = ", ".join(str(f.page) for f in doc.failed_pages)
                    self.status[name] += f" (pages not read: {lost})"

    def pages(self, name: str) -> int | None:
        doc = self.by_name.get(name)
        return doc.pages if doc else None

    def tokens(self, name: str) -> int | None:
        doc = self.by_name.get(name)
        if doc is None:
            return None
        if name not in self._tokens:
            gen = self.rt.generator
            pages = self.rt.store.get_pages(doc.doc_id)
            self._tokens[name] = sum(gen.count_tokens(p.text) for p in pages)
        return self._tokens[name]


def run_eval(
    settings: Settings,
    dataset: Path,
    docs_dir: Path | None,
    strategies: Sequence[str],
    out: Path,
    *,
    limit: int | None = None,
    k: int | None = None,
    progress: EvalProgress | None = None,
) -> EvalRun:
    """Answer, score and report (see the module doc). `k` is the cut-off of evidence-page
    recall (None: every retrieved page)."""
    from docqa.answer import DoesNotFitError

    progress = progress or _Quiet()
    t0 = time.perf_counter()
    strategies = check_strategies(strategies)
    if "llama-index" in strategies:
        _require_baseline()
    out.mkdir(parents=True, exist_ok=True)
    items = _items(dataset, docs_dir, out, limit)
    if not items:
        raise ValueError(f"{dataset.name}: no questions")
    if all(it.doc_path is None for it in items):
        where = docs_dir or dataset.parent
        raise ValueError(
            f"none of the {len({it.doc for it in items})} documents of {dataset.name} is in "
            f"{where}; give the folder with --docs"
        )
    answers = out / ANSWERS
    done = load_done(answers)
    wanted = {(it.id, s) for it in items for s in strategies}
    kept = [r for key, r in done.items() if key in wanted]
    other = [r for key, r in done.items() if key not in wanted]  # other strategies/limits
    _rewrite(answers, other + kept)
    todo = [(s, it) for s in strategies for it in _by_document(items) if (it.id, s) not in done]

    rt = Runtime(settings)
    new: list[EvalRecord] = []
    ingested: dict[str, str] = {}
    try:
        docs = _Docs(rt, items, progress)
        ingested = docs.status
        baseline = None
        if any(s == "llama-index" for s, _ in todo):
            from eval.llamaindex_rag import LlamaIndexRag

            files = sorted({d for d in (it.doc_path for it in items) if d is not None})
            progress.note(f"llama-index baseline: indexing {len(files)} documents (default)")
            baseline = LlamaIndexRag(
                settings, rt.registry, rt.generator, files, out / "llamaindex-index"
            )
        progress.start(Counter(s for s, _ in todo))
        model = settings.generation.model
        for strategy, item in todo:
            pages = docs.pages(item.doc)
            started = time.perf_counter()
            try:
                if item.doc in docs.failed:
                    rec = error_record(item, strategy, docs.failed[item.doc])
                elif strategy == "llama-index":
                    assert baseline is not None
                    answer = baseline.ask(item.question, item.doc)
                    rec = make_record(item, strategy, answer, doc_pages=pages, k=k)
                else:
                    answer = rt.answerer.ask(
                        item.question,
                        [docs.by_name[item.doc]],
                        strategy,  # type: ignore[arg-type]
                    )
                    rec = make_record(
                        item,
                        strategy,
                        answer,
                        doc_pages=pages,
                        doc_tokens=docs.tokens(item.doc),
                        k=k,
                    )
            except DoesNotFitError as e:
                rec = skipped_record(item, strategy, str(e), doc_pages=pages)
            except Exception as e:
                rec = error_record(
                    item,
                    strategy,
                    f"{type(e).__name__}: {e}",
                    seconds=round(time.perf_counter() - started, 3),
                    doc_pages=pages,
                )
            if rec.model is None and rec.skipped is None:
                rec = rec.model_copy(update={"model": model})
            _append(answers, rec)
            new.append(rec)
            progress.done(rec)
    finally:
        rt.close()

    return _finish(
        answers,
        wanted,
        out,
        settings.generation.model,
        t0,
        new=len(new),
        kept=len(kept),
        ingested=ingested,
    )


def _items(dataset: Path, docs_dir: Path | None, out: Path, limit: int | None) -> list[QAItem]:
    items = load_items(dataset, docs_dir, cache_dir=out / "lara-pdfs")
    return items if limit is None else items[:limit]


def _finish(
    answers: Path,
    wanted: set[tuple[str, str]],
    out: Path,
    model: str,
    t0: float,
    *,
    new: int,
    kept: int | None = None,
    ingested: dict[str, str] | None = None,
) -> EvalRun:
    """Rescore the wanted records of `answers`, write the report, say what was done.
    `kept` None: every record was kept (a report-only run)."""
    records = [
        rescore(r) for r in _latest(read_records(answers)) if (r.item_id, r.strategy) in wanted
    ]
    report = _write_report(records, out, model=model)
    return EvalRun(
        out=out,
        answers=answers,
        report=report,
        records=len(records),
        new=new,
        kept=len(records) if kept is None else kept,
        errors=sum(r.error is not None for r in records),
        skipped=sum(r.skipped is not None for r in records),
        ingested=ingested or {},
        seconds=round(time.perf_counter() - t0, 1),
    )


def report_only(
    dataset: Path,
    docs_dir: Path | None,
    strategies: Sequence[str],
    out: Path,
    *,
    model: str,
    limit: int | None = None,
) -> EvalRun:
    """The report of what `OUT/answers.jsonl` holds for these questions and strategies, scored
    again by the current scorers; nothing is ingested or answered (a run in progress can be
    looked at, a scoring fix applied)."""
    t0 = time.perf_counter()
    strategies = check_strategies(strategies)
    answers = out / ANSWERS
    if not answers.is_file():
        raise ValueError(f"no {ANSWERS} in {out}: nothing to report")
    wanted = {(it.id, s) for it in _items(dataset, docs_dir, out, limit) for s in strategies}
    return _finish(answers, wanted, out, model, t0, new=0)


def _by_document(items: Sequence[QAItem]) -> list[QAItem]:
    """Items grouped by document (first-seen order), question order kept within a document."""
    order: dict[str, int] = {}
    for it in items:
        order.setdefault(it.doc, len(order))
    return sorted(items, key=lambda it: order[it.doc])


def _latest(records: Sequence[EvalRecord]) -> list[EvalRecord]:
    """One record per (item, strategy): the last one written."""
    last: dict[tuple[str, str], EvalRecord] = {}
    for r in records:
        last[(r.item_id, r.strategy)] = r
    return list(last.values())


def describe(run: EvalRun) -> dict[str, Any]:
    """A short JSON-able account of a run, for `docqa eval --json`."""
    return {
        "out": str(run.out),
        "answers": str(run.answers),
        "summary": str(run.report.summary),
        "report": str(run.report.markdown),
        "plots": {k: str(v) for k, v in run.report.plots.items()},
        "records": run.records,
        "new": run.new,
        "kept": run.kept,
        "errors": run.errors,
        "skipped": run.skipped,
        "ingested": run.ingested,
        "seconds": run.seconds,
    }
