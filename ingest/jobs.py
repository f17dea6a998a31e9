"""Durable ingestion jobs: records in a `JobStore` (SQLite by default), run one at a time by a
`JobRunner` thread over an `Ingestor`.

A job is `queued`, then `running`, then `done`, `failed` or `cancelled`. The runner renews a
lease on its running job; a job whose lease ran out (its process was killed) is queued again
and runs from the start, which costs little: files already ingested are unchanged and skipped,
and a half-written document is rewritten under a fresh generation (the pipeline is crash-safe),
so nothing is duplicated. Several runners (service replicas) can share one job database: a job
is claimed by one atomic update.

PDF passwords are kept in memory only, never in the job record: a job resumed after a restart
retries its encrypted files without them (they fail, saying a password is needed).

Example:
    >>> jobs = SqliteJobStore(Path("jobs.sqlite3"))  # doctest: +SKIP
    >>> job = jobs.create(JobRequest(paths=["/data/reports"]))  # doctest: +SKIP
    >>> JobRunner(jobs, lambda progress: Ingestor(...), lease=15).start()  # doctest: +SKIP
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, Field

from docqa.types import FileStatus, IngestResult
from ingest.pipeline import IngestCancelled, Ingestor, Progress


class JobState(StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"
    cancelled = "cancelled"


FINAL = (JobState.done, JobState.failed, JobState.cancelled)


class JobRequest(BaseModel):
    """What to ingest (paths already checked against the ingestion roots)."""

    paths: list[str] = Field(min_length=1)
    recursive: bool = True
    prune: bool = False
    source: str = "paths"
    """`paths` (POST /v1/ingest) or `upload` (POST /v1/documents)."""


class Job(BaseModel):
    """One ingestion job and its progress."""

    id: str
    state: JobState
    request: JobRequest
    created: float
    started: float | None = None
    finished: float | None = None
    files_total: int = 0
    files_done: int = 0
    """Files finished so far, failed ones included."""
    files_failed: int = 0
    files_partial: int = 0
    """Files indexed without some of their pages (their results list the failed pages)."""
    pages_total: int = 0
    """Pages of the files begun so far (a file's count is known once it opens)."""
    pages_done: int = 0
    pages_per_second: float = 0.0
    seconds_left: float | None = None
    """The estimated time the job still takes for the files begun so far (`ingest.eta`);
    None until the pace is known."""
    results: list[IngestResult] = Field(default_factory=list)
    """Per file: indexed, partial (with its failed pages), unchanged, removed or failed with its
    reason."""
    error: str | None = None
    cancel_requested: bool = False
    attempts: int = 0
    """Times a runner took the job up (above 1: it was resumed after a crash or restart)."""


class JobStore(Protocol):
    """Where job records live. The seam for a server database shared by several replicas."""

    def create(self, request: JobRequest) -> Job: ...
    def get(self, job_id: str) -> Job | None: ...
    def list(self, limit: int = 100) -> list[Job]: ...
    def claim(self, worker: str, lease: float) -> Job | None:
        """The oldest queued job, or a running one whose lease ran out, now running for
        `worker`; None when there is none. Atomic: two workers never claim one job."""
        ...

    def save(self, job: Job, worker: str, lease: float) -> bool:
        """Write the job's progress and renew the worker's lease; False when the job is no
        longer this worker's (another took it over after the lease ran out). A cancel asked
        meanwhile is kept, and set on `job` (`cancel_requested`)."""
        ...

    def request_cancel(self, job_id: str) -> Job | None:
        """A queued job is cancelled at once; a running one is asked to stop."""
        ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    state TEXT NOT NULL,
    worker TEXT,
    lease_until REAL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, created);
"""


class SqliteJobStore:
    """Job records in an SQLite file (WAL: readers never wait for the writer). Thread-safe:
    one connection per call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._db() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            yield db
        finally:
            db.close()

    @staticmethod
    def _job(body: str) -> Job:
        return Job.model_validate_json(body)

    def create(self, request: JobRequest) -> Job:
        job = Job(
            id=uuid.uuid4().hex[:16], state=JobState.queued, request=request, created=time.time()
        )
        with self._db() as db:
            db.execute(
                "INSERT INTO jobs (id, created, state, body) VALUES (?, ?, ?, ?)",
                (job.id, job.created, job.state.value, job.model_dump_json()),
            )
        return job

    def get(self, job_id: str) -> Job | None:
        with self._db() as db:
            row = db.execute("SELECT body FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return self._job(row[0]) if row else None

    def list(self, limit: int = 100) -> list[Job]:
        with self._db() as db:
            rows = db.execute(
                "SELECT body FROM jobs ORDER BY created DESC LIMIT ?", (limit,)
            ).fetchall()
        return [self._job(r[0]) for r in rows]

    def claim(self, worker: str, lease: float) -> Job | None:
        now = time.time()
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")  # the write lock first: claims are serialised
            try:
                row = db.execute(
                    "SELECT body FROM jobs WHERE state = 'queued' "
                    "OR (state = 'running' AND lease_until < ?) ORDER BY created LIMIT 1",
                    (now,),
                ).fetchone()
                if row is None:
                    db.execute("COMMIT")
                    return None
                job = self._job(row[0])
                if job.cancel_requested:  # asked to stop, then its runner died: it stops here
                    job.state, job.finished = JobState.cancelled, now
                else:
                    job.state, job.started = JobState.running, job.started or now
                    job.attempts += 1
                db.execute(
                    "UPDATE jobs SET state = ?, worker = ?, lease_until = ?, body = ? WHERE id = ?",
                    (job.state.value, worker, now + lease, job.model_dump_json(), job.id),
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return job if job.state == JobState.running else self.claim(worker, lease)

    def save(self, job: Job, worker: str, lease: float) -> bool:
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT worker, body FROM jobs WHERE id = ?", (job.id,)).fetchone()
                if row is None or row[0] != worker:
                    db.execute("COMMIT")
                    return False
                # a cancel asked meanwhile must not be overwritten by a progress update
                job.cancel_requested = job.cancel_requested or self._job(row[1]).cancel_requested
                db.execute(
                    "UPDATE jobs SET state = ?, lease_until = ?, body = ? WHERE id = ?",
                    (job.state.value, time.time() + lease, job.model_dump_json(), job.id),
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return True

    def request_cancel(self, job_id: str) -> Job | None:
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT body FROM jobs WHERE id = ?", (job_id,)).fetchone()
                if row is None:
                    db.execute("COMMIT")
                    return None
                job = self._job(row[0])
                if job.state == JobState.queued:
                    job.state, job.finished = JobState.cancelled, time.time()
                elif job.state == JobState.running:
                    job.cancel_requested = True
                db.execute(
                    "UPDATE jobs SET state = ?, body = ? WHERE id = ?",
                    (job.state.value, job.model_dump_json(), job.id),
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return job


class _JobProgress:
    """The ingestor's `Progress`, kept in the job record (written at most every `every` s,
    and at every finished file)."""

    def __init__(self, runner: JobRunner, job: Job, every: float = 0.5) -> None:
        self.runner, self.job, self.every = runner, job, every
        self._last = 0.0
        self._t0 = time.monotonic()

    def _save(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last >= self.every:
            self._last = now
            elapsed = max(now - self._t0, 1e-6)
            self.job.pages_per_second = round(self.job.pages_done / elapsed, 2)
            self.runner.save(self.job)

    def files(self, total: int) -> None:
        self.job.files_total = total
        self._save(force=True)

    def pages_found(self, n: int) -> None:
        self.job.pages_total += n
        self._save()

    def pages_done(self, n: int) -> None:
        self.job.pages_done += n
        self._save()

    def eta(self, seconds_left: float | None) -> None:
        self.job.seconds_left = None if seconds_left is None else round(seconds_left, 1)

    def file_done(self, result: IngestResult) -> None:
        self.job.files_done += 1
        self.job.files_failed += int(result.status == FileStatus.failed)
        self.job.files_partial += int(result.status == FileStatus.partial)
        self.job.results.append(result)
        self._save(force=True)


class JobRunner:
    """Runs jobs of a `JobStore`, one at a time, on a background thread.

    `make_ingestor(progress)` builds the ingestor of one job. `roots`: the folders jobs may
    read (the ingestor re-checks every discovered file, so a symlink inside an allowed folder
    cannot lead out of it). `stop()` interrupts a running job, rolls back its document in
    flight and leaves the job to be resumed by the next runner."""

    def __init__(
        self,
        jobs: JobStore,
        make_ingestor: Callable[[Progress], Ingestor],
        lease: float = 15.0,
        roots: list[Path] | None = None,
        poll: float = 0.5,
    ) -> None:
        self.jobs, self.make_ingestor, self.lease = jobs, make_ingestor, lease
        self.roots, self.poll = roots, poll
        self.worker = uuid.uuid4().hex[:12]
        self._passwords: dict[str, dict[str, str]] = {}
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._cancel = threading.Event()
        self._current: Job | None = None
        self._lock = threading.Lock()
        self._save_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    # -- for the front end ---------------------------------------------------------------
    def submit(self, request: JobRequest, passwords: dict[str, str] | None = None) -> Job:
        job = self.jobs.create(request)
        if passwords:
            self._passwords[job.id] = dict(passwords)
        self._wake.set()
        return job

    def cancel(self, job_id: str) -> Job | None:
        job = self.jobs.request_cancel(job_id)
        with self._lock:
            if job is not None and self._current is not None and self._current.id == job_id:
                self._cancel.set()
        return job

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="docqa-jobs", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 60.0) -> None:
        self._stopping.set()
        self._cancel.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    # -- the worker thread ---------------------------------------------------------------
    def save(self, job: Job) -> None:
        with self._save_lock:
            mine = self.jobs.save(job, self.worker, self.lease)
        if not mine:
            self._cancel.set()  # taken over by another runner: stop writing
        elif job.cancel_requested:
            self._cancel.set()

    def _loop(self) -> None:
        beat = threading.Thread(target=self._heartbeat, name="docqa-jobs-lease", daemon=True)
        beat.start()
        while not self._stopping.is_set():
            job = self.jobs.claim(self.worker, self.lease)
            if job is None:
                self._wake.wait(self.poll)
                self._wake.clear()
                continue
            self._run(job)

    def _heartbeat(self) -> None:
        """Renew the running job's lease (a single page can take longer than the lease);
        saving also notices a cancel asked through another replica."""
        while not self._stopping.wait(self.lease / 3):
            with self._lock:
                job = self._current
            if job is not None:
                self.save(job)

    def _run(self, job: Job) -> None:
        # a resumed job starts its counts again (its finished files come back as unchanged)
        counts = (
            "files_total",
            "files_done",
            "files_failed",
            "files_partial",
            "pages_total",
            "pages_done",
        )
        job = job.model_copy(update={**dict.fromkeys(counts, 0), "results": []})
        with self._lock:
            self._current = job
            self._cancel.clear()
        progress = _JobProgress(self, job)
        try:
            ingestor = self.make_ingestor(progress)
            req = job.request
            ingestor.run(
                [Path(p) for p in req.paths],
                prune=req.prune,
                passwords=self._passwords.get(job.id),
                recursive=req.recursive,
                roots=self.roots,
                cancel=self._cancel,
            )
            job.state = JobState.done
        except IngestCancelled:
            if self._stopping.is_set() and not job.cancel_requested:
                job.state = JobState.queued  # the service stops: the next one resumes it
            else:
                job.state = JobState.cancelled
        except Exception as e:  # a job fails with its reason; the runner goes on
            job.state, job.error = JobState.failed, f"{type(e).__name__}: {e}"
        finally:
            with self._lock:
                self._current = None
        if job.state != JobState.queued:
            job.finished = time.time()
            self._passwords.pop(job.id, None)
        progress._save(force=True)


def job_events(jobs: JobStore, job_id: str, poll: float = 0.5) -> Iterator[Job]:
    """The job each time it changes, until it ends (blocking; the SSE route runs it in a
    thread). Reads the store, so it follows a job run by any replica."""
    last = None
    while True:
        job = jobs.get(job_id)
        if job is None:
            return
        body = json.dumps(job.model_dump(mode="json", exclude={"pages_per_second"}))
        if body != last:
            last = body
            yield job
        if job.state in FINAL:
            return
        time.sleep(poll)
