"""`docqa` command line: ingest, docs, search, ask, rm, check-citations, eval, demo. A thin front
over the engine."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any, get_args

import typer
import uvicorn
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from docqa.answer.formula import describe_computation
from docqa.answer.router import describe_signals
from docqa.config import Settings
from docqa.generation.speculative import describe_speculative
from docqa.runtime import Runtime
from docqa.search import DocumentNotFoundError, resolve_document
from docqa.store.base import EmbeddingMismatchError, StoreLockedError
from docqa.types import FileStatus, IngestReport, IngestResult, PageError, StrategyChoice
from ui.client import ServiceClient, ServiceError, find_service

if TYPE_CHECKING:
    from eval.runner import EvalEta

app = typer.Typer(
    help="Answers about long PDF documents, with page citations that are checked.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)


def _fatal(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(1)


def _runtime() -> Runtime:
    return Runtime(Settings())


def _service() -> ServiceClient | None:
    """A client of the docqa service to go through (DOCQA_URL, or the local service that holds
    this home's store), or None: open the store here."""
    settings = Settings()
    url = find_service(settings)
    if url is None:
        return None
    err.print(f"[dim]via the docqa service at {url}[/]", highlight=False)
    return ServiceClient.from_settings(settings, url)


def _remote(call: Any, *args: Any) -> Any:
    try:
        return call(*args)
    except ServiceError as e:
        raise _fatal(str(e)) from None


def _open(rt: Runtime) -> None:
    try:
        rt.store  # noqa: B018 - opens (and locks) the store now, to fail early and clearly
    except (StoreLockedError, EmbeddingMismatchError, ValueError) as e:
        raise _fatal(str(e)) from None


class _Bar:
    """Progress of an ingest run on a terminal: files, pages, pages/s, ETA."""

    def __init__(self, console: Console) -> None:
        self.p = Progress(
            TextColumn("{task.description:>6}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[eta]}"),
            console=console,
            transient=False,
        )
        self.files_task = self.p.add_task("files", total=0, rate="", eta="")
        self.pages_task = self.p.add_task("pages", total=0, rate="", eta="eta ?")
        self.t0 = time.perf_counter()
        self.done_pages = 0

    def __enter__(self) -> _Bar:
        self.p.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.p.stop()

    def files(self, total: int) -> None:
        self.p.update(self.files_task, total=total)

    def pages_found(self, n: int) -> None:
        total = self.p.tasks[self.pages_task].total or 0
        self.p.update(self.pages_task, total=total + n)

    def pages_done(self, n: int) -> None:
        self.done_pages += n
        rate = self.done_pages / max(1e-6, time.perf_counter() - self.t0)
        self.p.update(self.pages_task, advance=n, rate=f"{rate:.1f} pages/s")

    def eta(self, seconds_left: float | None) -> None:
        self.p.update(self.pages_task, eta=f"eta {_eta_text(seconds_left)}")

    def file_done(self, r: IngestResult) -> None:
        self.p.update(self.files_task, advance=1)
        if r.status == FileStatus.failed:
            self.p.console.print(f"[red]failed[/] {r.path}: {r.error}")
        elif r.status == FileStatus.partial:
            self.p.console.print(f"[yellow]partial[/] {r.path}: {_failed_pages(r.failed_pages)}")


class _Lines:
    """Progress when stderr is not a terminal: one line per file (logs, CI, other programs)."""

    def files(self, total: int) -> None:
        print(f"ingest: {total} files", file=sys.stderr, flush=True)

    def pages_found(self, n: int) -> None: ...

    def pages_done(self, n: int) -> None: ...

    def eta(self, seconds_left: float | None) -> None: ...

    def file_done(self, r: IngestResult) -> None:
        detail = r.error if r.error else f"{r.pages} pages, {r.chunks} chunks"
        if r.status == FileStatus.partial:
            detail += f"; {_failed_pages(r.failed_pages)}"
        print(f"{r.status.value}: {r.path} ({detail})", file=sys.stderr, flush=True)


def _failed_pages(failed: list[PageError]) -> str:
    """`2 pages not read: page 2: cannot load page (...); page 5: ...`"""
    listed = "; ".join(map(str, failed))
    return f"{len(failed)} page{'s' if len(failed) != 1 else ''} not read: {listed}"


def _passwords(items: list[str]) -> dict[str, str]:
    pw = {}
    for item in items:
        name, sep, secret = item.partition("=")
        if not sep or not name:
            raise _fatal(f"--password takes FILE=PASSWORD, got '{item}'")
        pw[name] = secret
    return pw


@app.command()
def ingest(
    paths: Annotated[
        list[Path], typer.Argument(help="PDF files or folders (searched recursively).")
    ],
    prune: Annotated[
        bool, typer.Option(help="Remove documents whose files left the folders.")
    ] = False,
    password: Annotated[
        list[str], typer.Option(help="FILE=PASSWORD for an encrypted PDF (repeatable).")
    ] = [],  # noqa: B006
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON report.")] = False,
) -> None:
    """Ingest PDFs: parse, chunk, embed and store them; unchanged files are skipped."""
    from docqa.sparse import Bm25Encoder  # noqa: F401 - fail fast if the engine is incomplete
    from ingest.pipeline import Ingestor

    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise _fatal(f"no such file or folder: {', '.join(missing)}")
    pw = _passwords(password)
    show_bar = not as_json and err.is_terminal
    progress: Any = _Bar(err) if show_bar else _Lines()
    svc = _service()
    if svc is not None:
        with svc, progress if show_bar else contextlib.nullcontext():
            report = _ingest_via(svc, paths, prune, pw, progress)
    else:
        rt = _runtime()
        _open(rt)
        try:
            ingestor = Ingestor.from_runtime(rt, progress)
            with progress if show_bar else contextlib.nullcontext():
                report = ingestor.run(paths, prune=prune, passwords=pw)
        finally:
            rt.close()
    failed = [d for d in report.documents if d.status == FileStatus.failed]
    partial = [d for d in report.documents if d.status == FileStatus.partial]
    if as_json:
        out.print_json(report.model_dump_json())
    else:
        counts: dict[str, int] = {}
        for d in report.documents:
            counts[d.status.value] = counts.get(d.status.value, 0) + 1
        done = (FileStatus.indexed, FileStatus.partial)
        pages = sum(d.pages for d in report.documents if d.status in done)
        summary = ", ".join(f"{n} {s}" for s, n in counts.items()) or "no PDF found"
        out.print(f"{summary}; {pages} pages indexed in {report.seconds:.1f} s")
        for d in failed:
            out.print(f"[red]failed[/] {d.path}: {d.error}")
        for d in partial:
            out.print(f"[yellow]partial[/] {d.path}: {_failed_pages(d.failed_pages)}")
    raise typer.Exit(2 if failed or partial else 0)


def _ingest_via(
    svc: ServiceClient, paths: list[Path], prune: bool, pw: dict[str, str], progress: Any
) -> IngestReport:
    """Ingest through the service's job, showing its progress; Ctrl-C cancels the job."""
    submitted = job = _remote(svc.ingest, paths, prune, pw)
    files = pages = done = results = 0
    try:
        for job in svc.job_events(submitted.id):
            if job.files_total and not files:
                files = job.files_total
                progress.files(files)
            if job.pages_total > pages:
                progress.pages_found(job.pages_total - pages)
                pages = job.pages_total
            if job.pages_done > done:
                progress.pages_done(job.pages_done - done)
                progress.eta(job.seconds_left)
                done = job.pages_done
            for r in job.results[results:]:
                progress.file_done(r)
            results = len(job.results)
    except KeyboardInterrupt:
        svc.cancel(submitted.id)
        raise _fatal(f"cancelled the service's job {submitted.id}") from None
    except ServiceError as e:
        raise _fatal(str(e)) from None
    if job.state != "done":
        raise _fatal(f"the service's job {job.id} ended {job.state.value}: {job.error or ''}")
    took = (job.finished or 0) - (job.started or job.created)
    return IngestReport(documents=job.results, seconds=round(max(took, 0.0), 3))


@app.command()
def docs(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The documents in the store, with status, pages, chunks and errors."""
    svc = _service()
    if svc is not None:
        with svc:
            documents = _remote(svc.documents)
    else:
        rt = _runtime()
        _open(rt)
        try:
            documents = rt.store.list_documents()
        finally:
            rt.close()
    if as_json:
        out.print_json(json.dumps({"documents": [d.model_dump(mode="json") for d in documents]}))
        return
    if not documents:
        out.print("no documents yet: `docqa ingest FOLDER`")
        return
    t = Table("file", "status", "pages", "chunks", "ocr", "error / warnings")
    t.add_column("id", no_wrap=True, style="dim")
    for d in documents:
        note = d.error or (f"{len(d.warnings)} warnings: {d.warnings[0]}" if d.warnings else "")
        if d.failed_pages and not d.error:
            note = _failed_pages(d.failed_pages) + (f"; {note}" if note else "")
        t.add_row(
            d.filename,
            d.status.value,
            str(d.pages),
            str(d.chunks),
            str(d.ocr_pages),
            note,
            d.doc_id,
        )
    out.print(t)


@app.command()
def search(
    query: Annotated[str, typer.Argument()],
    k: Annotated[int, typer.Option("--k", min=1, max=200)] = 8,
    doc: Annotated[list[str], typer.Option(help="Document id or file name (repeatable).")] = [],  # noqa: B006
    mode: Annotated[str, typer.Option(help="hybrid, dense or sparse.")] = "hybrid",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Hybrid search (dense + BM25, fused with RRF) over the ingested documents."""
    if mode not in ("hybrid", "dense", "sparse"):
        raise _fatal(f"--mode must be hybrid, dense or sparse, not '{mode}'")
    svc = _service()
    if svc is not None:
        with svc:
            ids = [_remote(svc.resolve, d).doc_id for d in doc] or None
            hits = _remote(svc.search, query, k, ids, mode)
    else:
        rt = _runtime()
        _open(rt)
        try:
            doc_ids = [resolve_document(rt.store, d).doc_id for d in doc] or None
            hits = rt.searcher.run(query, k=k, doc_ids=doc_ids, mode=mode)  # type: ignore[arg-type]
        except DocumentNotFoundError as e:
            raise _fatal(str(e)) from None
        finally:
            rt.close()
    if as_json:
        keys = {"doc_id", "path", "page", "score", "kind", "text"}
        out.print_json(json.dumps({"hits": [h.model_dump(include=keys) for h in hits]}))
        return
    if not hits:
        out.print("no results (is anything ingested? `docqa docs`)")
    for i, h in enumerate(hits, 1):
        out.print(f"[bold]{i}. {Path(h.path).name}[/] p. {h.page}  [dim]{h.kind} {h.score:.4f}[/]")
        text = " ".join(h.text.split())
        out.print(f"   {text[:300]}{'…' if len(text) > 300 else ''}", highlight=False)


@app.command()
def ask(
    question: Annotated[str, typer.Argument()],
    doc: Annotated[list[str], typer.Option(help="Document id or file name (repeatable).")] = [],  # noqa: B006
    strategy: Annotated[
        str,
        typer.Option(
            help="auto, rag, long-context, speculative or closed-book (default: settings)."
        ),
    ] = "",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Answer a question with page citations, checked sentence by sentence."""
    from docqa.answer import AnswerError, DoesNotFitError
    from docqa.answer.events import AnswerEvent, StatusEvent, TokenEvent, answer_events
    from docqa.answer.prompts import normalize_page_citations
    from docqa.generation import GenerationError

    choices: tuple[str, ...] = get_args(StrategyChoice)
    if strategy and strategy not in choices:
        raise _fatal(f"--strategy must be one of {', '.join(choices)}, not '{strategy}'")
    stream = not as_json and out.is_terminal
    svc = _service()
    rt = _runtime() if svc is None else None
    if rt is not None:
        _open(rt)

    def events() -> Iterator[Any]:
        if svc is not None:
            ids = [svc.resolve(d).doc_id for d in doc] or None
            return svc.ask_events(question, ids, strategy or None)  # type: ignore[arg-type]
        assert rt is not None
        docs = [resolve_document(rt.store, d) for d in doc] or None
        return answer_events(rt.answerer, question, docs, strategy or None)  # type: ignore[arg-type]

    answer = None
    shown: list[str] = []
    try:
        for event in events():
            if isinstance(event, TokenEvent) and stream:
                sys.stdout.write(event.text)
                sys.stdout.flush()
                shown.append(event.text)
            elif isinstance(event, StatusEvent) and not as_json:
                err.print(f"[dim]{event.text}[/]", highlight=False)
            elif isinstance(event, AnswerEvent):
                answer = event.answer
    except (
        DocumentNotFoundError,
        AnswerError,
        DoesNotFitError,
        GenerationError,
        ServiceError,
    ) as e:
        raise _fatal(str(e)) from None
    finally:
        if rt is not None:
            rt.close()
        if svc is not None:
            svc.close()
    assert answer is not None, "an answer stream ends with its answer"
    if as_json:
        out.print_json(answer.model_dump_json())
        return
    # the answer as streamed, unless a later step rewrote it (a dropped or regenerated sentence,
    # a restated hollow answer, a computed answer in place of the model's)
    streamed = normalize_page_citations("".join(shown)).strip()
    if stream and streamed == answer.answer.strip():
        sys.stdout.write("\n\n")
    else:
        if stream:
            computed = answer.computation is not None and answer.computation.used
            title = "Computed by docqa instead:" if computed else "After the citation check:"
            out.print(f"\n\n[bold]{title}[/]")
        out.print(answer.answer, highlight=False, markup=False)
        out.print()
    _print_checked(answer)


def _print_checked(answer: Any) -> None:
    """Verdicts of the flagged sentences, then the cited pages with their quotes."""
    flagged = [s for s in answer.sentences if s.claim and s.verdict in ("unsupported", "partial")]
    for s in flagged:
        colour = "red" if s.verdict == "unsupported" else "yellow"
        fix = f" -> should cite {s.repaired_citations}" if s.repaired_citations else ""
        out.print(f"[{colour}]{s.verdict}:[/] {s.text}{fix}", highlight=False)
    if answer.abstained:
        out.print("[yellow]no answer found in the documents[/]")
    for caveat in answer.caveats:
        out.print(f"[yellow]note:[/] {caveat}", highlight=False)
    for c in answer.citations:
        name = Path(c.path).name if c.path else c.doc_id
        quote = " ".join((c.quote or "").split())
        out.print(f"[bold]\\[{c.n}][/] {name} p. {c.page}  [dim]{quote[:160]}[/]", highlight=False)
    t = answer.timings
    ttft = f"{t.time_to_first_token:.1f}" if t.time_to_first_token is not None else "-"
    out.print(
        f"[dim]{answer.route.strategy} ({'; '.join(answer.route.reasons)}) · "
        f"first token {ttft} s · total {t.total:.1f} s · "
        f"{answer.tokens.prompt} prompt + {answer.tokens.completion} answer tokens[/]",
        highlight=False,
    )
    if answer.route.signals is not None:
        out.print(f"[dim]signals: {describe_signals(answer.route.signals)}[/]", highlight=False)
    if answer.computation is not None:
        out.print(f"[dim]{describe_computation(answer.computation)}[/]", highlight=False)
    if answer.speculative is not None:
        out.print(f"[dim]{describe_speculative(answer.speculative)}[/]", highlight=False)


@app.command()
def rm(ref: Annotated[str, typer.Argument(help="Document id or file name.")]) -> None:
    """Remove a document from the store."""
    svc = _service()
    if svc is not None:
        with svc:
            d = _remote(svc.remove, _remote(svc.resolve, ref).doc_id)
    else:
        rt = _runtime()
        _open(rt)
        try:
            d = rt.remove_document(ref)
        except DocumentNotFoundError as e:
            raise _fatal(str(e)) from None
        finally:
            rt.close()
    out.print(f"removed {d.filename} ({d.doc_id})")


@app.command("check-citations")
def check_citations(
    file: Annotated[Path, typer.Argument(help='JSON: {"answer": "... [1]", "passages": [...]}')],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Check every sentence of an answer against the passages it cites."""
    from docqa.citations.cli import CitationFileError, check_citations_file

    try:
        result = check_citations_file(file, settings=Settings())
    except (CitationFileError, OSError) as e:
        raise _fatal(str(e)) from None
    if as_json:
        out.print_json(json.dumps(result))
        return
    colour = {"supported": "green", "partial": "yellow", "unsupported": "red"}
    for s in result["sentences"]:
        verdict = s["verdict"]
        cites = "".join(f"[{n}]" for n in s["citations"]) or "(no citation)"
        fix = f"  -> cite {s['repaired_citations']}" if s["repaired_citations"] else ""
        out.print(
            f"[{colour[verdict]}]{verdict:>11}[/] {s['score']:.2f} {cites} {s['text']}{fix}",
            highlight=False,
        )
    out.print(
        f"citation recall {result['citation_recall']:.2f}, "
        f"precision {result['citation_precision']:.2f} "
        f"(verifiers: {', '.join(result.get('verifiers', []))})"
    )


class _EvalEtaFront:
    """What both eval front ends share: the ETA kept from `start` to each `done`."""

    eta: EvalEta | None = None

    def _start_eta(self, todo: Mapping[str, int]) -> int:
        """Start the ETA; the number of answers to compute."""
        from eval.runner import EvalEta

        self.eta = EvalEta(todo)
        return sum(todo.values())

    def _eta_after(self, record: Any) -> str:
        """The time left once `record` is done, as text."""
        assert self.eta is not None, "start() comes first"
        self.eta.done(record)
        return _eta_text(self.eta.seconds_left())


class _EvalBar(_EvalEtaFront):
    """Progress of an evaluation on a terminal: answers done, ETA, the last verdict."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.p = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta {task.fields[eta]}"),
            TextColumn("{task.fields[last]}"),
            console=console,
        )
        self.task = self.p.add_task("answers", total=None, last="", eta=_eta_text(None))
        self.right = 0
        self.n = 0

    def __enter__(self) -> _EvalBar:
        self.p.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.p.stop()

    def note(self, line: str) -> None:
        self.p.console.print(f"[dim]{line}[/]", highlight=False)

    def start(self, todo: Mapping[str, int]) -> None:
        self.p.update(self.task, total=self._start_eta(todo))

    def done(self, record: Any) -> None:
        mark = _record_mark(record)
        eta = self._eta_after(record)
        if record.skipped is None and record.error is None:
            self.n += 1
            self.right += bool(record.correct)
        acc = f"{self.right}/{self.n} right" if self.n else ""
        last = f"{record.strategy} {record.item_id}: {mark}  {acc}"
        self.p.update(self.task, advance=1, last=last, eta=eta)


class _EvalLines(_EvalEtaFront):
    """The same as lines, for logs and pipes."""

    def __init__(self) -> None:
        self.total = 0
        self.count = 0

    def note(self, line: str) -> None:
        err.print(line, highlight=False)

    def start(self, todo: Mapping[str, int]) -> None:
        self.total = self._start_eta(todo)
        per = ", ".join(f"{n} {s}" for s, n in todo.items())
        err.print(f"{self.total} answers to compute ({per})", highlight=False)

    def done(self, record: Any) -> None:
        self.count += 1
        eta = self._eta_after(record)
        err.print(
            f"[{self.count}/{self.total} eta {eta}] {record.strategy} "
            f"{record.item_id}: {_record_mark(record)}",
            highlight=False,
        )


def _eta_text(seconds: float | None) -> str:
    """`None` -> "?", 42 -> "42 s", 1500 -> "25 min", 5400 -> "1 h 30 min"."""
    if seconds is None:
        return "?"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def _record_mark(record: Any) -> str:
    if record.skipped is not None:
        return "skipped"
    if record.error is not None:
        return f"error ({record.error[:60]})"
    secs = f" {record.seconds:.1f}s" if record.seconds is not None else ""
    return ("right" if record.correct else "wrong") + secs


@app.command("eval")
def evaluate(
    dataset: Annotated[Path, typer.Option(help="qa.jsonl (dev corpus or LaRA text format).")],
    docs: Annotated[
        Path | None, typer.Option(help="Folder of the documents (default: beside the dataset).")
    ] = None,
    strategies: Annotated[
        str,
        typer.Option(
            help="Comma-separated: closed-book, rag, long-context, speculative, auto, llama-index."
        ),
    ] = "closed-book,rag,long-context",
    model: Annotated[
        str, typer.Option(help="Answering model (registry name or path; default: settings).")
    ] = "",
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N questions.")] = None,
    k: Annotated[
        int | None, typer.Option(min=1, help="Cut-off of evidence-page recall (default: all).")
    ] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Report folder.")] = Path("eval-out"),
    report_only: Annotated[
        bool,
        typer.Option(help="Only rescore OUT/answers.jsonl and write the report; answer nothing."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON summary.")] = False,
) -> None:
    """Answer every question with every strategy, score, and write a report with plots.
    An interrupted run resumes: answers already in OUT/answers.jsonl are kept."""
    from eval import runner
    from eval.report import pct

    if not dataset.is_file():
        raise _fatal(f"no such dataset file: {dataset}")
    if docs is not None and not docs.is_dir():
        raise _fatal(f"no such folder: {docs}")
    try:
        names = runner.parse_strategies(strategies)
    except ValueError as e:
        raise _fatal(str(e)) from None
    settings = Settings()
    if model:
        settings.generation = settings.generation.model_copy(update={"model": model})
    show_bar = not as_json and err.is_terminal
    progress: Any = _EvalBar(err) if show_bar else _EvalLines()
    try:
        if report_only:
            run = runner.report_only(
                dataset, docs, names, out_dir, model=settings.generation.model, limit=limit
            )
        elif show_bar:
            with progress:
                run = runner.run_eval(
                    settings, dataset, docs, names, out_dir, limit=limit, k=k, progress=progress
                )
        else:
            run = runner.run_eval(
                settings, dataset, docs, names, out_dir, limit=limit, k=k, progress=progress
            )
    except (StoreLockedError, EmbeddingMismatchError, ValueError) as e:
        raise _fatal(str(e)) from None
    if as_json:
        out.print_json(json.dumps(runner.describe(run)))
        return
    summary = json.loads(run.report.summary.read_text("utf-8"))
    t = Table("strategy", "n", "accuracy", "page R", "cited page P", "mean s", "skipped", "errors")
    for s, m in summary["strategies"].items():
        sk = summary.get("skipped", {}).get(s, {}).get("n", 0)
        t.add_row(
            s,
            str(m["n"]),
            pct(m["accuracy"]),
            pct(m["pages"]["recall_at_k"]),
            pct(m["pages"]["citation_precision"]),
            "–" if m["latency"]["seconds_mean"] is None else f"{m['latency']['seconds_mean']:.1f}",
            str(sk),
            str(m["errors"]),
        )
    out.print(t)
    out.print(
        f"{run.new} new answers, {run.kept} kept from before, in {run.seconds:.0f} s; "
        f"report: {run.report.markdown}"
    )


LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    ui: Annotated[bool, typer.Option("--ui", help="Also serve the web UI.")] = False,
    ui_port: Annotated[int, typer.Option(min=1, max=65535)] = 8501,
) -> None:
    """Serve the REST API (OpenAPI at /docs) over the configured store and model, and with
    --ui the web UI on it. Ctrl-C stops both."""
    from ui.api.app import create_app

    settings = Settings()
    if host not in LOOPBACK and not settings.api_keys:
        raise _fatal(
            f"binding to {host} exposes the documents beyond this machine: set DOCQA_API_KEYS "
            "(comma-separated bearer keys) first, or bind to 127.0.0.1"
        )
    rt = Runtime(settings)
    _open(rt)
    where = f"[{host}]" if ":" in host else host
    local = "127.0.0.1" if host in ("0.0.0.0", "::") else where
    err.print(f"docqa API on http://{where}:{port} (docs: http://{where}:{port}/docs)")
    app_ = create_app(settings, rt, owns_runtime=True, announce_url=f"http://{local}:{port}")
    web = _web_ui(host, ui_port, f"http://{local}:{port}") if ui else None
    try:
        # questions still waiting when the service is stopped get 30 s, not as long as the queue
        config = uvicorn.Config(
            app_, host=host, port=port, log_level="warning", timeout_graceful_shutdown=30
        )
        _Server(config).run()
        err.print("stopped")
    finally:
        if web is not None:
            web.terminate()
            web.wait(timeout=30)


class _Server(uvicorn.Server):
    """uvicorn's server, stopping on SIGINT / SIGTERM without dying by the signal afterwards
    (uvicorn re-raises it once shut down): the web UI is then stopped too, and Ctrl-C prints
    no traceback. The app's lifespan closes the store either way."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        captured = getattr(self, "_captured_signals", None)
        if isinstance(captured, list):
            captured.clear()


def _web_ui(host: str, port: int, api: str) -> subprocess.Popen[bytes]:
    """The Streamlit web UI on `api`, a child that also ends when this process dies."""
    import ctypes
    import os
    import signal

    def die_with_parent() -> None:  # Linux: SIGTERM to the UI when docqa serve goes
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)

    app_file = Path(__file__).resolve().parent / "web" / "app.py"
    cmd = [sys.executable, "-m", "streamlit", "run", str(app_file),
           "--server.headless", "true", "--server.address", host, "--server.port", str(port),
           "--browser.gatherUsageStats", "false", "--client.toolbarMode", "minimal"]  # fmt: skip
    proc = subprocess.Popen(cmd, env={**os.environ, "DOCQA_URL": api}, preexec_fn=die_with_parent)
    where = f"[{host}]" if ":" in host else host
    err.print(f"[bold]docqa web UI on http://{where}:{port}[/]")
    return proc


@app.command()
def demo(
    folder: Annotated[Path, typer.Argument(help="Where to write the demo PDFs.")] = Path(
        "demo-data"
    ),
) -> None:
    """Write the project's own small demo PDFs into FOLDER."""
    from ingest.demo import write_demo_folder

    for p in write_demo_folder(folder):
        out.print(f"wrote {p}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
