"""The pages of a filing that hold its primary financial statements.

A question about a company's figures ("What is the capitalization ratio for FY2023?", "what
goodwill does Best Buy have?") is answered on its balance sheet, statement of earnings or cash
flows. Those pages are tables of numbers whose line items share few words with the question,
while the notes and the MD&A restate the same words in prose and win the hybrid search. The
pages are easy to name, though: each opens with the statement's title on a line of its own
("Consolidated Balance Sheets", "Consolidated Statements of Cash Flows"), the names US GAAP and
IFRS give them (a quarterly report's "Condensed ...", a second page's "(Continued)", a
release's "(Unaudited)" too). `statement_title` reads a page's title; the retriever can add
those pages' chunks to the reranker's candidates (`docqa.retrieval.Retriever.run`,
`answer.statements`).

    >>> statement_title("Table of Contents\\nConsolidated Statements of Operations\\n" + "1 " * 40)
    'Consolidated Statements of Operations'
    >>> statement_title("Index\\nConsolidated Balance Sheets 39\\n" + "1 " * 40) is None
    True
"""

from __future__ import annotations

import re

__all__ = ["MIN_NUMBERS", "TITLE_LINES", "statement_title"]

_TITLE = re.compile(
    r"(?:condensed\s+)?(?:consolidated\s+|combined\s+)?"
    r"(?:balance\s+sheets?"
    r"|statements?\s+of\s+(?:consolidated\s+)?"
    r"(?:financial\s+position|operations|income|earnings|cash\s+flows?"
    r"|comprehensive\s+(?:income|loss|earnings)(?:\s*\(loss\))?"
    r"|(?:changes\s+in\s+)?(?:stockholders|shareholders)['’]?\s+equity(?:\s*\(deficit\))?))"
    # a statement over two pages says so on the second; an earnings release, that it is unaudited
    r"(?:\s*(?:\(\s*(?:continued|unaudited)\s*\)|[,\-–—]\s*continued))*",
    re.I,
)
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")

TITLE_LINES = 8
"""The title is one of a page's first this many non-empty lines (a running header such as
"Table of Contents" or the company's name may come first)."""
MIN_NUMBERS = 40
"""A statement page holds at least this many numbers: the index of the statements and a note
that names a statement on a line of its own do not."""


def statement_title(page_text: str) -> str | None:
    """The title of the primary financial statement on a page with this text, or None when it
    is not such a page."""
    lines = [ln.strip() for ln in page_text.splitlines() if ln.strip()][:TITLE_LINES]
    title = next((ln for ln in lines if _TITLE.fullmatch(ln)), None)
    if title is None or len(_NUMBER.findall(page_text)) < MIN_NUMBERS:
        return None
    return title
