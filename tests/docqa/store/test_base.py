"""`PerVersion`: one reading per document version, a bounded number of documents kept."""

from __future__ import annotations

import pytest

from docqa.store.base import PerVersion
from docqa.types import DocStatus, Document


def _doc(doc_id: str, generation: str = "g1") -> Document:
    return Document(
        doc_id=doc_id,
        path=f"/{doc_id}.pdf",
        filename=f"{doc_id}.pdf",
        sha256="0" * 64,
        status=DocStatus.ready,
        generation=generation,
    )


def test_a_version_is_read_once_and_again_when_its_generation_changes() -> None:
    reads: list[tuple[str, str]] = []

    def make(d: Document) -> str:
        reads.append((d.doc_id, d.generation))
        return f"{d.doc_id}@{d.generation}"

    cache = PerVersion(make)
    assert cache.of(_doc("a")) == "a@g1"
    assert cache.of(_doc("a")) == "a@g1"
    assert cache.of(_doc("a", "g2")) == "a@g2"
    assert reads == [("a", "g1"), ("a", "g2")]


def test_the_least_recently_used_document_is_dropped_past_the_limit() -> None:
    reads: list[str] = []

    def make(d: Document) -> str:
        reads.append(d.doc_id)
        return d.doc_id

    cache = PerVersion(make, limit=2)
    cache.of(_doc("a"))
    cache.of(_doc("b"))
    cache.of(_doc("a"))  # a is now the most recent
    cache.of(_doc("c"))  # drops b
    assert len(cache) == 2
    cache.of(_doc("a"))
    cache.of(_doc("c"))
    assert reads == ["a", "b", "c"]
    cache.of(_doc("b"))  # read again
    assert reads == ["a", "b", "c", "b"]
    assert len(cache) == 2


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        PerVersion(lambda d: d.doc_id, limit=0)
