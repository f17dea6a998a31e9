"""`ClientStore`: the store on qdrant-client, for a Qdrant server or cluster.

`url` is a server URL (`http://host:6333`, `https://...`, or `host:port`), `":memory:"`, or a
folder path; the last two are qdrant-client's local mode (pure Python: the test double of the
server code path, slow at scale, payload indexes have no effect there). Collections are
`{prefix}_chunks`, `{prefix}_pages` and `{prefix}_documents`, so several deployments can share
one cluster.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from qdrant_client import QdrantClient, models

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

_SCROLL_PAGE = 1024
_HOST_PORT = re.compile(r"^[\w.-]+:\d+$")
_SCHEMA = {"keyword": models.PayloadSchemaType.KEYWORD, "bool": models.PayloadSchemaType.BOOL}


class ClientStore(QdrantStore):
    """The store on a Qdrant server or cluster (or qdrant-client's local mode).

    Example:
        >>> store = ClientStore("http://localhost:6333", dim=384)  # doctest: +SKIP
        >>> test_double = ClientStore(":memory:", dim=384)  # doctest: +SKIP
    """

    def __init__(
        self,
        url: str,
        dim: int,
        api_key: str | None = None,
        prefix: str = "docqa",
        batch: int = 256,
    ) -> None:
        super().__init__(ClientBackend(url, dim, api_key, prefix), dim=dim, batch=batch)


def is_server_url(url: str) -> bool:
    return "://" in url or bool(_HOST_PORT.match(url))


class ClientBackend(Backend):
    def __init__(self, url: str, dim: int, api_key: str | None, prefix: str) -> None:
        self._local = not is_server_url(url)
        if url == ":memory:":
            self._client = QdrantClient(location=":memory:")
        elif not self._local:
            self._client = QdrantClient(url=url, api_key=api_key)
        else:
            try:
                self._client = QdrantClient(path=url)
            except RuntimeError as e:
                if "already accessed" not in str(e):
                    raise
                raise StoreLockedError(
                    f"The docqa store in {url} is in use by another process (qdrant-client's "
                    "local mode admits one process per folder). Stop the other docqa process, "
                    "or configure a Qdrant server URL."
                ) from e
        self._names: dict[Collection, str] = {c: f"{prefix}_{c}" for c in COLLECTIONS}
        try:
            for collection in COLLECTIONS:
                self._ensure(collection, dim)
        except BaseException:
            self._client.close()
            raise

    def _ensure(self, collection: Collection, dim: int) -> None:
        name = self._names[collection]
        if self._client.collection_exists(name):
            if collection == "chunks":
                vectors = self._client.get_collection(name).config.params.vectors
                size = (
                    vectors[DENSE].size if isinstance(vectors, dict) and DENSE in vectors else None
                )
                if size != dim:
                    raise ValueError(
                        f"Collection {name} holds dense vectors of size {size}, not {dim}: it was "
                        "built with another embedding model. Use another prefix or that model."
                    )
            return
        if collection == "chunks":
            self._client.create_collection(
                name,
                vectors_config={
                    DENSE: models.VectorParams(size=dim, distance=models.Distance.COSINE)
                },
                sparse_vectors_config={
                    SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)
                },
            )
        else:
            self._client.create_collection(name, vectors_config={})
        if not self._local:
            # Local mode has no payload indexes (it warns when asked for one).
            for field, kind in INDEXES[collection].items():
                self._client.create_payload_index(name, field, _SCHEMA[kind])

    def upsert(self, collection: Collection, points: Sequence[PointData]) -> None:
        if points:
            structs = [
                models.PointStruct(id=p.id, vector=_vectors(p), payload=p.payload) for p in points
            ]
            self._client.upsert(self._names[collection], points=structs, wait=True)

    def set_payload(self, collection: Collection, where: Where, payload: Payload) -> None:
        self._client.set_payload(
            self._names[collection],
            payload=payload,
            points=models.FilterSelector(filter=_filter(where)),
            wait=True,
        )

    def delete(self, collection: Collection, where: Where) -> None:
        self._client.delete(
            self._names[collection],
            points_selector=models.FilterSelector(filter=_filter(where)),
            wait=True,
        )

    def scroll(self, collection: Collection, where: Where) -> list[Payload]:
        flt = _filter(where) if where else None
        payloads: list[Payload] = []
        offset: Any = None
        while True:
            records, offset = self._client.scroll(
                self._names[collection],
                scroll_filter=flt,
                limit=_SCROLL_PAGE,
                offset=offset,
                with_payload=True,
                with_vectors=False,
            )
            payloads.extend(dict(r.payload or {}) for r in records)
            if offset is None:
                return payloads

    def count(self, collection: Collection, where: Where) -> int:
        flt = _filter(where) if where else None
        return self._client.count(self._names[collection], count_filter=flt, exact=True).count

    def query(
        self, where: Where, limit: int, vector: list[float] | SparseVector
    ) -> list[tuple[float, Payload]]:
        flt = _filter(where) if where else None
        query: list[float] | models.SparseVector
        if isinstance(vector, SparseVector):
            query, using = models.SparseVector(indices=vector.indices, values=vector.values), SPARSE
        else:
            query, using = vector, DENSE
        response = self._client.query_points(
            self._names["chunks"],
            query=query,
            using=using,
            query_filter=flt,
            limit=limit,
            with_payload=True,
        )
        return [(p.score, dict(p.payload or {})) for p in response.points]

    def flush(self, collections: Sequence[Collection] = COLLECTIONS) -> None:
        """Nothing to do: the server acknowledges `wait=True` writes once applied and logged,
        and local mode persists every write as it happens."""

    def close(self) -> None:
        self._client.close()


def _vectors(point: PointData) -> dict[str, Any]:
    vectors: dict[str, Any] = {}
    if point.dense is not None:
        vectors[DENSE] = point.dense
    if point.sparse is not None:
        vectors[SPARSE] = models.SparseVector(
            indices=point.sparse.indices, values=point.sparse.values
        )
    return vectors


def _filter(where: Where) -> models.Filter:
    must: list[models.Condition] = []
    must_not: list[models.Condition] = []
    for key, condition in where.items():
        if isinstance(condition, AnyOf):
            must.append(
                models.FieldCondition(key=key, match=models.MatchAny(any=list(condition.values)))
            )
        elif isinstance(condition, NoneOf):
            must_not.append(
                models.FieldCondition(key=key, match=models.MatchAny(any=list(condition.values)))
            )
        else:
            must.append(models.FieldCondition(key=key, match=models.MatchValue(value=condition)))
    return models.Filter(must=must or None, must_not=must_not or None)
