"""Locating quoted spans on real PDFs written with PyMuPDF (no mocks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pymupdf
import pytest

from docqa.types import Box
from ingest.locate import locate

_pymupdf: Any = pymupdf  # partly annotated

SIZE = 11.0
LEADING = 14.0
LEFT = 72.0

PARAGRAPHS = [
    [
        "The Brightwater plant produced 4,210 tonnes of recycled",
        "glass in March, more than in any month of last year.",
    ],
    [
        "Two night shifts were merged in the spring. Energy use per",
        "tonne fell by 6 percent after the new furnace was installed.",
        "Overtime dropped to 310 hours over the same quarter.",
    ],
    [
        "The quality team rejected 0.8 percent of all batches.",
        "Most were rejected for colour defects in amber glass.",
    ],
]
SENTENCE = "Energy use per tonne fell by 6 percent after the new furnace was installed."
"""One sentence of PARAGRAPHS[1], from the middle of its first line to the end of its second."""

HYPHENATED = [
    "The plant produced 4,210 tonnes of recy-",
    "cled glass in March, a record for the site.",
    "April was a quieter month for the furnaces.",
]

TABLE = [["Region", "Units", "Revenue"], ["North", "1,204", "$88,310"], ["South", "987", "$71,045"]]
TABLE_QUOTE = "| Region | Units | Revenue |\n| --- | --- | --- |\n| North | 1,204 | $88,310 |"
"""The first two rows as the parser writes a table (Markdown)."""

REPEATED = "Deliveries to the north depot resumed on the second of May."


def _write(page: Any, y: float, lines: list[str]) -> float:
    """Write `lines` as one paragraph with its first baseline at `y`; the next paragraph's y."""
    page.insert_text((LEFT, y), "\n".join(lines), fontsize=SIZE, lineheight=LEADING / SIZE)
    return y + LEADING * len(lines) + 22


def _blocks(page: Any) -> list[Box]:
    """The page's text blocks as Boxes (unrotated pages only), in order."""
    return [
        Box(page=page.number + 1, x0=b[0], y0=b[1], x1=b[2], y1=b[3])
        for b in page.get_text("blocks")
        if b[6] == 0
    ]


def _word(page: Any, text: str, nth: int = 0) -> Any:
    """The rect of the `nth` word `text` on an unrotated page (straight from MuPDF)."""
    hits = [_pymupdf.Rect(w[:4]) for w in page.get_text("words") if w[4] == text]
    return hits[nth]


def _inside(box: Box, outer: Box, pad: float = 0.5) -> bool:
    return (
        box.x0 >= outer.x0 - pad
        and box.y0 >= outer.y0 - pad
        and box.x1 <= outer.x1 + pad
        and box.y1 <= outer.y1 + pad
    )


def _overlaps(a: Box, b: Box) -> bool:
    # word boxes of adjacent lines touch: demand a real overlap (more than 2 pt each way)
    return min(a.x1, b.x1) - max(a.x0, b.x0) > 2 and min(a.y1, b.y1) - max(a.y0, b.y0) > 2


def _baseline_line(box: Box, baseline: float) -> bool:
    """The box is the line whose baseline is at `baseline`."""
    return box.y0 < baseline < box.y1 and box.y1 - baseline < SIZE * 0.5


@pytest.fixture
def report(tmp_path: Path) -> Path:
    """Page 1: PARAGRAPHS, then a small table; page 2: HYPHENATED."""
    doc = _pymupdf.open()
    page = doc.new_page(width=595, height=842)
    y = 72.0
    for para in PARAGRAPHS:
        y = _write(page, y, para)
    for i, row in enumerate(TABLE):
        for j, cell in enumerate(row):
            page.insert_text((LEFT + 120 * j, y + 18 * i), cell, fontsize=SIZE)
    _write(doc.new_page(width=595, height=842), 72.0, HYPHENATED)
    path = tmp_path / "report.pdf"
    doc.save(str(path))
    doc.close()
    return path


def _baselines(paragraph: int) -> list[float]:
    y = 72.0
    for para in PARAGRAPHS[:paragraph]:
        y += LEADING * len(para) + 22
    return [y + LEADING * i for i in range(len(PARAGRAPHS[paragraph]))]


# ---------------------------------------------------------------------------------------------
# Finding the lines


def test_sentence_over_two_lines_gives_those_two_lines(report: Path) -> None:
    boxes = locate(report, 1, SENTENCE)

    assert len(boxes) == 2
    assert all(b.page == 1 for b in boxes)
    first, second, third = _baselines(1)
    assert _baseline_line(boxes[0], first)  # reading order: the upper line first
    assert _baseline_line(boxes[1], second)
    assert not any(_baseline_line(b, third) for b in boxes)

    with _pymupdf.open(str(report)) as doc:
        page = doc[0]
        blocks = _blocks(page)
        energy, installed = _word(page, "Energy"), _word(page, "installed.")
    assert all(_inside(b, blocks[1]) for b in boxes)
    assert not any(_overlaps(b, other) for b in boxes for other in (blocks[0], blocks[2]))
    # the first box starts at the quote's first word, not at the start of the line
    assert boxes[0].x0 == pytest.approx(energy.x0, abs=0.5)
    assert boxes[0].x0 > LEFT + 100
    assert boxes[1].x0 == pytest.approx(LEFT, abs=0.5)
    assert boxes[1].x1 == pytest.approx(installed.x1, abs=0.5)


def test_document_passed_in_is_searched_and_left_open(report: Path) -> None:
    with _pymupdf.open(str(report)) as doc:
        boxes = locate(doc, 1, SENTENCE)
        assert not doc.is_closed
        assert doc.page_count == 2
    assert boxes == locate(report, 1, SENTENCE)
    assert len(boxes) == 2
    assert locate(doc, 1, SENTENCE) == []  # closed by now


def test_hyphenated_line_break(report: Path) -> None:
    with _pymupdf.open(str(report)) as doc:
        page = doc[1]
        recy, march = _word(page, "recy-"), _word(page, "March,")
    expected = [recy.y0, recy.x1, march.y0, march.x1]

    for quote in (
        "4,210 tonnes of recycled glass in March",  # dehyphenated
        "4,210 tonnes of recy-\ncled glass in March",  # as the parser's block text has it
        "4,210 tonnes of recy- cled glass in March",  # line break collapsed to a space
    ):
        boxes = locate(report, 2, quote)
        assert [v for b in boxes for v in (b.y0, b.x1)] == pytest.approx(expected, abs=0.5), quote
        assert all(b.page == 2 for b in boxes)

    # the word alone: found only when the two halves are joined (on the page, and in the quote)
    with _pymupdf.open(str(report)) as doc:
        cled = _word(doc[1], "cled")
    halves = [recy.x0, recy.y0, recy.x1, cled.x0, cled.y0, cled.x1]
    for quote in ("recycled", "recy-\ncled", "Recy- cled."):
        boxes = locate(report, 2, quote)
        assert [v for b in boxes for v in (b.x0, b.y0, b.x1)] == pytest.approx(halves, abs=0.5)


def test_whitespace_and_punctuation_differences(report: Path) -> None:
    expected = locate(report, 1, SENTENCE)
    assert len(expected) == 2
    for quote in (
        "Energy   use per\ttonne fell by 6 percent after the new\nfurnace was installed.",
        "  Energy use per\n\ntonne fell by 6 percent after the new furnace was installed  ",
        "ENERGY USE PER TONNE FELL BY 6 PERCENT AFTER THE NEW FURNACE WAS INSTALLED",
        "“Energy use per tonne fell by 6 percent after the new furnace was installed.”,",
        # a line break collapsed to nothing glues two words: the rest still matches
        "Energy use pertonne fell by 6 percent after the new furnace was installed.",
    ):
        assert locate(report, 1, quote) == expected, quote


def test_markdown_table_quote(report: Path) -> None:
    boxes = locate(report, 1, TABLE_QUOTE)

    with _pymupdf.open(str(report)) as doc:
        page = doc[0]
        header, north, south = _word(page, "Region"), _word(page, "North"), _word(page, "South")
        # why the module exists: MuPDF's own search finds none of the quoted rows
        assert page.search_for(TABLE_QUOTE) == []
        assert page.search_for("| North | 1,204 | $88,310 |") == []
    # pipes without spaces round them split words too
    assert (
        locate(report, 1, "|Region|Units|Revenue|\n|---|---|---|\n|North|1,204|$88,310|") == boxes
    )
    rows = {round(b.y0) for b in boxes}
    assert rows == {round(header.y0), round(north.y0)}
    assert len(boxes) == 6  # one line per cell: MuPDF reads each cell as a line of its row
    assert all(b.y1 <= south.y0 + 1 for b in boxes)
    assert min(b.x0 for b in boxes) == pytest.approx(header.x0, abs=0.5)


def test_clip_excludes_second_occurrence(tmp_path: Path) -> None:
    doc = _pymupdf.open()
    page = doc.new_page(width=595, height=842)
    y = _write(page, 72.0, ["Opening remarks come first.", REPEATED])
    y = _write(page, y, ["An unrelated paragraph sits in between the two."])
    _write(page, y + 200, ["The same news, later on the page:", REPEATED])
    path = tmp_path / "twice.pdf"
    doc.save(str(path))
    doc.close()
    with _pymupdf.open(str(path)) as doc:
        top, middle, bottom = _blocks(doc[0])

    unclipped = locate(path, 1, REPEATED)
    assert len(unclipped) == 1
    assert _inside(unclipped[0], top)

    clipped = locate(path, 1, REPEATED, [middle, bottom])
    assert len(clipped) == 1
    assert _inside(clipped[0], bottom)
    assert not _overlaps(clipped[0], top)

    # a clip on another page is ignored: nothing of the passage is on this page
    elsewhere = bottom.model_copy(update={"page": 2})
    assert locate(path, 1, REPEATED, [elsewhere]) == []
    # a clip that holds no occurrence finds nothing
    assert locate(path, 1, REPEATED, [middle]) == []


def test_rotated_page_boxes_are_in_the_displayed_frame(tmp_path: Path) -> None:
    lines = ["Rotated pages show their text running", "down the screen, not across it."]
    doc = _pymupdf.open()
    page = doc.new_page(width=300, height=500)
    _write(page, 100.0, lines)
    page.set_rotation(90)
    path = tmp_path / "rotated.pdf"
    doc.save(str(path))
    doc.close()

    boxes = locate(path, 1, " ".join(lines))

    with _pymupdf.open(str(path)) as doc:
        page = doc[0]
        pix = page.get_pixmap(dpi=72, colorspace=pymupdf.csGRAY)
        width, height = float(page.rect.width), float(page.rect.height)
    assert (pix.width, pix.height) == (500, 300) == (round(width), round(height))
    assert len(boxes) == 2
    for b in boxes:
        assert 0 <= b.x0 < b.x1 <= width and 0 <= b.y0 < b.y1 <= height
        assert b.y1 - b.y0 > 3 * (b.x1 - b.x0)  # a line runs down the displayed page
    # every inked pixel of the rendered page lies inside one of the boxes
    ink = np.frombuffer(pix.samples, dtype=np.uint8).reshape(pix.height, pix.stride)[:, : pix.width]
    ys, xs = np.nonzero(ink < 128)
    assert len(xs) > 200
    covered = np.zeros(len(xs), dtype=bool)
    for b in boxes:
        covered |= (xs >= b.x0 - 1) & (xs <= b.x1 + 1) & (ys >= b.y0 - 1) & (ys <= b.y1 + 1)
    assert covered.all()
    # and each box holds ink: it is not merely a big rectangle round the text
    for b in boxes:
        inside = (xs >= b.x0) & (xs <= b.x1) & (ys >= b.y0) & (ys <= b.y1)
        assert inside.sum() > 50


# ---------------------------------------------------------------------------------------------
# Not found


def test_quote_not_on_the_page(report: Path) -> None:
    assert locate(report, 1, "The harbour crane failed its brake test on Tuesday.") == []
    # on the document, but on the other page
    assert locate(report, 2, SENTENCE) == []


def test_at_least_sixty_percent_of_the_words_must_match(report: Path) -> None:
    words = SENTENCE.split()  # 13 words
    eight = [*words[:8], "aa", "bb", "cc", "dd", "ee"]  # 8 of 13 match: 62%
    seven = [*words[:7], "aa", "bb", "cc", "dd", "ee", "ff"]  # 7 of 13: 54%
    found = locate(report, 1, " ".join(eight))
    assert len(found) == 2  # "Energy use per" | "tonne fell by 6 percent": the matched words
    assert found[1].x1 < locate(report, 1, SENTENCE)[1].x1
    assert locate(report, 1, " ".join(seven)) == []


def test_missing_broken_and_not_pdf_files(tmp_path: Path) -> None:
    assert locate(tmp_path / "missing.pdf", 1, SENTENCE) == []
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 4)
    assert locate(broken, 1, SENTENCE) == []
    text = tmp_path / "notes.pdf"
    text.write_text(SENTENCE)
    assert locate(text, 1, SENTENCE) == []
    assert locate(tmp_path, 1, SENTENCE) == []  # a folder


def test_encrypted_file_needs_the_right_password(tmp_path: Path) -> None:
    doc = _pymupdf.open()
    _write(doc.new_page(), 72.0, [REPEATED])
    path = tmp_path / "locked.pdf"
    doc.save(str(path), encryption=_pymupdf.PDF_ENCRYPT_AES_256, user_pw="user", owner_pw="own")
    doc.close()

    assert locate(path, 1, REPEATED) == []
    assert locate(path, 1, REPEATED, password="wrong") == []
    assert len(locate(path, 1, REPEATED, password="user")) == 1
    with _pymupdf.open(str(path)) as locked:
        assert locate(locked, 1, REPEATED) == []
        assert len(locate(locked, 1, REPEATED, password="user")) == 1


def test_wrong_page(report: Path) -> None:
    assert len(locate(report, 1, SENTENCE)) == 2
    for page in (0, -1, 3, 100):
        assert locate(report, page, SENTENCE) == [], page


def test_blank_text(report: Path) -> None:
    for text in ("", "   ", "\n\t\n", "| --- | --- |", "—"):
        assert locate(report, 1, text) == [], repr(text)


def test_page_without_text_layer(tmp_path: Path) -> None:
    scratch = _pymupdf.open()
    _write(scratch.new_page(), 72.0, [REPEATED])
    pix = scratch[0].get_pixmap(dpi=100, colorspace=pymupdf.csGRAY)
    scratch.close()
    doc = _pymupdf.open()
    page = doc.new_page()
    page.insert_image(page.rect, pixmap=pix)
    path = tmp_path / "scan.pdf"
    doc.save(str(path))
    doc.close()

    with _pymupdf.open(str(path)) as doc:
        assert doc[0].get_text("words") == []
        assert doc[0].get_images()  # it does show the text, as a picture
    assert locate(path, 1, REPEATED) == []
