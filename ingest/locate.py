"""Find the exact lines a quoted span covers on a PDF page, for highlighting a citation.

A citation's passage is stored with the boxes of its blocks (whole paragraphs); the web UI
wants to highlight only the lines of the quote that supports the answer. `locate` reads the
page's words, aligns the quote's words to them and returns one box per text line the quote
covers, in the frame of the displayed page (the page's /Rotate applied, PDF points, origin
top left): the frame of the page images, scaled by dpi / 72.

Why hand-written: MuPDF's own `Page.search_for` needs the quote's characters as they are on the
page. It ignores case, runs of spaces and line breaks, and it joins a word hyphenated at a line
end on the page, but it finds nothing for a quote that keeps that hyphen ("recy-\\ncled", as the
parser's block text does), for a quote with Markdown table syntax (`| North | 1,204 |`, as the
parser writes tables), for a line break that collapsed to no space at all ("brownfox"), or for
one stray punctuation mark (a trailing comma, typographic quotes). Aligning normalised words
tolerates all of these, and a few words that do not match at all.

Example:
    >>> boxes = locate(Path("report.pdf"), 3, "Energy use per tonne fell.")  # doctest: +SKIP
    >>> [(b.page, round(b.y0)) for b in boxes]  # doctest: +SKIP
    [(3, 118), (3, 132)]
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import Match, SequenceMatcher
from itertools import pairwise
from pathlib import Path
from typing import Any

import pymupdf

from docqa.types import Box
from ingest.parse import ParseError, open_pdf, reading_order, union_rects

_pymupdf: Any = pymupdf  # partly annotated: its untyped calls go through Any

Rect = tuple[float, float, float, float]

_TEXT_FLAGS = pymupdf.TEXT_PRESERVE_WHITESPACE | pymupdf.TEXT_MEDIABOX_CLIP
"""The parser's flags (ingest/parse.py): the same words, ligatures expanded ("ﬁ" -> "fi")."""
_CLIP_PAD = 2.0
"""Points added around each clip box: a word's box may stick out of its block's box a little."""
_MIN_COVERAGE = 0.6
"""Share of the quote's words that must be matched in the chosen run."""
_HYPHENS = ("-", "\u00ad", "\u2010", "\u2011")
"""Hyphen, soft hyphen, Unicode hyphen, non-breaking hyphen (not dashes)."""
_SPLIT = re.compile(r"[\s|]+")
"""Quotes split on whitespace and on Markdown table pipes (`|North|South|` is two words)."""


@dataclass
class _Token:
    key: str
    words: list[int]
    """Indices of the page words this token stands for (two for a word joined at a hyphen)."""


def _key(word: str) -> str:
    """The comparison form of a word: NFKC, casefolded, letters and digits only.

    Dropping inner punctuation too (not only at the ends) lets "well-known" match "well-" +
    "known" joined at a line end, and "don’t" match "don't"."""
    return "".join(c for c in unicodedata.normalize("NFKC", word).casefold() if c.isalnum())


def _quote_keys(text: str) -> list[str]:
    """The quote's words as keys; a word ending in a hyphen is joined with the next word (the
    quote may come from a block whose "recy-\\ncled" was collapsed to "recy- cled")."""
    keys: list[str] = []
    pending = ""
    for raw in _SPLIT.split(text):
        key = _key(raw)
        if not key:
            continue
        if raw.endswith(_HYPHENS):
            pending += key
            continue
        keys.append(pending + key)
        pending = ""
    if pending:
        keys.append(pending)
    return keys


def _page_tokens(words: Sequence[str], lines: Sequence[tuple[int, int]]) -> list[_Token]:
    """Tokens of the page's words (in reading order); a word ending in a hyphen as the last of
    its line is joined with the first word of the next line."""
    tokens: list[_Token] = []
    i = 0
    while i < len(words):
        key = _key(words[i])
        if not key:
            i += 1
            continue
        token = _Token(key, [i])
        j = i + 1
        while (
            words[token.words[-1]].endswith(_HYPHENS)
            and j < len(words)
            and lines[j] != lines[token.words[-1]]
            and _key(words[j])
        ):
            token.key += _key(words[j])
            token.words.append(j)
            j += 1
        tokens.append(token)
        i = j
    return tokens


def _best_run(quote: Sequence[str], page: Sequence[str]) -> tuple[int, int] | None:
    """(first, last) page-token index of the densest cluster of matches, or None when the best
    cluster matches fewer than `_MIN_COVERAGE` of the quote's words.

    Consecutive matching blocks are one cluster while the page words skipped between them are
    not many more than the quote words skipped (a footnote mark, a running header, a word that
    is spelled differently)."""
    matcher = SequenceMatcher(None, quote, page, autojunk=False)
    blocks = [m for m in matcher.get_matching_blocks() if m.size]
    if not blocks:
        return None
    slack = 3 + len(quote) // 10
    clusters: list[list[Match]] = [[blocks[0]]]
    for prev, cur in pairwise(blocks):
        page_gap = cur.b - (prev.b + prev.size)
        quote_gap = cur.a - (prev.a + prev.size)
        if page_gap <= quote_gap + slack:
            clusters[-1].append(cur)
        else:
            clusters.append([cur])

    def score(cluster: list[Match]) -> tuple[int, float]:
        matched = sum(m.size for m in cluster)
        span = cluster[-1].b + cluster[-1].size - cluster[0].b
        return matched, matched / span

    best = max(clusters, key=score)  # the first of equals: the earlier in reading order
    if score(best)[0] < _MIN_COVERAGE * len(quote):
        return None
    return best[0].b, best[-1].b + best[-1].size - 1


def _display_rect(rect: Any, matrix: Any) -> Rect:
    out = (_pymupdf.Rect(rect) * matrix).normalize()
    return (float(out.x0), float(out.y0), float(out.x1), float(out.y1))


def _inside(rect: Rect, boxes: Sequence[Box]) -> bool:
    cx, cy = (rect[0] + rect[2]) / 2, (rect[1] + rect[3]) / 2
    return any(
        b.x0 - _CLIP_PAD <= cx <= b.x1 + _CLIP_PAD and b.y0 - _CLIP_PAD <= cy <= b.y1 + _CLIP_PAD
        for b in boxes
    )


def _open(pdf: pymupdf.Document | Path, password: str | None) -> Any:
    """The open document, or None when it cannot be opened or stays locked."""
    if isinstance(pdf, Path):
        try:
            return open_pdf(pdf, password)
        except (ParseError, OSError, RuntimeError, ValueError):
            return None
    doc: Any = pdf
    try:
        if doc.is_encrypted and not (password is not None and doc.authenticate(password)):
            return None
    except (RuntimeError, ValueError):  # e.g. "document closed"
        return None
    return doc


def locate(
    pdf: pymupdf.Document | Path,
    page: int,
    text: str,
    clip: Sequence[Box] = (),
    *,
    password: str | None = None,
) -> list[Box]:
    """Boxes of the lines of page `page` (1-based) that the quoted span `text` covers.

    One box per text line (MuPDF's block and line), the union of the quote's words on it, in
    reading order, in the displayed page's frame. `clip` (e.g. the passage's block boxes)
    restricts the search to words whose centre lies inside one of its boxes (padded by 2 pt);
    boxes of other pages are ignored, so a clip with no box on this page finds nothing.

    The quote's words are aligned to the page's (casefolded, punctuation and Markdown table
    syntax dropped, words split at a hyphenated line end joined); the densest run of matches is
    taken when it matches at least 60% of the quote's words. Returns [] (never raises) when the
    file cannot be opened (missing, broken, encrypted without the right `password`), the page
    does not exist, it has no text layer (a scan), the text is blank or not found. A document
    opened here from a path is closed again; a `pymupdf.Document` passed in is left open.
    """
    quote = _quote_keys(text)
    if not quote:
        return []
    doc = _open(pdf, password)
    if doc is None:
        return []
    try:
        return _locate(doc, page, quote, [b for b in clip if b.page == page] if clip else None)
    finally:
        if isinstance(pdf, Path):
            doc.close()


def _locate(doc: Any, page_no: int, quote: list[str], clip: list[Box] | None) -> list[Box]:
    try:
        if not 1 <= page_no <= int(doc.page_count):
            return []
        page = doc.load_page(page_no - 1)
        raw_words: list[Any] = page.get_text("words", flags=_TEXT_FLAGS)
        matrix = page.rotation_matrix
    except Exception:  # MuPDF's errors for a broken page are not one class
        return []
    if clip is not None and not clip:
        return []

    rects: list[Rect] = []
    words: list[str] = []
    lines: list[tuple[int, int]] = []
    for w in raw_words:
        rect = _display_rect(w[:4], matrix)
        if clip is not None and not _inside(rect, clip):
            continue
        rects.append(rect)
        words.append(str(w[4]))
        lines.append((int(w[5]), int(w[6])))
    if not words:
        return []

    # reading order of the blocks as the parser reads them (columns, table rows), so the page's
    # words come in the order of the passage text the quote was taken from
    block_ids = sorted({block for block, _ in lines})
    block_rects = [
        union_rects([r for r, (b, _) in zip(rects, lines, strict=True) if b == block])
        for block in block_ids
    ]
    rank = {block_ids[i]: n for n, i in enumerate(reading_order(block_rects))}
    order = sorted(range(len(words)), key=lambda i: (rank[lines[i][0]], i))
    rects = [rects[i] for i in order]
    words = [words[i] for i in order]
    lines = [lines[i] for i in order]

    tokens = _page_tokens(words, lines)
    run = _best_run(quote, [t.key for t in tokens])
    if run is None:
        return []
    first, last = tokens[run[0]].words[0], tokens[run[1]].words[-1]

    per_line: dict[tuple[int, int], list[Rect]] = {}
    for i in range(first, last + 1):
        per_line.setdefault(lines[i], []).append(rects[i])
    out: list[Box] = []
    for line_rects in per_line.values():  # dicts keep insertion (reading) order
        x0, y0, x1, y1 = union_rects(line_rects)
        out.append(Box(page=page_no, x0=x0, y0=y0, x1=x1, y1=y1))
    return out
