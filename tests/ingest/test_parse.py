"""Parsing real generated PDFs (and, when present, the dev corpus) with the real OCR engine."""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pdfs
import pymupdf
import pytest

from docqa.config import IngestSettings
from docqa.types import Block
from ingest import parse
from ingest.demo import write_demo_folder
from ingest.parse import (
    ParsedPage,
    ParseError,
    doc_meta,
    may_have_ruled_table,
    open_pdf,
    parse_page,
    reading_order,
)
from ingest.saslprep import SaslprepError, saslprep

NO_IMAGES = IngestSettings(page_images=False)
_pymupdf: Any = pymupdf  # partly annotated


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("pdfs")
    makers: dict[str, Callable[[Path], Path]] = {
        "text": pdfs.text_pdf,
        "table": pdfs.table_pdf,
        "image": pdfs.image_only_pdf,
        "columns": pdfs.two_column_pdf,
        "rotated": pdfs.rotated_pdf,
        "encrypted": pdfs.encrypted_pdf,
        "corrupt": pdfs.corrupt_pdf,
        "broken_tree": pdfs.broken_tree_pdf,
        "no_pages": pdfs.no_pages_pdf,
        "empty": pdfs.empty_file,
        "not_pdf": pdfs.not_pdf,
    }
    out = {name: make(d / f"{name}.pdf") for name, make in makers.items()}
    out["unicode"] = pdfs.text_pdf(d / pdfs.UNICODE_NAME, pages=1)
    return out


def parse_all(path: Path, settings: IngestSettings = NO_IMAGES, **kw: Any) -> list[ParsedPage]:
    doc: Any = open_pdf(path, **kw)
    try:
        return [parse_page(doc, i, settings, None, "doc") for i in range(doc.page_count)]
    finally:
        doc.close()


def inside(block: Block, width: float, height: float) -> bool:
    b = block.box
    return -1 <= b.x0 < b.x1 <= width + 1 and -1 <= b.y0 < b.y1 <= height + 1


# --- opening -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "code", "words"),
    [
        ("empty", "empty", ["0 bytes"]),
        ("not_pdf", "not_pdf", ["%PDF", "HTML"]),
        ("corrupt", "corrupt", ["corrupt PDF", "cannot open"]),
        ("broken_tree", "corrupt", ["cannot read page tree", "Invalid number of pages"]),
        ("no_pages", "no_pages", ["no pages"]),
        ("encrypted", "encrypted", ["password", '--password "encrypted.pdf=PW"']),
    ],
)
def test_bad_files_have_reason_codes(
    files: dict[str, Path], name: str, code: str, words: list[str]
) -> None:
    with pytest.raises(ParseError) as err:
        open_pdf(files[name])
    assert err.value.code == code
    for word in words:
        assert word in str(err.value)
    assert str(files[name].parent) not in str(err.value)  # file name only, no absolute path


def test_parse_error_survives_pickling(files: dict[str, Path]) -> None:
    # parse workers are separate processes: errors must cross with their code
    with pytest.raises(ParseError) as err:
        open_pdf(files["empty"])
    copy = pickle.loads(pickle.dumps(err.value))
    assert (copy.code, str(copy)) == ("empty", str(err.value))


def test_missing_file_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(ParseError) as err:
        open_pdf(tmp_path / "nope.pdf")
    assert err.value.code == "unreadable"


def test_encrypted_opens_with_right_password_only(files: dict[str, Path]) -> None:
    with pytest.raises(ParseError) as err:
        open_pdf(files["encrypted"], password="wrong")
    assert err.value.code == "encrypted"
    assert "wrong password" in str(err.value)
    pages = parse_all(files["encrypted"], password="secret")
    assert "only readable with the password" in pages[0].page.text


# Typed with a soft hyphen (B.1: mapped to nothing), a no-break space (C.1.2: a space), the
# ligature U+FB01 and a fullwidth A (NFKC: "fi", "A"); PREPARED is its SASLprep form.
TYPED = "co\u00adffee\u00a0\ufb01ne\uff21"
PREPARED = "coffee fineA"


def test_saslprep_rfc4013_examples() -> None:
    assert saslprep("I\u00adX") == "IX"  # RFC 4013 section 3, examples 1-5
    assert saslprep("user") == "user"
    assert saslprep("USER") == "USER"
    assert saslprep("\u00aa") == "a"
    assert saslprep("\u2168") == "IX"
    with pytest.raises(SaslprepError, match="control"):
        saslprep("\u0007")
    with pytest.raises(SaslprepError, match="right-to-left"):
        saslprep("\u0627\u0031")
    assert saslprep(TYPED) == PREPARED
    assert saslprep("\u0627\u0628") == "\u0627\u0628"  # all right-to-left is fine


def test_aes256_password_is_saslprepped(tmp_path: Path) -> None:
    # the file hashes the prepared password, as PDF 2.0 asks; MuPDF alone refuses TYPED
    path = pdfs.encrypted_pdf(tmp_path / "r6.pdf", password=PREPARED)
    raw: Any = _pymupdf.open(str(path))
    assert raw.xref_get_key(-1, "Encrypt/R") == ("int", "6")
    assert not raw.authenticate(TYPED)
    raw.close()
    for typed in (TYPED, PREPARED):
        pages = parse_all(path, password=typed)
        assert "only readable with the password" in pages[0].page.text
    with pytest.raises(ParseError, match="wrong password"):
        open_pdf(path, password="coffee fine")


def test_aes256_password_as_given_still_opens_files_of_non_preparing_writers(
    tmp_path: Path,
) -> None:
    # PyMuPDF hashes the text as given: the exact typed password must keep working
    path = pdfs.encrypted_pdf(tmp_path / "raw.pdf", password=TYPED)
    assert "only readable" in parse_all(path, password=TYPED)[0].page.text
    with pytest.raises(ParseError, match="wrong password"):
        open_pdf(path, password=PREPARED)


def test_prohibited_password_is_tried_as_given_and_the_refusal_explained(tmp_path: Path) -> None:
    path = pdfs.encrypted_pdf(tmp_path / "bell.pdf", password="ring\u0007bell")
    assert "only readable" in parse_all(path, password="ring\u0007bell")[0].page.text
    with pytest.raises(ParseError) as err:
        open_pdf(path, password="ring\u0007bel")
    assert "SASLprep rejects it: contains an ASCII control character (U+0007)" in str(err.value)


@pytest.mark.parametrize("method", ["aes-128", "rc4-128"])
def test_older_revisions_keep_the_password_as_given(tmp_path: Path, method: str) -> None:
    # no NFKC for revisions 2-4 (MuPDF itself converts them to PDFDocEncoding, which drops a
    # soft hyphen but keeps "ﬁ" as its own code 0x93)
    path = pdfs.encrypted_pdf(tmp_path / f"{method}.pdf", password="fine A", method=method)
    assert "only readable" in parse_all(path, password="fine A")[0].page.text
    for typed in ("\ufb01ne A", "fine\u00a0A", "fine \uff21"):
        with pytest.raises(ParseError, match="wrong password"):
            open_pdf(path, password=typed)


def test_pdf_detected_by_content_not_extension(files: dict[str, Path], tmp_path: Path) -> None:
    renamed = tmp_path / "report.bin"
    renamed.write_bytes(files["text"].read_bytes())
    assert parse_all(renamed)[0].blocks


def test_unicode_and_spaces_in_path(files: dict[str, Path]) -> None:
    path = files["unicode"]
    assert " " in path.name and "ü" in path.name
    pages = parse_all(path)
    assert pdfs.SENTENCES[0] in " ".join(pages[0].page.text.split())


def test_doc_meta(files: dict[str, Path]) -> None:
    doc: Any = open_pdf(files["text"])
    title, toc = doc_meta(doc)
    doc.close()
    assert title == "Brightwater operations review"
    assert toc == [(1, pdfs.HEADING, 1), (2, "Details", 2)]


def _titled_pdf(path: Path, metadata_title: str, *, stamp: bool = False) -> Path:
    doc = pymupdf.open()
    page = doc.new_page(width=612, height=792)
    if stamp:  # an arXiv-style identifier, rotated in the left margin, in a larger font
        page.insert_text((30, 600), "arXiv:2401.00001v1 [cs.CL] 1 Jan 2024", fontsize=26, rotate=90)
    page.insert_text((72, 90), "Quarterly Report of", fontsize=20)
    page.insert_text((72, 116), "Brightwater Holdings", fontsize=20)
    page.insert_text((72, 160), "Prepared for the board, not for distribution.", fontsize=11)
    page.insert_text((72, 700), "A FOOTER IN A HUGE FONT", fontsize=40)  # bottom: not a title
    doc.set_metadata({"title": metadata_title})
    doc.save(path)
    doc.close()
    return path


@pytest.mark.parametrize(
    ("metadata_title", "stamp"),
    [("", False), ("0000764478-23-000006", False), ("report.docx", True), ("Untitled", True)],
)
def test_doc_meta_title_from_first_page(tmp_path: Path, metadata_title: str, stamp: bool) -> None:
    doc: Any = open_pdf(_titled_pdf(tmp_path / "t.pdf", metadata_title, stamp=stamp))
    title, _ = doc_meta(doc)
    doc.close()
    assert title == "Quarterly Report of Brightwater Holdings"


def test_doc_meta_keeps_a_real_metadata_title(tmp_path: Path) -> None:
    doc: Any = open_pdf(_titled_pdf(tmp_path / "t.pdf", "Annual review 2024"))
    assert doc_meta(doc)[0] == "Annual review 2024"
    doc.close()


def test_doc_meta_no_title_on_a_textless_first_page(tmp_path: Path) -> None:
    doc = pymupdf.open()
    doc.new_page().draw_rect(pymupdf.Rect(50, 50, 200, 200), fill=(0, 0, 0))
    doc.save(tmp_path / "blank.pdf")
    doc.close()
    opened: Any = open_pdf(tmp_path / "blank.pdf")
    assert doc_meta(opened)[0] is None
    opened.close()


# --- text, headings, reading order ---------------------------------------------------------


def test_text_pages_blocks_and_heading(files: dict[str, Path]) -> None:
    pages = parse_all(files["text"])
    assert [p.page.page for p in pages] == [1, 2, 3]
    first = pages[0]
    assert first.warnings == []
    assert first.blocks[0].heading and first.blocks[0].text == pdfs.HEADING
    assert not any(b.heading for b in first.blocks[1:])
    flat = " ".join(first.page.text.split())
    positions = [flat.index(s) for s in pdfs.SENTENCES]
    assert positions == sorted(positions)  # reading order kept
    for p in pages:
        assert p.page.doc_id == "doc" and not p.page.ocr
        assert (p.page.width, p.page.height) == (612, 792)
        assert f"(Page {p.page.page}, item 1.)" in " ".join(p.page.text.split())
        assert all(b.kind == "text" and inside(b, 612, 792) for b in p.blocks)
        assert all(b.box.page == p.page.page for b in p.blocks)
        assert p.page.text == "\n\n".join(b.text for b in p.blocks)


def test_two_columns_read_column_by_column(files: dict[str, Path]) -> None:
    (page,) = parse_all(files["columns"])
    texts = [" ".join(b.text.split()) for b in page.blocks]
    expected = ["Survey of river ferries", *pdfs.LEFT_COLUMN, *pdfs.RIGHT_COLUMN]
    assert texts == expected
    assert page.blocks[0].heading


def test_reading_order_rows_of_cells_stay_rows() -> None:
    # label/value pairs side by side are read row by row, not label column first
    rects = [(72.0, 100.0 + 20 * i, 150.0, 112.0 + 20 * i) for i in range(4)]
    rects += [(300.0, 100.0 + 20 * i, 360.0, 112.0 + 20 * i) for i in range(4)]
    order = reading_order(rects)
    assert order == [0, 4, 1, 5, 2, 6, 3, 7]


def test_rotated_page_boxes_are_in_displayed_page(files: dict[str, Path]) -> None:
    (page,) = parse_all(files["rotated"])
    assert (page.page.width, page.page.height) == (792, 612)
    assert page.blocks and all(inside(b, 792, 612) for b in page.blocks)


# --- tables ----------------------------------------------------------------------------------


def test_ruled_table_found_once_as_markdown(files: dict[str, Path]) -> None:
    first, second = parse_all(files["table"])
    tables = [b for b in first.blocks if b.kind == "table"]
    assert len(tables) == 1
    table = tables[0]
    rows = table.text.splitlines()
    assert rows[0] == "| " + " | ".join(pdfs.TABLE_ROWS[0]) + " |"
    assert rows[1] == "|---|---|---|---|"
    assert rows[2:] == ["| " + " | ".join(r) + " |" for r in pdfs.TABLE_ROWS[1:]]
    assert table.table_header == "\n".join(rows[:2])
    for row in pdfs.TABLE_ROWS[1:]:
        for value in row:  # in the Markdown, and nowhere else on the page
            assert first.page.text.count(value) == 1, value
    kinds = [b.kind for b in first.blocks]
    assert kinds == ["text", "table", "text"]  # table kept between its two sentences
    assert inside(table, 612, 792)

    long_tables = [b for b in second.blocks if b.kind == "table"]
    assert len(long_tables) == 1
    assert len(long_tables[0].text.splitlines()) == 2 + len(pdfs.LONG_TABLE_ROWS)
    assert second.blocks[0].heading


def test_tables_off_keeps_the_values_as_text(files: dict[str, Path]) -> None:
    first = parse_all(files["table"], IngestSettings(page_images=False, tables="off"))[0]
    assert all(b.kind == "text" for b in first.blocks)
    assert "ZX-4473" in first.page.text


def test_ruled_table_precheck(files: dict[str, Path]) -> None:
    doc: Any = open_pdf(files["table"])
    assert may_have_ruled_table(doc[0].get_drawings())
    doc.close()
    doc = open_pdf(files["text"])
    assert not may_have_ruled_table(doc[0].get_drawings())
    doc.close()
    # a single horizontal rule, or one box, cannot make a table of two columns
    rule: Any = _pymupdf.open()
    page = rule.new_page()
    page.draw_line((72, 300), (540, 300))
    page.draw_rect((72, 400, 540, 500))
    assert not may_have_ruled_table(page.get_drawings())
    page.draw_line((300, 400), (300, 500))
    assert may_have_ruled_table(page.get_drawings())


def test_failed_table_detection_is_a_warning(
    files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(page: Any, mode: str) -> list[Any]:
        raise RuntimeError("boom")

    monkeypatch.setattr(parse, "_find_tables", boom)
    first = parse_all(files["table"])[0]
    assert first.warnings == ["page 1: table detection failed: boom"]
    assert "ZX-4471" in first.page.text  # the table's text survives as plain text


# --- OCR and images --------------------------------------------------------------------------


def test_image_only_page_is_ocred(files: dict[str, Path]) -> None:
    (page,) = parse_all(files["image"])
    assert page.page.ocr
    assert page.blocks and all(b.kind == "ocr" for b in page.blocks)
    text = page.page.text.lower()
    missing = [w for w in pdfs.OCR_WORDS if w.lower() not in text]
    assert len(missing) <= 1, missing
    assert all(inside(b, 612, 792) for b in page.blocks)
    top = page.blocks[0]  # the title line is found near where it was drawn
    assert "harbour" in top.text.lower() and 60 < top.box.y0 < 130


GRAPHS = IngestSettings().ocr_graphs


def test_ocr_threads_reach_the_engine_and_read_the_same_text(files: dict[str, Path]) -> None:
    from ingest import ocr

    def threads_used(threads: int | None) -> list[int]:  # by the engine of that count
        engine = ocr._engines[threads, GRAPHS]  # RapidOCR's detector and recogniser: apart
        sessions = [engine.text_det.infer.session, engine.text_rec.session.session]
        return [s.get_session_options().intra_op_num_threads for s in sessions]

    ocr._engines.clear()
    (one,) = parse_all(files["image"], IngestSettings(page_images=False, ocr_threads=1))
    assert list(ocr._engines) == [(1, GRAPHS)] and threads_used(1) == [1, 1]
    (default,) = parse_all(files["image"], IngestSettings(page_images=False))
    assert threads_used(None) == [0, 0]  # ONNX Runtime's default: one per core
    assert one.page.text == default.page.text and one.page.ocr
    assert ocr.get_engine(1, GRAPHS) is ocr._engines[1, GRAPHS]  # each is made once


FIGURES = IngestSettings(page_images=False, ocr_figures=0.05)


def test_a_figure_on_a_text_page_is_read_with_its_caption(tmp_path: Path) -> None:
    path = pdfs.figure_pdf(tmp_path / "figure.pdf")
    (plain,) = parse_all(path)
    assert not plain.page.ocr and "48,210" not in plain.page.text  # a picture: no text
    (page,) = parse_all(path, FIGURES)
    assert not page.page.ocr  # the page keeps its text layer
    (figure,) = [b for b in page.blocks if b.kind == "ocr"]  # the icon is not read
    assert figure.text.startswith(pdfs.FIGURE_CAPTION + "\n")
    read = figure.text.replace(" ", "")  # OCR may drop a space between words
    assert all(line.replace(" ", "") in read for line in pdfs.FIGURE_LINES)
    assert (figure.box.x0, figure.box.y0, figure.box.x1, figure.box.y1) == (72, 120, 432, 300)
    # in reading order: after the opening paragraph, before the closing one
    texts = [b.text for b in page.blocks]
    assert texts.index(figure.text) == 1 and "Both routes" in texts[-1]
    assert [b.text for b in page.blocks if b.kind == "text"] == [b.text for b in plain.blocks]


def test_a_figure_the_text_layer_already_covers_is_not_read_again(tmp_path: Path) -> None:
    path = pdfs.figure_pdf(tmp_path / "layered.pdf", layer_over_figure=True)
    (page,) = parse_all(path, FIGURES)
    assert not [b for b in page.blocks if b.kind == "ocr"] and "ledger entry" in page.page.text


def test_a_failed_figure_read_is_a_warning_and_the_page_keeps_its_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: Any, **kwargs: Any) -> list[Any]:
        raise RuntimeError("boom")

    monkeypatch.setattr(parse, "ocr_page", boom)
    (page,) = parse_all(pdfs.figure_pdf(tmp_path / "figure.pdf"), FIGURES)
    assert page.warnings == ["page 1: figure OCR failed: boom"]
    assert "Both routes" in page.page.text and not [b for b in page.blocks if b.kind == "ocr"]


def test_figures_smaller_than_the_share_are_not_read(tmp_path: Path) -> None:
    path = pdfs.figure_pdf(tmp_path / "figure.pdf")
    doc: Any = open_pdf(path)
    try:
        assert parse.figure_rects(doc[0], 0.05) == [(72.0, 120.0, 432.0, 300.0)]
        assert parse.figure_rects(doc[0], 0.2) == []  # it covers 360 x 180 of 612 x 792: 13%
    finally:
        doc.close()
    (page,) = parse_all(path, IngestSettings(page_images=False, ocr_figures=0.2))
    assert not [b for b in page.blocks if b.kind == "ocr"]


def test_overlapping_images_are_read_as_one_figure(tmp_path: Path) -> None:
    doc: Any = pymupdf.open()
    page = doc.new_page(width=612, height=792)
    # the first two do not touch; the third overlaps both, so all three are one figure
    for shade, rect in enumerate(((72, 100, 272, 300), (400, 100, 600, 300), (250, 120, 430, 300))):
        pix = pymupdf.Pixmap(pymupdf.csGRAY, pymupdf.IRect(0, 0, 100, 100), False)
        pix.clear_with(100 + 50 * shade)  # three different images
        page.insert_image(pymupdf.Rect(*rect), pixmap=pix)
    assert parse.figure_rects(page, 0.05) == [(72.0, 100.0, 600.0, 300.0)]
    doc.close()


def test_ocr_off_leaves_image_page_empty(files: dict[str, Path]) -> None:
    (page,) = parse_all(files["image"], IngestSettings(page_images=False, ocr="off"))
    assert not page.page.ocr and page.blocks == [] and page.page.text == ""


def test_page_images_saved_under_blob_dir(files: dict[str, Path], tmp_path: Path) -> None:
    doc: Any = open_pdf(files["text"])
    settings = IngestSettings(image_dpi=50)
    parsed = parse_page(doc, 1, settings, tmp_path, "doc-7")
    assert parsed.page.image == "doc-7/p0002.png"
    image = tmp_path / parsed.page.image
    assert image.read_bytes()[:4] == b"\x89PNG"
    pix = _pymupdf.Pixmap(str(image))
    assert (pix.width, pix.height) == (425, 550)  # 612 x 792 pt at 50 dpi
    webp = parse_page(doc, 0, IngestSettings(image_format="webp", image_dpi=50), tmp_path, "d")
    assert webp.page.image == "d/p0001.webp"
    assert (tmp_path / "d/p0001.webp").read_bytes()[8:12] == b"WEBP"
    doc.close()


def test_unwritable_blob_dir_is_a_warning(files: dict[str, Path], tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    doc: Any = open_pdf(files["text"])
    parsed = parse_page(doc, 0, IngestSettings(), blocker, "doc")
    doc.close()
    assert parsed.page.image is None
    assert len(parsed.warnings) == 1 and parsed.warnings[0].startswith("page 1: page image failed")
    assert parsed.blocks


# --- demo folder -----------------------------------------------------------------------------


def test_demo_folder(tmp_path: Path) -> None:
    paths = write_demo_folder(tmp_path / "demo")
    assert [p.name for p in paths] == [
        "northwind_annual_report_2024.pdf",
        "aldermoor_research_note.pdf",
        "harbor_street_memo.pdf",
    ]
    report = parse_all(paths[0])
    tables = [b for p in report for b in p.blocks if b.kind == "table"]
    assert len(tables) == 1 and "| 2024 | $503.8 | $46.2 |" in tables[0].text
    assert "revenue rose 10.7% to $503.8 million" in " ".join(report[0].page.text.split()).lower()
    note = parse_all(paths[1])[0]
    headings = [b.text for b in note.blocks if b.heading]
    assert "3 Results" in headings and "Abstract" in headings
    memo = parse_all(paths[2])[0]
    assert memo.page.ocr and "harbor street" in memo.page.text.lower()


# --- the real dev corpus ---------------------------------------------------------------------

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus" / "dev"


def corpus_file(name: str) -> Path:
    path = CORPUS / name
    if not path.exists():
        pytest.skip(f"dev corpus file {name} not present")
    return path


@pytest.mark.integration
def test_corpus_10k_tables() -> None:
    doc: Any = open_pdf(corpus_file("BESTBUY_2023_10K.pdf"))
    pages = [parse_page(doc, i, NO_IMAGES, None, "bby") for i in (20, 40, 58)]
    doc.close()
    tables = [b for p in pages for b in p.blocks if b.kind == "table"]
    assert len(tables) >= 3
    statement = pages[1]  # Consolidated Statements of Comprehensive Income
    (table,) = [b for b in statement.blocks if b.kind == "table"]
    assert "| Net earnings | $ | 1,419 | $ | 2,454 | $ | 1,798 |" in table.text
    assert statement.page.text.count("1,419") == 1
    assert all(not p.warnings for p in pages)


@pytest.mark.integration
def test_corpus_image_only_deck_is_ocred() -> None:
    doc: Any = open_pdf(corpus_file("reportq32015-151009093138-lva1-app6891_95.pdf"))
    page = parse_page(doc, 0, NO_IMAGES, None, "deck")
    doc.close()
    assert page.page.ocr and all(b.kind == "ocr" for b in page.blocks)
    assert "VIETNAM" in page.page.text.upper()


@pytest.mark.integration
@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("corrupt_poppler-742-0-fuzzed.pdf", "corrupt"),
        ("corrupt_poppler-67295-0.pdf", "corrupt"),
        ("encrypted_2206.01062_pg3.pdf", "encrypted"),
    ],
)
def test_corpus_bad_files(name: str, code: str) -> None:
    with pytest.raises(ParseError) as err:
        open_pdf(corpus_file(name))
    assert err.value.code == code


@pytest.mark.integration
def test_corpus_encrypted_opens_with_manifest_password() -> None:
    path = corpus_file("encrypted_2206.01062_pg3.pdf")
    manifest = json.loads((CORPUS / "manifest.json").read_text("utf-8"))
    (entry,) = [e for e in manifest if e["file"] == path.name]
    doc: Any = open_pdf(path, password=entry["password"])
    page = parse_page(doc, 0, NO_IMAGES, None, "enc")
    doc.close()
    assert page.blocks and not page.page.ocr


# --- damaged pages (behaviour measured with PyMuPDF 2.0 on MuPDF 1.28.5) --------------------


def _page_outcomes(path: Path) -> list[str]:
    doc: Any = open_pdf(path)
    out: list[str] = []
    try:
        for i in range(doc.page_count):
            try:
                parsed = parse_page(doc, i, NO_IMAGES, None, "doc")
                out.append(parsed.page.text)
            except ParseError as e:
                assert e.code == "page_unreadable"
                out.append(f"ERROR {e}")
    finally:
        doc.close()
    return out


def test_a_cycle_in_the_page_tree_fails_only_that_page(tmp_path: Path) -> None:
    one, two, three = _page_outcomes(pdfs.cyclic_tree_pdf(tmp_path / "c.pdf"))
    assert (one, three) == (pdfs.PAGE_ONE_TEXT, pdfs.PAGE_THREE_TEXT)
    assert two == "ERROR page 2: cannot load page (code=7: cycle in page tree)"


def test_a_corrupt_content_stream_is_an_unreadable_page_not_a_blank_one(tmp_path: Path) -> None:
    # MuPDF only warns ("zlib error") and draws nothing; OCR of the blank render finds nothing
    one, two, three = _page_outcomes(pdfs.corrupt_stream_pdf(tmp_path / "s.pdf"))
    assert (one, three) == (pdfs.PAGE_ONE_TEXT, pdfs.PAGE_THREE_TEXT)
    assert two.startswith("ERROR page 2: nothing could be read (MuPDF: ")
    assert "zlib error: incorrect header check" in two


def test_a_blank_page_without_damage_stays_an_empty_page(tmp_path: Path) -> None:
    doc = _pymupdf.open()
    doc.new_page()
    doc.save(str(tmp_path / "blank.pdf"))
    doc.close()
    assert _page_outcomes(tmp_path / "blank.pdf") == [""]


def test_zero_pages_and_a_broken_xref(tmp_path: Path) -> None:
    with pytest.raises(ParseError) as err:
        open_pdf(pdfs.no_pages_pdf(tmp_path / "zero.pdf"))
    assert (err.value.code, str(err.value)) == ("no_pages", "PDF has no pages: zero.pdf")
    # every xref offset is off and startxref points nowhere: MuPDF rebuilds the table
    path = pdfs.broken_xref_pdf(tmp_path / "xref.pdf")
    doc: Any = open_pdf(path)
    assert doc.is_repaired
    doc.close()
    assert [
        t.startswith(pdfs.SENTENCES[0]) or t.startswith(pdfs.HEADING) for t in _page_outcomes(path)
    ] == [True, True, True]


def test_a_huge_page_renders_at_a_lower_dpi(tmp_path: Path) -> None:
    # 14,400 pt square at 100 dpi is 20,000 x 20,000 px: MuPDF refuses it ("Overly large image")
    path = pdfs.huge_page_pdf(tmp_path / "huge.pdf")
    raw: Any = _pymupdf.open(str(path))
    with pytest.raises(Exception, match="Overly large image"):  # FzErrorLimit
        raw[0].get_pixmap(dpi=100)
    raw.close()
    doc: Any = open_pdf(path)
    parsed = parse_page(doc, 0, IngestSettings(), tmp_path / "blobs", "doc")
    doc.close()
    assert parsed.warnings == [] and parsed.page.text == pdfs.PAGE_ONE_TEXT
    assert parsed.page.image is not None
    pix: Any = _pymupdf.Pixmap(str(tmp_path / "blobs" / parsed.page.image))
    assert pix.width == pix.height and pix.width * pix.height <= parse.MAX_RENDER_PIXELS
    assert pix.width > 6000  # as sharp as the cap allows (about 43 dpi here)


def test_pages_read_the_same_after_mupdf_store_is_emptied(files: dict[str, Path]) -> None:
    # PyMuPDF cannot report the store's size (TOOLS.store_size returns None); the memory this
    # frees is measured by `make bench-bigdoc`. Here: nothing a later page needs is lost.
    want = [p.page.text for p in parse_all(files["table"])]
    doc: Any = open_pdf(files["table"])
    try:
        got = []
        for i in range(doc.page_count):
            parse.empty_mupdf_store()  # fonts and images decoded by the page before are dropped
            got.append(parse_page(doc, i, NO_IMAGES, None, "doc").page.text)
    finally:
        doc.close()
    assert got == want and all(got)


def _tables(path: Path, slim: bool) -> list[list[tuple[Any, str]]]:
    doc: Any = open_pdf(path)
    try:
        return [
            [(t.rect, t.markdown) for t in parse._find_tables(doc[i], "lines", slim=slim)]
            for i in range(doc.page_count)
        ]
    finally:
        doc.close()


def test_slim_characters_find_the_tables_pymupdfs_own_find(
    files: dict[str, Path], tmp_path: Path
) -> None:
    # the finder reads characters to keep only drawn grids with text in them: a box with a
    # word, an empty box, a ruled grid with an empty column, and the ruled tables of table.pdf
    doc: Any = _pymupdf.open()
    page = doc.new_page()
    for x in (72, 200, 330):
        page.draw_line((x, 100), (x, 200))
    for y in (100, 150, 200):
        page.draw_line((72, y), (330, y))
    page.insert_text((80, 130), "Region", fontsize=10)
    page.insert_text((80, 180), "North", fontsize=10)
    for x in (72, 200, 330):  # no text in this one
        page.draw_line((x, 300), (x, 400))
    for y in (300, 350, 400):
        page.draw_line((72, y), (330, y))
    page.draw_rect((72, 500, 300, 560))
    page.insert_text((80, 530), "A boxed note, not a table.", fontsize=10)
    # on a page of its own, rules without outer verticals: the finder adds the group's outline
    # only when it holds text, by a test that compares the group with the characters' boxes
    # flipped to PDF space (y upwards); here that test says no, and no table is found
    page = doc.new_page()
    for y in (600, 640, 680):
        page.draw_line((72, y), (330, y))
    page.draw_line((200, 600), (200, 680))
    for x, y, word in ((80, 625, "Plant"), (210, 625, "Out"), (80, 665, "Ohio"), (210, 665, "42")):
        page.insert_text((x, y), word, fontsize=10)
    grids = tmp_path / "grids.pdf"
    doc.save(str(grids))
    doc.close()
    for path in (files["table"], grids):
        stock = _tables(path, slim=False)
        assert _tables(path, slim=True) == stock
    assert len([t for page_tables in _tables(files["table"], True) for t in page_tables]) == 2


def test_each_step_that_ran_on_a_page_is_timed(files: dict[str, Path], tmp_path: Path) -> None:
    (scan,) = parse_all(files["image"])
    assert set(scan.seconds) == {"text", "ocr"}  # no table finding on a page read by OCR
    assert all(v > 0 for v in scan.seconds.values())
    settings = IngestSettings(page_images=True)
    with pymupdf.open(files["table"]) as doc:
        page = parse.parse_page(doc, 0, settings, tmp_path / "blobs", "t")
    assert {"text", "tables", "layout", "image"} <= set(page.seconds) <= set(parse.PARSE_STEPS)
    assert "ocr" not in page.seconds
