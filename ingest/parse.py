"""PDF parsing with PyMuPDF: open a file safely, then turn each page into blocks in reading order.

A block is a text paragraph (with its bounding box), a table (as Markdown) or OCR text. All boxes
are PDF points in the coordinate system of the displayed page (`page.rect`: origin top-left,
the page's /Rotate applied), so they line up with the saved page image scaled by dpi / 72.

Example:
    >>> from docqa.config import IngestSettings
    >>> doc = open_pdf(Path("report.pdf"))  # doctest: +SKIP
    >>> title, toc = doc_meta(doc)  # doctest: +SKIP
    >>> parsed = [parse_page(doc, i, IngestSettings(), None, "doc1")  # doctest: +SKIP
    ...           for i in range(doc.page_count)]
    >>> parsed[0].blocks[0].kind  # doctest: +SKIP
    'text'
"""

from __future__ import annotations

import bisect
import importlib
import inspect
import os
import re
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import pymupdf
from pydantic import BaseModel, Field

from docqa.config import IngestSettings
from docqa.types import Block, BlockKind, Box, Page
from ingest.ocr import OcrLine, ocr_page
from ingest.saslprep import SaslprepError, saslprep
from ingest.spacing import restore_spaces

_pymupdf: Any = pymupdf  # partly annotated: its untyped calls go through Any

ParseErrorCode = Literal[
    "unreadable", "empty", "not_pdf", "corrupt", "encrypted", "no_pages", "page_unreadable"
]

Rect = tuple[float, float, float, float]


class ParseError(Exception):
    """A file (or page) that cannot be parsed, with a reason code for reports and the CLI.

    Codes: `unreadable` (OS error reading the file), `empty` (zero bytes), `not_pdf` (no %PDF
    header in the first 1024 bytes), `corrupt` (MuPDF cannot open it or read its page tree),
    `encrypted` (password missing or wrong), `no_pages`, `page_unreadable` (parse_page: nothing
    at all could be read from the page).
    """

    def __init__(self, code: ParseErrorCode, message: str) -> None:
        super().__init__(message)
        self.code: ParseErrorCode = code
        self.message = message

    def __reduce__(self) -> tuple[type[ParseError], tuple[ParseErrorCode, str]]:
        # parse workers are processes: the error must cross a pickle with its code
        return (ParseError, (self.code, self.message))


class ParsedPage(BaseModel):
    """One parsed page: the page record, its blocks in reading order, non-fatal problems."""

    page: Page
    blocks: list[Block] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    seconds: dict[str, float] = Field(default_factory=dict)
    """Wall time of each step that ran on this page, by name (`PARSE_STEPS`)."""


PARSE_STEPS = ("text", "ocr", "tables", "layout", "figures", "image")
"""The steps `parse_page` times: the text layer (with loading the page), OCR of a textless
page, table finding, blocks in reading order, OCR of pictures (`ocr_figures`), the page
image."""


# ---------------------------------------------------------------------------------------------
# Opening files


def empty_mupdf_store() -> None:
    """Drop every object MuPDF keeps in its cache for reuse (decoded fonts, images, page
    objects, up to 256 MB by default), so a parser's memory stays flat over a long file: the
    next page decodes what it needs again."""
    _pymupdf.TOOLS.store_shrink(100)


def _sniff(head: bytes) -> str:
    signatures = [
        (b"\x89PNG", "a PNG image"),
        (b"\xff\xd8\xff", "a JPEG image"),
        (b"GIF8", "a GIF image"),
        (b"PK\x03\x04", "a ZIP archive (e.g. .docx, .xlsx, .epub)"),
        (b"\xd0\xcf\x11\xe0", "an old Microsoft Office file"),
        (b"{\\rtf", "an RTF document"),
    ]
    for magic, what in signatures:
        if head.startswith(magic):
            return what
    lowered = head[:256].lstrip().lower()
    if lowered.startswith((b"<!doctype html", b"<html")):
        return "an HTML page"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return "binary data"
    return "text"


def _mupdf_messages() -> str:
    """MuPDF's recent warnings, most specific first, without its repair chatter."""
    raw = str(_pymupdf.TOOLS.mupdf_warnings(reset=True))
    seen: list[str] = []
    for line in raw.splitlines():
        line = line.strip()
        if not line or "repair" in line or line.startswith("... repeated") or line in seen:
            continue
        seen.append(line)
    return "; ".join(seen[:3])


def _exc_text(exc: BaseException, path: Path | None = None) -> str:
    text = str(exc).strip() or type(exc).__name__
    if path is not None:  # MuPDF puts the absolute path in some messages: keep reports short
        text = text.replace(str(path), path.name)
    return text


def _security_revision(doc: Any) -> int | None:
    """The /R of the standard security handler (6: AES-256 of PDF 2.0), None when unknown."""
    try:
        kind, value = doc.xref_get_key(-1, "Encrypt/R")
        return int(value) if kind == "int" else None
    except Exception:
        return None


def password_candidates(password: str, revision: int | None) -> tuple[list[str], str | None]:
    """The passwords to try, in order, and why SASLprep refused `password` (None when it did
    not).

    Revisions 5 and 6 (AES-256) hash the UTF-8 of the SASLprep-processed password (PDF 2.0,
    7.6.4.3.3), which MuPDF does not compute: the prepared form is tried first, then the
    password as given (files written by tools that skip SASLprep, PyMuPDF among them, hash the
    raw text). MuPDF truncates to 127 bytes itself. Revisions 2-4 use the password as given.
    """
    if revision is None or revision < 5:
        return [password], None
    try:
        prepared = saslprep(password)
    except SaslprepError as exc:
        return [password], str(exc)
    return ([prepared, password] if prepared != password else [password]), None


def _authenticate(doc: Any, password: str) -> str | None:
    """None when one of the candidate passwords opens `doc`, else a note for the error."""
    candidates, refused = password_candidates(password, _security_revision(doc))
    for candidate in candidates:
        if doc.authenticate(candidate):
            return None
    return f" (SASLprep rejects it: {refused})" if refused else ""


def open_pdf(path: Path, password: str | None = None) -> pymupdf.Document:
    """Open a PDF, deciding by content (not extension), or raise `ParseError` with a reason code.

    The returned `pymupdf.Document` may have been repaired by MuPDF (`doc.is_repaired`); the
    caller closes it. The password of an AES-256 file is SASLprep-processed before it is tried
    (see `password_candidates`).
    """
    path = Path(path)
    name = path.name
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(1024)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ParseError("unreadable", f"cannot read {name}: {reason}") from exc
    if size == 0:
        raise ParseError("empty", f"empty file: {name} has 0 bytes")
    if b"%PDF" not in head:
        raise ParseError(
            "not_pdf",
            f"not a PDF: {name} has no %PDF header in its first 1024 bytes "
            f"(looks like {_sniff(head)})",
        )

    _mupdf_messages()  # drop messages left over from earlier files
    try:
        doc: Any = _pymupdf.open(str(path), filetype="pdf")
    except (pymupdf.FileDataError, RuntimeError, ValueError) as exc:
        detail = _mupdf_messages() or _exc_text(exc, path)
        raise ParseError("corrupt", f"corrupt PDF: cannot open {name} ({detail})") from exc

    try:
        if doc.needs_pass:
            if password is None:
                raise ParseError(
                    "encrypted",
                    f'encrypted PDF: {name} needs a password; pass it with --password "{name}=PW"',
                )
            refused = _authenticate(doc, password)
            if refused is not None:
                raise ParseError(
                    "encrypted",
                    f"encrypted PDF: wrong password for {name}{refused}; "
                    f'pass the right one with --password "{name}=PW"',
                )
        try:
            pages = int(doc.page_count)
        except (RuntimeError, ValueError) as exc:
            raise ParseError(
                "corrupt", f"corrupt PDF: cannot read page tree ({_exc_text(exc, path)})"
            ) from exc
        if pages == 0:
            raise ParseError("no_pages", f"PDF has no pages: {name}")
    except BaseException:
        doc.close()
        raise
    return cast(pymupdf.Document, doc)


_FILENAME_TITLE = re.compile(r"\.(pdf|docx?|pptx?|xlsx?|odt|rtf|txt|tex|dvi|indd|qxd)$", re.I)


_TITLE_WORDS = 24
"""A first-page title longer than this is cut (a heading run-on, not a title)."""


def _junk_title(title: str) -> bool:
    """Metadata titles that name nothing: empty, a file name, "untitled", or no word at all
    (SEC filings carry their accession number, "0000764478-23-000006")."""
    return (
        len(title) < 2
        or bool(_FILENAME_TITLE.search(title))
        or title.lower() == "untitled"
        or not re.search(r"[^\W\d_]{2}", title)
    )


def first_page_title(page: Any) -> str | None:
    """The first page's title as typeset: the horizontal lines set in its largest font within the
    top 60% of the page, top to bottom (rotated margin stamps such as arXiv's are skipped).
    None when the page has no such text (a scan, a picture-only cover)."""
    lines: list[tuple[float, float, str]] = []
    height = float(page.rect.height) or 1.0
    for block in page.get_text("dict")["blocks"]:
        for line in block.get("lines", []):
            if abs(line["dir"][1]) > 0.01 or line["bbox"][1] > 0.6 * height:
                continue
            text = "".join(s["text"] for s in line["spans"]).strip()
            if not re.search(r"[^\W\d_]{2}", text):
                continue
            lines.append((max(s["size"] for s in line["spans"]), line["bbox"][1], text))
    if not lines:
        return None
    largest = max(size for size, _, _ in lines)
    words = " ".join(t for size, _, t in sorted(lines, key=lambda x: x[1]) if size >= largest - 0.5)
    return " ".join(words.split()[:_TITLE_WORDS]) or None


def doc_meta(doc: Any) -> tuple[str | None, list[tuple[int, str, int]]]:
    """(title, toc): the metadata title unless it names nothing (`_junk_title`), else the first
    page's typeset title (`first_page_title`), else None; and the outline as (level, title,
    1-based page) tuples."""
    try:
        raw = str((doc.metadata or {}).get("title") or "")
    except Exception:
        raw = ""
    cleaned = re.sub(r"^Microsoft (Word|PowerPoint) - ", "", " ".join(raw.split()))
    title: str | None = None if _junk_title(cleaned) else cleaned
    if title is None:
        try:
            title = first_page_title(doc[0])
        except Exception:  # a hostile first page: its own parse reports it
            title = None
    toc: list[tuple[int, str, int]] = []
    try:
        for entry in doc.get_toc(simple=True):
            level, text, page = entry[0], entry[1], entry[2]
            toc.append((int(level), " ".join(str(text).split()), int(page)))
    except Exception:
        toc = []
    return title, toc


# ---------------------------------------------------------------------------------------------
# Reading order (recursive XY-cut)

_GUTTER = 8.0
"""Minimum width (pt) of an empty vertical channel that separates columns."""
_MAX_LAYOUT_ITEMS = 2000
"""Beyond this many blocks (maps, schematics) a page is just sorted top to bottom."""
_ALIGN_TOL = 3.0
_SHORT_BLOCK = 25.0
"""Blocks at most this tall (about two lines) whose tops align across a channel are table
cells, list bullets or label/value pairs: read by rows, not by columns."""


def reading_order(rects: Sequence[Rect]) -> list[int]:
    """Indices of `rects` (x0, y0, x1, y1) in reading order.

    Columns are read one after the other (a column is found where an empty vertical channel runs
    through a region); full-width elements (titles, wide tables, figures) cut the page into
    bands; side-by-side items whose tops align (table rows, bullets) are read row by row.
    """
    return _order(list(range(len(rects))), rects, 0)


def _yx_sorted(idx: list[int], rects: Sequence[Rect]) -> list[int]:
    return sorted(idx, key=lambda i: (rects[i][1], rects[i][0]))


def _order(idx: list[int], rects: Sequence[Rect], depth: int) -> list[int]:
    if len(idx) <= 1:
        return list(idx)
    if depth > 40 or len(idx) > _MAX_LAYOUT_ITEMS:
        return _yx_sorted(idx, rects)
    split = _column_split(idx, rects)
    if split is not None:
        left, right = split
        return _order(left, rects, depth + 1) + _order(right, rects, depth + 1)
    bands = _bands(idx, rects)
    if len(bands) == 1:
        return _yx_sorted(idx, rects)
    # Consecutive bands that share a column gutter are one multi-column section: a y-gap that
    # happens to run through both columns at once must not interleave them.
    groups: list[list[int]] = []
    for band in bands:
        if groups and _column_split(groups[-1] + band, rects) is not None:
            groups[-1] = groups[-1] + band
        else:
            groups.append(band)
    out: list[int] = []
    for group in groups:
        out.extend(_order(group, rects, depth + 1))
    return out


def _bands(idx: list[int], rects: Sequence[Rect]) -> list[list[int]]:
    bands: list[list[int]] = []
    bottom = float("-inf")
    for i in sorted(idx, key=lambda i: rects[i][1]):
        if bands and rects[i][1] < bottom - 0.5:
            bands[-1].append(i)
            bottom = max(bottom, rects[i][3])
        else:
            bands.append([i])
            bottom = rects[i][3]
    return bands


def _column_split(idx: list[int], rects: Sequence[Rect]) -> tuple[list[int], list[int]] | None:
    spans = sorted((rects[i][0], rects[i][2]) for i in idx)
    gaps: list[tuple[float, float]] = []
    right_edge = spans[0][1]
    for x0, x1 in spans[1:]:
        if x0 - right_edge >= _GUTTER:
            gaps.append((right_edge, x0))
        right_edge = max(right_edge, x1)
    for start, end in sorted(gaps, key=lambda g: g[0] - g[1]):
        cut = (start + end) / 2
        left = [i for i in idx if rects[i][2] <= cut]
        right = [i for i in idx if rects[i][2] > cut]
        if left and right and not _rows_aligned(left, right, rects):
            return left, right
    return None


def _rows_aligned(left: list[int], right: list[int], rects: Sequence[Rect]) -> bool:
    small, other = (left, right) if len(left) <= len(right) else (right, left)
    other_sorted = sorted(other, key=lambda j: rects[j][1])
    tops = [rects[j][1] for j in other_sorted]
    aligned = 0
    for i in small:
        a = rects[i]
        lo = bisect.bisect_left(tops, a[1] - _ALIGN_TOL)
        hi = bisect.bisect_right(tops, a[1] + _ALIGN_TOL)
        if any(
            min(a[3] - a[1], rects[j][3] - rects[j][1]) <= _SHORT_BLOCK for j in other_sorted[lo:hi]
        ):
            aligned += 1
    return aligned * 2 >= len(small)


# ---------------------------------------------------------------------------------------------
# Text layer

_TEXT_FLAGS = pymupdf.TEXT_PRESERVE_WHITESPACE | pymupdf.TEXT_MEDIABOX_CLIP
"""No TEXT_PRESERVE_IMAGES (image bytes would be copied into the dict for nothing) and no
TEXT_PRESERVE_LIGATURES (so "ﬁ" comes out as "fi", which search and tokenizers expect)."""
_SPACES = re.compile(r"[^\S\n]+")
_BOLD_FONT = re.compile(r"bold|black|heavy|demi|-medi|medium", re.I)


@dataclass
class _Line:
    rect: Rect
    text: str
    size: float
    bold: bool

    @property
    def chars(self) -> int:
        return sum(1 for c in self.text if not c.isspace())


@dataclass
class _TextBlock:
    lines: list[_Line]

    @property
    def rect(self) -> Rect:
        return union_rects([line.rect for line in self.lines])


def union_rects(rects: Sequence[Rect]) -> Rect:
    """The smallest rect holding every one of `rects`."""
    return (
        min(r[0] for r in rects),
        min(r[1] for r in rects),
        max(r[2] for r in rects),
        max(r[3] for r in rects),
    )


def _to_display(page: Any) -> Callable[[Sequence[float]], Rect]:
    """Map rects from MuPDF's unrotated page space to the displayed page (identity at 0°)."""
    if not page.rotation:
        return lambda r: (float(r[0]), float(r[1]), float(r[2]), float(r[3]))
    matrix = page.rotation_matrix

    def convert(r: Sequence[float]) -> Rect:
        out = _pymupdf.Rect(r) * matrix
        return (float(out.x0), float(out.y0), float(out.x1), float(out.y1))

    return convert


def _text_blocks(page: Any) -> list[_TextBlock]:
    convert = _to_display(page)
    blocks: list[_TextBlock] = []
    data: dict[str, Any] = page.get_text("dict", flags=_TEXT_FLAGS)
    for raw_block in data.get("blocks", []):
        if raw_block.get("type", 0) != 0:
            continue
        lines: list[_Line] = []
        for raw_line in raw_block.get("lines", []):
            spans = raw_line.get("spans", [])
            text = _SPACES.sub(" ", "".join(str(s.get("text", "")) for s in spans)).strip()
            if not text:
                continue
            weight = 0
            size_sum = 0.0
            bold = True
            for span in spans:
                n = sum(1 for c in str(span.get("text", "")) if not c.isspace())
                if not n:
                    continue
                weight += n
                size_sum += float(span.get("size", 0.0)) * n
                flags = int(span.get("flags", 0))
                if not (flags & pymupdf.TEXT_FONT_BOLD or _BOLD_FONT.search(str(span["font"]))):
                    bold = False
            size = size_sum / weight if weight else 0.0
            lines.append(_Line(convert(raw_line["bbox"]), text, size, bold and weight > 0))
        if lines:
            blocks.append(_TextBlock(lines))
    return blocks


def _rows(items: Sequence[tuple[Rect, str]]) -> list[list[tuple[Rect, str]]]:
    """Group items into visual rows (vertical overlap), each row sorted left to right."""
    rows: list[list[tuple[Rect, str]]] = []
    row_box: Rect | None = None
    for item in sorted(items, key=lambda it: (it[0][1] + it[0][3]) / 2):
        rect = item[0]
        centre = (rect[1] + rect[3]) / 2
        if row_box is not None and row_box[1] <= centre <= row_box[3]:
            rows[-1].append(item)
            row_box = union_rects([row_box, rect])
        else:
            rows.append([item])
            row_box = rect
    return [sorted(row, key=lambda it: it[0][0]) for row in rows]


def _join_rows(items: Sequence[tuple[Rect, str]]) -> str:
    return "\n".join(" ".join(text for _, text in row) for row in _rows(items))


def _body_size(blocks: Sequence[_TextBlock]) -> float:
    sizes: Counter[float] = Counter()
    for block in blocks:
        for line in block.lines:
            if line.size > 0:
                sizes[round(line.size * 2) / 2] += line.chars
    return sizes.most_common(1)[0][0] if sizes else 0.0


def _is_heading(block: _TextBlock, body: float, others: Sequence[Rect]) -> bool:
    text = " ".join(line.text for line in block.lines)
    words = text.split()
    if not 1 <= len(words) < 12 or sum(c.isalpha() for c in text) < 2 or body <= 0:
        return False
    n_rows = len(_rows([(line.rect, line.text) for line in block.lines]))
    if n_rows > 2:
        return False
    weight = sum(line.chars for line in block.lines) or 1
    size = sum(line.size * line.chars for line in block.lines) / weight
    if size >= body * 1.15 and size - body >= 1.0:
        return True
    if n_rows != 1 or not all(line.bold for line in block.lines):
        return False
    # bold counts only when the line stands alone: a bold cell or label beside other text on
    # the same row (a table row, a run-in label) does not start a section
    x0, y0, x1, y1 = block.rect
    height = max(y1 - y0, 1.0)
    for o in others:
        overlap = min(y1, o[3]) - max(y0, o[1])
        if overlap > 0.5 * height and (o[2] <= x0 or o[0] >= x1):
            return False
    return True


# ---------------------------------------------------------------------------------------------
# Tables


@dataclass
class _Table:
    rect: Rect
    markdown: str
    header: str


def _import_table_module() -> Any:
    try:
        return importlib.import_module("pymupdf.table")
    except Exception:
        return None


_TABLE_MODULE = _import_table_module()
"""PyMuPDF's table module (None if this PyMuPDF has none)."""


def _table_finder_params() -> set[str]:
    try:
        return set(inspect.signature(_TABLE_MODULE.find_tables).parameters)
    except Exception:
        return set()


_FIND_TABLES_PARAMS = _table_finder_params()

_SNAP = 3.0
"""PyMuPDF's table-finder snap tolerance (pt): edge positions closer than this merge."""


def _position_groups(values: list[float]) -> int:
    """How many groups of width <= _SNAP the sorted values fall into.

    Never fewer than the clusters the finder snaps the real edge positions into, even when
    `values` holds extra positions: two finder clusters are more than _SNAP apart, so no group
    can hold both.
    """
    groups = 0
    anchor = float("-inf")
    for v in sorted(values):
        if v - anchor > _SNAP:
            groups += 1
            anchor = v
    return groups


def may_have_ruled_table(paths: Sequence[dict[str, Any]], bounds: Rect | None = None) -> bool:
    """Cheap test on `page.get_drawings()`: False when line-based table detection cannot succeed.

    `find_tables(use_layout=False)` builds cells only from vector edges: axis-parallel lines,
    rectangles, quads, and the outline of each group of touching drawings (which spans the
    x0/x1, y0/y1 of member paths). It keeps tables of two or more columns, so it needs vertical
    edges at three separate x positions and horizontal edges at two y positions. This collects
    every position any of those sources can produce (a superset), clamped to the page like the
    finder's clip, and skips the page when there are too few. Pages of body text with a few
    rules and shaded bars are skipped; the finder costs ~100-200 ms there, this ~4 ms.
    """
    xs: list[float] = []
    ys: list[float] = []
    for path in paths:
        rect = path.get("rect")
        if rect is None:
            continue
        xs += (rect.x0, rect.x1)
        ys += (rect.y0, rect.y1)
        for item in path.get("items", ()):
            kind = item[0]
            if kind == "l":
                p, q = item[1], item[2]
                if abs(p.x - q.x) <= _SNAP:
                    xs += (p.x, q.x)
                if abs(p.y - q.y) <= _SNAP:
                    ys += (p.y, q.y)
            elif kind == "re":
                r = item[1]
                if r.width <= _SNAP and r.width < r.height:  # drawn as one vertical line
                    xs.append((r.x0 + r.x1) / 2)
                elif r.height <= _SNAP and r.height < r.width:  # one horizontal line
                    ys.append((r.y0 + r.y1) / 2)
                else:
                    xs += (r.x0, r.x1)
                    ys += (r.y0, r.y1)
            elif kind == "qu":
                quad = item[1]
                for corner in (quad.ul, quad.ur, quad.ll, quad.lr):
                    xs.append(corner.x)
                    ys.append(corner.y)
    if bounds is not None:
        xs = [min(max(x, bounds[0]), bounds[2]) for x in xs]
        ys = [min(max(y, bounds[1]), bounds[3]) for y in ys]
    return _position_groups(xs) >= 3 and _position_groups(ys) >= 2


_CharLine = tuple[Rect, list[tuple[str, float, float]]]
"""A text line: its bbox and its characters with their centres (unrotated page space)."""


def _char_lines(page: Any) -> list[_CharLine]:
    out: list[_CharLine] = []
    data: dict[str, Any] = page.get_text("rawdict", flags=_TEXT_FLAGS)
    for block in data.get("blocks", []):
        if block.get("type", 0) != 0:
            continue
        for line in block.get("lines", []):
            chars = [
                (
                    str(ch["c"]),
                    (ch["bbox"][0] + ch["bbox"][2]) / 2,
                    (ch["bbox"][1] + ch["bbox"][3]) / 2,
                )
                for span in line.get("spans", [])
                for ch in span.get("chars", [])
            ]
            if chars:
                x0, y0, x1, y1 = line["bbox"]
                out.append(((float(x0), float(y0), float(x1), float(y1)), chars))
    return out


def _table_markdown(grid_cells: list[list[Any]], lines: list[_CharLine]) -> str | None:
    """Markdown of a detected grid, its first row as the header; None when it is not a table
    worth keeping (fewer than two rows or columns with text).

    Cell texts come from one character pass over the page: PyMuPDF's own `to_markdown` extracts
    the whole page once per cell (~0.8 s per table on 10-K pages), and its header row comes from
    a word grouping that drops spaces narrower than 3 pt ("Operatingincome").
    """
    rows = [[tuple(c) if c is not None else None for c in row] for row in grid_cells]
    rows = [row for row in rows if any(c is not None for c in row)]
    if not rows:
        return None
    tops = [min(c[1] for c in row if c is not None) for row in rows]
    order = sorted(range(len(rows)), key=lambda r: tops[r])
    rows = [rows[r] for r in order]
    tops = [tops[r] for r in order]
    x0 = min(c[0] for row in rows for c in row if c is not None)
    y0 = tops[0]
    x1 = max(c[2] for row in rows for c in row if c is not None)
    y1 = max(c[3] for row in rows for c in row if c is not None)
    texts: list[list[list[str]]] = [[[] for _ in row] for row in rows]
    last_line: dict[tuple[int, int], int] = {}
    for line_no, (lb, chars) in enumerate(lines):
        if lb[0] > x1 or lb[2] < x0 or lb[1] > y1 or lb[3] < y0:
            continue
        for ch, cx, cy in chars:
            if not (x0 <= cx <= x1 and y0 <= cy <= y1):
                continue
            r = bisect.bisect_right(tops, cy) - 1
            while r >= 0:
                row = rows[r]
                hit = next(
                    (
                        c
                        for c, cell in enumerate(row)
                        if cell is not None
                        and cell[0] <= cx <= cell[2]
                        and cell[1] <= cy <= cell[3]
                    ),
                    None,
                )
                if hit is not None:
                    buf = texts[r][hit]
                    if buf and last_line.get((r, hit)) != line_no:
                        buf.append(" ")
                    buf.append(ch)
                    last_line[(r, hit)] = line_no
                    break
                r -= 1  # a merged cell of an earlier row can reach down here
    grid = [[" ".join("".join(cell).split()).replace("|", "\\|") for cell in row] for row in texts]
    grid = [row for row in grid if any(row)]
    width = max((len(row) for row in grid), default=0)
    grid = [row + [""] * (width - len(row)) for row in grid]
    keep = [c for c in range(width) if any(row[c] for row in grid)]
    if len(grid) < 2 or len(keep) < 2:
        return None
    lines_md = ["| " + " | ".join(row[c] for c in keep) + " |" for row in grid]
    lines_md.insert(1, "|" + "---|" * len(keep))
    return "\n".join(lines_md)


def _slim_chars(module: Any, stock: Callable[..., Any], page: Any, clip: Any = None) -> Any:
    """`pymupdf.table.make_chars` with only what the line-based finder reads of a character:
    its box (`x0`, `x1`, `top`, `bottom`, and `y0`/`y1` in the page's transformed system, where
    it tests drawings for text) and its text. PyMuPDF's builds a 24-field dict per character
    with Rect, Point and Matrix objects on the way: on the dev corpus's 299 pages that may hold
    a ruled table that was half of `find_tables` (26.0 s -> 13.6 s, the same 562 tables).
    Pages whose transform rotates or shears, stock.

    A stand-in for a library internal, written because no option of `find_tables` skips the
    per-character dicts: the tables it finds then hold these slim characters, so their
    `extract`, `to_markdown` and `header` must not be used (docqa reads cells by its own
    character pass, `_table_markdown`). `tests/ingest/test_parse.py` compares its tables with
    the stock finder's on pages where the characters decide."""
    ctm = page.transformation_matrix
    if ctm.b != 0 or ctm.c != 0:
        return stock(page, clip)
    chars = module.CHARS._list()
    d, f = ctm.d, ctm.f
    textpage = page.get_textpage(clip=clip, flags=module.FLAGS)
    for block in page.get_text("rawdict", textpage=textpage)["blocks"]:
        for line in block.get("lines", ()):
            for span in line["spans"]:
                for ch in span["chars"]:
                    x0, y0, x1, y1 = ch["bbox"]
                    ty0, ty1 = d * y0 + f, d * y1 + f
                    chars.append(
                        {
                            "x0": x0,
                            "x1": x1,
                            "top": y0,
                            "bottom": y1,
                            "y0": min(ty0, ty1),
                            "y1": max(ty0, ty1),
                            "text": ch["c"],
                        }
                    )
    return textpage


def _slim_chars_usable() -> bool:
    module = _TABLE_MODULE
    return all(hasattr(module, name) for name in ("make_chars", "CHARS", "FLAGS")) and hasattr(
        getattr(module, "CHARS", None), "_list"
    )


_SLIM_CHARS = _slim_chars_usable()
"""Whether this PyMuPDF has the table-module internals `_slim_chars` stands in for."""


@contextmanager
def _slim_table_chars() -> Iterator[None]:
    """`page.find_tables` with `_slim_chars` in place of PyMuPDF's `make_chars`, restored
    after (a parser process parses one page at a time)."""
    module = _TABLE_MODULE
    stock = module.make_chars
    module.make_chars = lambda page, clip=None: _slim_chars(module, stock, page, clip)
    try:
        yield
    finally:
        module.make_chars = stock


def _find_tables(page: Any, mode: Literal["lines", "layout"], *, slim: bool = True) -> list[_Table]:
    """The page's tables. `slim`: on an unrotated page, line-based detection reads characters
    through `_slim_chars` (same tables, half the time); PyMuPDF's own `make_chars` is tried
    when that fails."""
    kwargs: dict[str, Any] = {}
    fast = False
    if mode == "lines":
        if "use_layout" in _FIND_TABLES_PARAMS:
            kwargs["use_layout"] = False
        paths = page.get_drawings()
        rect = page.rect
        width, height = float(rect.width), float(rect.height)
        if page.rotation in (90, 270):  # the finder works on the unrotated page
            width, height = height, width
        if not may_have_ruled_table(paths, (0.0, 0.0, width, height)):
            return []
        if page.rotation == 0 and "paths" in _FIND_TABLES_PARAMS:
            kwargs["paths"] = paths  # reuse the drawings instead of extracting them twice
        fast = slim and _SLIM_CHARS and page.rotation == 0
    finder = None
    if fast:
        with _slim_table_chars():
            finder = page.find_tables(**kwargs)
    if finder is None:
        finder = page.find_tables(**kwargs)
    if finder is None:  # PyMuPDF catches its own exceptions and returns None
        raise RuntimeError("PyMuPDF's table finder failed internally")
    if not finder.tables:
        return []
    convert = _to_display(page)
    lines = _char_lines(page)
    tables: list[_Table] = []
    for tab in finder.tables:
        markdown = _table_markdown([list(row.cells) for row in tab.rows], lines)
        if markdown is None:
            continue
        header = "\n".join(markdown.splitlines()[:2])
        tables.append(_Table(convert(tuple(tab.bbox)), markdown, header))
    return tables


def _inside(rect: Rect, container: Rect, tol: float = 1.0) -> bool:
    cx, cy = (rect[0] + rect[2]) / 2, (rect[1] + rect[3]) / 2
    return (
        container[0] - tol <= cx <= container[2] + tol
        and container[1] - tol <= cy <= container[3] + tol
    )


# ---------------------------------------------------------------------------------------------
# Assembling a page


def _box(page_no: int, rect: Rect) -> Box:
    return Box(page=page_no, x0=rect[0], y0=rect[1], x1=rect[2], y1=rect[3])


def _layout_blocks(
    text_blocks: list[_TextBlock], tables: list[_Table], page_no: int
) -> list[Block]:
    if tables:
        kept: list[_TextBlock] = []
        for tb in text_blocks:
            lines = [ln for ln in tb.lines if not any(_inside(ln.rect, t.rect) for t in tables)]
            if lines:
                kept.append(_TextBlock(lines))
        text_blocks = kept
    body = _body_size(text_blocks)
    rects: list[Rect] = [tb.rect for tb in text_blocks] + [t.rect for t in tables]
    blocks: list[Block] = []
    for i, tb in enumerate(text_blocks):
        others = rects[:i] + rects[i + 1 :]
        blocks.append(
            Block(
                kind="text",
                text=_join_rows([(ln.rect, ln.text) for ln in tb.lines]),
                box=_box(page_no, rects[i]),
                heading=_is_heading(tb, body, others),
            )
        )
    for t in tables:
        blocks.append(
            Block(
                kind="table",
                text=t.markdown,
                box=_box(page_no, t.rect),
                table_header=t.header,
            )
        )
    return [blocks[i] for i in reading_order(rects)]


def _respaced(lines: list[OcrLine]) -> list[OcrLine]:
    """`lines` (one page's or one figure's) with the spaces OCR dropped between English words
    put back (`ingest.spacing.restore_spaces`); the boxes are unchanged."""
    texts = restore_spaces([ln.text for ln in lines])
    return [ln._replace(text=t) for ln, t in zip(lines, texts, strict=True)]


def _ocr_blocks(lines: list[OcrLine], page_no: int) -> list[Block]:
    """Group OCR lines into blocks: a line joins the block just above it when the vertical gap
    is under ~0.8 line heights and the two overlap horizontally."""
    if not lines:
        return []
    typical = statistics.median(line.y1 - line.y0 for line in lines)
    groups: list[list[OcrLine]] = []
    boxes: list[Rect] = []
    for line in sorted(lines, key=lambda ln: (ln.y0, ln.x0)):
        height = max(line.y1 - line.y0, typical)
        target = None
        for g in range(len(groups) - 1, -1, -1):
            gx0, _gy0, gx1, gy1 = boxes[g]
            gap = line.y0 - gy1
            if -0.5 * height <= gap <= 0.8 * height and min(gx1, line.x1) > max(gx0, line.x0):
                target = g
                break
        rect: Rect = (line.x0, line.y0, line.x1, line.y1)
        if target is None:
            groups.append([line])
            boxes.append(rect)
        else:
            groups[target].append(line)
            boxes[target] = union_rects([boxes[target], rect])
    blocks = [
        Block(
            kind="ocr",
            text=_join_rows([((ln.x0, ln.y0, ln.x1, ln.y1), ln.text) for ln in group]),
            box=_box(page_no, boxes[g]),
        )
        for g, group in enumerate(groups)
    ]
    return [blocks[i] for i in reading_order(boxes)]


_CAPTION = re.compile(
    r"^\s*(?:[Ff]ig(?:ure)?|FIG(?:URE)?|[Cc]hart|CHART|[Ee]xhibit|EXHIBIT|[Gg]raph|[Dd]iagram|[Pp]late)"
    r"\.?\s*(?:\d+|[IVX]+\b|[A-Z]\b)"
)
_MIN_FIGURE_PIXELS = 64
"""An image stored with fewer pixels on a side is a rule, a bullet or an icon, not a figure."""
_LAYER_CHARS_IN_FIGURE = 200
"""A figure whose rect already holds this many characters of the text layer is not read again:
a scan with its own OCR layer, or a page printed over a background picture."""


def figure_rects(page: Any, min_share: float) -> list[Rect]:
    """The rects of the images on `page` worth reading: each covers at least `min_share` of the
    page and has at least `_MIN_FIGURE_PIXELS` pixels a side; overlapping placements are
    merged. Rotated pages give none (their images are not read)."""
    if page.rotation:
        return []
    bounds = page.rect
    width, height = float(bounds.width), float(bounds.height)
    rects: list[Rect] = []
    for info in page.get_image_info():
        if min(int(info.get("width", 0)), int(info.get("height", 0))) < _MIN_FIGURE_PIXELS:
            continue
        x0, y0, x1, y1 = (float(v) for v in info["bbox"])
        x0, y0, x1, y1 = max(0.0, x0), max(0.0, y0), min(width, x1), min(height, y1)
        if x1 <= x0 or y1 <= y0 or (x1 - x0) * (y1 - y0) < min_share * width * height:
            continue
        rects.append((x0, y0, x1, y1))
    merged: list[Rect] = []
    for r in sorted(rects):
        while overlapping := [m for m in merged if _overlap(m, r)]:  # a union may meet more
            merged = [m for m in merged if m not in overlapping]
            r = union_rects([*overlapping, r])
        merged.append(r)
    return merged


def _overlap(a: Rect, b: Rect) -> bool:
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


def _caption(figure: Rect, text_blocks: Sequence[_TextBlock], gap: float = 36.0) -> str | None:
    """The first line of the caption just below (or else just above) `figure`: a text block
    that overlaps it across, starts within `gap` points of its edge and reads "Figure 3",
    "Fig. 2", "Chart 1", "Exhibit 4" ..."""
    below: list[tuple[float, str]] = []
    above: list[tuple[float, str]] = []
    for tb in text_blocks:
        r = tb.rect
        if not tb.lines or min(r[2], figure[2]) <= max(r[0], figure[0]):
            continue
        first = tb.lines[0].text.strip()
        if not _CAPTION.match(first):
            continue
        if -gap / 4 <= r[1] - figure[3] <= gap:
            below.append((r[1] - figure[3], first))
        elif -gap / 4 <= figure[1] - r[3] <= gap:
            above.append((figure[1] - r[3], first))
    for found in (below, above):
        if found:
            return min(found)[1][:200]
    return None


def figure_blocks(
    page: Any,
    page_no: int,
    text_blocks: Sequence[_TextBlock],
    settings: IngestSettings,
) -> list[Block]:
    """OCR blocks for the figures of a page that has a text layer (`IngestSettings.ocr_figures`):
    each image of `figure_rects` whose rect the layer has not already written in is rendered at
    `ocr_dpi` and read; lines the layer already holds (labels drawn as text over a picture) and
    low-confidence reads are dropped. A block's text is the figure's caption line, when one is
    found, then its lines in rows; its box is the figure's."""
    if settings.ocr_figures is None:
        return []
    layer = [ln for tb in text_blocks for ln in tb.lines]
    blocks: list[Block] = []
    for fig in figure_rects(page, settings.ocr_figures):
        if sum(ln.chars for ln in layer if _inside(ln.rect, fig, 0.0)) >= _LAYER_CHARS_IN_FIGURE:
            continue
        dpi = render_dpi(fig[2] - fig[0], fig[3] - fig[1], settings.ocr_dpi)
        lines = [
            ln
            for ln in ocr_page(
                page,
                dpi,
                settings.ocr_angle_classifier,
                settings.ocr_threads,
                clip=fig,
                graphs=settings.ocr_graphs,
            )
            if ln.score >= 0.5
            and _non_space(ln.text) >= 2
            and not any(_inside((ln.x0, ln.y0, ln.x1, ln.y1), t.rect, 0.0) for t in layer)
        ]
        if not lines:
            continue
        if settings.ocr_spaces:
            lines = _respaced(lines)
        text = _join_rows([((ln.x0, ln.y0, ln.x1, ln.y1), ln.text) for ln in lines])
        caption = _caption(fig, text_blocks)
        blocks.append(
            Block(
                kind="ocr",
                text=f"{caption}\n{text}" if caption else text,
                box=_box(page_no, fig),
            )
        )
    return blocks


def _save_image(
    page: Any, blob_dir: Path, doc_id: str, page_no: int, dpi: int, fmt: Literal["png", "webp"]
) -> str:
    relative = f"{doc_id}/p{page_no:04d}.{fmt}"
    target = blob_dir / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    pix = page.get_pixmap(dpi=dpi, alpha=False)
    if fmt == "png":
        pix.save(str(tmp), output="png")
    else:
        pix.pil_save(str(tmp), format="WEBP")
    os.replace(tmp, target)  # readers never see a half-written image
    return relative


MAX_RENDER_PIXELS = 40_000_000
"""Renders (page images, OCR) are kept under this many pixels: MuPDF refuses a 200-inch page
at 100 dpi ("Overly large image"), and such a render would need gigabytes."""


def render_dpi(width: float, height: float, dpi: int) -> int:
    """`dpi`, lowered as needed so a `width` x `height` pt page renders under
    MAX_RENDER_PIXELS."""
    pixels = (width * dpi / 72) * (height * dpi / 72)
    if pixels <= MAX_RENDER_PIXELS:
        return dpi
    return max(1, int(dpi * (MAX_RENDER_PIXELS / pixels) ** 0.5))


def _non_space(text: str) -> int:
    return sum(1 for c in text if not c.isspace())


def parse_page(
    doc: Any,
    page_index: int,
    settings: IngestSettings,
    blob_dir: Path | None,
    doc_id: str,
) -> ParsedPage:
    """Parse page `page_index` (0-based) of `doc` into blocks in reading order.

    Text layer -> paragraphs with boxes and heading flags; ruled tables -> one Markdown block
    each (their text is not repeated in the paragraphs); pages with (almost) no text layer, or
    every page with `ocr="always"`, -> OCR blocks instead (OCR reads the whole rendered page, so
    it replaces the text layer rather than adding to it); with `ocr_figures`, the large images
    of a page that has a text layer are OCR'd too, each as one more block (`figure_blocks`).
    A step that fails leaves a warning and the rest of the page;
    `ParseError("page_unreadable")` only when nothing could be read: the
    page cannot be loaded, its text layer cannot be extracted (and OCR found nothing), or it
    came out empty while MuPDF reported damage reading it (a corrupt content stream).
    """
    if not doc_id or any(sep in doc_id for sep in ("/", "\\")) or doc_id in (".", ".."):
        raise ValueError(f"doc_id must be usable as a folder name: {doc_id!r}")
    page_no = page_index + 1
    warnings: list[str] = []
    _mupdf_messages()  # what MuPDF reports from here on is about this page

    def warn(step: str, exc: BaseException) -> None:
        warnings.append(f"page {page_no}: {step} failed: {_exc_text(exc)}")

    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(step: str) -> None:  # the time since the last lap goes to `step`
        nonlocal clock
        now = time.perf_counter()
        seconds[step] = seconds.get(step, 0.0) + now - clock
        clock = now

    try:
        page = doc.load_page(page_index)
        rect = page.rect
        width, height = float(rect.width), float(rect.height)
    except Exception as exc:
        raise ParseError(
            "page_unreadable", f"page {page_no}: cannot load page ({_exc_text(exc)})"
        ) from exc

    text_blocks: list[_TextBlock] | None = None
    try:
        text_blocks = _text_blocks(page)
    except Exception as exc:
        warn("text extraction", exc)
    chars = sum(ln.chars for tb in text_blocks or [] for ln in tb.lines)
    lap("text")

    blocks: list[Block] | None = None
    used_ocr = False
    if settings.ocr == "always" or (settings.ocr == "auto" and chars < settings.ocr_min_chars):
        try:
            ocr_dpi = render_dpi(width, height, settings.ocr_dpi)
            ocr_lines = ocr_page(
                page,
                ocr_dpi,
                settings.ocr_angle_classifier,
                settings.ocr_threads,
                graphs=settings.ocr_graphs,
            )
            if settings.ocr_spaces:
                ocr_lines = _respaced(ocr_lines)
            ocr_blocks = _ocr_blocks(ocr_lines, page_no)
            # an OCR pass that finds nothing must not hide the few characters the layer has
            if ocr_blocks or not chars:
                blocks, used_ocr = ocr_blocks, True
        except Exception as exc:
            warn("OCR", exc)
        lap("ocr")

    if blocks is None:
        if text_blocks is None:
            raise ParseError(
                "page_unreadable",
                f"page {page_no}: no text could be read: " + "; ".join(warnings),
            )
        tables: list[_Table] = []
        if settings.tables != "off":
            try:
                tables = _find_tables(page, settings.tables)
            except Exception as exc:
                warn("table detection", exc)
            lap("tables")
        try:
            blocks = _layout_blocks(text_blocks, tables, page_no)
        except Exception as exc:
            warn("layout analysis", exc)
            kind: BlockKind = "text"
            blocks = [
                Block(
                    kind=kind,
                    text=_join_rows([(ln.rect, ln.text) for ln in tb.lines]),
                    box=_box(page_no, tb.rect),
                )
                for tb in text_blocks
            ]
        lap("layout")

    if not used_ocr and text_blocks and settings.ocr_figures is not None and settings.ocr != "off":
        try:
            if figures := figure_blocks(page, page_no, text_blocks, settings):
                both = blocks + figures
                order = reading_order([(b.box.x0, b.box.y0, b.box.x1, b.box.y1) for b in both])
                blocks = [both[i] for i in order]
        except Exception as exc:
            warn("figure OCR", exc)
        lap("figures")

    # MuPDF reads a damaged content stream up to the damage and only warns ("zlib error",
    # "cannot load content stream part 2/3"): a page left empty by that is unreadable, not blank
    damage = _mupdf_messages()
    if damage and not any(_non_space(b.text) for b in blocks):
        raise ParseError(
            "page_unreadable", f"page {page_no}: nothing could be read (MuPDF: {damage})"
        )
    if "error" in damage:
        warnings.append(f"page {page_no}: read despite errors (MuPDF: {damage})")

    image: str | None = None
    if settings.page_images and blob_dir is not None:
        try:
            image = _save_image(
                page,
                blob_dir,
                doc_id,
                page_no,
                render_dpi(width, height, settings.image_dpi),
                settings.image_format,
            )
        except Exception as exc:
            warn("page image", exc)
        lap("image")

    blocks = [b for b in blocks if _non_space(b.text)]
    return ParsedPage(
        page=Page(
            doc_id=doc_id,
            page=page_no,
            text="\n\n".join(b.text for b in blocks),
            width=width,
            height=height,
            ocr=used_ocr,
            image=image,
        ),
        blocks=blocks,
        warnings=warnings,
        seconds={step: round(value, 6) for step, value in seconds.items()},
    )
