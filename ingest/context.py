"""Where a chunk sits, in words: the context line search reads before a chunk's text.

A chunk of a 10-K table ("Total net revenue 43,452 ...") says nothing of the company, the year
or the statement it belongs to; the page's heading and the document's title do. Indexing the
chunk with them (Anthropic's "contextual retrieval", here without a model: title, outline
section and heading are what the PDF already says) lets "net revenues by segment" find the
page whose heading holds the words.

- `outline_sections(toc)`: for each page, the outline path in force (deepest entry at or
  before the page, with its parent).
- `chunk_context(...)`: "title | section | heading" for one chunk, only the parts that add
  words the chunk does not start with, cut to the tokens the embedder's window leaves beside
  the chunk, so nothing of the chunk itself is ever truncated.

Example:
    >>> toc = [(1, "Part II", 20), (2, "Item 8. Financial Statements", 40)]
    >>> sections = outline_sections(toc)
    >>> sections(41)
    'Part II > Item 8. Financial Statements'
    >>> chunk_context("Best Buy 10-K 2023", sections(41), "Consolidated Balance Sheets",
    ...               "Assets 1,874", lambda s: len(s.split()), room=40)
    'Best Buy 10-K 2023 | Part II > Item 8. Financial Statements | Consolidated Balance Sheets'
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence

__all__ = ["chunk_context", "outline_sections"]

_SEP = " | "


def outline_sections(toc: Sequence[tuple[int, str, int]]) -> Callable[[int], str | None]:
    """page -> the outline path (at most the last two levels) of the last entry starting at or
    before the page; None before the first entry or without an outline."""
    starts: list[int] = []
    paths: list[str] = []
    stack: list[str] = []
    for level, title, page in toc:
        if page < 1 or not title.strip():
            continue
        del stack[max(level - 1, 0) :]
        stack.append(" ".join(title.split()))
        if starts and page < starts[-1]:
            continue  # an outline out of page order: keep the pages increasing
        starts.append(page)
        paths.append(" > ".join(stack[-2:]))

    def section(page: int) -> str | None:
        i = bisect.bisect_right(starts, page) - 1
        return paths[i] if i >= 0 else None

    return section


def chunk_context(
    title: str | None,
    section: str | None,
    heading: str | None,
    text: str,
    count_tokens: Callable[[str], int],
    room: int,
) -> str | None:
    """The context line of a chunk: `title | section | heading` (the parts that are set and not
    already the chunk's first words), at most `room` tokens with the newline that joins it to the
    chunk. Parts are kept by importance (heading, section, title) while they fit."""
    head = " ".join(text[:200].split()).lower()
    parts: list[str] = []
    for part in (title, section, heading):
        p = " ".join((part or "").split())
        if p and not head.startswith(p.lower()) and p.lower() not in (q.lower() for q in parts):
            parts.append(p)
    keep = [False] * len(parts)
    for i in reversed(range(len(parts))):
        keep[i] = True
        line = _SEP.join(p for p, k in zip(parts, keep, strict=True) if k)
        if count_tokens(line + "\n") - count_tokens("") > room:
            keep[i] = False
    line = _SEP.join(p for p, k in zip(parts, keep, strict=True) if k)
    return line or None
