"""The REST service (FastAPI, under `/v1`): documents, pages, search and ask (JSON or
server-sent events), over one `Runtime` that owns the store and the model.

Thin by design: each route parses its input, calls the engine's operation (`Runtime`,
`answer_events`, `resolve_document`...) and shapes the output; nothing is re-implemented here.
Engine errors become 4xx with a JSON body `{"detail": "..."}`; a 5xx means a bug or a broken
model, never bad input.

One local model answers one question at a time: `/v1/ask` waits in a first-come queue of
`settings.ask_queue` places; a full queue answers 429 with `Retry-After`, and a client that
goes away while waiting or streaming frees its place.

Ingestion runs as durable background jobs (`ui.api.ingestion`, `ingest.jobs`) while questions
are answered; an answer only ever reads fully ingested documents.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

import docqa
from docqa.answer import AnswerError, DoesNotFitError
from docqa.answer.events import StatusEvent, answer_events
from docqa.config import Settings
from docqa.generation import GenerationError
from docqa.runtime import Runtime
from docqa.search import DocumentNotFoundError, resolve_document
from docqa.types import Answer, Box, Document, Page, SearchHit, StrategyChoice
from ingest.jobs import JobRunner, JobStore, SqliteJobStore
from ingest.locate import locate
from ingest.pipeline import Ingestor
from ui.api.bodies import RequestBody, StrictBox
from ui.api.errors import errors
from ui.api.evals import evals_router
from ui.api.ingestion import ingestion_router, request_too_large
from ui.api.roots import allowed_roots
from ui.client import announce


class AskRequest(RequestBody):
    question: str = Field(min_length=1, max_length=4000)
    doc_ids: list[str] | None = Field(default=None, max_length=100)
    """Documents (ids or file names) to answer from; none: every ready document."""
    strategy: StrategyChoice | None = None
    """Default: the configured `answer.strategy`."""


class SearchRequest(RequestBody):
    query: str = Field(min_length=1, max_length=2000)
    k: int = Field(default=8, ge=1, le=200)
    doc_ids: list[str] | None = Field(default=None, max_length=100)
    mode: Literal["hybrid", "dense", "sparse"] = "hybrid"


class LocateRequest(RequestBody):
    text: str = Field(min_length=1, max_length=8000)
    """The quoted span to find on the page."""
    clip: list[StrictBox] = Field(default_factory=list, max_length=200)
    """Look only inside these boxes (the cited passage's blocks on this page)."""


class LocateResponse(BaseModel):
    boxes: list[Box]
    """One box per line of the page the span covers; [] when it cannot be found (a scanned
    page, a moved file, a span not on the page)."""


class SearchResponse(BaseModel):
    hits: list[SearchHit]


class DocumentList(BaseModel):
    documents: list[Document]


class Info(BaseModel):
    version: str
    store: str
    embedding_model: str
    generation_backend: str
    generation_model: str
    strategy: str
    citations_checked: bool
    auth: bool


class QueueFullError(RuntimeError):
    pass


class AnswerQueue:
    """First come, first served turns at the one local model (asyncio.Lock wakes its waiters
    in order), with at most `size` waiting, each knowing how many questions are ahead of it."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._lock = asyncio.Lock()
        self._line: list[object] = []

    @property
    def waiting(self) -> int:
        return len(self._line)

    def check(self) -> None:
        """QueueFullError when the model is busy and `size` questions already wait."""
        if self._lock.locked() and len(self._line) >= self.size:
            raise QueueFullError

    def join(self, *, checked: bool = False) -> object:
        """A place in line (a ticket for `wait`). `checked`: `check` was called before (a
        stream checks before it starts, and joins once it runs: a stream that never runs
        holds no place)."""
        if not checked:
            self.check()
        ticket = object()
        self._line.append(ticket)
        return ticket

    def ahead(self, ticket: object) -> int:
        """Questions before this one: those waiting before it, and the one being answered."""
        return self._line.index(ticket) + self._lock.locked()

    async def wait(self, ticket: object, request: Request) -> AsyncIterator[int]:
        """Wait for the model, yielding the number of questions ahead whenever it changes
        (nothing when the model is free); on return the model is held until `release`. A
        client that disconnects (or a cancelled task) leaves the line: HTTPException 499 (not
        sent: nobody listens)."""
        acquire = asyncio.ensure_future(self._lock.acquire())
        held = False
        try:
            await asyncio.sleep(0)  # a free model: the acquire's one step has run
            shown = 0
            while not acquire.done():
                if (n := self.ahead(ticket)) != shown:
                    shown = n
                    yield n
                await asyncio.wait({acquire}, timeout=0.25)
                if not acquire.done() and await request.is_disconnected():
                    break
            held = acquire.done() and not acquire.cancelled()
        finally:
            self._line.remove(ticket)
            if not held:
                if acquire.done() and not acquire.cancelled():
                    self._lock.release()  # got the model just as the wait was cancelled
                acquire.cancel()
        if not held:
            raise HTTPException(499, "the client went away while waiting")

    def release(self) -> None:
        self._lock.release()

    @asynccontextmanager
    async def turn(self, request: Request) -> AsyncIterator[None]:
        """Hold the model for the block (see `join` and `wait`)."""
        ticket = self.join()
        async for _ahead in self.wait(ticket, request):
            pass
        try:
            yield
        finally:
            self.release()


def _bearer(settings: Settings) -> Any:
    keys = [k.encode() for k in settings.api_keys]

    def check(authorization: Annotated[str | None, Header()] = None) -> None:
        if not keys:
            return
        scheme, _, token = (authorization or "").partition(" ")
        given = token.strip().encode()
        # every key compared, in constant time: no early exit that times which one matched
        ok = False
        for k in keys:
            ok |= hmac.compare_digest(given, k)
        if scheme.lower() != "bearer" or not ok:
            raise HTTPException(
                401,
                "a valid API key is required: Authorization: Bearer <key>",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return check


def create_app(
    settings: Settings,
    runtime: Runtime | None = None,
    jobs: JobStore | None = None,
    *,
    owns_runtime: bool | None = None,
    announce_url: str | None = None,
) -> FastAPI:
    """The service over `runtime` (built from `settings` when None) and the job records `jobs`
    (default: SQLite in `settings.jobs_db`). Ingestion jobs run while the app's lifespan runs;
    at its end the runtime is closed when the app owns it (default: when it built it).
    `announce_url`: while running, tell local clients of this home that the service is there
    (`ui.client.find_service`)."""
    rt = runtime or Runtime(settings)
    queue = AnswerQueue(settings.ask_queue)
    job_store: JobStore = jobs or SqliteJobStore(settings.jobs_db)
    runner = JobRunner(
        job_store,
        lambda progress: Ingestor.from_runtime(rt, progress),
        lease=settings.job_lease_seconds,
        roots=allowed_roots(settings),
    )

    close_runtime = runtime is None if owns_runtime is None else owns_runtime

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        note = announce(settings, announce_url) if announce_url else None
        runner.start()
        try:
            yield
        finally:
            if note is not None:
                note.unlink(missing_ok=True)
            await run_in_threadpool(runner.stop)
            if close_runtime:
                rt.close()

    app = FastAPI(
        title="docqa",
        version=docqa.__version__,
        description="Answers about long PDF documents, with page citations that are checked.",
        lifespan=lifespan,
    )
    auth = [Depends(_bearer(settings))]
    app.include_router(ingestion_router(settings, runner, job_store), dependencies=auth)
    app.include_router(evals_router(settings), dependencies=auth)

    @app.middleware("http")
    async def _upload_size(request: Request, call_next: Any) -> Response:
        length = request.headers.get("content-length")
        upload = request.method == "POST" and request.url.path == "/v1/documents"
        if upload and request_too_large(settings, length):
            return JSONResponse(
                {
                    "detail": f"the upload is larger than {settings.upload_max_mb:g} MB a file allows"
                },
                status_code=413,
            )
        response: Response = await call_next(request)
        return response

    def _document(doc_id: str) -> Document:
        doc = rt.store.get_document(doc_id)
        if doc is None:
            raise HTTPException(404, f"no document with id {doc_id}")
        return doc

    def _page(doc_id: str, n: int) -> Page:
        return _page_of(_document(doc_id), n)

    def _page_of(doc: Document, n: int) -> Page:
        for page in rt.store.get_pages(doc.doc_id):
            if page.page == n:
                return page
        failed = next((f for f in doc.failed_pages if f.page == n), None)
        if failed is not None:
            raise HTTPException(
                404, f"page {n} of {doc.filename} could not be read: {failed.reason}"
            )
        raise HTTPException(404, f"{doc.filename} has no page {n} (it has {doc.pages})")

    def _docs(refs: list[str] | None) -> list[Document] | None:
        try:
            return [resolve_document(rt.store, r) for r in refs] if refs else None
        except DocumentNotFoundError as e:
            raise HTTPException(404, str(e)) from None

    @app.exception_handler(AnswerError)
    @app.exception_handler(DoesNotFitError)
    async def _unanswerable(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(GenerationError)
    async def _model_failed(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": f"the answering model failed: {exc}"}, status_code=503)

    @app.exception_handler(QueueFullError)
    async def _full(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(
            {"detail": f"{queue.size} questions are already waiting for the model; retry later"},
            status_code=429,
            headers={"Retry-After": "10"},
        )

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @app.get("/readyz", responses=errors(503))
    def readyz() -> JSONResponse:
        """The store is open (the models load on first use)."""
        try:
            n = len(rt.store.list_documents())
        except Exception as e:  # whatever keeps the store closed, said as it is
            return JSONResponse({"status": "unavailable", "detail": str(e)}, status_code=503)
        return JSONResponse({"status": "ready", "documents": n})

    @app.get("/v1/info", dependencies=auth, responses=errors(401))
    def info() -> Info:
        """Version, models, store kind and the settings that matter (no secrets)."""
        return Info(
            version=docqa.__version__,
            store=settings.store.kind,
            embedding_model=settings.embedding.model,
            generation_backend=settings.generation.backend,
            generation_model=settings.generation.model,
            strategy=settings.answer.strategy,
            citations_checked=settings.citations.enabled,
            auth=bool(settings.api_keys),
        )

    @app.get("/v1/documents", dependencies=auth, responses=errors(401))
    def list_documents() -> DocumentList:
        return DocumentList(documents=rt.store.list_documents())

    @app.get("/v1/documents/{doc_id}", dependencies=auth, responses=errors(401, 404))
    def get_document(doc_id: str) -> Document:
        """Status, pages, chunks, OCR pages and errors of one document."""
        return _document(doc_id)

    @app.delete("/v1/documents/{doc_id}", dependencies=auth, responses=errors(401, 404))
    def delete_document(doc_id: str) -> Document:
        """Remove the document, its pages, chunks and saved KV states; the removed record."""
        return rt.remove_document(_document(doc_id).doc_id)

    @app.get("/v1/documents/{doc_id}/pages/{n}", dependencies=auth, responses=errors(401, 404, 422))
    def get_page(doc_id: str, n: int) -> Page:
        """A page's text (tables as Markdown), size and image path."""
        return _page(doc_id, n)

    @app.get(
        "/v1/documents/{doc_id}/pages/{n}/image",
        dependencies=auth,
        response_class=FileResponse,
        responses={200: {"content": {"image/png": {}, "image/webp": {}}}, **errors(401, 404, 422)},
    )
    def get_page_image(doc_id: str, n: int) -> FileResponse:
        page = _page(doc_id, n)
        root = settings.blob_dir.resolve()
        path = (root / page.image).resolve() if page.image else None
        if path is None or not path.is_relative_to(root) or not path.is_file():
            raise HTTPException(404, f"no stored image of page {n}")
        return FileResponse(path)

    @app.post(
        "/v1/documents/{doc_id}/pages/{n}/locate",
        dependencies=auth,
        responses=errors(400, 401, 404, 422),
    )
    def locate_text(doc_id: str, n: int, body: LocateRequest) -> LocateResponse:
        """Where a quoted span stands on the page: one box per line (PDF points, origin top
        left, as the page image shows the page), for highlighting exactly the cited lines."""
        doc = _document(doc_id)
        _page_of(doc, n)  # 404 for a page the document does not have
        clip = [b for b in body.clip if b.page == n]
        return LocateResponse(boxes=locate(Path(doc.path), n, body.text, clip))

    @app.get(
        "/v1/documents/{doc_id}/file",
        dependencies=auth,
        response_class=FileResponse,
        responses={200: {"content": {"application/pdf": {}}}, **errors(401, 404)},
    )
    def get_file(doc_id: str) -> FileResponse:
        """The ingested PDF, for viewers (404 when it left its folder)."""
        doc = _document(doc_id)
        path = Path(doc.path)
        if not path.is_file():
            raise HTTPException(404, f"{doc.filename} is no longer at {doc.path}")
        return FileResponse(path, media_type="application/pdf", filename=doc.filename)

    @app.post("/v1/search", dependencies=auth, responses=errors(400, 401, 404, 422))
    def search(body: SearchRequest) -> SearchResponse:
        """Hybrid search (dense + BM25 fused by RRF), optionally within some documents."""
        docs = _docs(body.doc_ids)
        ids = [d.doc_id for d in docs] if docs else None
        return SearchResponse(
            hits=rt.searcher.run(body.query, k=body.k, doc_ids=ids, mode=body.mode)
        )

    @app.post(
        "/v1/ask",
        dependencies=auth,
        response_model=Answer,
        responses={
            200: {"content": {"text/event-stream": {}}},
            **errors(400, 401, 404, 422, 429, 503),
        },
    )
    async def ask(body: AskRequest, request: Request) -> Response:
        """The checked `Answer` (as `docqa ask --json`); with `Accept: text/event-stream`,
        events `status`, `token`, then `sentence`, `citation` and last `answer`."""
        docs = await run_in_threadpool(_docs, body.doc_ids)
        if "text/event-stream" in request.headers.get("accept", ""):
            return await _stream(body, docs, request)
        async with queue.turn(request):
            answer = await run_in_threadpool(rt.answerer.ask, body.question, docs, body.strategy)
        return Response(answer.model_dump_json(), media_type="application/json")

    async def _stream(
        body: AskRequest, docs: list[Document] | None, request: Request
    ) -> EventSourceResponse:
        queue.check()  # 429 here, before the stream starts
        events = answer_events(rt.answerer, body.question, docs, body.strategy)

        async def send() -> AsyncIterator[dict[str, str]]:
            t0 = time.monotonic()
            ticket = queue.join(checked=True)
            queued = False
            async for ahead in queue.wait(ticket, request):
                queued = True
                line = f"in line for the model: {ahead} question{'s' * (ahead != 1)} ahead"
                yield {"event": "status", "data": StatusEvent(text=line).model_dump_json()}
            # closes a wait the client was told about; a free model reached late (a busy
            # event loop) was never "in line"
            if queued and time.monotonic() - t0 > 0.5:
                waited = f"the model is free after {time.monotonic() - t0:.0f} s in line"
                yield {"event": "status", "data": StatusEvent(text=waited).model_dump_json()}
            try:
                async for event in iterate_in_threadpool(events):
                    yield {"event": event.type, "data": event.model_dump_json()}
            except (AnswerError, DoesNotFitError, GenerationError) as e:
                yield {"event": "error", "data": json.dumps({"detail": str(e)})}
            finally:
                # a client gone mid-answer: stop the generation at its next token
                await run_in_threadpool(events.close)
                queue.release()

        return EventSourceResponse(send())

    return app
