"""The base of the service's request bodies: validated strictly, so a JSON value of the wrong type
is a 422, never read as another (pydantic's default lax mode takes `true` for the integer 1 and
"8" for 8; the schema says integer, and a client that sends a boolean has a bug to be told of)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from docqa.types import Box

__all__ = ["RequestBody", "StrictBox"]


class RequestBody(BaseModel):
    model_config = ConfigDict(strict=True)


class StrictBox(Box):
    """A `Box` in a request body (a nested model keeps its own, lax, validation)."""

    model_config = ConfigDict(strict=True)
