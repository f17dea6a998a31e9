"""Questions whose premise the documents never mention: a year, a page, a numbered figure or table.

A question can name something a document cannot hold: a survey year it never mentions, pages
beyond its last page, a figure it does not have. The answering model, given passages anyway,
answers from them. Here the question's checkable premises are looked up in what the documents
mention (`Mentions`, read once from a document's pages) before anything is searched:

- a year (1950-2049; in the question as four digits) is mentioned by the year itself, a short
  form (`FY24`, `Q3 '24`, `2023-24`, `2023/24`) or a range that spans it (`2019-2023`,
  `2010 to 2013`);
- a page ("page 12", "pages 100-120", "p. 7") by the document having that many pages, or by its
  printed page numbers (an excerpt of a book starts at 100): a number alone on a line at a
  page's top or bottom (`FOLIO_LINES`) is a folio only when enough pages agree on its offset
  from the page's position (`FOLIO_AGREEMENT`), since a chart's tick or a table's cell can sit
  there too;
- a numbered figure or table ("Figure 3", "Fig. 3", "Table 2") by the text naming it.

Section numbers are not premises: papers number sections without the word ("3.4 Self-Correction").
A document whose pages are largely without text (OCR off or failed) mentions everything: docqa
cannot tell. Written by hand: a few patterns over the question and the stored page text.

>>> [p.text for p in premises("How many figures are in pages 100-120 of the 2013 survey?")]
['pages 100-120', '2013']
>>> m = Mentions.of_pages(["Results for fiscal 2022 and FY23.", "Figure 2: net sales by quarter"])
>>> [p.text for p in absent_premises("Sales in 2023, Figure 2 and Table 4?", [m])]
['Table 4']
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel

__all__ = ["Mentions", "Premise", "absent_premises", "premise_caveat", "premises"]

MIN_TEXT_CHARS = 20
"""A page with fewer non-space characters than this has no text layer worth the name (the same
bar as `ingest.ocr_min_chars`)."""
MIN_TEXT_SHARE = 0.9
"""A document is checked only when at least this share of its pages have text."""
MAX_RANGE = 40
"""The longest year range (`2000-2040`) counted as mentioning every year inside it."""
FOLIO_AGREEMENT = 3
"""Pages whose lone top- or bottom-line number must share one offset from their position for
those numbers to be printed page numbers (fewer on a short document: half its pages, rounded
up). A stray number (an axis tick, a cell) agrees with no other page."""
FOLIO_LINES = (2, 3)
"""How many of a page's first and last lines are read for its folio: it can sit under a running
header, or above a footer or a download watermark."""

_Q_YEAR = re.compile(r"(?<![\d.,$])(19[5-9]\d|20[0-4]\d)(?!\d|[.,]\d)")
_Q_PAGE = re.compile(r"\b(?:pages?|pp?\.)\s*(\d{1,5})(?:\s*(?:-|–|to)\s*(\d{1,5}))?", re.I)

_YEAR = re.compile(r"(?<!\d)(1[5-9]\d\d|20\d\d)(?!\d)")
_SHORT_YEAR = re.compile(r"(?:\b(?:FY|CY|F|Q[1-4]|H[12])\s?['’]?|['’])(\d\d)(?![\d%])", re.I)
_RANGE = re.compile(
    r"(?<!\d)(1[5-9]\d\d|20\d\d)\s*(?:-|–|—|/|to|through|until)\s*(\d{4}|\d{2})(?!\d)", re.I
)
_FIGURE = re.compile(r"\bfig(?:ure)?s?\.?\s*(\d{1,3})(?!\d)", re.I)
_TABLE = re.compile(r"\btables?\s*(\d{1,3})(?!\d)", re.I)
"""A numbered figure or table, as a question names it and as a text mentions it."""
_FOLIO = re.compile(r"^(?:page\s+)?[-–]?\s*(\d{1,5})\s*[-–]?$", re.I)


PremiseKind = Literal["year", "page", "figure", "table"]


class Premise(BaseModel):
    kind: PremiseKind
    value: int
    text: str
    """As the question writes it: "2022", "pages 100-120", "Figure 3"."""


class Mentions(BaseModel):
    """What one document mentions that a premise can be checked against."""

    years: set[int]
    figures: set[int]
    tables: set[int]
    pages: int
    folio_offsets: set[int]
    """Printed page number minus position, for each offset enough pages agree on
    (`FOLIO_AGREEMENT`): the document prints pages offset + 1 to offset + `pages`."""
    readable: bool
    """Enough of its pages have text for an absence to mean something."""

    @classmethod
    def of_pages(cls, texts: Sequence[str]) -> Mentions:
        """From the document's page texts, in page order."""
        text = "\n".join(texts)
        years = {int(y) for y in _YEAR.findall(text)}
        for yy in _SHORT_YEAR.findall(text):
            years.add(_century(int(yy)))
        for a, b in _RANGE.findall(text):
            start = int(a)
            end = int(b) if len(b) == 4 else start // 100 * 100 + int(b)
            if start < end <= start + MAX_RANGE:
                years.update(range(start, end + 1))
            elif len(b) == 4:
                years.add(end)
        offsets: Counter[int] = Counter()
        for position, page in enumerate(texts, 1):
            lines = [ln.strip() for ln in page.splitlines() if ln.strip()]
            # a page counts once per offset, whether its number is at the top, bottom or both
            ends = (
                lines[: FOLIO_LINES[0]] + lines[max(FOLIO_LINES[0], len(lines) - FOLIO_LINES[1]) :]
            )
            found = {int(m.group(1)) for ln in ends if (m := _FOLIO.match(ln))}
            offsets.update({n - position for n in found})
        agree = min(FOLIO_AGREEMENT, -(-len(texts) // 2))
        with_text = sum(len("".join(t.split())) >= MIN_TEXT_CHARS for t in texts)
        return cls(
            years=years,
            figures={int(n) for n in _FIGURE.findall(text)},
            tables={int(n) for n in _TABLE.findall(text)},
            pages=len(texts),
            folio_offsets={o for o, n in offsets.items() if n >= agree},
            readable=bool(texts) and with_text >= MIN_TEXT_SHARE * len(texts),
        )

    def mentions(self, premise: Premise) -> bool:
        if not self.readable:
            return True
        if premise.kind == "year":
            return premise.value in self.years
        if premise.kind == "page":
            return premise.value <= self.pages or any(
                o < premise.value <= o + self.pages for o in self.folio_offsets
            )
        if premise.kind == "figure":
            return premise.value in self.figures
        return premise.value in self.tables


def _century(yy: int) -> int:
    return 2000 + yy if yy < 50 else 1900 + yy


def premises(question: str) -> list[Premise]:
    """The checkable premises `question` names, in the order it names them."""
    found: list[tuple[int, Premise]] = []
    pages: list[tuple[int, int]] = []
    for m in _Q_PAGE.finditer(question):
        found.append((m.start(), Premise(kind="page", value=int(m.group(1)), text=m.group(0))))
        pages.append(m.span())
    for m in _Q_YEAR.finditer(question):
        if not any(a <= m.start() < b for a, b in pages):
            found.append((m.start(), Premise(kind="year", value=int(m.group(1)), text=m.group(0))))
    numbered: tuple[tuple[PremiseKind, re.Pattern[str]], ...] = (
        ("figure", _FIGURE),
        ("table", _TABLE),
    )
    for kind, pattern in numbered:
        for m in pattern.finditer(question):
            found.append(
                (m.start(), Premise(kind=kind, value=int(m.group(1)), text=m.group(0).strip()))
            )
    out: list[Premise] = []
    for _, p in sorted(found, key=lambda x: x[0]):
        if not any(q.kind == p.kind and q.value == p.value for q in out):
            out.append(p)
    return out


def absent_premises(question: str, documents: Sequence[Mentions]) -> list[Premise]:
    """The premises of `question` that none of `documents` mentions (none without documents)."""
    if not documents:
        return []
    return [p for p in premises(question) if not any(d.mentions(p) for d in documents)]


def premise_caveat(absent: Sequence[Premise], documents: int) -> str:
    """The sentence an answer abstained on for `absent` premises carries (`Answer.caveats`)."""
    named = ", ".join(f"'{p.text}'" for p in absent[:3])
    where = "the document never mentions" if documents == 1 else "none of the documents mentions"
    what = "it" if len(absent[:3]) == 1 else "them"
    return f"The question names {named}, but {where} {what}, so docqa did not look for an answer."
