"""`EdgeStore`: the store on Qdrant Edge, the Qdrant engine as an in-process library.

One edge shard per collection, in subfolders `chunks/`, `pages/` and `documents/` of the
store folder (a shard could hold vector-less points too, but separate shards mirror the
server's collections exactly and keep BM25 statistics to chunks). Each shard has a
write-ahead log: an acknowledged update survives a killed process; `flush()` (called by
`QdrantStore` at every commit point) also makes it survive a power cut.

Search is exact: the shards are never `optimize()`d into HNSW, which at the sizes of one
machine is fast enough (see `eval/bench_search.py`) and takes no build time.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np
from qdrant_edge import (
    CountRequest,
    Distance,
    EdgeConfig,
    EdgeShard,
    EdgeSparseVectorParams,
    EdgeVectorParams,
    FieldCondition,
    Filter,
    MatchAny,
    MatchValue,
    Modifier,
    PayloadSchemaType,
    Point,
    Query,
    QueryRequest,
    ScrollRequest,
    UpdateOperation,
)
from qdrant_edge import SparseVector as EdgeSparseVector

from docqa.store.base import StoreLockedError
from docqa.store.qdrant import (
    COLLECTIONS,
    DENSE,
    INDEXES,
    SPARSE,
    AnyOf,
    Backend,
    Collection,
    NoneOf,
    Payload,
    PointData,
    QdrantStore,
    Where,
)
from docqa.types import SparseVector

if TYPE_CHECKING:
    from qdrant_edge import ConditionType, NamedVector

_SCROLL_PAGE = 1024
_SCHEMA = {"keyword": PayloadSchemaType.Keyword, "bool": PayloadSchemaType.Bool}


class EdgeStore(QdrantStore):
    """The embedded default store: one process per folder.

    Example:
        >>> store = EdgeStore(Path("docqa-home/store"), dim=384)  # doctest: +SKIP
        >>> store.count_chunks()  # doctest: +SKIP
        0
        >>> store.close()  # doctest: +SKIP

    Raises:
        StoreLockedError: another process (or another open store) holds the folder.
    """

    def __init__(self, path: Path, dim: int, batch: int = 256) -> None:
        super().__init__(EdgeBackend(Path(path), dim), dim=dim, batch=batch)


class EdgeBackend(Backend):
    def __init__(self, path: Path, dim: int) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._shards: dict[Collection, EdgeShard] = {}
        try:
            for collection in COLLECTIONS:
                self._shards[collection] = _open_shard(path, collection, dim)
        except StoreLockedError as e:
            raise StoreLockedError(f"{e}{_holder(path)}") from e
        except BaseException:
            for shard in self._shards.values():
                shard.close()
            raise
        # who holds the store, for the message another process gets (best effort)
        with contextlib.suppress(OSError):
            (path / _HOLDER).write_text(json.dumps({"pid": os.getpid(), "cmd": _cmdline()}))

    def _shard(self, collection: Collection) -> EdgeShard:
        if not self._shards:
            raise RuntimeError(f"The docqa store in {self._path} is closed")
        return self._shards[collection]

    def upsert(self, collection: Collection, points: Sequence[PointData]) -> None:
        if points:
            edge_points = [Point(p.id, _vectors(p), p.payload) for p in points]
            self._shard(collection).update(UpdateOperation.upsert_points(edge_points))

    def set_payload(self, collection: Collection, where: Where, payload: Payload) -> None:
        self._shard(collection).update(
            UpdateOperation.set_payload_by_filter(_filter(where), payload)
        )

    def delete(self, collection: Collection, where: Where) -> None:
        self._shard(collection).update(UpdateOperation.delete_points_by_filter(_filter(where)))

    def scroll(self, collection: Collection, where: Where) -> list[Payload]:
        shard = self._shard(collection)
        flt = _filter(where) if where else None
        payloads: list[Payload] = []
        offset = None
        while True:
            request = ScrollRequest(
                offset=offset, limit=_SCROLL_PAGE, filter=flt, with_payload=True, with_vector=False
            )
            records, offset = shard.scroll(request)
            payloads.extend(dict(r.payload or {}) for r in records)
            if offset is None:
                return payloads

    def count(self, collection: Collection, where: Where) -> int:
        flt = _filter(where) if where else None
        return self._shard(collection).count(CountRequest(exact=True, filter=flt))

    def query(
        self, where: Where, limit: int, vector: list[float] | SparseVector
    ) -> list[tuple[float, Payload]]:
        flt = _filter(where) if where else None
        search = (
            Query.Nearest(EdgeSparseVector(vector.indices, vector.values), using=SPARSE)
            if isinstance(vector, SparseVector)
            else Query.Nearest(vector, using=DENSE)
        )
        request = QueryRequest(limit=limit, query=search, filter=flt, with_payload=True)
        return [(p.score, dict(p.payload or {})) for p in self._shard("chunks").query(request)]

    def flush(self, collections: Sequence[Collection] = COLLECTIONS) -> None:
        for collection in collections:
            self._shard(collection).flush()

    def close(self) -> None:
        shards, self._shards = self._shards, {}
        for shard in shards.values():
            shard.close()


_HOLDER = "holder.json"


def _cmdline() -> str:
    """This process's command line, shortened for a message."""
    try:
        raw = Path(f"/proc/{os.getpid()}/cmdline").read_bytes()
    except OSError:
        return ""
    args = [a for a in raw.decode(errors="replace").split("\0") if a]
    cmd = " ".join(" ".join([Path(args[0]).name, *args[1:]]).split()) if args else ""
    return cmd if len(cmd) <= 100 else f"{cmd[:99]}…"


def _holder(path: Path) -> str:
    """` It is process <pid> (<command>).` from the holder's note, or nothing."""
    try:
        info = json.loads((path / _HOLDER).read_text())
        pid, cmd = int(info["pid"]), str(info.get("cmd", ""))
    except (OSError, ValueError, KeyError, TypeError):
        return ""
    return f" It is process {pid}" + (f" ({cmd})." if cmd else ".")


def _config(collection: Collection, dim: int) -> EdgeConfig:
    if collection == "chunks":
        return EdgeConfig(
            vectors={DENSE: EdgeVectorParams(dim, Distance.Cosine)},
            sparse_vectors={SPARSE: EdgeSparseVectorParams(modifier=Modifier.Idf)},
        )
    # A shard must declare at least one vector; pages and records never carry one.
    return EdgeConfig(sparse_vectors={"unused": EdgeSparseVectorParams()})


def _open_shard(root: Path, collection: Collection, dim: int) -> EdgeShard:
    folder = root / collection
    config = _config(collection, dim)
    try:
        if (folder / "edge_config.json").exists():
            shard = EdgeShard.load(str(folder), config)
        else:
            shard = EdgeShard.create(str(folder), config)
    except Exception as e:
        message = str(e)
        if "WouldBlock" in message:
            raise StoreLockedError(
                f"The docqa store in {root} is in use by another process (the embedded Qdrant "
                "engine admits one process per store folder). Stop the other docqa process, "
                "or serve the store with docqa's REST service and set `url` (DOCQA_URL) to it, "
                "so that other clients go through the process that owns the store."
            ) from e
        if "incompatible" in message.lower():
            raise ValueError(
                f"The docqa store in {root} was built with another embedding model "
                f"(this one has dimension {dim}): {message}. Re-create the store or use its model."
            ) from e
        raise
    try:
        existing = shard.info().payload_schema
        for field, kind in INDEXES[collection].items():
            if field not in existing:
                shard.update(UpdateOperation.create_field_index(field, _SCHEMA[kind]))
    except BaseException:
        shard.close()
        raise
    return shard


def _vectors(point: PointData) -> dict[str, NamedVector]:
    vectors: dict[str, NamedVector] = {}
    if point.dense is not None:
        vectors[DENSE] = point.dense
    if point.sparse is not None:
        vectors[SPARSE] = EdgeSparseVector(point.sparse.indices, point.sparse.values)
    return vectors


def _filter(where: Where) -> Filter:
    must: list[ConditionType] = []
    must_not: list[ConditionType] = []
    for key, condition in where.items():
        if isinstance(condition, AnyOf):
            must.append(FieldCondition(key, match=MatchAny(list(condition.values))))
        elif isinstance(condition, NoneOf):
            must_not.append(FieldCondition(key, match=MatchAny(list(condition.values))))
        elif isinstance(condition, bool):
            # qdrant-edge 0.9.0 converts a Python bool to the integer 0/1, which matches no
            # boolean payload; numpy's bool is not an int subclass and arrives as a bool.
            value = cast(bool, np.bool_(condition))
            must.append(FieldCondition(key, match=MatchValue(value)))
        else:
            must.append(FieldCondition(key, match=MatchValue(condition)))
    return Filter(must=must or None, must_not=must_not or None)
