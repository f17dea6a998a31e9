"""Folder sync: files -> parse (worker processes) -> chunks -> embeddings -> store.

Parsing runs in separate processes, each streaming its pages through a pipe of its own (at
most `queue_pages` ahead) while this process chunks, embeds and writes, so both cores work and
memory stays bounded however long a document is; with `share_cores` each side takes the cores
the other leaves (`ingest/cores.py`). A file is skipped when its sha256 is
unchanged, replaced when it changed, and removed when it left the folder (`prune`). Every bad
file is reported with a specific reason and never stops the run; a parser process that dies on
a file fails that file only.

Example:
    >>> ing = Ingestor(settings, store, embedder, Bm25Encoder())  # doctest: +SKIP
    >>> report = ing.run([Path("reports/")], prune=True)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
import queue
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from docqa.config import IngestSettings, Settings
from docqa.documents import remove_document
from docqa.embedding import Embedder, Vectors
from docqa.models import sha256_file
from docqa.sparse import Bm25Encoder
from docqa.store.base import Store
from docqa.types import (
    Chunk,
    DocStatus,
    Document,
    FileStatus,
    IngestReport,
    IngestResult,
    Page,
    PageError,
)
from ingest.chunk import LayoutChunker
from ingest.context import chunk_context, outline_sections
from ingest.cores import CoreShare, ParserCores, Shared
from ingest.eta import PAGE_BASE_WORK, PipelineEta, WorkEta, all_cores_gain
from ingest.furniture import Furniture

if TYPE_CHECKING:
    from docqa.runtime import Runtime

PDF_SUFFIXES = {".pdf"}


class Progress(Protocol):
    """What a front end shows while a run goes (a terminal bar, a job record...)."""

    def files(self, total: int) -> None: ...
    def pages_found(self, n: int) -> None: ...
    def pages_done(self, n: int) -> None: ...
    def eta(self, seconds_left: float | None) -> None:
        """The run's estimated seconds left (`ingest.eta.WorkEta`), after pages are done."""
        ...

    def file_done(self, result: IngestResult) -> None: ...


class _Silent:
    def files(self, total: int) -> None: ...
    def pages_found(self, n: int) -> None: ...
    def pages_done(self, n: int) -> None: ...
    def eta(self, seconds_left: float | None) -> None: ...
    def file_done(self, result: IngestResult) -> None: ...


def doc_id_for(path: Path) -> str:
    """Stable per location: a changed file keeps its id and replaces its old version."""
    return hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]


class IngestCancelled(Exception):
    """A run stopped by its `cancel` event. The documents finished before it stay; the ones in
    flight were rolled back to what they were before the run (`report` holds the finished)."""

    def __init__(self, report: IngestReport) -> None:
        super().__init__("ingestion cancelled")
        self.report = report


def inside_roots(path: Path, roots: Sequence[Path]) -> bool:
    """`path` (resolved: symlinks followed) lies in one of the resolved folders `roots`."""
    real = path.resolve()
    return any(real.is_relative_to(r) for r in roots)


def discover(paths: Sequence[Path], recursive: bool = True) -> list[Path]:
    """Files to ingest: every file named explicitly (checked by content later), and the
    `*.pdf` files (any case) in each folder (and below it when `recursive`), in a stable
    order, each once."""
    seen: dict[Path, None] = {}
    for p in paths:
        if p.is_dir():
            found = sorted(
                f
                for f in (p.rglob("*") if recursive else p.iterdir())
                if f.is_file() and f.suffix.lower() in PDF_SUFFIXES
            )
            for f in found:
                seen.setdefault(f.resolve(), None)
        elif p.exists():
            seen.setdefault(p.resolve(), None)
        else:
            raise FileNotFoundError(f"no such file or folder: {p}")
    return list(seen)


# ---- the parse worker (a separate process) ----------------------------------------------


@dataclass(frozen=True)
class _Job:
    path: str
    doc_id: str
    password: str | None
    first_page: int = 0
    """0-based page to start at: > 0 when a worker resumes a document after a page that was
    cut by the time limit (its metadata was sent already)."""


@dataclass
class _Parser:
    """A parse worker as the main process sees it: the process, the read end of its own
    pipe, and the jobs it was given (in order)."""

    process: BaseProcess
    conn: Connection
    jobs: list[_Job]
    cores: ParserCores
    """Its share of the cores (`ingest.cores`)."""

    def left(self, remaining: dict[str, _Job]) -> list[_Job]:
        return [j for j in self.jobs if j.doc_id in remaining]

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()
        self.cores.end()  # a replacement, if any, parses what it had left


def _exit_with_parent() -> None:
    """End this worker when the process that spawned it dies (even by `kill -9`): otherwise a
    worker blocked on the full page queue would live on as an orphan. `daemon=True` covers only
    a parent that exits normally."""
    parent = mp.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()  # waits on the parent's sentinel: returns when the parent is gone
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _page_reason(page_no: int, exc: Exception) -> str:
    """Why a page failed, without the "page N: " its message may start with."""
    from ingest.parse import ParseError

    text = str(exc).strip() if isinstance(exc, ParseError) else f"{type(exc).__name__}: {exc}"
    prefix = f"page {page_no}: "
    return text[len(prefix) :] if text.startswith(prefix) else text


class _Sender:
    """A parser's outbox: `put` waits while `ahead` messages are unsent, a thread sends them
    down this process's own pipe. Nothing is shared with the other parsers: a parser killed
    mid-message (a crash, the page time limit) can break only its own pipe, which the main
    process then drops; a killed writer of a shared `multiprocessing.Queue` can leave its
    lock or a slot of its bound taken for good, and the other parsers block on it forever."""

    def __init__(self, conn: Connection, ahead: int, computing: Shared) -> None:
        self.conn = conn
        self.computing = computing
        self.box: queue.Queue[tuple[Any, ...] | None] = queue.Queue(maxsize=ahead)
        self.thread = threading.Thread(target=self._send, name="page-sender", daemon=True)
        self.thread.start()

    def put(self, msg: tuple[Any, ...]) -> None:
        if not self.box.full():  # only this thread puts: it will not wait
            self.box.put(msg)
            return
        self.computing.value = 0  # the embedder may take this core while the outbox is full
        self.box.put(msg)
        self.computing.value = 1

    def close(self) -> None:
        """Send what is left, then end."""
        self.box.put(None)
        self.thread.join()
        self.conn.close()

    def _send(self) -> None:
        while (msg := self.box.get()) is not None:
            try:
                self.conn.send(msg)
            except OSError:  # the main process is gone or stopped reading: nothing to do
                os._exit(1)


def _parse_worker(
    jobs: list[_Job],
    settings: IngestSettings,
    blob_dir: str,
    conn: Connection,
    ahead: int,
    cores: ParserCores,
) -> None:
    _exit_with_parent()
    out = _Sender(conn, ahead, cores.computing)
    try:
        _parse_jobs(jobs, settings, blob_dir, out, cores)
    finally:
        cores.end()
        out.close()


_STORE_EMPTIED_EVERY = 50
"""Pages a parser reads between two emptyings of MuPDF's object cache (`empty_mupdf_store`)."""


def _parse_jobs(
    jobs: list[_Job],
    settings: IngestSettings,
    blob_dir: str,
    out: _Sender,
    cores: ParserCores | None = None,
) -> None:
    """Parse `jobs` in order into `out`. `cores`: where this parser says how far it is (work
    found and parsed, `ingest.cores`) and, with `settings.share_cores` and no `ocr_threads`,
    how many threads each page's OCR may use."""
    from docqa.memory import release_free_heap
    from ingest.eta import page_work
    from ingest.parse import ParseError, doc_meta, empty_mupdf_store, open_pdf, parse_page

    share_ocr = cores is not None and settings.share_cores and settings.ocr_threads is None
    parsed_pages = 0
    for job in jobs:
        try:
            doc: Any = open_pdf(Path(job.path), job.password)
        except ParseError as e:
            out.put(("error", job.doc_id, e.code, str(e)))
            continue
        except Exception as e:  # anything MuPDF throws on a hostile file
            out.put(("error", job.doc_id, "corrupt", f"cannot open: {type(e).__name__}: {e}"))
            continue
        work: list[float] = []
        page = job.first_page
        try:
            work = page_work(doc)
            if job.first_page == 0:
                title, toc = doc_meta(doc)
                if cores is not None:
                    cores.found.value += sum(work)
                out.put(("meta", job.doc_id, doc.page_count, title, toc, work))
            for page in range(job.first_page, doc.page_count):
                out.put(("page_start", job.doc_id, page + 1))  # the main process times the page
                page_settings = settings
                if share_ocr:
                    assert cores is not None
                    page_settings = settings.model_copy(update={"ocr_threads": cores.ocr_threads()})
                try:
                    parsed = parse_page(doc, page, page_settings, Path(blob_dir), job.doc_id)
                except Exception as e:  # one unreadable page does not fail its document
                    out.put(("page_failed", job.doc_id, page + 1, _page_reason(page + 1, e)))
                    continue
                finally:
                    # flat memory on big files: MuPDF's object cache and the freed heap go back
                    parsed_pages += 1
                    if parsed_pages % _STORE_EMPTIED_EVERY == 0:
                        empty_mupdf_store()
                    release_free_heap()
                    if cores is not None and page < len(work):
                        cores.parsed.value += work[page]
                out.put(("page", job.doc_id, parsed))
            out.put(("done", job.doc_id))
        except Exception as e:
            if cores is not None:  # nothing more of this file will be parsed
                cores.parsed.value += sum(work[page:])
            out.put(("error", job.doc_id, "parse_failed", f"{type(e).__name__}: {e}"))
        finally:
            doc.close()


# ---- the main process: chunk, embed, store ------------------------------------------------


def _work_of(st: _DocState, page: int) -> float:
    """The estimated work of page `page` (1-based) of `st`'s document."""
    return st.work[page - 1] if 0 < page <= len(st.work) else PAGE_BASE_WORK


def _no_page_read(st: _DocState) -> str:
    shown = "; ".join(map(str, st.failed_pages[:3]))
    more = len(st.failed_pages) - 3
    return f"no page could be read ({shown}{f'; and {more} more' if more > 0 else ''})"


@dataclass
class _DocState:
    job: _Job
    file: Path
    sha: str
    size: int
    started: float
    prev: Document | None = None
    """The record before this run (restored if the run is cancelled mid-document)."""
    record: Document | None = None
    chunker: LayoutChunker | None = None
    furniture: Furniture | None = None
    """The document's running furniture, learnt as its pages come (`ingest.drop_furniture`)."""
    pages: int = 0
    chunks: int = 0
    ocr_pages: int = 0
    warnings: list[str] = field(default_factory=list)
    failed_pages: list[PageError] = field(default_factory=list)
    seen: set[int] = field(default_factory=set)
    """Page numbers stored or failed (a page is counted once)."""
    pending_chunks: list[Chunk] = field(default_factory=list)
    pending_pages: list[Page] = field(default_factory=list)
    work: list[float] = field(default_factory=list)
    """Estimated work of each page (`ingest.eta.page_work`)."""
    unreported_work: float = 0.0
    """Work of the pages parsed since the last flush (every page weighs more than 0): it counts
    as done once their chunks are stored (the parser runs ahead; pages are shown done as they
    are chunked)."""
    section: Callable[[int], str | None] = field(default=outline_sections([]))
    """page -> its outline section (`outline_sections` of the document's outline)."""


class Ingestor:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        embedder: Embedder,
        bm25: Bm25Encoder,
        progress: Progress | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.embedder = embedder
        self.bm25 = bm25
        self.progress: Progress = progress or _Silent()
        self.eta = WorkEta()
        budget = settings.ingest.max_chunk_tokens or embedder.max_tokens
        self.max_tokens = min(budget, embedder.max_tokens)
        # room kept in each chunk's window for its context line (ingest/context.py)
        self.chunk_tokens = self.max_tokens - settings.ingest.context_tokens
        # Several model batches per embedding call: sentence-transformers sorts a call's texts
        # by length, so larger calls pad less; still a bounded number of chunks in memory.
        self.flush_at = 4 * max(8, settings.embedding.batch_size)
        self.signature = settings.ingest.content_signature()
        self.stages: defaultdict[str, float] = defaultdict(float)
        self._cores: CoreShare | None = None
        """The running parsers' flags (`_parsed`), while a run goes."""

    def _timed(self, stage: str, t0: float) -> None:
        self.stages[stage] += time.perf_counter() - t0

    # -- public -------------------------------------------------------------------------
    def run(
        self,
        paths: Sequence[Path],
        prune: bool = False,
        passwords: dict[str, str] | None = None,
        *,
        recursive: bool = True,
        roots: Sequence[Path] | None = None,
        cancel: threading.Event | None = None,
    ) -> IngestReport:
        """Ingest `paths` (files, folders). `roots`: files that resolve (symlinks followed)
        outside every one of these folders fail instead of being read. `cancel`: when set, the
        run stops at the next page, rolls back the documents in flight and raises
        `IngestCancelled`."""
        t0 = time.perf_counter()
        files = discover(paths, recursive)
        self.progress.files(len(files))
        self.eta = WorkEta()  # each run's ETA is its own: an ingestor may run again
        passwords = passwords or {}
        known = {d.doc_id: d for d in self.store.list_documents()}
        results: list[IngestResult] = []
        todo: list[_DocState] = []
        allowed = [r.resolve() for r in roots] if roots is not None else None
        for f in files:
            did = doc_id_for(f)
            if allowed is not None and not inside_roots(f, allowed):
                results.append(self._finish_failed_early(f, did, "outside the ingestion roots"))
                continue
            try:
                size = f.stat().st_size
                sha = sha256_file(f)
            except OSError as e:
                results.append(self._finish_failed_early(f, did, f"cannot read file: {e}"))
                continue
            prev = known.get(did)
            # a partial document of the same bytes would fail the same pages again; one stored
            # under other settings (OCR, tables, chunk size, images) is read again
            if (
                prev
                and prev.status.visible
                and prev.sha256 == sha
                and prev.settings_signature in (None, self.signature)
            ):
                r = IngestResult(
                    path=str(f),
                    doc_id=did,
                    status=FileStatus.unchanged,
                    pages=prev.pages,
                    chunks=prev.chunks,
                    failed_pages=prev.failed_pages,
                )
                results.append(r)
                self.progress.file_done(r)
                continue
            pw = passwords.get(str(f)) or passwords.get(f.name)
            if pw is None:
                pw = next((v for k, v in passwords.items() if Path(k).resolve() == f), None)
            todo.append(
                _DocState(_Job(str(f), did, pw), f, sha, size, time.perf_counter(), prev=prev)
            )

        def report() -> IngestReport:
            order = {str(f): i for i, f in enumerate(files)}
            results.sort(key=lambda r: order.get(r.path, len(order)))
            return IngestReport(
                documents=results,
                seconds=round(time.perf_counter() - t0, 3),
                stages={k: round(v, 3) for k, v in self.stages.items()},
            )

        if self._process(todo, results, cancel):
            raise IngestCancelled(report())
        if prune:
            results.extend(self._prune(paths, {doc_id_for(f) for f in files}, known))
        return report()

    @classmethod
    def from_runtime(cls, rt: Runtime, progress: Progress | None = None) -> Ingestor:
        """The ingestor of the runtime's settings, store, embedder and BM25 encoder."""
        return cls(rt.settings, rt.store, rt.embedder, rt.bm25, progress)

    def remove(self, doc_id: str) -> None:
        remove_document(self.store, self.settings, doc_id)

    # -- internals -----------------------------------------------------------------------
    def _finish_failed_early(self, f: Path, did: str, error: str) -> IngestResult:
        r = IngestResult(path=str(f), doc_id=did, status=FileStatus.failed, error=error)
        self.progress.file_done(r)
        return r

    def _process(
        self, todo: list[_DocState], results: list[IngestResult], cancel: threading.Event | None
    ) -> bool:
        """Ingest `todo`, appending each file's result to `results` as it finishes; True when
        `cancel` stopped it (the documents in flight then rolled back)."""
        if not todo:
            return False
        states = {s.job.doc_id: s for s in todo}
        finished: set[str] = set()
        messages = self._parsed(list(states.values()))
        try:
            for msg in messages:
                kind, did = msg[0], msg[1]
                st = states[did]
                if kind == "meta":
                    self._begin(st, page_count=msg[2], title=msg[3], toc=msg[4], work=msg[5])
                elif kind == "page" and msg[2].page.page not in st.seen:
                    st.seen.add(msg[2].page.page)
                    self._page(st, msg[2])
                elif kind == "page_failed" and msg[2] not in st.seen:
                    # each page is counted once
                    st.seen.add(msg[2])
                    st.failed_pages.append(PageError(page=msg[2], reason=msg[3]))
                    self.progress.pages_done(1)
                    self.progress.eta(self.eta.done(_work_of(st, msg[2])))
                elif kind == "done" and st.pages == 0 and st.failed_pages:
                    results.append(self._fail(st, "unreadable_pages", _no_page_read(st)))
                elif kind == "done":
                    results.append(self._publish(st))
                elif kind == "error":
                    results.append(self._fail(st, msg[2], msg[3]))
                if kind in ("done", "error"):
                    finished.add(did)
                if cancel is not None and cancel.is_set():
                    break
        finally:
            messages.close()  # stops the parse workers now, also on an error
        if len(finished) < len(states):
            for did, st in states.items():
                if did not in finished and st.record is not None:
                    self._roll_back(st)
            return True
        return False

    def _roll_back(self, st: _DocState) -> None:
        """Undo a document begun but not finished: its new generation goes, its record is what
        it was before the run (the previous version stays visible throughout)."""
        prev = st.prev
        self.store.discard(st.job.doc_id, keep_generation=prev.generation if prev else None)
        if prev is not None:
            self.store.put_document(prev)
        else:
            self.store.delete_document(st.job.doc_id)

    def _parsed(self, todo: list[_DocState]) -> Generator[tuple[Any, ...], None, None]:
        """Messages from the parse workers, in order per document. A worker that dies takes
        only its current file with it: that file fails, a new worker resumes after it."""
        ctx = mp.get_context("spawn")
        ahead = max(4, self.settings.ingest.queue_pages)
        nworkers = max(1, min(self.settings.ingest.parse_workers, len(todo)))
        shares = [[s.job for s in todo[i::nworkers]] for i in range(nworkers)]
        blob = str(self.settings.blob_dir)
        self.settings.blob_dir.mkdir(parents=True, exist_ok=True)
        cores = self._cores = CoreShare(ctx, os.cpu_count() or 1)
        if self.settings.ingest.share_cores:  # the parsers may run ahead: a two-stage ETA
            gain = all_cores_gain(cores.cores, nworkers) if self._embedder_shares else 1.0
            self.eta = PipelineEta(cores.progress, gain)

        def spawn(jobs: list[_Job]) -> _Parser:
            recv, send = ctx.Pipe(duplex=False)
            share = cores.parser()
            p = ctx.Process(
                target=_parse_worker,
                args=(jobs, self.settings.ingest, blob, send, ahead, share),
                daemon=True,
            )
            p.start()
            send.close()  # the worker holds the only write end: its exit reads as end of file
            return _Parser(p, recv, list(jobs), share)

        parsers = [spawn(s) for s in shares if s]
        remaining = {j.doc_id: j for s in shares for j in s}
        limit = self.settings.ingest.page_timeout or None
        # doc_id -> [page being parsed, seconds this process has waited for it]: only waiting
        # time counts, so a page is never blamed for the time spent embedding earlier ones
        inflight: dict[str, list[Any]] = {}
        try:
            while remaining:
                assert parsers, "documents left without a parser"
                t_wait = time.perf_counter()
                ready = set(wait([w.conn for w in parsers], timeout=0.5))
                waited = time.perf_counter() - t_wait
                self._timed("waiting_for_parser", t_wait)
                for clock in inflight.values():
                    clock[1] += waited
                ended: list[_Parser] = []
                for w in parsers:
                    if w.conn not in ready:
                        continue
                    try:
                        msg = w.conn.recv()
                    except (EOFError, OSError):  # it exited, or died in the middle of a message
                        ended.append(w)
                        continue
                    if msg[0] == "page_start":
                        inflight[msg[1]] = [msg[2], 0.0]
                        continue
                    if msg[0] in ("page", "page_failed", "done", "error"):
                        inflight.pop(msg[1], None)
                    if msg[0] in ("done", "error"):
                        remaining.pop(msg[1], None)
                    yield msg
                if ended:
                    parsers, dead = self._revive(parsers, ended, remaining, spawn)
                    yield from dead
                if limit is not None:
                    parsers, cut = self._cut_slow(parsers, remaining, inflight, limit, spawn)
                    yield from cut
        finally:
            for w in parsers:
                w.stop()
            self._cores = None

    @staticmethod
    def _cut_slow(
        parsers: list[_Parser],
        remaining: dict[str, _Job],
        inflight: dict[str, list[Any]],
        limit: float,
        spawn: Callable[[list[_Job]], _Parser],
    ) -> tuple[list[_Parser], list[tuple[Any, ...]]]:
        """Stop the workers stuck on a page longer than `limit`: the page fails, a new worker
        goes on from the next page of that document, then the worker's other files. The
        stopped worker's pipe goes with it, so a page it finishes at the last moment is not
        read."""
        kept: list[_Parser] = []
        cut: list[tuple[Any, ...]] = []
        for w in parsers:
            left = w.left(remaining)
            clock = inflight.get(left[0].doc_id) if left else None
            if clock is None or clock[1] <= limit:
                kept.append(w)
                continue
            page_no = int(clock[0])
            w.stop()
            del inflight[left[0].doc_id]
            cut.append(
                ("page_failed", left[0].doc_id, page_no, f"parsing took longer than {limit:g} s")
            )
            kept.append(spawn([replace(left[0], first_page=page_no), *left[1:]]))
        return kept, cut

    @staticmethod
    def _revive(
        parsers: list[_Parser],
        ended: list[_Parser],
        remaining: dict[str, _Job],
        spawn: Callable[[list[_Job]], _Parser],
    ) -> tuple[list[_Parser], list[tuple[Any, ...]]]:
        """Workers whose pipe ended: one that ended with work left died on its current file
        (everything it sent before was read), which fails; a new worker takes the rest."""
        kept = [w for w in parsers if w not in ended]
        dead: list[tuple[Any, ...]] = []
        for w in ended:
            w.stop()
            left = w.left(remaining)
            if not left:
                continue
            culprit, rest = left[0], left[1:]
            remaining.pop(culprit.doc_id, None)
            dead.append(
                (
                    "error",
                    culprit.doc_id,
                    "parser_crashed",
                    f"the PDF parser process died on this file (exit code {w.process.exitcode})",
                )
            )
            if rest:
                kept.append(spawn(rest))
        return kept, dead

    def _begin(
        self,
        st: _DocState,
        page_count: int,
        title: str | None,
        toc: list[tuple[int, str, int]],
        work: list[float],
    ) -> None:
        st.record = Document(
            doc_id=st.job.doc_id,
            path=str(st.file),
            filename=st.file.name,
            sha256=st.sha,
            settings_signature=self.signature,
            status=DocStatus.indexing,
            title=title,
            pages=page_count,
            bytes=st.size,
            toc=toc,
            generation=uuid.uuid4().hex[:12],
        )
        self.store.put_document(st.record)
        st.chunker = LayoutChunker(st.job.doc_id, self.embedder.count_tokens, self.chunk_tokens)
        st.furniture = Furniture() if self.settings.ingest.drop_furniture else None
        st.section = outline_sections(toc)
        st.work = work
        self.eta.found(sum(work))
        self.progress.pages_found(page_count)

    def _page(self, st: _DocState, parsed: Any) -> None:
        assert st.chunker is not None
        for step, seconds in parsed.seconds.items():  # the parsers' time, beside this process's
            self.stages[f"parse_{step}"] += seconds
        st.pages += 1
        st.ocr_pages += int(parsed.page.ocr)
        st.warnings.extend(parsed.warnings)
        st.pending_pages.append(parsed.page)
        st.unreported_work += _work_of(st, parsed.page.page)
        t0 = time.perf_counter()
        if st.furniture is not None:
            parsed = st.furniture.strip(parsed)
        st.pending_chunks.extend(self._with_context(st, st.chunker.add(parsed)))
        self._timed("chunk", t0)
        if len(st.pending_chunks) >= self.flush_at:
            self._flush(st)
        self.progress.pages_done(1)

    def _with_context(self, st: _DocState, chunks: list[Chunk]) -> list[Chunk]:
        """`chunks` with their context line, within the embedder's window beside each text."""
        if not self.settings.ingest.context_tokens or not chunks:
            return chunks
        assert st.record is not None
        title = st.record.title or " ".join(st.file.stem.replace("_", " ").split())
        count = self.embedder.count_tokens
        for c in chunks:  # c.tokens: the chunker's own count of c.text
            room = self.max_tokens - c.tokens
            c.context = chunk_context(
                title, st.section(c.page_start), c.heading, c.text, count, room
            )
        return chunks

    @property
    def _embedder_shares(self) -> bool:
        """Whether the embedder takes the cores the parsers leave: `ingest.share_cores`, and
        no `embedding.threads` fixed by the user."""
        return self.settings.ingest.share_cores and self.settings.embedding.threads is None

    def _embed(self, texts: list[str]) -> Vectors:
        """The vectors of `texts`. When the embedder shares the cores (`_embedder_shares`),
        each model batch computes on the cores no parser computes on (`ingest.cores`)."""
        cores = self._cores
        if cores is None or not self._embedder_shares:
            return self.embedder.embed_documents(texts)
        try:
            return self.embedder.embed_documents(texts, cores.take)
        finally:
            cores.release()

    def _flush(self, st: _DocState) -> None:
        assert st.record is not None
        gen = st.record.generation
        if st.pending_pages:
            t0 = time.perf_counter()
            self.store.add_pages(st.pending_pages, gen)
            st.pending_pages = []
            self._timed("store", t0)
        if st.pending_chunks:
            chunks, st.pending_chunks = st.pending_chunks, []
            texts = [c.search_text for c in chunks]
            t0 = time.perf_counter()
            dense = self._embed(texts)
            self._timed("embed", t0)
            t0 = time.perf_counter()
            sparse = self.bm25.documents(texts)
            self._timed("bm25", t0)
            t0 = time.perf_counter()
            self.store.add_chunks(chunks, dense.tolist(), sparse, gen)
            self._timed("store", t0)
            st.chunks += len(chunks)
        if st.unreported_work:  # the pages parsed since the last flush are stored now
            self.progress.eta(self.eta.done(st.unreported_work))
            st.unreported_work = 0.0

    def _publish(self, st: _DocState) -> IngestResult:
        assert st.record is not None and st.chunker is not None
        st.pending_chunks.extend(st.chunker.finish())
        self._flush(st)
        doc = st.record.model_copy(
            update={
                "status": DocStatus.partial if st.failed_pages else DocStatus.ready,
                "failed_pages": st.failed_pages,
                "pages": st.pages,
                "chunks": st.chunks,
                "ocr_pages": st.ocr_pages,
                "warnings": st.warnings,
                "indexed_at": time.time(),
            }
        )
        t0 = time.perf_counter()
        self.store.publish(doc)
        self._timed("store", t0)
        r = IngestResult(
            path=str(st.file),
            doc_id=doc.doc_id,
            status=FileStatus.partial if st.failed_pages else FileStatus.indexed,
            pages=st.pages,
            chunks=st.chunks,
            failed_pages=st.failed_pages,
            seconds=round(time.perf_counter() - st.started, 3),
        )
        self.progress.file_done(r)
        return r

    def _fail(self, st: _DocState, code: str, message: str) -> IngestResult:
        did = st.job.doc_id
        self.progress.pages_done(0)
        if st.work:  # begun: what was not reported done will not be
            reported = sum(_work_of(st, n) for n in st.seen) - st.unreported_work
            self.eta.drop(sum(st.work) - reported)
            self.progress.eta(self.eta.done(0.0))
        # The file no longer yields a valid document: its old content must not stay searchable.
        self.store.discard(did, keep_generation=None)
        self.store.put_document(
            Document(
                doc_id=did,
                path=str(st.file),
                filename=st.file.name,
                sha256=st.sha,
                status=DocStatus.failed,
                bytes=st.size,
                error=f"{code}: {message}",
                failed_pages=st.failed_pages,
            )
        )
        r = IngestResult(
            path=str(st.file),
            doc_id=did,
            status=FileStatus.failed,
            error=f"{code}: {message}",
            failed_pages=st.failed_pages,
            seconds=round(time.perf_counter() - st.started, 3),
        )
        self.progress.file_done(r)
        return r

    def _prune(
        self, paths: Sequence[Path], present: set[str], known: dict[str, Document]
    ) -> list[IngestResult]:
        folders = [p.resolve() for p in paths if p.is_dir()]
        out = []
        for did, doc in known.items():
            p = Path(doc.path)
            if did in present or not any(p.is_relative_to(f) for f in folders):
                continue
            if p.exists() and p.suffix.lower() in PDF_SUFFIXES:
                continue
            remove_document(self.store, self.settings, did)
            out.append(IngestResult(path=doc.path, doc_id=did, status=FileStatus.removed))
        return out
