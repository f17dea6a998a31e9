"""Test PDF generators: plain functions that write small PDFs with PyMuPDF itself.

Every generator takes the target path, writes the file and returns the path. The module-level
constants are the facts the files contain, for assertions.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pymupdf

from ingest.demo import PageWriter, image_only_page

_pymupdf: Any = pymupdf

HEADING = "Quarterly operations review"

SENTENCES = [
    "The Brightwater plant produced 4,210 tonnes of recycled glass in March.",
    "Energy use per tonne fell by 6 percent after the new furnace was commissioned.",
    "Two night shifts were merged, and overtime dropped to 310 hours.",
    "The quality team rejected 0.8 percent of all batches, mostly for colour defects.",
    "A second sorting line for amber glass is planned for the autumn.",
    "Customer complaints about late deliveries fell from 14 to 5.",
    "The warehouse roof repair finished two weeks ahead of schedule.",
    "Water consumption was cut by reusing cooling water in the washing stage.",
    "Three apprentices joined the maintenance crew in February.",
    "The plant manager expects output to reach 4,500 tonnes by June.",
]

TABLE_ROWS = [
    ["Region", "Units sold", "Revenue", "Code"],
    ["North", "1,204", "$88,310", "ZX-4471"],
    ["South", "987", "$71,045", "ZX-4472"],
    ["East", "1,560", "$113,902", "ZX-4473"],
    ["West", "642", "$47,118", "ZX-4474"],
]
TABLE_WIDTHS = [110.0, 100.0, 110.0, 100.0]

LONG_TABLE_HEADER = ["Item", "Warehouse", "Quantity", "Reference"]
LONG_TABLE_ROWS = [
    [f"Part {i:03d}", ["Oslo", "Lyon", "Porto", "Graz"][i % 4], str(100 + 7 * i), f"REF-{9000 + i}"]
    for i in range(1, 31)
]

OCR_LINES = [
    ("Harbour inspection notice", 20.0),
    ("The east pier crane failed its brake test on Tuesday.", 14.0),
    ("Repairs are scheduled for Friday morning.", 14.0),
]
OCR_WORDS = [
    "Harbour",
    "inspection",
    "notice",
    "crane",
    "failed",
    "brake",
    "Tuesday",
    "Repairs",
    "scheduled",
    "Friday",
    "morning",
]

LEFT_COLUMN = [
    "Alpha column opens the article and explains the goal of the survey in plain words.",
    "Bravo paragraph continues the left column with the sampling method and its limits.",
]
RIGHT_COLUMN = [
    "Charlie paragraph starts the right column and reports the main numbers found.",
    "Delta paragraph closes the right column with a short outlook for next year.",
]


def text_pdf(path: Path, pages: int = 3) -> Path:
    """A heading on page 1, then SENTENCES as paragraphs, repeated on every page with the page
    number appended so each page's text is distinct."""
    doc = _pymupdf.open()
    writer = PageWriter(doc)
    for n in range(1, pages + 1):
        if n == 1:
            writer.heading(HEADING, 18)
        for i in range(0, len(SENTENCES), 2):
            writer.paragraph(f"{SENTENCES[i]} {SENTENCES[i + 1]} (Page {n}, item {i // 2 + 1}.)")
        if n < pages:
            writer.new_page()
    doc.set_metadata({"title": "Brightwater operations review"})
    doc.set_toc([[1, HEADING, 1], [2, "Details", 2]])
    doc.save(str(path))
    doc.close()
    return path


RUNNING_HEADER = "Brightwater Annual Report 2023"
WATERMARK = "Downloaded from archive.example.org by guest on 5 May 2024"


def furniture_pdf(path: Path, pages: int = 5) -> Path:
    """`text_pdf`'s paragraphs on every page under a running header (RUNNING_HEADER), over a
    footer "Page n of N", beside a WATERMARK set down the right edge."""
    doc = _pymupdf.open()
    for n in range(1, pages + 1):
        page = doc.new_page(width=612, height=792)
        page.insert_text((72, 40), RUNNING_HEADER, fontsize=9)
        page.insert_text((280, 770), f"Page {n} of {pages}", fontsize=9)
        page.insert_text((590, 600), WATERMARK, fontsize=7, rotate=90)
        body = " ".join(f"{s} (Page {n}.)" for s in SENTENCES)
        page.insert_textbox(_pymupdf.Rect(72, 120, 540, 700), body, fontsize=11)
    doc.save(str(path))
    doc.close()
    return path


def pile(folder: Path) -> Path:
    """`folder` with one 1-page PDF (`a-first.pdf`) then three of 40 pages (`b-long-i.pdf`):
    a run killed a little after its first file is in the middle of a long one."""
    folder.mkdir(parents=True, exist_ok=True)
    text_pdf(folder / "a-first.pdf", pages=1)
    for i in range(3):
        text_pdf(folder / f"b-long-{i}.pdf", pages=40)
    return folder


def table_pdf(path: Path) -> Path:
    """Page 1: a sentence, the ruled TABLE_ROWS table, a closing sentence.
    Page 2: LONG_TABLE_ROWS as one ruled table (30 rows, small type) under a heading."""
    doc = _pymupdf.open()
    writer = PageWriter(doc)
    writer.paragraph("Sales by region for the second quarter are shown below.")
    writer.table(TABLE_ROWS, TABLE_WIDTHS)
    writer.paragraph("All figures are unaudited and rounded to whole dollars.")
    writer.new_page()
    writer.heading("Inventory by warehouse", 14)
    writer.table([LONG_TABLE_HEADER, *LONG_TABLE_ROWS], [110.0, 110.0, 90.0, 110.0], size=8)
    doc.save(str(path))
    doc.close()
    return path


def image_only_pdf(path: Path) -> Path:
    """One page that is only a picture of OCR_LINES: no text layer at all."""
    doc = _pymupdf.open()
    image_only_page(doc, OCR_LINES, dpi=150)
    doc.save(str(path))
    doc.close()
    return path


FIGURE_LINES = ["Ferry passengers 2024", "North route 48,210", "South route 17,905"]
FIGURE_CAPTION = "Figure 2: Passengers by route"


def _picture_of(lines: list[str], width: float, height: float, size: float = 16) -> Any:
    """A grey image of `lines` (no text layer), as a chart pasted into a report is."""
    scratch = _pymupdf.open()
    page = scratch.new_page(width=width, height=height)
    for i, text in enumerate(lines):
        page.insert_text((12, 28 + i * (size + 10)), text, fontsize=size)
    pix = page.get_pixmap(dpi=150, colorspace=_pymupdf.csGRAY)
    scratch.close()
    return pix


def figure_pdf(path: Path, *, layer_over_figure: bool = False) -> Path:
    """Page 1: a paragraph, a picture of FIGURE_LINES (a third of the page) with FIGURE_CAPTION
    under it, a closing paragraph, and a 20 x 20 pt icon. `layer_over_figure`: the text layer
    also writes 300 characters over the picture (a scan with its own OCR layer)."""
    doc = _pymupdf.open()
    page = doc.new_page(width=612, height=792)
    page.insert_text((72, 90), "The ferry service carried more people this year.", fontsize=11)
    figure = _pymupdf.Rect(72, 120, 432, 300)
    page.insert_image(figure, pixmap=_picture_of(FIGURE_LINES, 360, 180))
    page.insert_text((72, 318), FIGURE_CAPTION, fontsize=10)
    page.insert_text((72, 360), "Both routes run every hour in summer.", fontsize=11)
    page.insert_image(_pymupdf.Rect(500, 60, 520, 80), pixmap=_picture_of(["i"], 20, 20, 8))
    if layer_over_figure:
        words = "ledger entry " * 25
        page.insert_textbox(figure, words, fontsize=9, render_mode=3)  # invisible, like OCR
    doc.save(str(path))
    doc.close()
    return path


def two_column_pdf(path: Path) -> Path:
    """A full-width title over two columns of two paragraphs each."""
    doc = _pymupdf.open()
    page = doc.new_page(width=612, height=792)
    page.insert_text((72, 90), "Survey of river ferries", fontsize=20, fontname="hebo")
    for column, paragraphs in ((72, LEFT_COLUMN), (320, RIGHT_COLUMN)):
        y = 130.0
        for text in paragraphs:
            rect = _pymupdf.Rect(column, y, column + 220, y + 90)
            page.insert_textbox(rect, text, fontsize=11, fontname="helv")
            y += 100
    doc.save(str(path))
    doc.close()
    return path


def rotated_pdf(path: Path) -> Path:
    """A landscape page stored as portrait with /Rotate 90."""
    doc = _pymupdf.open()
    page = doc.new_page(width=612, height=792)
    page.insert_text((72, 100), "Rotated page text stays inside the page.", fontsize=14)
    page.set_rotation(90)
    doc.save(str(path))
    doc.close()
    return path


def encrypted_pdf(path: Path, password: str = "secret", method: str = "aes-256") -> Path:
    """One page readable with `password` only. `method`: "aes-256" (security handler revision
    6), "aes-128" (revision 4), "rc4-128" (revision 3). PyMuPDF hashes the password's UTF-8 as
    given (no SASLprep)."""
    encryption = {
        "aes-256": _pymupdf.PDF_ENCRYPT_AES_256,
        "aes-128": _pymupdf.PDF_ENCRYPT_AES_128,
        "rc4-128": _pymupdf.PDF_ENCRYPT_RC4_128,
    }[method]
    doc = _pymupdf.open()
    page = doc.new_page()
    page.insert_text((72, 72), "This text is only readable with the password.", fontsize=12)
    doc.save(
        str(path),
        encryption=encryption,
        user_pw=password,
        owner_pw=password + "-owner",
    )
    doc.close()
    return path


def corrupt_pdf(path: Path) -> Path:
    """A %PDF header followed by garbage: MuPDF cannot open it even after repair."""
    rng = random.Random(7)
    path.write_bytes(b"%PDF-1.7\n" + bytes(rng.randrange(256) for _ in range(4000)))
    return path


def broken_tree_pdf(path: Path) -> Path:
    """Opens, but its page tree is invalid (negative /Count): reading the page count fails."""
    path.write_bytes(
        b"%PDF-1.4\n"
        b"1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [3 0 R] /Count -5 >> endobj\n"
        b"trailer << /Root 1 0 R >>\n%%EOF\n"
    )
    return path


def no_pages_pdf(path: Path) -> Path:
    path.write_bytes(
        b"%PDF-1.4\n"
        b"1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
        b"trailer << /Root 1 0 R >>\n%%EOF\n"
    )
    return path


def empty_file(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def not_pdf(path: Path) -> Path:
    """An HTML page saved under a .pdf name (a classic failed download)."""
    path.write_text("<!DOCTYPE html>\n<html><body>Access denied</body></html>\n", "utf-8")
    return path


UNICODE_NAME = "Quartalsbericht Zürich – März 2024 ✓.pdf"


# --- malformed files (written byte by byte, or a PyMuPDF file corrupted) ----------------------

PAGE_ONE_TEXT = "Page one of this damaged report is perfectly readable."
PAGE_THREE_TEXT = "Page three is readable again after the damaged page."


def _content(text: str) -> bytes:
    return f"BT /F1 14 Tf 72 720 Td ({text}) Tj ET".encode()


def _stream(data: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length %d %s>>\nstream\n%s\nendstream" % (len(data), extra, data)


def _write_pdf(path: Path, objects: list[bytes]) -> Path:
    """Objects 1..n (object 1 the catalog) with a correct xref table and trailer."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for num, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (num, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    path.write_bytes(bytes(out))
    return path


_FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"


def _page(parent: int, contents: int) -> bytes:
    return (
        b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
        b"/Resources << /Font << /F1 3 0 R >> >> >>" % (parent, contents)
    )


def cyclic_tree_pdf(path: Path) -> Path:
    """Three pages by /Count: page 1 is fine, the second kid is a /Pages node whose only kid is
    itself (a cycle), page 3 (PAGE_THREE_TEXT) is fine again."""
    return _write_pdf(
        path,
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [4 0 R 6 0 R 7 0 R] /Count 3 >>",
            _FONT,
            _page(2, 5),
            _stream(_content(PAGE_ONE_TEXT)),
            b"<< /Type /Pages /Parent 2 0 R /Kids [6 0 R] /Count 1 >>",
            _page(2, 8),
            _stream(_content(PAGE_THREE_TEXT)),
        ],
    )


def corrupt_stream_pdf(path: Path) -> Path:
    """Three pages; page 2's content stream claims /FlateDecode but holds bytes that are not
    zlib data."""
    garbage = bytes(random.Random(11).randrange(256) for _ in range(300))
    return _write_pdf(
        path,
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [4 0 R 6 0 R 8 0 R] /Count 3 >>",
            _FONT,
            _page(2, 5),
            _stream(_content(PAGE_ONE_TEXT)),
            _page(2, 7),
            _stream(garbage, b"/Filter /FlateDecode "),
            _page(2, 9),
            _stream(_content(PAGE_THREE_TEXT)),
        ],
    )


def truncated_pdf(path: Path, pages: int = 6, keep: float = 0.5) -> Path:
    """A text_pdf of `pages` pages cut after `keep` of its bytes (an interrupted download)."""
    text_pdf(path, pages=pages)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def broken_xref_pdf(path: Path, pages: int = 3) -> Path:
    """A text_pdf whose xref table offsets all point 7 bytes off, and whose startxref points
    into the middle of nowhere."""
    text_pdf(path, pages=pages)
    doc = _pymupdf.open(str(path))
    raw = doc.tobytes(garbage=0, use_objstms=0, no_new_id=1)  # a classic xref table
    doc.close()
    head, sep, tail = raw.rpartition(b"\nxref\n")
    assert sep, "expected a classic xref table"
    lines = tail.split(b"\n")
    fixed = []
    for line in lines:
        parts = line.split(b" ")
        if len(parts) >= 3 and parts[2] in (b"n", b"n\r") and len(parts[0]) == 10:
            line = b"%010d" % (int(parts[0]) + 7) + line[10:]
        fixed.append(line)
    body = head + sep + b"\n".join(fixed)
    start = body.rfind(b"startxref\n")
    body = body[:start] + b"startxref\n999999\n%%EOF\n"
    path.write_bytes(body)
    return path


def huge_image_pdf(path: Path, side: int = 20000) -> Path:
    """One page with PAGE_ONE_TEXT over an image declared `side` x `side` pixels (RGB, 8 bits:
    1.2 GB decoded for 20,000) whose Flate data is a few hundred kilobytes of zeros."""
    import zlib

    pixels = zlib.compress(bytes(side * 3) * side, 9) if side <= 4000 else _zeros_flate(side)
    image = _stream(
        pixels,
        b"/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceRGB "
        b"/BitsPerComponent 8 /Filter /FlateDecode " % (side, side),
    )
    content = b"q 400 0 0 400 100 200 cm /Im1 Do Q " + _content(PAGE_ONE_TEXT)
    return _write_pdf(
        path,
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
            _FONT,
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 5 0 R "
            b"/Resources << /Font << /F1 3 0 R >> /XObject << /Im1 6 0 R >> >> >>",
            _stream(content),
            image,
        ],
    )


def _zeros_flate(side: int) -> bytes:
    import zlib

    comp = zlib.compressobj(9)
    row = bytes(side * 3)
    out = [comp.compress(row) for _ in range(side)]
    out.append(comp.flush())
    return b"".join(out)


def all_pages_cyclic_pdf(path: Path) -> Path:
    """Two pages by /Count, both behind a /Pages node that is its own kid: none can be read."""
    return _write_pdf(
        path,
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 2 >>",
            b"<< /Type /Pages /Parent 2 0 R /Kids [3 0 R] /Count 2 >>",
        ],
    )


def slow_middle_page_pdf(path: Path) -> Path:
    """Page 1 PAGE_ONE_TEXT, page 2 a picture of OCR_LINES (no text layer: OCR makes it the
    slow page, ~1-3 s against ~30 ms), page 3 PAGE_THREE_TEXT."""
    doc = _pymupdf.open()
    doc.new_page().insert_text((72, 100), PAGE_ONE_TEXT, fontsize=12)
    image_only_page(doc, OCR_LINES, dpi=150)
    doc.new_page().insert_text((72, 100), PAGE_THREE_TEXT, fontsize=12)
    doc.save(str(path))
    doc.close()
    return path


def huge_page_pdf(path: Path, side: float = 14400) -> Path:
    """One `side` x `side` pt page (14,400: 200 inches, the largest PDF allows without
    /UserUnit) holding PAGE_ONE_TEXT, and no image."""
    doc = _pymupdf.open()
    doc.new_page(width=side, height=side).insert_text((72, 100), PAGE_ONE_TEXT, fontsize=12)
    doc.save(str(path))
    doc.close()
    return path


def dense_pdf(path: Path, pages: int = 30, words: int = 2500) -> Path:
    """`pages` pages of `words` words each in 4 pt type: every parsed page is a message of
    ~16 KB, so four of them fill a 64 KB pipe and a parser is often stopped mid-message."""
    rng = random.Random(7)
    vocab = " ".join(SENTENCES).replace(",", "").replace(".", "").split()
    doc = _pymupdf.open()
    for n in range(1, pages + 1):
        page = doc.new_page()
        text = f"Page {n}. " + " ".join(rng.choice(vocab) for _ in range(words))
        page.insert_textbox(
            _pymupdf.Rect(18, 18, page.rect.x1 - 18, page.rect.y1 - 18), text, fontsize=4
        )
    doc.save(str(path))
    doc.close()
    return path
