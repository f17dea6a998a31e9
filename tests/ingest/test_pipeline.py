"""Folder sync end to end: real PDFs, real OCR, the real embedder and Qdrant Edge."""

from __future__ import annotations

import json
import shutil
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pdfs
import psutil
import pymupdf
import pytest
from services import cli_process

from docqa.config import EmbeddingSettings, IngestSettings, Settings
from docqa.embedding import Embedder, Threads, Vectors
from docqa.search import Searcher
from docqa.sparse import Bm25Encoder
from docqa.store.base import Store
from docqa.store.factory import open_store
from docqa.types import DocStatus, FileStatus, IngestReport, IngestResult
from ingest.pipeline import IngestCancelled, Ingestor, doc_id_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def store(home: Path) -> Iterator[Store]:
    s = open_store(Settings(home=home), dim=384)
    yield s
    s.close()


def run(home: Path, store: Store, embedder: Embedder, *paths: Path, **kw: object) -> IngestReport:
    ing = Ingestor(Settings(home=home), store, embedder, Bm25Encoder())
    return ing.run(list(paths), **kw)  # type: ignore[arg-type]


def by_name(report: IngestReport) -> dict[str, tuple[FileStatus, str | None]]:
    return {Path(d.path).name: (d.status, d.error) for d in report.documents}


def test_a_folder_with_bad_files_indexes_the_good_ones_and_names_each_failure(
    home: Path, store: Store, embedder: Embedder, tmp_path: Path
) -> None:
    folder = tmp_path / "in box"
    folder.mkdir()
    pdfs.text_pdf(folder / "Überblick 2024 report.pdf")
    pdfs.table_pdf(folder / "tables.pdf")
    pdfs.image_only_pdf(folder / "scan.pdf")
    pdfs.encrypted_pdf(folder / "locked.pdf")
    pdfs.corrupt_pdf(folder / "corrupt.pdf")
    pdfs.empty_file(folder / "empty.pdf")
    pdfs.not_pdf(folder / "download.pdf")
    (folder / "notes.txt").write_text("not a candidate: folders are scanned for PDFs")

    report = run(home, store, embedder, folder)
    got = by_name(report)
    assert set(got) == {
        "Überblick 2024 report.pdf",
        "tables.pdf",
        "scan.pdf",
        "locked.pdf",
        "corrupt.pdf",
        "empty.pdf",
        "download.pdf",
    }
    for ok in ("Überblick 2024 report.pdf", "tables.pdf", "scan.pdf"):
        assert got[ok] == (FileStatus.indexed, None)
    expected = {
        "locked.pdf": "encrypted",
        "corrupt.pdf": "corrupt",
        "empty.pdf": "empty",
        "download.pdf": "not_pdf",
    }
    for name, code in expected.items():
        status, error = got[name]
        assert status == FileStatus.failed
        assert error is not None and error.startswith(f"{code}:"), error

    docs = {d.filename: d for d in store.list_documents()}
    assert docs["scan.pdf"].ocr_pages == 1
    assert docs["locked.pdf"].status == DocStatus.failed
    assert "password" in (docs["locked.pdf"].error or "")
    for d in report.documents:
        if d.status == FileStatus.indexed:
            assert d.doc_id is not None
            assert store.count_chunks(d.doc_id) == d.chunks > 0
            assert store.count_pages(d.doc_id) == d.pages

    searcher = Searcher(store, embedder, Bm25Encoder())
    top = searcher.run(pdfs.OCR_LINES[1][0], k=3)
    assert top[0].path.endswith("scan.pdf") and top[0].kind == "ocr", top
    table_hit = searcher.run("inventory by warehouse", k=5, mode="sparse")
    assert any(h.kind == "table" and h.path.endswith("tables.pdf") for h in table_hit)

    # the report adds up the parsers' time per step beside this process's stages: the scan was
    # OCR'd, the table found, every page imaged
    parse = {k: v for k, v in report.stages.items() if k.startswith("parse_")}
    assert {"parse_text", "parse_ocr", "parse_tables", "parse_layout", "parse_image"} <= set(parse)
    assert all(v >= 0 for v in parse.values())  # rounded to ms: a tiny page's layout may be 0
    assert parse["parse_ocr"] > parse["parse_text"] > 0  # a scan costs more than its layer
    assert parse["parse_tables"] > 0 and parse["parse_image"] > 0
    assert "embed" in report.stages and "waiting_for_parser" in report.stages


def test_password_per_file(home: Path, store: Store, embedder: Embedder, tmp_path: Path) -> None:
    f = pdfs.encrypted_pdf(tmp_path / "locked.pdf", password="s3cret")
    wrong = run(home, store, embedder, f, passwords={"locked.pdf": "nope"})
    assert wrong.documents[0].status == FileStatus.failed
    right = run(home, store, embedder, f, passwords={"locked.pdf": "s3cret"})
    assert right.documents[0].status == FileStatus.indexed
    hits = Searcher(store, embedder, Bm25Encoder()).run("readable with the password", k=1)
    assert hits and hits[0].path == str(f.resolve())
    assert store.get_document(doc_id_for(f)).status == DocStatus.ready  # type: ignore[union-attr]


def test_sync_skips_unchanged_replaces_changed_and_prunes_deleted(
    home: Path, store: Store, embedder: Embedder, tmp_path: Path
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    a = pdfs.text_pdf(folder / "a.pdf", pages=2)
    b = pdfs.table_pdf(folder / "b.pdf")
    first = run(home, store, embedder, folder)
    assert {d.status for d in first.documents} == {FileStatus.indexed}
    chunks_a = store.count_chunks(doc_id_for(a))

    again = run(home, store, embedder, folder)
    assert {d.status for d in again.documents} == {FileStatus.unchanged}

    pdfs.text_pdf(a, pages=4)
    changed = by_name(run(home, store, embedder, folder))
    assert changed == {"a.pdf": (FileStatus.indexed, None), "b.pdf": (FileStatus.unchanged, None)}
    da = store.get_document(doc_id_for(a))
    assert da is not None and da.pages == 4
    assert store.count_chunks(doc_id_for(a)) == da.chunks > chunks_a
    assert store.count_chunks(doc_id_for(a), visible_only=False) == da.chunks, "old version left"
    assert store.count_pages(doc_id_for(a), visible_only=False) == 4

    # a saved long-context KV state of each document (as DocumentKVCache writes them)
    kv = Settings(home=home).kv_cache_dir
    kv.mkdir(parents=True)
    for name, doc in (("ka", a), ("kb", b)):
        (kv / f"{name}.kv").write_bytes(b"state")
        meta = {"docs": [[doc_id_for(doc), "sha"]], "model": "m", "tokens": 5, "bytes": 5}
        (kv / f"{name}.json").write_text(json.dumps(meta))

    b.unlink()
    without_prune = run(home, store, embedder, folder)
    assert [d.status for d in without_prune.documents] == [FileStatus.unchanged]
    assert store.get_document(doc_id_for(b)) is not None
    pruned = run(home, store, embedder, folder, prune=True)
    assert by_name(pruned)["b.pdf"] == (FileStatus.removed, None)
    assert store.get_document(doc_id_for(b)) is None
    assert store.count_chunks(doc_id_for(b), visible_only=False) == 0
    # pruning forgets the removed document's KV states, and only those
    assert sorted(f.name for f in kv.iterdir()) == ["ka.json", "ka.kv"]


def test_a_document_stored_under_other_ingest_settings_is_read_again(
    home: Path, store: Store, embedder: Embedder, tmp_path: Path
) -> None:
    a = pdfs.text_pdf(tmp_path / "a.pdf", pages=3)

    def ingest(**changes: object) -> tuple[FileStatus, int]:
        settings = Settings(home=home)
        settings = settings.model_copy(
            update={"ingest": settings.ingest.model_copy(update=changes)}
        )
        (result,) = Ingestor(settings, store, embedder, Bm25Encoder()).run([a]).documents
        return result.status, store.count_chunks(doc_id_for(a))

    status, chunks = ingest()
    assert status == FileStatus.indexed
    assert ingest() == (FileStatus.unchanged, chunks)
    # how fast it runs is not what it stores
    assert ingest(queue_pages=64, share_cores=False)[0] == FileStatus.unchanged
    # smaller chunks: the same bytes are chunked again, into more pieces
    status, smaller = ingest(max_chunk_tokens=48)
    assert status == FileStatus.indexed and smaller > chunks
    assert ingest(max_chunk_tokens=48)[0] == FileStatus.unchanged
    doc = store.get_document(doc_id_for(a))
    assert doc is not None
    assert (
        doc.settings_signature
        == Settings(home=home)
        .ingest.model_copy(update={"max_chunk_tokens": 48})
        .content_signature()
    )
    # a document stored before signatures were recorded is taken as stored under today's
    store.put_document(doc.model_copy(update={"settings_signature": None}))
    assert ingest()[0] == FileStatus.unchanged


def test_a_setting_added_at_its_default_leaves_every_signature_as_it_was() -> None:
    class Later(IngestSettings):
        """IngestSettings as a later release that adds an option, off by default."""

        new_option: bool = False

    today = IngestSettings()
    assert Later().content_signature() == today.content_signature()
    assert (
        Later(ocr="off").content_signature()
        == today.model_copy(update={"ocr": "off"}).content_signature()
    )
    assert Later(new_option=True).content_signature() != today.content_signature()
    # set to its default by hand, a setting is the default
    assert IngestSettings(ocr="auto").content_signature() == today.content_signature()


def test_a_file_that_becomes_corrupt_loses_its_old_content(
    home: Path, store: Store, embedder: Embedder, tmp_path: Path
) -> None:
    f = pdfs.text_pdf(tmp_path / "r.pdf", pages=1)
    run(home, store, embedder, f)
    pdfs.corrupt_pdf(f)
    report = run(home, store, embedder, f)
    assert report.documents[0].status == FileStatus.failed
    assert store.count_chunks(doc_id_for(f), visible_only=False) == 0
    assert Searcher(store, embedder, Bm25Encoder()).run(pdfs.SENTENCES[0], k=3) == []


@pytest.mark.slow
def test_kill_9_mid_run_then_the_next_run_finishes_cleanly(tmp_path: Path) -> None:
    folder = pdfs.pile(tmp_path / "pile")
    home = tmp_path / "home"

    proc = cli_process(home, "ingest", str(folder))
    assert proc.stderr is not None
    deadline = time.monotonic() + 240
    for line in proc.stderr:
        if line.startswith("indexed:") or time.monotonic() > deadline:
            break
    time.sleep(1.0)  # into the next document: pages and chunks written, not yet published
    workers = psutil.Process(proc.pid).children(recursive=True)
    assert workers, "the parser worker should be running"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    # the parser worker does not outlive its parent (no orphan blocked on the page queue)
    _, alive = psutil.wait_procs(workers, timeout=15)
    assert not alive, f"orphaned workers: {[p.pid for p in alive]}"

    resumed = cli_process(home, "ingest", str(folder), "--json")
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    statuses = {Path(d["path"]).name: d["status"] for d in json.loads(out)["documents"]}
    assert statuses["a-first.pdf"] == "unchanged"
    assert {statuses[f"b-long-{i}.pdf"] for i in range(3)} == {"indexed"}

    fresh = tmp_path / "fresh"
    shutil.copytree(folder, fresh)
    store = open_store(Settings(home=home), dim=384)
    try:
        docs = store.list_documents()
        assert len(docs) == 4 and all(d.status == DocStatus.ready for d in docs)
        for d in docs:
            assert store.count_chunks(d.doc_id, visible_only=False) == d.chunks
            assert store.count_pages(d.doc_id, visible_only=False) == d.pages
            assert len(store.get_chunks(d.doc_id)) == d.chunks
        total = store.count_chunks(visible_only=False)
    finally:
        store.close()
    clean = cli_process(tmp_path / "home2", "ingest", str(fresh), "--json")
    out2, err2 = clean.communicate(timeout=600)
    assert clean.returncode == 0, err2
    assert total == sum(d["chunks"] for d in json.loads(out2)["documents"])


def test_cli_json_contract_and_exit_codes(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    folder.mkdir()
    pdfs.text_pdf(folder / "ok.pdf", pages=1)
    pdfs.empty_file(folder / "zero.pdf")
    home = tmp_path / "home"
    p = cli_process(home, "ingest", str(folder), "--json")
    out, err = p.communicate(timeout=300)
    assert p.returncode == 2, err
    report = json.loads(out)
    assert {"documents", "seconds"} <= set(report)
    rows = {Path(d["path"]).name: d for d in report["documents"]}
    assert {"path", "doc_id", "status", "pages", "chunks", "error"} <= set(rows["ok.pdf"])
    assert rows["ok.pdf"]["status"] == "indexed" and rows["zero.pdf"]["status"] == "failed"

    s = cli_process(home, "search", pdfs.SENTENCES[2], "--k", "2", "--doc", "ok.pdf", "--json")
    out, err = s.communicate(timeout=300)
    assert s.returncode == 0, err
    hits = json.loads(out)["hits"]
    assert hits and set(hits[0]) == {"doc_id", "path", "page", "score", "kind", "text"}
    assert hits[0]["page"] == 1 and pdfs.SENTENCES[2] in " ".join(hits[0]["text"].split())

    missing = cli_process(home, "search", "x", "--doc", "nope.pdf")
    _, err = missing.communicate(timeout=300)
    assert missing.returncode == 1 and "no document 'nope.pdf'" in err

    rm = cli_process(home, "rm", "ok.pdf")
    rm.communicate(timeout=300)
    assert rm.returncode == 0
    d = cli_process(home, "docs", "--json")
    out, _ = d.communicate(timeout=300)
    assert [x["filename"] for x in json.loads(out)["documents"]] == ["zero.pdf"]

    gone = cli_process(home, "ingest", str(tmp_path / "no such folder"))
    _, err = gone.communicate(timeout=300)
    assert gone.returncode == 1 and "no such file or folder" in err


class _KillParserOnFirstPage:
    """Progress sink that SIGKILLs the parser processes when the first page arrives: the real
    failure a hostile PDF causes when MuPDF crashes its process."""

    def __init__(self) -> None:
        self.killed = False
        self.etas: list[float | None] = []

    def files(self, total: int) -> None: ...
    def pages_found(self, n: int) -> None: ...

    def pages_done(self, n: int) -> None:
        import psutil

        if not self.killed and n:
            for child in psutil.Process().children():
                if "spawn_main" in " ".join(child.cmdline()):  # not the resource tracker
                    child.kill()
            self.killed = True

    def eta(self, seconds_left: float | None) -> None:
        self.etas.append(seconds_left)

    def file_done(self, result: object) -> None: ...


def test_a_parser_that_dies_fails_only_its_file(
    home: Path, store: Store, embedder: Embedder, tmp_path: Path
) -> None:
    folder = tmp_path / "crash"
    folder.mkdir()
    pdfs.text_pdf(folder / "a-victim.pdf", pages=30)
    pdfs.text_pdf(folder / "b-next.pdf", pages=2)
    sink = _KillParserOnFirstPage()
    ing = Ingestor(Settings(home=home), store, embedder, Bm25Encoder(), progress=sink)
    got = by_name(ing.run([folder]))
    assert sink.killed
    status, error = got["a-victim.pdf"]
    assert status == FileStatus.failed and error is not None
    assert error.startswith("parser_crashed:"), error
    assert got["b-next.pdf"] == (FileStatus.indexed, None)
    victim = doc_id_for(folder / "a-victim.pdf")
    assert store.count_chunks(victim, visible_only=False) == 0, "no orphans of the failed file"
    assert sink.etas[-1] == 0.0  # the failed file's unread pages are no longer work left


def test_a_parser_killed_mid_message_does_not_block_the_next_one(
    home: Path, store: Store, embedder: Embedder, tmp_path: Path
) -> None:
    """Pages of ~16 KB fill the pipe while the main process embeds, so the parser is killed
    with pages unsent, often mid-write: its successor must still get its pages through (a
    shared `multiprocessing.Queue` here once kept the dead writer's lock and slots, and the
    run hung for good)."""
    folder = tmp_path / "crash"
    folder.mkdir()
    pdfs.dense_pdf(folder / "a-victim.pdf", pages=30)
    pdfs.text_pdf(folder / "b-next.pdf", pages=2)
    sink = _KillParserOnFirstPage()
    ing = Ingestor(Settings(home=home), store, embedder, Bm25Encoder(), progress=sink)
    box: list[IngestReport] = []
    run = threading.Thread(target=lambda: box.append(ing.run([folder])), daemon=True)
    run.start()
    run.join(timeout=180)
    assert not run.is_alive(), "the ingest hung after its parser was killed"
    assert sink.killed
    got = by_name(box[0])
    status, error = got["a-victim.pdf"]
    assert status == FileStatus.failed and error is not None
    assert error.startswith("parser_crashed:"), error
    assert got["b-next.pdf"] == (FileStatus.indexed, None)


class _CancelAfter:
    """Progress that sets `event` once `pages` pages are done (mid-document)."""

    def __init__(self, event: threading.Event, pages: int) -> None:
        self.event, self.pages, self.done = event, pages, 0

    def files(self, total: int) -> None: ...
    def pages_found(self, n: int) -> None: ...
    def eta(self, seconds_left: float | None) -> None: ...
    def file_done(self, result: IngestResult) -> None: ...

    def pages_done(self, n: int) -> None:
        self.done += n
        if self.done >= self.pages:
            self.event.set()


def test_a_cancelled_run_keeps_finished_files_and_rolls_back_the_one_in_flight(
    home: Path, store: Store, embedder: Embedder, tmp_path: Path
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    first = pdfs.text_pdf(folder / "a.pdf", pages=2)
    replaced = pdfs.text_pdf(folder / "b.pdf", pages=3)
    fresh = pdfs.text_pdf(folder / "c.pdf", pages=30)
    run(home, store, embedder, replaced)
    old = store.get_document(doc_id_for(replaced))
    assert old is not None and old.pages == 3
    pdfs.text_pdf(replaced, pages=30)  # b changes: its new version will be cut off midway

    cancel = threading.Event()
    settings = Settings(home=home)
    ing = Ingestor(settings, store, embedder, Bm25Encoder(), _CancelAfter(cancel, pages=2 + 10))
    with pytest.raises(IngestCancelled) as stopped:
        ing.run([folder], cancel=cancel)
    assert [Path(r.path).name for r in stopped.value.report.documents] == ["a.pdf"]
    # the finished file stays; the replaced one is its old version again, fully; the new one
    # is absent: nothing half-written is visible or left behind
    a = store.get_document(doc_id_for(first))
    assert a is not None and a.status == DocStatus.ready
    assert store.count_chunks(doc_id_for(first)) == a.chunks > 0
    b = store.get_document(doc_id_for(replaced))
    assert b == old
    assert store.count_chunks(doc_id_for(replaced), visible_only=False) == old.chunks
    assert store.count_pages(doc_id_for(replaced), visible_only=False) == 3
    assert store.get_document(doc_id_for(fresh)) is None
    assert store.count_chunks(doc_id_for(fresh), visible_only=False) == 0
    # and the next run completes what was cancelled
    again = by_name(run(home, store, embedder, folder))
    assert again["a.pdf"][0] == FileStatus.unchanged
    assert again["b.pdf"][0] == again["c.pdf"][0] == FileStatus.indexed


def test_roots_keep_a_run_inside_its_folders(
    home: Path, store: Store, embedder: Embedder, tmp_path: Path
) -> None:
    inside = tmp_path / "root"
    inside.mkdir()
    pdfs.text_pdf(inside / "ok.pdf", pages=1)
    outside = pdfs.text_pdf(tmp_path / "secret.pdf", pages=1)
    (inside / "link.pdf").symlink_to(outside)
    (inside / "sub").mkdir()
    pdfs.text_pdf(inside / "sub" / "deep.pdf", pages=1)
    report = by_name(run(home, store, embedder, inside, roots=[inside], recursive=False))
    assert report["ok.pdf"] == (FileStatus.indexed, None)
    assert report["secret.pdf"] == (FileStatus.failed, "outside the ingestion roots")
    assert "deep.pdf" not in report, "not recursive"
    assert store.get_document(doc_id_for(outside)) is None


def test_unreadable_pages_leave_a_partial_document_of_the_readable_ones(
    home: Path, store: Store, embedder: Embedder, tmp_path: Path
) -> None:
    folder = tmp_path / "damaged"
    folder.mkdir()
    pdfs.cyclic_tree_pdf(folder / "cyclic.pdf")
    pdfs.corrupt_stream_pdf(folder / "stream.pdf")
    pdfs.truncated_pdf(folder / "truncated.pdf")
    pdfs.broken_xref_pdf(folder / "xref.pdf")
    pdfs.huge_image_pdf(folder / "huge.pdf", side=12000)
    pdfs.no_pages_pdf(folder / "zero.pdf")
    pdfs.all_pages_cyclic_pdf(folder / "hopeless.pdf")

    report = run(home, store, embedder, folder)
    got = {Path(d.path).name: d for d in report.documents}
    docs = {d.filename: d for d in store.list_documents()}

    # MuPDF loads page 1 and 3, refuses page 2 ("cycle in page tree")
    cyc = got["cyclic.pdf"]
    assert (cyc.status, cyc.pages, cyc.error) == (FileStatus.partial, 2, None)
    assert [(f.page, f.reason) for f in cyc.failed_pages] == [
        (2, "cannot load page (code=7: cycle in page tree)")
    ]
    record = docs["cyclic.pdf"]
    assert record.status == DocStatus.partial and record.status.visible
    assert record.pages == 2 and record.failed_pages == cyc.failed_pages
    assert cyc.doc_id is not None
    assert [p.page for p in store.get_pages(cyc.doc_id)] == [1, 3]
    assert store.count_chunks(cyc.doc_id) == record.chunks == cyc.chunks > 0
    assert store.count_chunks(cyc.doc_id, visible_only=False) == record.chunks
    searcher = Searcher(store, embedder, Bm25Encoder())
    hits = searcher.run(pdfs.PAGE_THREE_TEXT, k=1, doc_ids=[cyc.doc_id])
    assert hits[0].page == 3 and pdfs.PAGE_THREE_TEXT in hits[0].text

    # a Flate stream that is not zlib: MuPDF warns, draws nothing; the page fails with why
    stream = got["stream.pdf"]
    assert stream.status == FileStatus.partial and stream.pages == 2
    assert [f.page for f in stream.failed_pages] == [2]
    assert "zlib error: incorrect header check" in stream.failed_pages[0].reason

    # cut at half: MuPDF repairs it; of its 6 pages 1-3 are whole, page 4 lost part of its
    # content (kept, with a warning), 5 and 6 are gone
    trunc = got["truncated.pdf"]
    assert trunc.status == FileStatus.partial and trunc.pages == 4
    assert [f.page for f in trunc.failed_pages] == [5, 6]
    assert all("nothing could be read" in f.reason for f in trunc.failed_pages)
    assert any(
        w.startswith("page 4: read despite errors") and "cannot load content stream" in w
        for w in docs["truncated.pdf"].warnings
    )

    # every xref offset wrong: MuPDF rebuilds the table and reads all pages
    assert (got["xref.pdf"].status, got["xref.pdf"].pages) == (FileStatus.indexed, 3)
    # a 12,000 x 12,000 image: parsed and rendered at the page's own size
    huge = docs["huge.pdf"]
    assert (huge.status, huge.pages) == (DocStatus.ready, 1)
    assert huge.doc_id == got["huge.pdf"].doc_id
    image = store.get_pages(huge.doc_id)[0].image
    assert image is not None
    pix = pymupdf.Pixmap(str(Settings(home=home).blob_dir / image))
    assert (pix.width, pix.height) == (850, 1100)  # 612 x 792 pt at 100 dpi

    zero = got["zero.pdf"]
    assert zero.status == FileStatus.failed and zero.error == "no_pages: PDF has no pages: zero.pdf"
    # every page unreadable: failed as a whole, nothing stored, the pages' reasons kept
    hopeless = got["hopeless.pdf"]
    assert hopeless.status == FileStatus.failed and hopeless.pages == 0
    assert hopeless.error == (
        "unreadable_pages: no page could be read (page 1: cannot load page (code=7: cycle in "
        "page tree); page 2: cannot load page (code=7: cycle in page tree))"
    )
    assert docs["hopeless.pdf"].status == DocStatus.failed
    assert [f.page for f in docs["hopeless.pdf"].failed_pages] == [1, 2]
    assert hopeless.doc_id is not None and store.count_pages(hopeless.doc_id) == 0

    # unchanged bytes fail the same pages: skipped, still partial
    again = run(home, store, embedder, folder / "cyclic.pdf").documents[0]
    assert (again.status, again.failed_pages) == (FileStatus.unchanged, cyc.failed_pages)

    # the file fixed: replaced as usual, ready with every page
    pdfs.text_pdf(folder / "cyclic.pdf", pages=3)
    fixed = run(home, store, embedder, folder / "cyclic.pdf").documents[0]
    assert (fixed.status, fixed.pages, fixed.failed_pages) == (FileStatus.indexed, 3, [])
    record = next(d for d in store.list_documents() if d.filename == "cyclic.pdf")
    assert (record.status, record.failed_pages) == (DocStatus.ready, [])
    assert [p.page for p in store.get_pages(cyc.doc_id)] == [1, 2, 3]
    assert store.count_chunks(cyc.doc_id, visible_only=False) == record.chunks
    hits = searcher.run(pdfs.PAGE_THREE_TEXT, k=5, doc_ids=[cyc.doc_id])
    assert hits and all(pdfs.PAGE_THREE_TEXT not in h.text for h in hits)  # old content gone


def test_a_page_over_the_time_limit_is_cut_and_the_document_goes_on(
    home: Path, store: Store, embedder: Embedder, tmp_path: Path
) -> None:
    folder = tmp_path / "slow"
    folder.mkdir()
    pdfs.slow_middle_page_pdf(folder / "a-slow.pdf")
    pdfs.text_pdf(folder / "b-after.pdf", pages=2)
    settings = Settings(home=home, ingest={"page_timeout": 1.0, "page_images": False})
    t0 = time.perf_counter()
    report = Ingestor(settings, store, embedder, Bm25Encoder()).run([folder])
    slow, after = report.documents
    # the OCR page (page 2) is stopped; pages 1 and 3 are stored, and the folder goes on
    assert (slow.status, slow.pages) == (FileStatus.partial, 2)
    assert [(f.page, f.reason) for f in slow.failed_pages] == [(2, "parsing took longer than 1 s")]
    assert slow.doc_id is not None
    assert [p.page for p in store.get_pages(slow.doc_id)] == [1, 3]
    assert pdfs.PAGE_THREE_TEXT in store.get_pages(slow.doc_id)[1].text
    assert (after.status, after.pages) == (FileStatus.indexed, 2)
    assert time.perf_counter() - t0 < 120

    # without the limit the same page is OCRed
    unlimited = Settings(home=home, ingest={"page_timeout": 0, "page_images": False})
    (f := folder / "a-slow.pdf").write_bytes(f.read_bytes() + b"\n")  # new bytes: reingested
    again = Ingestor(unlimited, store, embedder, Bm25Encoder()).run([f]).documents[0]
    assert (again.status, again.pages, again.failed_pages) == (FileStatus.indexed, 3, [])


def titled(pdf: Path, title: str) -> Path:
    """`pdf` with its metadata title set to `title` (a word the pages never say)."""
    doc = pymupdf.open(pdf)
    doc.set_metadata({"title": title})
    out = pdf.with_name(f"titled-{pdf.name}")
    doc.save(out)
    doc.close()
    return out


def test_chunks_are_indexed_with_their_context_line_and_never_past_the_window(
    home: Path, store: Store, embedder: Embedder, tmp_path: Path
) -> None:
    pdf = titled(pdfs.text_pdf(tmp_path / "review.pdf", pages=3), "Zephyrine annual filing")
    settings = Settings(home=home, ingest={"context_tokens": 32})  # type: ignore[arg-type]
    report = Ingestor(settings, store, embedder, Bm25Encoder()).run([pdf])
    doc_id = report.documents[0].doc_id
    assert doc_id is not None
    chunks = store.get_chunks(doc_id)
    assert chunks
    for c in chunks:
        assert c.context is not None and c.context.startswith("Zephyrine annual filing")
        assert embedder.count_tokens(c.search_text) <= embedder.max_tokens
    # page 2 lies in the outline's "Details" section (a child of the heading entry)
    assert all("Details" in (c.context or "") for c in chunks if c.page_start == 2)
    # BM25 read the context line: a word only the title has finds the chunks
    hits = Searcher(store, embedder, Bm25Encoder()).run("Zephyrine", k=3, mode="sparse")
    assert hits and all(h.context for h in hits)


def test_by_default_chunks_are_indexed_by_their_text_alone(
    home: Path, store: Store, embedder: Embedder, tmp_path: Path
) -> None:
    pdf = titled(pdfs.text_pdf(tmp_path / "review.pdf", pages=2), "Zephyrine annual filing")
    report = run(home, store, embedder, pdf)  # the default: no context line
    doc_id = report.documents[0].doc_id
    assert doc_id is not None
    assert all(c.context is None for c in store.get_chunks(doc_id))
    assert not Searcher(store, embedder, Bm25Encoder()).run("Zephyrine", k=3, mode="sparse")


class _EtaLog:
    """Progress that keeps every ETA the ingestor reports."""

    def __init__(self) -> None:
        self.etas: list[float | None] = []
        self.pages = 0

    def files(self, total: int) -> None: ...
    def pages_found(self, n: int) -> None: ...
    def file_done(self, result: IngestResult) -> None: ...

    def pages_done(self, n: int) -> None:
        self.pages += n

    def eta(self, seconds_left: float | None) -> None:
        self.etas.append(seconds_left)


def test_the_eta_is_reported_as_work_is_stored_and_ends_at_zero(
    home: Path, store: Store, embedder: Embedder, tmp_path: Path
) -> None:
    pdf = pdfs.dense_pdf(tmp_path / "dense.pdf", pages=12, words=1500)
    log = _EtaLog()
    settings = Settings(home=home, embedding=EmbeddingSettings(batch_size=8))  # flush at 32
    ing = Ingestor(settings, store, embedder, Bm25Encoder(), progress=log)
    report = ing.run([pdf])
    assert report.documents[0].status == FileStatus.indexed
    assert log.pages == 12
    # one report per flush of stored chunks: no pace at the first, then seconds left
    assert len(log.etas) >= 3 and log.etas[0] is None
    later = [e for e in log.etas[1:] if e is not None]
    assert later and all(e >= 0 for e in later)
    assert log.etas[-1] == 0.0
    # a second run of the same ingestor has its own pace and work
    log.etas.clear()
    pdfs.dense_pdf(pdf, pages=12, words=1600)
    ing.run([pdf])
    assert log.etas[0] is None and log.etas[-1] == 0.0


def test_sharing_cores_the_eta_reads_the_parsers_progress_and_ends_at_zero(
    home: Path, store: Store, embedder: Embedder, tmp_path: Path
) -> None:
    from ingest.eta import PipelineEta

    pdf = pdfs.dense_pdf(tmp_path / "dense.pdf", pages=12, words=1500)
    log = _EtaLog()
    settings = Settings(home=home, embedding=EmbeddingSettings(batch_size=8))
    settings.ingest.share_cores = True
    settings.ingest.queue_pages = 4096  # the parser runs ahead through the whole file
    ing = Ingestor(settings, store, embedder, Bm25Encoder(), progress=log)
    report = ing.run([pdf])
    assert report.documents[0].status == FileStatus.indexed
    assert isinstance(ing.eta, PipelineEta)
    progress = ing.eta.parser()
    assert progress.finished and progress.parsed == pytest.approx(progress.found)
    assert progress.found == pytest.approx(ing.eta.total)  # what the parser found was stored
    assert len(log.etas) >= 3 and log.etas[0] is None and log.etas[-1] == 0.0
    assert all(e >= 0 for e in log.etas[1:] if e is not None)


class _ThreadLog:
    """The real embedder, keeping the threads it is given for each model batch."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name, self.dim, self.max_tokens = inner.name, inner.dim, inner.max_tokens
        self.precision = inner.precision
        self.calls: list[Threads] = []
        self.batches: list[int] = []

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def embed_query(self, text: str) -> Vectors:
        return self.inner.embed_query(text)

    def embed_documents(self, texts: Sequence[str], threads: Threads = None) -> Vectors:
        self.calls.append(threads)
        if not callable(threads):
            return self.inner.embed_documents(texts, threads)
        asked = threads

        def logged() -> int:
            self.batches.append(asked())
            return self.batches[-1]

        return self.inner.embed_documents(texts, logged)


def test_the_embedder_takes_the_cores_a_waiting_parser_leaves(
    home: Path, store: Store, embedder: Embedder, tmp_path: Path
) -> None:
    import os

    cores = os.cpu_count() or 1
    pdf = pdfs.dense_pdf(tmp_path / "dense.pdf", pages=12, words=1500)
    log = _ThreadLog(embedder)
    # not sharing: the embedder keeps its own threads
    settings = Settings(home=home, embedding=EmbeddingSettings(batch_size=8))
    settings.ingest.share_cores = False
    Ingestor(settings, store, log, Bm25Encoder()).run([pdf])
    assert log.calls and all(t is None for t in log.calls)
    # sharing (the default), two pages ahead at most: the parser soon waits on its full
    # outbox while chunks embed
    log.calls.clear()
    pdfs.dense_pdf(pdf, pages=12, words=1450)
    settings.ingest.queue_pages = 4
    settings.ingest.share_cores = True
    report = Ingestor(settings, store, log, Bm25Encoder()).run([pdf])
    assert report.documents[0].status == FileStatus.indexed
    assert log.calls and all(callable(t) for t in log.calls)
    assert len(log.batches) >= len(log.calls)  # asked once per model batch
    assert max(log.batches) == cores  # every core, while the parser waited or was done
    assert all(1 <= n <= cores for n in log.batches)

    # threads set by the user are kept: the embedder is left its own
    fixed = Settings(home=home, embedding=EmbeddingSettings(batch_size=8, threads=1))
    fixed.ingest.share_cores = True
    log.calls.clear()
    pdfs.dense_pdf(pdf, pages=12, words=1600)
    Ingestor(fixed, store, log, Bm25Encoder()).run([pdf])
    assert log.calls and all(t is None for t in log.calls)


def test_a_sharing_parser_ocrs_with_the_threads_left_and_says_how_far_it_is(
    tmp_path: Path,
) -> None:
    import multiprocessing as mp

    from docqa.config import IngestSettings
    from ingest import ocr
    from ingest.cores import CoreShare
    from ingest.eta import page_work
    from ingest.pipeline import _Job, _parse_jobs

    scan = pdfs.image_only_pdf(tmp_path / "scan.pdf")
    text = pdfs.text_pdf(tmp_path / "text.pdf", pages=2)
    sent: list[tuple[object, ...]] = []

    class Outbox:
        def put(self, msg: tuple[object, ...]) -> None:
            sent.append(msg)

    share = CoreShare(mp.get_context("spawn"), cores=2)
    parser = share.parser()
    assert share.take() == 1  # the embedder computes on the core the parser leaves
    ocr._engines.clear()
    jobs = [_Job(str(scan), "s", None), _Job(str(text), "t", None)]
    settings = IngestSettings(page_images=False, share_cores=True)
    _parse_jobs(jobs, settings, str(tmp_path), Outbox(), parser)  # type: ignore[arg-type]
    assert [t for t, _ in ocr._engines] == [1]  # the scanned page was read with the one thread left
    pages = [m[2] for m in sent if m[0] == "page"]
    assert [p.page.ocr for p in pages] == [True, False, False]  # type: ignore[attr-defined]
    work = sum(sum(page_work(pymupdf.open(f))) for f in (scan, text))
    found, parsed, finished = share.progress()
    assert found == pytest.approx(work) and parsed == pytest.approx(work)
    assert not finished  # the worker sets it when it ends; here nothing did

    ocr._engines.clear()
    share.release()  # the embedder waits: OCR may take both cores
    _parse_jobs(jobs[:1], settings, str(tmp_path), Outbox(), parser)  # type: ignore[arg-type]
    assert [t for t, _ in ocr._engines] == [2]
    ocr._engines.clear()
    fixed = IngestSettings(page_images=False, share_cores=False)  # ONNX Runtime's default
    _parse_jobs(jobs[:1], fixed, str(tmp_path), Outbox(), parser)  # type: ignore[arg-type]
    assert [t for t, _ in ocr._engines] == [None]
