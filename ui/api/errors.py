"""The service's error body and the OpenAPI declaration of the error statuses a route can give,
so that clients (and the schema fuzzing in the tests) know every response in advance."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

_WHY = {
    400: "a body that cannot be parsed (not UTF-8, not JSON, broken multipart)",
    401: "no or a wrong API key",
    403: "a path outside the ingestion roots",
    404: "no such document, page, job or file",
    409: "the job has already ended",
    413: "the upload is too large",
    415: "an upload that is not a PDF",
    422: "a malformed request, or one the documents cannot answer",
    429: "the queue for the model is full (see Retry-After)",
    503: "the model or the store is unavailable",
}


class Problem(BaseModel):
    """Every 4xx and 5xx body: what was wrong, in words (request validation errors: a list
    of them, as FastAPI gives)."""

    detail: str | list[dict[str, Any]]


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries for these statuses, each with the `Problem` body."""
    return {code: {"model": Problem, "description": _WHY[code]} for code in codes}
