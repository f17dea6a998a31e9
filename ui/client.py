"""A client of a running docqa service, for the front ends that do not own the store (the CLI
while `docqa serve` holds the embedded store, the web UI always).

It speaks the service's routes and hands back the engine's own types (`Document`, `SearchHit`,
the answer stream's events, `Job`), so a front end renders the same objects however it got
them. Errors of the service (4xx/5xx with a JSON `detail`) become `ServiceError` with that text.

Where the service runs: `settings.url` (`DOCQA_URL`), else the service that holds this home's
store, which announces itself in `<home>/service.json` while it runs (`announce`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from httpx_sse import connect_sse
from pydantic import TypeAdapter

from docqa.answer.events import AnswerStreamEvent
from docqa.config import Settings
from docqa.search import DocumentNotFoundError, pick_document
from docqa.types import Box, Document, Page, SearchHit, StrategyChoice
from eval.runs import EvalRunView
from ingest.jobs import Job

_EVENT = TypeAdapter[AnswerStreamEvent](AnswerStreamEvent)


class ServiceError(RuntimeError):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status


def _announcement(settings: Settings) -> Path:
    return settings.home / "service.json"


def announce(settings: Settings, url: str) -> Path:
    """Record that this process serves `settings.home` at `url` (removed by the caller at exit)."""
    path = _announcement(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"url": url, "pid": os.getpid()}))
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def find_service(settings: Settings) -> str | None:
    """The URL of the service to talk to: `settings.url`, or the live local service that
    announced itself for this home; None when there is none."""
    if settings.url:
        return settings.url.rstrip("/")
    try:
        info = json.loads(_announcement(settings).read_text())
        url, pid = str(info["url"]), int(info["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not _alive(pid):
        return None  # a note left by a killed service
    try:  # a live pid may be another process now: the service must answer too
        httpx.get(f"{url}/healthz", timeout=2).raise_for_status()
    except httpx.HTTPError:
        return None
    return url


class ServiceClient:
    def __init__(self, url: str, api_key: str | None = None, timeout: float = 900.0) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.url = url
        self.http = httpx.Client(base_url=url, headers=headers, timeout=timeout)

    @classmethod
    def from_settings(cls, settings: Settings, url: str) -> ServiceClient:
        return cls(url, settings.api_keys[0] if settings.api_keys else None)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> ServiceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ------------------------------------------------------------------------
    @staticmethod
    def _check(r: httpx.Response) -> httpx.Response:
        if r.status_code >= 400:
            try:
                detail = r.json().get("detail", r.text)
            except ValueError:
                detail = r.text
            if isinstance(detail, list):  # request validation errors
                detail = "; ".join(str(d.get("msg", d)) for d in detail)
            raise ServiceError(r.status_code, f"the service answered {r.status_code}: {detail}")
        return r

    def _request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """The response to a request, ServiceError for an error status or no service."""
        try:
            return self._check(self.http.request(method, path, **kw))
        except httpx.TransportError as e:
            raise ServiceError(0, f"cannot reach the docqa service at {self.url}: {e}") from None

    def _get(self, path: str) -> Any:
        return self._request("GET", path).json()

    def _send(self, method: str, path: str, body: Any = None) -> Any:
        return self._request(method, path, json=body).json()

    def _stream(self, path: str, body: Any = None) -> Iterator[tuple[str, str]]:
        method = "GET" if body is None else "POST"
        try:
            with connect_sse(self.http, method, path, json=body) as source:
                if source.response.status_code >= 400:
                    source.response.read()
                    self._check(source.response)
                for sse in source.iter_sse():
                    yield sse.event, sse.data
        except httpx.TransportError as e:
            raise ServiceError(0, f"lost the docqa service at {self.url}: {e}") from None

    # -- the routes ------------------------------------------------------------------------
    def documents(self) -> list[Document]:
        return [Document.model_validate(d) for d in self._get("/v1/documents")["documents"]]

    def resolve(self, ref: str) -> Document:
        """A document by id, path or file name, matched as the engine's `resolve_document`."""
        try:
            return pick_document(self.documents(), ref)
        except DocumentNotFoundError as e:
            raise ServiceError(404, str(e)) from None

    def remove(self, doc_id: str) -> Document:
        return Document.model_validate(self._send("DELETE", f"/v1/documents/{doc_id}"))

    def search(
        self, query: str, k: int, doc_ids: list[str] | None, mode: str = "hybrid"
    ) -> list[SearchHit]:
        body = {"query": query, "k": k, "doc_ids": doc_ids, "mode": mode}
        return [SearchHit.model_validate(h) for h in self._send("POST", "/v1/search", body)["hits"]]

    def ask_events(
        self, question: str, doc_ids: list[str] | None, strategy: StrategyChoice | None
    ) -> Iterator[AnswerStreamEvent]:
        body = {"question": question, "doc_ids": doc_ids, "strategy": strategy}
        for kind, data in self._stream("/v1/ask", body):
            if kind == "error":
                raise ServiceError(422, json.loads(data).get("detail", data))
            yield _EVENT.validate_json(data)

    def ingest(
        self, paths: list[Path], prune: bool, passwords: dict[str, str], recursive: bool = True
    ) -> Job:
        body = {
            "paths": [str(p if p.is_absolute() else p.absolute()) for p in paths],
            "prune": prune,
            "passwords": passwords,
            "recursive": recursive,
        }
        return Job.model_validate(self._send("POST", "/v1/ingest", body))

    def upload(self, files: list[tuple[str, bytes]]) -> Job:
        """Upload PDFs (name, bytes): the job that ingests them."""
        parts = [("files", (name, data, "application/pdf")) for name, data in files]
        return Job.model_validate(self._request("POST", "/v1/documents", files=parts).json())

    def info(self) -> dict[str, Any]:
        info: dict[str, Any] = self._get("/v1/info")
        return info

    def page(self, doc_id: str, n: int) -> Page:
        return Page.model_validate(self._get(f"/v1/documents/{doc_id}/pages/{n}"))

    def page_image(self, doc_id: str, n: int) -> bytes:
        return self._request("GET", f"/v1/documents/{doc_id}/pages/{n}/image").content

    def locate(self, doc_id: str, n: int, text: str, clip: list[Box]) -> list[Box]:
        """The line boxes of `text` on page `n` ([] when it cannot be found there)."""
        body = {"text": text, "clip": [b.model_dump() for b in clip]}
        found = self._send("POST", f"/v1/documents/{doc_id}/pages/{n}/locate", body)
        return [Box.model_validate(b) for b in found["boxes"]]

    def job_events(self, job_id: str) -> Iterator[Job]:
        for _, data in self._stream(f"/v1/jobs/{job_id}/events"):
            yield Job.model_validate_json(data)

    def cancel(self, job_id: str) -> Job:
        return Job.model_validate(self._send("DELETE", f"/v1/jobs/{job_id}"))

    def eval_run(self, path: str) -> EvalRunView:
        """The eval run in the service-side folder `path` (inside its ingestion roots)."""
        r = self._request("GET", "/v1/evals", params={"path": path})
        return EvalRunView.model_validate_json(r.content)

    def eval_plot(self, path: str, name: str) -> bytes:
        return self._request("GET", f"/v1/evals/plots/{name}", params={"path": path}).content
