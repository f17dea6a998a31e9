"""The folders the service may read (`settings.ingest_roots` plus its own upload folder), and
the one check every route that takes a path from a client makes."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import HTTPException

from docqa.config import Settings
from ingest.pipeline import inside_roots


def allowed_roots(settings: Settings) -> list[Path]:
    return [*(r.resolve() for r in settings.ingest_roots), settings.upload_dir.resolve()]


def checked_path(settings: Settings, raw: str, hint: str = "") -> Path:
    """`raw` resolved (symlinks followed): 422 unless absolute and free of NUL, 403 naming the
    roots when outside them (`hint` ends the message), 404 when nothing is there."""
    if "\x00" in raw:
        raise HTTPException(422, "a path holds a NUL character")
    p = Path(raw)
    if not p.is_absolute():
        raise HTTPException(
            422, f"paths must be absolute (the service's folder is not yours): {raw}"
        )
    if not inside_roots(p, allowed_roots(settings)):
        configured = os.pathsep.join(str(r) for r in settings.ingest_roots)
        named = f"the ingestion roots {configured}" if configured else "no ingestion roots"
        raise HTTPException(
            403,
            f"{raw} is outside the folders this service may read: {named} are configured "
            f"(DOCQA_INGEST_ROOTS), besides its upload folder{hint}",
        )
    real = p.resolve()
    if not real.exists():
        raise HTTPException(404, f"no such file or folder: {raw}")
    return real
