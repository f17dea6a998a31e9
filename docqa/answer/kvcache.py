"""The document KV cache: a long-context prefix (system prompt + the whole document) is computed
once per document and model, saved to disk, and loaded for every later question on it.

On a CPU the 1.5B model prefills ~60 tokens/s, so a 20,000-token document costs minutes the
first time; loading its saved state takes well under a second. This decides whether long
context is usable at all.

- Key: sha256 of (the documents' ids and file hashes, the model's fingerprint, the prefix
  tokens). A changed file, another model or another prompt gives another key: stale states are
  never used. When a document's new state is written, its older states (same documents, other
  hashes) are deleted at once.
- Files: `<key>.kv` (the `LogitsModel`'s own state format, written atomically) and
  `<key>.json` (what it holds: doc ids, hashes, model, tokens, bytes), so that `invalidate`
  and `entries` need not read the states.
- Bounded: after each write, least recently used states are deleted until the folder is under
  `max_bytes`. A hit touches the file's mtime (the LRU clock).

Example:
    >>> cache = DocumentKVCache(tmp / "kv", max_bytes=4 << 30)  # doctest: +SKIP
    >>> hit = cache.warm(lm, prefix_ids, docs=[(doc.doc_id, doc.sha256)])  # doctest: +SKIP
    >>> hit.cached, hit.seconds  # doctest: +SKIP
    (False, 312.4)
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from docqa.generation import GenerationError, LogitsModel

__all__ = ["CacheEntry", "DocumentKVCache", "WarmResult", "model_fingerprint"]

log = logging.getLogger(__name__)


def model_fingerprint(lm: LogitsModel) -> str:
    """The model's identity for cache keys: the backend's fingerprint when it has one."""
    fp = getattr(lm, "fingerprint", None)
    return str(fp) if fp else type(lm).__name__


@dataclass
class WarmResult:
    cached: bool
    """True when the state came from disk (or was already in the model's cache)."""
    seconds: float
    """Seconds spent loading or computing the prefix state."""
    tokens: int
    key: str


@dataclass
class CacheEntry:
    key: str
    docs: list[tuple[str, str]]
    model: str
    tokens: int
    bytes: int
    used: float


class DocumentKVCache:
    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder = Path(folder)
        self.max_bytes = max_bytes

    def key(
        self, lm: LogitsModel, prefix_ids: Sequence[int], docs: Sequence[tuple[str, str]]
    ) -> str:
        h = hashlib.sha256()
        h.update(json.dumps({"docs": sorted(docs), "model": model_fingerprint(lm)}).encode())
        h.update(b"\0")
        h.update(",".join(map(str, prefix_ids)).encode())
        return h.hexdigest()[:32]

    def has(
        self, lm: LogitsModel, prefix_ids: Sequence[int], docs: Sequence[tuple[str, str]]
    ) -> bool:
        """Whether a state for this prefix, model and these documents is on disk."""
        return self._paths(self.key(lm, list(prefix_ids), docs))[0].is_file()

    def _paths(self, key: str) -> tuple[Path, Path]:
        return self.folder / f"{key}.kv", self.folder / f"{key}.json"

    def warm(
        self, lm: LogitsModel, prefix_ids: Sequence[int], docs: Sequence[tuple[str, str]]
    ) -> WarmResult:
        """Make `lm`'s cache start with `prefix_ids`: from the model's cache as it is, from
        disk, or by computing it (then saved). `docs`: (doc_id, sha256) of the documents the
        prefix holds."""
        ids = list(prefix_ids)
        key = self.key(lm, ids, docs)
        start = time.perf_counter()
        if lm.tokens[: len(ids)] == ids:
            return WarmResult(True, 0.0, len(ids), key)
        state, meta = self._paths(key)
        if state.is_file():
            try:
                lm.load_state_file(state)
                if lm.tokens[: len(ids)] != ids:
                    raise GenerationError("the saved state holds other tokens")
                state.touch()
                return WarmResult(True, time.perf_counter() - start, len(ids), key)
            except (GenerationError, OSError, ValueError) as e:
                log.warning("dropping unusable KV state %s: %s", state.name, e)
                self._remove(key)
        lm.prefill(ids)
        seconds = time.perf_counter() - start
        self.folder.mkdir(parents=True, exist_ok=True)
        size = lm.save_state_file(state)
        tmp = meta.with_name(meta.name + ".partial")
        tmp.write_text(
            json.dumps(
                {
                    "docs": [list(d) for d in docs],
                    "model": model_fingerprint(lm),
                    "tokens": len(ids),
                    "bytes": size,
                }
            )
        )
        tmp.replace(meta)
        self._drop_stale(key, docs)
        self._evict(keep=key)
        return WarmResult(False, seconds, len(ids), key)

    def entries(self) -> list[CacheEntry]:
        out: list[CacheEntry] = []
        if not self.folder.is_dir():
            return out
        for meta in self.folder.glob("*.json"):
            key = meta.stem
            state = self.folder / f"{key}.kv"
            try:
                info = json.loads(meta.read_text())
                st = state.stat()
            except (OSError, ValueError):
                continue
            out.append(
                CacheEntry(
                    key=key,
                    docs=[(str(a), str(b)) for a, b in info["docs"]],
                    model=str(info["model"]),
                    tokens=int(info["tokens"]),
                    bytes=st.st_size,
                    used=st.st_mtime,
                )
            )
        return out

    def invalidate(self, doc_id: str) -> int:
        """Delete every state that holds `doc_id` (the document was removed); returns how many."""
        gone = 0
        for e in self.entries():
            if any(d == doc_id for d, _ in e.docs):
                self._remove(e.key)
                gone += 1
        return gone

    def _drop_stale(self, key: str, docs: Sequence[tuple[str, str]]) -> None:
        ids = sorted(d for d, _ in docs)
        current = dict(docs)
        for e in self.entries():
            if e.key == key or sorted(d for d, _ in e.docs) != ids:
                continue
            if any(current.get(d) != sha for d, sha in e.docs):
                self._remove(e.key)  # an older version of these documents

    def _evict(self, keep: str) -> None:
        entries = sorted(self.entries(), key=lambda e: e.used)
        total = sum(e.bytes for e in entries)
        for e in entries:
            if total <= self.max_bytes:
                break
            if e.key == keep:
                continue
            self._remove(e.key)
            total -= e.bytes

    def _remove(self, key: str) -> None:
        for p in self._paths(key):
            p.unlink(missing_ok=True)
