"""A small demo folder of PDFs that docqa owns: invented companies, people and figures.

Used by the README's first command and by CI, so that a fresh install can ingest something and
answer e.g. "What was Northwind's revenue in 2024?" without any third-party document.

Also holds the little PDF-writing helpers (`PageWriter`, `image_only_page`) that the test PDF
generators reuse.

Example:
    >>> paths = write_demo_folder(Path("demo"))  # doctest: +SKIP
    >>> [p.name for p in paths]  # doctest: +SKIP
    ['northwind_annual_report_2024.pdf', 'aldermoor_research_note.pdf', 'harbor_street_memo.pdf']
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pymupdf

_pymupdf: Any = pymupdf  # partly annotated: its untyped calls go through Any

REGULAR = "helv"
BOLD = "hebo"


class PageWriter:
    """Writes headings, wrapped paragraphs and ruled tables top to bottom, adding pages as
    needed (Helvetica, US Letter by default)."""

    def __init__(
        self, doc: Any, width: float = 612, height: float = 792, margin: float = 72
    ) -> None:
        self.doc = doc
        self.width = width
        self.height = height
        self.margin = margin
        self.page: Any = None
        self.y = 0.0
        self.new_page()

    def new_page(self) -> Any:
        self.page = self.doc.new_page(width=self.width, height=self.height)
        self.y = self.margin
        return self.page

    def _room(self, needed: float) -> None:
        if self.y + needed > self.height - self.margin:
            self.new_page()

    def space(self, points: float) -> None:
        self.y += points

    def heading(self, text: str, size: float = 16) -> None:
        self._room(size * 3)
        self.y += size * 0.6
        self.page.insert_text((self.margin, self.y + size), text, fontsize=size, fontname=BOLD)
        self.y += size * 1.8

    def paragraph(self, text: str, size: float = 11, font: str = REGULAR) -> None:
        leading = size * 1.35
        for line in wrap(text, self.width - 2 * self.margin, size, font):
            self._room(leading)
            self.page.insert_text((self.margin, self.y + size), line, fontsize=size, fontname=font)
            self.y += leading
        self.y += size * 0.8

    def table(
        self, rows: Sequence[Sequence[str]], widths: Sequence[float], size: float = 10
    ) -> None:
        """A grid with every cell ruled (so PyMuPDF's line-based table finder sees it); the first
        row is the header, set in bold. Continues on a new page (header repeated) when full."""
        row_h = size * 2.0
        header, body = rows[0], rows[1:]
        start = 0
        while True:
            self._room(row_h * 3)
            fit = max(int((self.height - self.margin - self.y) // row_h) - 1, 1)
            self._grid([header, *body[start : start + fit]], widths, size, row_h)
            start += fit
            if start >= len(body):
                break
            self.new_page()
        self.y += size

    def _grid(
        self, rows: Sequence[Sequence[str]], widths: Sequence[float], size: float, row_h: float
    ) -> None:
        x0, y0 = self.margin, self.y
        x1 = x0 + sum(widths)
        shape = self.page.new_shape()
        for r, row in enumerate(rows):
            top = y0 + r * row_h
            x = x0
            for c, cell in enumerate(row):
                font = BOLD if r == 0 else REGULAR
                self.page.insert_text(
                    (x + 4, top + row_h * 0.68), str(cell), fontsize=size, fontname=font
                )
                x += widths[c]
        bottom = y0 + len(rows) * row_h
        for r in range(len(rows) + 1):
            shape.draw_line((x0, y0 + r * row_h), (x1, y0 + r * row_h))
        x = x0
        for w in [0.0, *widths]:
            x += w
            shape.draw_line((x, y0), (x, bottom))
        shape.finish(width=0.6, color=(0, 0, 0))
        shape.commit()
        self.y = bottom


def wrap(text: str, width: float, size: float, font: str = REGULAR) -> list[str]:
    """Greedy word wrap by measured text width."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if current and pymupdf.get_text_length(candidate, fontname=font, fontsize=size) > width:
            lines.append(current)
            current = word
        else:
            current = candidate
    if current:
        lines.append(current)
    return lines


def image_only_page(
    doc: Any,
    lines: Sequence[tuple[str, float]],
    dpi: int = 200,
    width: float = 612,
    height: float = 792,
) -> Any:
    """Add a page that is only a picture of text (no text layer), like a scan.

    `lines` are (text, font size) pairs written top to bottom, then rendered to a grey image.
    """
    scratch = _pymupdf.open()
    writer = PageWriter(scratch, width, height)
    for text, size in lines:
        if size >= 14:
            writer.heading(text, size)
        else:
            writer.paragraph(text, size)
    pix = scratch[0].get_pixmap(dpi=dpi, colorspace=pymupdf.csGRAY)
    scratch.close()
    page = doc.new_page(width=width, height=height)
    page.insert_image(page.rect, pixmap=pix)
    return page


def save_pdf(
    doc: Any, path: Path, title: str, author: str = "", creator: str = "docqa demo"
) -> Path:
    """Set the metadata, write `doc` compactly to `path` and close it."""
    doc.set_metadata({"title": title, "author": author, "creator": creator})
    doc.save(str(path), garbage=3, deflate=True)
    doc.close()
    return path


def _annual_report(path: Path) -> Path:
    doc = _pymupdf.open()
    w = PageWriter(doc)
    w.heading("Northwind Harbor Supply Co. - Annual Report 2024 (excerpt)", 18)
    w.paragraph(
        'Northwind Harbor Supply Co. ("Northwind") distributes refrigerated and dry goods to '
        "independent grocers along the Saltmere coast. This excerpt covers the fiscal year "
        "ended 31 December 2024."
    )
    w.heading("Letter to shareholders")
    w.paragraph(
        "2024 was the strongest year in Northwind's history. Revenue rose 10.7% to "
        "$503.8 million, driven by the new Greyhaven distribution centre and by 41 new grocery "
        "customers. Operating income reached $46.2 million, an operating margin of 9.2%."
    )
    w.paragraph(
        "We opened the Greyhaven centre in April 2024. It added 18,000 pallet positions and cut "
        "average delivery time to our northern customers from 31 hours to 19 hours. Our fleet "
        "now runs 212 refrigerated trucks, 37 of them battery-electric."
    )
    w.paragraph(
        "The board proposes a dividend of $1.12 per share, up from $0.98 for 2023. Chief "
        "executive Marisol Quenneville thanks our 2,340 employees for a remarkable year."
    )
    w.heading("Financial highlights")
    w.paragraph("All amounts in millions of US dollars, except employees.")
    w.table(
        [
            ["Fiscal year", "Revenue", "Operating income", "Net income", "Employees"],
            ["2022", "$412.6", "$33.9", "$24.1", "1,980"],
            ["2023", "$455.1", "$39.4", "$28.7", "2,150"],
            ["2024", "$503.8", "$46.2", "$33.5", "2,340"],
        ],
        [90, 90, 110, 90, 80],
    )
    w.heading("Revenue by segment")
    w.paragraph(
        "Refrigerated goods contributed $301.2 million of 2024 revenue (60%), dry goods "
        "$162.4 million and logistics services for third parties $40.2 million. Logistics "
        "services grew fastest, by 24%, after the Tidewater Dairy contract began in July."
    )
    w.new_page()
    w.heading("Outlook for 2025")
    w.paragraph(
        "For 2025 Northwind expects revenue between $540 million and $560 million and plans "
        "capital spending of $38 million, most of it for a second cold store in Port Amberly. "
        "We aim to make half of the fleet battery-electric by 2028."
    )
    w.heading("Risks")
    w.paragraph(
        "Our results depend on fuel and electricity prices, on the health of independent "
        "grocers and on the reliability of refrigeration. A single outage at Greyhaven could "
        "spoil stock worth up to $4 million; we carry insurance and backup generators."
    )
    return save_pdf(doc, path, "Northwind Harbor Supply Co. Annual Report 2024", "Northwind IR")


def _research_note(path: Path) -> Path:
    doc = _pymupdf.open()
    w = PageWriter(doc)
    w.heading("Temperature excursions in regional cold chains", 18)
    w.paragraph(
        "Research note 7 - Aldermoor Institute for Food Logistics - Ilse Varga, Tomas Oyelaran"
    )
    w.heading("Abstract")
    w.paragraph(
        "We logged 1.3 million temperature readings from 64 delivery vans serving small grocers "
        "over nine months. Vans fitted with door-open sensors and pre-cooling had 38% fewer "
        "temperature excursions above 8 degrees Celsius than vans without them."
    )
    w.heading("1 Introduction")
    w.paragraph(
        "Small grocers receive chilled goods several times a week, and every door opening lets "
        "warm air into the van. Excursions shorten shelf life and are rarely recorded. We ask "
        "how often they happen and which cheap measures prevent them."
    )
    w.heading("2 Method")
    w.paragraph(
        "Each van carried four loggers sampling every 30 seconds. Twenty-nine vans received "
        "door-open sensors and a 20-minute pre-cooling routine before loading; the other 35 "
        "served as controls. An excursion is a reading above 8 degrees Celsius lasting at "
        "least 5 minutes."
    )
    w.heading("3 Results")
    w.paragraph(
        "Control vans averaged 2.9 excursions per 100 stops; treated vans averaged 1.8, a "
        "reduction of 38%. The median excursion lasted 11 minutes. Afternoon routes in July "
        "produced 46% of all excursions although they were only 22% of stops."
    )
    w.heading("4 Conclusion")
    w.paragraph(
        "Door-open sensors and pre-cooling are cheap, at about 310 euros per van, and prevent "
        "more than a third of excursions. We recommend them for every route with more than "
        "twelve stops a day."
    )
    return save_pdf(
        doc, path, "Temperature excursions in regional cold chains", "Aldermoor Institute"
    )


def _scanned_memo(path: Path) -> Path:
    doc = _pymupdf.open()
    image_only_page(
        doc,
        [
            ("Inspection memo - Harbor Street warehouse", 18),
            ("Date: 12 March 2024. Inspector: Odile Brannigan.", 12),
            (
                "The inspection of the Harbor Street warehouse found three minor issues: a "
                "damaged loading dock seal, a missing fire extinguisher tag and a blocked "
                "drain in cold room B.",
                12,
            ),
            ("All three issues must be fixed before 30 April 2024.", 12),
        ],
    )
    return save_pdf(doc, path, "Harbor Street warehouse inspection memo", "Northwind Facilities")


def write_demo_folder(dest: Path) -> list[Path]:
    """Write the demo PDFs into `dest` (created if needed) and return their paths."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    return [
        _annual_report(dest / "northwind_annual_report_2024.pdf"),
        _research_note(dest / "aldermoor_research_note.pdf"),
        _scanned_memo(dest / "harbor_street_memo.pdf"),
    ]


if __name__ == "__main__":
    import sys

    for written in write_demo_folder(Path(sys.argv[1] if len(sys.argv) > 1 else "demo-data")):
        print(written)
