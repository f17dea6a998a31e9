"""Running furniture: the text a document repeats in its margins on page after page (a
running header, a page number, a "Downloaded from ..." stamp down the side, "Table of
Contents" links at the top of every page of a 10-K).

Left in the chunks, furniture becomes passages of its own or rides along with body text: the
search finds a download stamp on every page of a paper, and a question that shares one of its
words ranks it beside real passages. `Furniture.strip` leaves such blocks out of what the
chunker reads; the page's text (what long context reads and citations are checked against)
keeps them.

A block is furniture when it is plain text (not a heading, table or OCR line) lying wholly in
a margin band of the page (`margin` of its height at the top or bottom, of its width at the
sides) and the same text, digits aside, lay in a margin of at least `after` earlier pages.
Pages stream in one at a time (`ingest.pipeline`), so the first `after` copies stay: the
decision never needs the pages ahead.

Why by hand: llama-index's and unstructured's cleaners work on whole documents or on element
types their own partitioners assign, not on docqa's streamed PyMuPDF blocks.

Example:
    >>> from docqa.types import Block, Box, Page
    >>> def page(n: int, *texts: tuple[str, float]) -> ParsedPage:
    ...     blocks = [Block(kind="text", text=t, box=Box(page=n, x0=50, y0=y, x1=300, y1=y + 10))
    ...               for t, y in texts]
    ...     return ParsedPage(page=Page(doc_id="d", page=n, text="", width=612, height=792),
    ...                       blocks=blocks)
    >>> furniture = Furniture()
    >>> kept = [furniture.strip(page(n, ("Acme 10-K", 20), (f"Body {n}", 400), (str(n), 770)))
    ...         for n in range(1, 5)]
    >>> [[b.text for b in p.blocks] for p in kept]
    [['Acme 10-K', 'Body 1', '1'], ['Acme 10-K', 'Body 2', '2'], ['Body 3'], ['Body 4']]
"""

from __future__ import annotations

import re

from docqa.types import Block
from ingest.parse import ParsedPage

__all__ = ["Furniture", "furniture_key"]

_DIGITS = re.compile(r"\d+")


def furniture_key(block: Block, width: float, height: float, margin: float) -> str | None:
    """What identifies `block` as furniture across pages (its text in lower case, digit runs
    as "#", spaces collapsed), or None when it cannot be furniture: not plain text, a heading,
    empty, or not wholly inside a margin band."""
    if block.kind != "text" or block.heading or width <= 0 or height <= 0:
        return None
    b = block.box
    in_margin = (
        b.y1 <= margin * height
        or b.y0 >= (1 - margin) * height
        or b.x1 <= margin * width
        or b.x0 >= (1 - margin) * width
    )
    if not in_margin:
        return None
    key = " ".join(_DIGITS.sub("#", block.text.lower()).split())
    return key or None


class Furniture:
    """The running furniture of one document, learnt as its pages stream by (module
    docstring). One per document; pages in document order."""

    def __init__(self, margin: float = 0.1, after: int = 2) -> None:
        self.margin = margin
        self.after = after
        self._pages_with: dict[str, int] = {}
        """Margin text (`furniture_key`) -> how many pages so far held it."""
        self.dropped = 0
        """Blocks left out so far."""

    def strip(self, parsed: ParsedPage) -> ParsedPage:
        """`parsed` without the blocks that are furniture (the same object when none is); the
        page record is untouched."""
        w, h = parsed.page.width, parsed.page.height
        kept: list[Block] = []
        here: set[str] = set()
        for block in parsed.blocks:
            key = furniture_key(block, w, h, self.margin)
            if key is None:
                kept.append(block)
                continue
            if self._pages_with.get(key, 0) < self.after:
                kept.append(block)
            here.add(key)
        for key in here:
            self._pages_with[key] = self._pages_with.get(key, 0) + 1
        if len(kept) == len(parsed.blocks):
            return parsed
        self.dropped += len(parsed.blocks) - len(kept)
        return parsed.model_copy(update={"blocks": kept})
