"""The service's ingestion routes: folder jobs (`/v1/ingest`, `/v1/jobs`) and uploads
(`POST /v1/documents`), over `ingest.jobs`.

Paths are checked before a job exists: each must resolve (symlinks followed) inside one of the
ingestion roots (`settings.ingest_roots`, plus the service's own upload folder), else 403
naming the roots; the runner checks every discovered file again, so a symlink inside a root
cannot lead out of it. Uploads are stored by content (`<uploads>/<sha256 prefix>/<name>`): the
same bytes uploaded twice are one document, and no upload overwrites another's file.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, File, HTTPException, UploadFile
from pydantic import BaseModel, Field
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from docqa.config import Settings
from ingest.jobs import FINAL, Job, JobRequest, JobRunner, JobStore, job_events
from ui.api.bodies import RequestBody
from ui.api.errors import errors
from ui.api.roots import checked_path

MAX_UPLOAD_FILES = 50
_CHUNK = 1 << 20


class IngestRequest(RequestBody):
    paths: list[str] = Field(min_length=1, max_length=1000)
    """Absolute paths of PDF files or folders, inside the ingestion roots."""
    recursive: bool = True
    """Folders: also the PDFs in their subfolders."""
    prune: bool = False
    """Remove documents whose files left the named folders."""
    passwords: dict[str, str] = Field(default_factory=dict, max_length=1000)
    """File name or path -> password, for encrypted PDFs (kept in memory, never stored)."""


class JobList(BaseModel):
    jobs: list[Job]


def safe_filename(name: str) -> str:
    """A file name that cannot leave its folder: the last path part, unusual characters
    replaced, no leading dot, at most 120 characters, ending in `.pdf`."""
    base = re.split(r"[\\/]", name)[-1]
    base = re.sub(r"[^A-Za-z0-9._ -]+", "_", base).strip(" .") or "upload"
    stem = base[:-4] if base.lower().endswith(".pdf") else base
    return f"{stem[:116]}.pdf"


def ingestion_router(settings: Settings, runner: JobRunner, jobs: JobStore) -> APIRouter:
    router = APIRouter()
    max_bytes = int(settings.upload_max_mb * 2**20)

    def check_path(raw: str) -> str:
        return str(checked_path(settings, raw, "; upload the file instead"))

    def job_or_404(job_id: str) -> Job:
        job = jobs.get(job_id)
        if job is None:
            raise HTTPException(404, f"no job with id {job_id}")
        return job

    @router.post("/v1/ingest", status_code=202, responses=errors(400, 401, 403, 404, 422))
    def ingest(body: IngestRequest) -> Job:
        """Ingest PDF files and folders as a background job (202: the queued job)."""
        paths = list(dict.fromkeys(check_path(p) for p in body.paths))
        request = JobRequest(paths=paths, recursive=body.recursive, prune=body.prune)
        return runner.submit(request, body.passwords)

    @router.get("/v1/jobs", responses=errors(401))
    def list_jobs() -> JobList:
        """The 100 newest jobs, newest first."""
        return JobList(jobs=jobs.list(100))

    @router.get("/v1/jobs/{job_id}", responses=errors(401, 404))
    def get_job(job_id: str) -> Job:
        """State, files done / failed / total, pages, pages/s and per-file results."""
        return job_or_404(job_id)

    @router.delete("/v1/jobs/{job_id}", responses=errors(401, 404, 409))
    def cancel_job(job_id: str) -> Job:
        """Cancel: a queued job at once; a running one stops at its next page, and the
        document it was writing is rolled back (state `running` with `cancel_requested`
        until then). Documents finished before stay."""
        job = job_or_404(job_id)
        if job.state in FINAL:
            raise HTTPException(409, f"job {job_id} is already {job.state.value}")
        cancelled = runner.cancel(job_id)
        assert cancelled is not None
        return cancelled

    @router.get(
        "/v1/jobs/{job_id}/events",
        response_class=EventSourceResponse,
        responses={200: {"content": {"text/event-stream": {}}}, **errors(401, 404)},
    )
    async def job_stream(job_id: str) -> EventSourceResponse:
        """Server-sent events `job` (the job, at each change) until it ends."""
        await run_in_threadpool(job_or_404, job_id)

        async def send() -> AsyncIterator[dict[str, str]]:
            async for job in iterate_in_threadpool(job_events(jobs, job_id)):
                yield {"event": "job", "data": job.model_dump_json()}

        return EventSourceResponse(send())

    def store_upload(upload: UploadFile) -> str:
        name = safe_filename(upload.filename or "upload.pdf")
        settings.upload_dir.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        fd, tmp = tempfile.mkstemp(dir=settings.upload_dir, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as out:
                head = upload.file.read(1024)
                if b"%PDF-" not in head:
                    raise HTTPException(
                        415, f"{upload.filename} is not a PDF (its bytes do not start a PDF)"
                    )
                while head:
                    size += len(head)
                    if size > max_bytes:
                        raise HTTPException(
                            413,
                            f"{upload.filename} is larger than the upload limit of "
                            f"{settings.upload_max_mb:g} MB (DOCQA_UPLOAD_MAX_MB)",
                        )
                    digest.update(head)
                    out.write(head)
                    head = upload.file.read(_CHUNK)
            folder = settings.upload_dir / digest.hexdigest()[:16]
            folder.mkdir(exist_ok=True)
            final = folder / name
            if final.exists():
                os.unlink(tmp)  # the same bytes under the same name: already here
            else:
                os.replace(tmp, final)
            return str(final.resolve())
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    @router.post(
        "/v1/documents",
        status_code=202,
        responses=errors(400, 401, 413, 415, 422),
    )
    def upload(files: list[UploadFile] = File(description="One or more PDF files.")) -> Job:
        """Upload PDFs (multipart, field `files`); 202: the job that ingests them."""
        if len(files) > MAX_UPLOAD_FILES:
            raise HTTPException(413, f"at most {MAX_UPLOAD_FILES} files per upload")
        paths = list(dict.fromkeys(store_upload(f) for f in files))
        return runner.submit(JobRequest(paths=paths, source="upload"))

    return router


def request_too_large(settings: Settings, content_length: Any) -> bool:
    """An upload request declared larger than the most it may carry (checked before its body
    is read, so nothing that size reaches the disk)."""
    try:
        n = int(content_length)
    except (TypeError, ValueError):
        return False
    return n > settings.upload_max_mb * 2**20 * MAX_UPLOAD_FILES + 2**20
