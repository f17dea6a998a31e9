"""Ingestion jobs: the SQLite job store (claims, leases, cancels) and the runner over the real
pipeline (MiniLM, Qdrant Edge, real PDFs)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pdfs
import pytest

from docqa.config import Settings
from docqa.runtime import Runtime
from docqa.types import DocStatus, FileStatus
from ingest.jobs import JobRequest, JobRunner, JobState, SqliteJobStore, job_events
from ingest.pipeline import Ingestor, Progress, doc_id_for


def _req(*paths: str) -> JobRequest:
    return JobRequest(paths=list(paths) or ["/x"])


def test_jobs_are_claimed_once_in_order_even_by_racing_workers(tmp_path: Path) -> None:
    jobs = SqliteJobStore(tmp_path / "jobs.sqlite3")
    made = [jobs.create(_req(f"/d/{i}")) for i in range(20)]
    claimed: list[tuple[str, str]] = []

    def work(worker: str) -> None:
        while (job := jobs.claim(worker, lease=60)) is not None:
            claimed.append((worker, job.id))

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [j for _, j in claimed]
    assert sorted(ids) == sorted(j.id for j in made) and len(set(ids)) == 20, "each exactly once"
    for job in jobs.list():
        assert job.state == JobState.running and job.attempts == 1


def test_an_expired_lease_hands_the_job_to_another_worker(tmp_path: Path) -> None:
    jobs = SqliteJobStore(tmp_path / "jobs.sqlite3")
    job = jobs.create(_req())
    mine = jobs.claim("a", lease=0.2)
    assert mine is not None and mine.id == job.id
    assert jobs.claim("b", lease=10) is None, "the lease still holds"
    time.sleep(0.3)
    theirs = jobs.claim("b", lease=10)
    assert theirs is not None and theirs.id == job.id and theirs.attempts == 2
    mine.pages_done = 99
    assert not jobs.save(mine, "a", lease=10), "a lost the job: its writes are refused"
    stored = jobs.get(job.id)
    assert stored is not None and stored.pages_done == 0


def test_cancel_a_queued_job_at_once_and_a_running_one_by_request(tmp_path: Path) -> None:
    jobs = SqliteJobStore(tmp_path / "jobs.sqlite3")
    queued = jobs.create(_req("/q"))
    running = jobs.create(_req("/r"))
    assert jobs.request_cancel("nope") is None
    # claim the oldest first, so cancel `queued` after making `running` run
    first = jobs.claim("w", lease=60)
    assert first is not None and first.id == queued.id
    jobs.request_cancel(running.id)
    assert jobs.get(running.id).state == JobState.cancelled  # type: ignore[union-attr]
    asked = jobs.request_cancel(queued.id)
    assert asked is not None and asked.state == JobState.running and asked.cancel_requested
    # a progress write after the cancel keeps the request
    assert jobs.save(first, "w", lease=60)
    assert jobs.get(queued.id).cancel_requested  # type: ignore[union-attr]


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    rt = Runtime(Settings(home=tmp_path / "home"))
    yield rt
    rt.close()


def _runner(rt: Runtime, jobs: SqliteJobStore, roots: list[Path]) -> JobRunner:
    def make(progress: Progress) -> Ingestor:
        return Ingestor.from_runtime(rt, progress)

    return JobRunner(jobs, make, lease=5, roots=roots, poll=0.1)


def _wait(jobs: SqliteJobStore, job_id: str, *states: JobState, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while (job := jobs.get(job_id)) is not None and job.state not in states:
        assert time.monotonic() < deadline, f"job still {job.state}"
        time.sleep(0.1)


def test_the_runner_ingests_reports_progress_and_cancels_cleanly(
    runtime: Runtime, tmp_path: Path
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    pdfs.text_pdf(folder / "a.pdf", pages=2)
    pdfs.corrupt_pdf(folder / "broken.pdf")
    pdfs.cyclic_tree_pdf(folder / "cyclic.pdf")
    jobs = SqliteJobStore(tmp_path / "jobs.sqlite3")
    runner = _runner(runtime, jobs, [folder])
    runner.start()
    try:
        job = runner.submit(JobRequest(paths=[str(folder)]))
        seen = list(job_events(jobs, job.id, poll=0.1))
        done = seen[-1]
        assert done.state == JobState.done and done.files_total == done.files_done == 3
        assert (done.files_failed, done.files_partial) == (1, 1)
        assert done.pages_done == done.pages_total == 5  # 2 + cyclic's 3, its failed one too
        assert done.pages_per_second > 0 and done.finished and done.attempts == 1
        assert done.seconds_left == 0.0  # the ingestor's ETA, kept in the record
        results = {Path(r.path).name: r for r in done.results}
        assert results["a.pdf"].status == FileStatus.indexed
        assert results["broken.pdf"].status == FileStatus.failed and results["broken.pdf"].error
        assert results["cyclic.pdf"].status == FileStatus.partial
        assert [f.page for f in results["cyclic.pdf"].failed_pages] == [2]
        assert seen[0].state in (JobState.queued, JobState.running) and len(seen) >= 2

        big = pdfs.text_pdf(folder / "big.pdf", pages=60)
        job2 = runner.submit(JobRequest(paths=[str(big)]))
        deadline = time.monotonic() + 300
        while (j := jobs.get(job2.id)) is not None and j.pages_done < 5:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        runner.cancel(job2.id)
        _wait(jobs, job2.id, JobState.cancelled)
    finally:
        runner.stop()
    store = runtime.store
    assert store.get_document(doc_id_for(big)) is None
    names = {d.filename: d for d in store.list_documents()}
    assert "big.pdf" not in names, "the cancelled document is rolled back"
    assert names["a.pdf"].status == DocStatus.ready
    assert names["cyclic.pdf"].status == DocStatus.partial
    kept = names["a.pdf"].chunks + names["cyclic.pdf"].chunks
    assert store.count_chunks(visible_only=False) == kept
