"""The `Store` contract: one suite, run against Qdrant Edge and qdrant-client's local mode.

Real engines, real BM25 vectors (`Bm25Encoder`), small hand-made dense unit vectors. The
persistence tests use a folder for both (`ClientStore` with a path instead of `:memory:`), and
crash tests kill a child process with SIGKILL.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import uuid
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from docqa.sparse import Bm25Encoder
from docqa.store import Store, StoreLockedError
from docqa.store.client import ClientStore
from docqa.store.edge import EdgeStore
from docqa.types import Box, Chunk, DocStatus, Document, Page, PageError, SearchHit

DIM = 16
ROOT = Path(__file__).resolve().parents[3]
BM25 = Bm25Encoder()

ANNUAL = [
    "Revenue grew eight percent in the fiscal year, driven by subscription services.",
    "The reactor division uses zirconium alloy cladding for its fuel rods.",
    "Operating expenses include research and development costs and marketing.",
    "The board approved a dividend of two dollars per share for the year.",
    "Table 3: quarterly cash flow from operations, investing and financing.",
]
MANUAL = [
    "Install the pump on a level surface and connect the inlet hose.",
    "Replace the filter cartridge every six months of operation.",
    "Error code E4 means the motor overheated: let it cool for an hour.",
]


def vector(key: str) -> list[float]:
    """A deterministic random unit vector per key."""
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    v = rng.standard_normal(DIM)
    return [float(x) for x in v / np.linalg.norm(v)]


def near(key: str, noise: float = 0.05) -> list[float]:
    """A query vector close to `vector(key)`."""
    rng = np.random.default_rng(1)
    v = np.array(vector(key)) + noise * rng.standard_normal(DIM)
    return [float(x) for x in v / np.linalg.norm(v)]


def make_doc(doc_id: str, n: int, generation: str | None = None) -> Document:
    return Document(
        doc_id=doc_id,
        path=f"library/{doc_id}.pdf",
        filename=f"{doc_id}.pdf",
        sha256=uuid.uuid4().hex,
        status=DocStatus.indexing,
        generation=generation or uuid.uuid4().hex,
        pages=n,
        chunks=n,
    )


def write(store: Store, doc_id: str, texts: Sequence[str], publish: bool = True) -> Document:
    """One ingestion run of a document whose page i+1 holds chunk i."""
    doc = make_doc(doc_id, len(texts))
    store.put_document(doc)
    store.add_pages(
        [
            Page(doc_id=doc_id, page=i + 1, text=t, width=612, height=792)
            for i, t in enumerate(texts)
        ],
        doc.generation,
    )
    chunks = [
        Chunk(
            doc_id=doc_id,
            index=i,
            text=t,
            page_start=i + 1,
            page_end=i + 1,
            kind="table" if t.startswith("Table") else "text",
            heading=f"Section {i + 1}",
            boxes=[Box(page=i + 1, x0=72, y0=100.5, x1=540, y1=140)],
            tokens=len(t.split()),
        )
        for i, t in enumerate(texts)
    ]
    dense = [vector(f"{doc_id}:{t}") for t in texts]
    store.add_chunks(chunks, dense, BM25.documents(texts), doc.generation)
    if publish:
        store.publish(doc)
    return doc


def open_persistent(kind: str, path: Path) -> Store:
    if kind == "edge":
        return EdgeStore(path, dim=DIM, batch=2)
    return ClientStore(str(path), dim=DIM, batch=2)


@pytest.fixture(params=["edge", "client"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(kind: str, tmp_path: Path) -> Iterator[Store]:
    s: Store = (
        EdgeStore(tmp_path / "store", dim=DIM, batch=2)
        if kind == "edge"
        else ClientStore(":memory:", dim=DIM, batch=2)
    )
    yield s
    s.close()


def texts(hits: Sequence[SearchHit]) -> list[str]:
    return [h.text for h in hits]


# -- visibility protocol ------------------------------------------------------------------


def test_is_a_store(store: Store) -> None:
    assert isinstance(store, Store)
    assert store.dim == DIM


def test_content_is_invisible_until_publish(store: Store) -> None:
    doc = write(store, "annual", ANNUAL, publish=False)

    assert store.search(near(f"annual:{ANNUAL[1]}"), BM25.query("zirconium"), k=5) == []
    assert store.get_chunks("annual") == []
    assert store.get_pages("annual") == []
    assert store.count_chunks() == 0
    assert store.count_chunks("annual", visible_only=False) == len(ANNUAL)
    assert store.count_pages("annual", visible_only=False) == len(ANNUAL)
    record = store.get_document("annual")
    assert record is not None
    assert record.status == DocStatus.indexing

    store.publish(doc)

    record = store.get_document("annual")
    assert record is not None
    assert record.status == DocStatus.ready
    assert record.generation == doc.generation
    assert store.count_chunks("annual") == len(ANNUAL)
    assert store.count_pages("annual") == len(ANNUAL)
    assert texts(store.search(None, BM25.query("zirconium"), k=1, mode="sparse")) == [ANNUAL[1]]


def test_publish_replaces_the_previous_generation(store: Store) -> None:
    write(store, "annual", ANNUAL)
    second = ["Revenue fell in the second edition.", "Zirconium is no longer used."]
    doc = write(store, "annual", second, publish=False)

    # While the new generation is written, searches see the old one, and only it.
    old = store.search(None, BM25.query("dividend"), k=10, mode="sparse")
    assert texts(old) == [ANNUAL[3]]
    assert [c.text for c in store.get_chunks("annual")] == ANNUAL

    store.publish(doc)

    assert [c.text for c in store.get_chunks("annual")] == second
    assert [p.text for p in store.get_pages("annual")] == second
    assert store.count_chunks("annual", visible_only=False) == len(second)
    assert store.count_pages("annual", visible_only=False) == len(second)
    assert store.search(None, BM25.query("dividend"), k=10, mode="sparse") == []
    hits = store.search(near(f"annual:{second[1]}"), BM25.query("zirconium"), k=10)
    assert texts(hits) == second[::-1]


def test_publish_with_failed_pages_stores_a_partial_document(store: Store) -> None:
    doc = write(store, "annual", ANNUAL, publish=False)
    failed = [PageError(page=len(ANNUAL) + 1, reason="cannot load page (cycle in page tree)")]
    store.publish(doc.model_copy(update={"failed_pages": failed}))
    record = store.get_document("annual")
    assert record is not None
    assert (record.status, record.failed_pages) == (DocStatus.partial, failed)
    assert record.status.visible and not DocStatus.indexing.visible
    assert [c.text for c in store.get_chunks("annual")] == ANNUAL  # visible like ready
    assert texts(store.search(None, BM25.query("dividend"), k=10, mode="sparse")) == [ANNUAL[3]]


def test_rewriting_a_generation_is_idempotent(store: Store) -> None:
    doc = write(store, "annual", ANNUAL, publish=False)
    # A retried run writes the same generation again: same point ids, no duplicates.
    chunks = [
        Chunk(doc_id="annual", index=i, text=t, page_start=i + 1, page_end=i + 1, kind="text")
        for i, t in enumerate(ANNUAL)
    ]
    dense = [vector(f"annual:{t}") for t in ANNUAL]
    store.add_chunks(chunks, dense, BM25.documents(ANNUAL), doc.generation)
    store.add_pages(
        [
            Page(doc_id="annual", page=i + 1, text=t, width=1, height=1)
            for i, t in enumerate(ANNUAL)
        ],
        doc.generation,
    )
    store.publish(doc)
    assert store.count_chunks(visible_only=False) == len(ANNUAL)
    assert store.count_pages(visible_only=False) == len(ANNUAL)


def test_discard(store: Store) -> None:
    first = write(store, "annual", ANNUAL)
    write(store, "annual", MANUAL, publish=False)
    assert store.count_chunks("annual", visible_only=False) == len(ANNUAL) + len(MANUAL)

    store.discard("annual", keep_generation=first.generation)

    assert store.count_chunks("annual", visible_only=False) == len(ANNUAL)
    assert store.count_pages("annual", visible_only=False) == len(ANNUAL)
    assert [c.text for c in store.get_chunks("annual")] == ANNUAL

    store.discard("annual")

    assert store.count_chunks("annual", visible_only=False) == 0
    assert store.count_pages("annual", visible_only=False) == 0
    assert store.get_document("annual") is not None  # discard leaves the record


def test_delete_document_removes_everything(store: Store) -> None:
    write(store, "annual", ANNUAL)
    write(store, "manual", MANUAL)
    write(store, "annual", ANNUAL[:2], publish=False)

    store.delete_document("annual")

    assert store.get_document("annual") is None
    assert store.count_chunks("annual", visible_only=False) == 0
    assert store.count_pages("annual", visible_only=False) == 0
    assert [d.doc_id for d in store.list_documents()] == ["manual"]
    assert store.count_chunks(visible_only=False) == len(MANUAL)
    assert store.search(None, BM25.query("zirconium dividend revenue"), k=10) == []


# -- reading --------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["dense", "sparse", "hybrid"])
def test_search_finds_the_distinctive_chunk(store: Store, mode: str) -> None:
    write(store, "annual", ANNUAL)
    write(store, "manual", MANUAL)

    hits = store.search(
        near(f"annual:{ANNUAL[1]}"),
        BM25.query("which alloy is the zirconium cladding"),
        k=3,
        mode=mode,  # type: ignore[arg-type]
    )

    assert 1 <= len(hits) <= 3
    top = hits[0]
    assert (top.doc_id, top.text, top.chunk_index) == ("annual", ANNUAL[1], 1)
    assert (top.page, top.page_end, top.kind, top.heading) == (2, 2, "text", "Section 2")
    assert top.path == "library/annual.pdf"
    assert top.boxes == [Box(page=2, x0=72, y0=100.5, x1=540, y1=140)]
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    if mode == "dense":
        assert top.score == pytest.approx(1.0, abs=0.01)


def test_dense_and_sparse_disagree_hybrid_has_both(store: Store) -> None:
    write(store, "annual", ANNUAL)
    write(store, "manual", MANUAL)
    dense_target, sparse_target = f"manual:{MANUAL[2]}", "dividend"

    hits = store.search(near(dense_target), BM25.query(sparse_target), k=2, prefetch=5)

    assert set(texts(hits)) == {MANUAL[2], ANNUAL[3]}


def test_doc_ids_filter(store: Store) -> None:
    write(store, "annual", ANNUAL)
    write(store, "manual", MANUAL)
    write(store, "copy", ANNUAL)

    for mode in ("dense", "sparse", "hybrid"):
        hits = store.search(
            near(f"annual:{ANNUAL[1]}"),
            BM25.query("zirconium revenue"),
            k=10,
            doc_ids=["copy", "manual"],
            mode=mode,  # type: ignore[arg-type]
        )
        assert hits, mode
        assert {h.doc_id for h in hits} <= {"copy", "manual"}, mode
        assert "copy" in {h.doc_id for h in hits}, mode
    assert store.search(near(f"annual:{ANNUAL[1]}"), None, k=10, doc_ids=[]) == []


def test_tied_scores_come_back_in_document_and_chunk_order(store: Store) -> None:
    # two documents with the same chunks: BM25 scores each copy alike, and RRF does too
    write(store, "zeta", ANNUAL)
    write(store, "alpha", ANNUAL)
    query = BM25.query("zirconium cladding revenue dividend")
    for mode in ("sparse", "hybrid"):
        dense = None if mode == "sparse" else near("neither")
        hits = store.search(dense, query, k=4, mode=mode)  # type: ignore[arg-type]
        again = store.search(dense, query, k=4, mode=mode)  # type: ignore[arg-type]
        assert hits == again, mode
        for a, b in itertools.pairwise(hits):
            if a.score == b.score:  # a tie: the first document's, then the earlier chunk
                assert (a.doc_id, a.chunk_index) < (b.doc_id, b.chunk_index), mode
    (first,) = store.search(None, query, k=1, mode="sparse")
    assert first.doc_id == "alpha"  # tied with its copy in "zeta"


STAMP = "Downloaded from archive.example.org by guest on 5 May 2024"


@pytest.mark.parametrize("reverse", [False, True])
def test_copies_of_one_text_rank_by_position_in_every_mode(store: Store, reverse: bool) -> None:
    # a stamp on every page: the copies tie in the dense and the BM25 list alike, and the
    # engine returns tied points in the order it holds them (written here forwards or backwards)
    pages = [t for body in ANNUAL for t in (body, STAMP)]
    doc = make_doc("paper", len(pages))
    store.put_document(doc)
    chunks = [
        Chunk(doc_id="paper", index=i, text=t, page_start=i + 1, page_end=i + 1, kind="text")
        for i, t in enumerate(pages)
    ]
    order = list(reversed(range(len(pages)))) if reverse else list(range(len(pages)))
    store.add_chunks(
        [chunks[i] for i in order],
        [vector(f"paper:{pages[i]}") for i in order],
        BM25.documents([pages[i] for i in order]),
        doc.generation,
    )
    store.publish(doc)
    stamps = [i for i, t in enumerate(pages) if t == STAMP]
    for mode in ("dense", "sparse", "hybrid"):
        hits = store.search(
            near(f"paper:{STAMP}"),
            BM25.query("downloaded guest"),
            k=len(stamps),
            mode=mode,  # type: ignore[arg-type]
        )
        assert [h.chunk_index for h in hits] == stamps, mode


def test_search_with_one_vector_or_none(store: Store) -> None:
    write(store, "annual", ANNUAL)
    stopwords = BM25.query("the of and")
    assert stopwords.indices == []

    assert store.search(None, stopwords, k=5, mode="sparse") == []
    assert texts(store.search(None, BM25.query("zirconium"), k=1)) == [ANNUAL[1]]
    hybrid = store.search(near(f"annual:{ANNUAL[4]}"), stopwords, k=1)
    assert texts(hybrid) == [ANNUAL[4]]
    assert len(store.search(near(f"annual:{ANNUAL[4]}"), None, k=2)) == 2
    with pytest.raises(ValueError):
        store.search(None, BM25.query("zirconium"), k=5, mode="dense")
    with pytest.raises(ValueError):
        store.search(near("x"), None, k=5, mode="sparse")
    with pytest.raises(ValueError):
        store.search([1.0, 0.0], None, k=5)


def test_pages_chunks_and_documents_come_back_sorted_and_whole(store: Store) -> None:
    write(store, "zeta", MANUAL)
    write(store, "alpha", ANNUAL)
    write(store, "mid", ["A stopword-free chunk."])

    assert [d.filename for d in store.list_documents()] == ["alpha.pdf", "mid.pdf", "zeta.pdf"]
    chunks = store.get_chunks("alpha")
    assert [c.index for c in chunks] == list(range(len(ANNUAL)))
    assert chunks[4].kind == "table"
    assert chunks[0].boxes == [Box(page=1, x0=72, y0=100.5, x1=540, y1=140)]
    pages = store.get_pages("alpha")
    assert [p.page for p in pages] == list(range(1, len(ANNUAL) + 1))
    assert pages[0] == Page(doc_id="alpha", page=1, text=ANNUAL[0], width=612, height=792)
    record = store.get_document("alpha")
    assert record is not None
    assert record.path == "library/alpha.pdf"
    assert store.get_document("nope") is None
    assert store.count_chunks() == len(ANNUAL) + len(MANUAL) + 1


def test_add_chunks_rejects_bad_input(store: Store) -> None:
    doc = make_doc("annual", 1)
    chunk = Chunk(doc_id="annual", index=0, text="x", page_start=1, page_end=1, kind="text")
    with pytest.raises(ValueError, match="put_document"):
        store.add_chunks([chunk], [vector("x")], [BM25.document("x")], doc.generation)
    store.put_document(doc)
    with pytest.raises(ValueError):
        store.add_chunks([chunk], [vector("x"), vector("y")], [BM25.document("x")], doc.generation)
    with pytest.raises(ValueError):
        store.add_chunks([chunk], [[1.0, 0.0]], [BM25.document("x")], doc.generation)


def test_sparse_scores_are_the_same_on_both_engines(tmp_path: Path) -> None:
    scores = []
    for s in (EdgeStore(tmp_path / "edge", dim=DIM), ClientStore(":memory:", dim=DIM)):
        write(s, "annual", ANNUAL)
        write(s, "manual", MANUAL)
        hits = s.search(None, BM25.query("zirconium revenue of the year"), k=5, mode="sparse")
        scores.append([(h.text, round(h.score, 4)) for h in hits])
        s.close()
    assert scores[0] == scores[1]
    assert len(scores[0]) >= 2


# -- persistence, locking, crashes ----------------------------------------------------------

_CHILD = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("store_contract", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
module.child_main(sys.argv[2:])
"""


def child_main(argv: Sequence[str]) -> None:
    """Run in a child process: open the store, then `hold` it, or write and die by SIGKILL."""
    kind, path, action = argv
    try:
        store = open_persistent(kind, Path(path))
    except StoreLockedError as e:
        print(f"LOCKED: {e}", flush=True)
        sys.exit(3)
    if action == "write":
        write(store, "crashed", ANNUAL, publish=False)
    elif action == "publish":
        write(store, "kept", ANNUAL, publish=True)
    os.kill(os.getpid(), signal.SIGKILL)


def run_child(kind: str, path: Path, action: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", _CHILD, __file__, kind, str(path), action],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "store"


def test_reopen_after_close_keeps_the_data(kind: str, folder: Path) -> None:
    store = open_persistent(kind, folder)
    write(store, "annual", ANNUAL)
    write(store, "manual", MANUAL, publish=False)
    store.close()

    store = open_persistent(kind, folder)
    try:
        assert [d.doc_id for d in store.list_documents()] == ["annual", "manual"]
        assert [c.text for c in store.get_chunks("annual")] == ANNUAL
        assert store.count_chunks() == len(ANNUAL)
        assert store.count_chunks("manual", visible_only=False) == len(MANUAL)
        hits = store.search(near(f"annual:{ANNUAL[1]}"), BM25.query("zirconium"), k=1)
        assert texts(hits) == [ANNUAL[1]]
    finally:
        store.close()


def test_a_second_process_is_refused(kind: str, folder: Path) -> None:
    store = open_persistent(kind, folder)
    try:
        result = run_child(kind, folder, "hold")
        assert result.returncode == 3, result.stderr
        assert "LOCKED" in result.stdout
        assert str(folder) in result.stdout
        assert "another process" in result.stdout
    finally:
        store.close()
    if kind == "edge":
        with EdgeStore(folder, dim=DIM) as first:
            with pytest.raises(StoreLockedError):
                EdgeStore(folder, dim=DIM)
            assert first.count_chunks() == 0  # the refused open left the first one working


def test_killed_before_publish_leaves_nothing_visible(kind: str, folder: Path) -> None:
    result = run_child(kind, folder, "write")
    assert result.returncode == -signal.SIGKILL, result.stderr

    store = open_persistent(kind, folder)
    try:
        record = store.get_document("crashed")
        assert record is not None
        assert record.status == DocStatus.indexing
        assert store.count_chunks() == 0
        assert store.count_pages() == 0
        assert store.search(near(f"crashed:{ANNUAL[1]}"), BM25.query("zirconium"), k=5) == []
        # What the next ingest run does with a record left indexing:
        store.discard("crashed")
        assert store.count_chunks(visible_only=False) == 0
        assert store.count_pages(visible_only=False) == 0
    finally:
        store.close()


def test_killed_after_publish_keeps_the_document(kind: str, folder: Path) -> None:
    result = run_child(kind, folder, "publish")
    assert result.returncode == -signal.SIGKILL, result.stderr

    store = open_persistent(kind, folder)
    try:
        record = store.get_document("kept")
        assert record is not None
        assert record.status == DocStatus.ready
        assert [c.text for c in store.get_chunks("kept")] == ANNUAL
        assert store.count_pages("kept") == len(ANNUAL)
        assert texts(store.search(None, BM25.query("zirconium"), k=1)) == [ANNUAL[1]]
    finally:
        store.close()


def test_a_store_refuses_a_second_embedding_model(tmp_path: Path) -> None:
    from docqa.config import Settings
    from docqa.store.base import EmbeddingMismatchError
    from docqa.store.factory import open_store

    settings = Settings(home=tmp_path)
    first = open_store(settings, dim=384, embedding_model="minilm")
    assert first.list_documents() == [], "the meta record is not a document"
    first.close()
    again = open_store(settings, dim=384, embedding_model="minilm")
    again.close()
    with pytest.raises(EmbeddingMismatchError, match="built with the embedding model 'minilm'"):
        open_store(settings, dim=384, embedding_model="bge-small")
    # the refused open released the folder
    open_store(settings, dim=384, embedding_model="minilm").close()


def test_a_server_store_without_url_is_a_clear_error(tmp_path: Path) -> None:
    from docqa.config import Settings, StoreSettings
    from docqa.store.factory import open_store

    with pytest.raises(ValueError, match="DOCQA_STORE__URL"):
        open_store(Settings(home=tmp_path, store=StoreSettings(kind="qdrant")), dim=8)
