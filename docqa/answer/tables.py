"""Markdown tables as the model reads them: every figure under its own column header.

Financial statements set the currency sign in a column of its own, and the header cell of a
period sits over that sign column, not over the figures:

    |  | January 28, 2023 |  | January 29, 2022 |  |
    |---|---|---|---|---|
    | Cash and cash equivalents | $ | 1,874 | $ | 2,936 |

Read cell by cell, "January 28, 2023" labels "$" and 1,874 has no header at all. `aligned`
joins each sign column to the figures beside it (a currency sign to the figure after it, a
percent sign to the figure before it), moves the sign column's header onto the joined column,
and drops columns left empty:

    |  | January 28, 2023 | January 29, 2022 |
    |---|---|---|
    | Cash and cash equivalents | $1,874 | $2,936 |

Only the prompt changes: stored texts, search and the citation checker keep the parser's
Markdown (the checker finds 1,874 in either). A table the parser split between chunks carries
its header on every piece (`ingest.chunk`), so each piece is aligned on its own. Lines that do
not form a whole table (a header row, the `---` row, rows of the same width) are left as they
are.

    >>> print(aligned_tables("| | 2023 | | 2022 | |\\n|---|---|---|---|---|\\n| Cash | $ | 5 | $ | 4 |"))
    |  | 2023 | 2022 |
    |---|---|---|
    | Cash | $5 | $4 |
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["aligned_tables", "table_lead"]

_CURRENCY = frozenset({"$", "€", "£", "¥", "US$", "C$", "A$"})
_PERCENT = frozenset({"%", "pts", "bps"})
_SEPARATOR = re.compile(r"^\|(?:\s*:?-{3,}:?\s*\|)+$")
_CELL_SPLIT = re.compile(r"(?<!\\)\|")


def _cells(line: str) -> list[str]:
    """The cells of a Markdown row `| a | b |` (escaped pipes `\\|` stay inside their cell)."""
    return [c.strip() for c in _CELL_SPLIT.split(line.strip())[1:-1]]


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _is_row(line: str) -> bool:
    s = line.strip()
    return len(s) >= 2 and s.startswith("|") and s.endswith("|") and not s.endswith("\\|")


def _sign_kind(column: list[str]) -> str | None:
    """ "currency" or "percent" when every non-empty cell of the body column is such a sign (and
    one is), else None."""
    signs = {c for c in column if c}
    if not signs:
        return None
    if signs <= _CURRENCY:
        return "currency"
    if signs <= _PERCENT:
        return "percent"
    return None


def _join(a: str, b: str, sep: str = " ") -> str:
    return f"{a}{sep}{b}" if a and b else a or b


def _align(header: list[str], body: list[list[str]]) -> tuple[list[str], list[list[str]]]:
    width = len(header)
    header = list(header)
    body = [list(r) for r in body]
    dropped: set[int] = set()
    for j in range(width):
        kind = _sign_kind([r[j] for r in body])
        if kind is None:
            continue
        step = 1 if kind == "currency" else -1
        target = j + step
        while 0 <= target < width and target in dropped:
            target += step
        # the sign joins a figure column: one that is no sign column itself and has content
        if not 0 <= target < width or _sign_kind([r[target] for r in body]) is not None:
            continue
        for r in body:
            if r[j] and r[target]:
                r[target] = r[j] + r[target] if kind == "currency" else r[target] + r[j]
            elif r[j]:
                r[target] = r[j]
            r[j] = ""
        header[target] = (
            _join(header[j], header[target]) if step == 1 else _join(header[target], header[j])
        )
        header[j] = ""
        dropped.add(j)
    keep = [j for j in range(width) if header[j] or any(r[j] for r in body)]
    if len(keep) < 2:
        keep = list(range(width))
    return [header[j] for j in keep], [[r[j] for j in keep] for r in body]


def _aligned_table(lines: list[str]) -> list[str]:
    header = _cells(lines[0])
    body = [_cells(line) for line in lines[2:]]
    if not body or any(len(r) != len(header) for r in body):
        return lines
    new_header, new_body = _align(header, body)
    if new_header == header and new_body == body:
        return lines
    return [_row(new_header), "|" + "---|" * len(new_header), *(_row(r) for r in new_body)]


def aligned_tables(text: str) -> str:
    """`text` with each whole Markdown table in it aligned (see the module's docstring)."""
    if "|" not in text:
        return text
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        if (
            i + 1 < len(lines)
            and _is_row(lines[i])
            and _SEPARATOR.match(lines[i + 1].strip())
            and len(_cells(lines[i])) == lines[i + 1].strip().count("|") - 1
        ):
            end = i + 2
            while end < len(lines) and _is_row(lines[end]):
                end += 1
            out.extend(_aligned_table(lines[i:end]))
            i = end
        else:
            out.append(lines[i])
            i += 1
    return "\n".join(out)


def table_lead(
    page_text: str, table_text: str, count_tokens: Callable[[str], int], max_tokens: int = 48
) -> str | None:
    """The short blocks just above a table on its page (the statement's name, its units, the
    periods of its columns), for a piece of the table shown alone: at most two blocks, within
    `max_tokens`, none of them a table. None when the table is not found on the page or nothing
    short stands above it.

    >>> page = "Notes\\n\\nConsolidated Balance Sheets\\n$ in millions\\n\\n| | 2023 |\\n|---|---|\\n| Cash | 5 |"
    >>> table_lead(page, "| | 2023 |\\n|---|---|\\n| Cash | 5 |", lambda t: len(t.split()))
    'Notes\\nConsolidated Balance Sheets\\n$ in millions'
    """
    first = table_text.strip().split("\n", 1)[0].strip()
    if not first:
        return None
    at = page_text.find(first)
    if at <= 0:
        return None
    blocks = [b.strip() for b in page_text[:at].split("\n\n") if b.strip()]
    lead: list[str] = []
    for block in reversed(blocks[-2:]):
        if block.startswith("|") or count_tokens("\n".join([block, *lead])) > max_tokens:
            break
        lead.insert(0, block)
    return "\n".join(lead) or None
