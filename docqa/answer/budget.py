"""How many passages a RAG prompt gets: chosen from the reranker's scores and the prompt budget,
not a fixed k.

"Long-Context LLMs Meet RAG" shows that more passages can hurt (hard negatives distract the
model), and on a CPU every prompt token costs prefill time. So, from the reranked hits (best
first):

1. the best `min_passages` always go in (a weak best hit still beats no context: the model can
   abstain);
2. then each next hit goes in while its reranker logit is at least `min_score` (None: no floor;
   `make bench-budget` measures the floor against the evidence it cuts off)
   and the passages still fit in `max_tokens` prompt tokens, up to `max_passages`;
3. a hit that would overflow the budget ends the list (a lower-ranked short one is not squeezed
   in after it: ranks stay contiguous).

Without reranker scores (`rerank` off: RRF scores are not comparable across queries) only the
token budget and `max_passages` apply.

Example:
    >>> from docqa.types import SearchHit
    >>> hits = [SearchHit(doc_id="d", path="p", page=i, page_end=i, score=s, kind="text",
    ...                   text="x " * 50, chunk_index=i) for i, s in enumerate([8.0, 3.0, -1.0, -6.0])]
    >>> sel = select_passages(hits, lambda t: len(t.split()), min_passages=1, max_passages=8,
    ...                       min_score=-2.0, max_tokens=1000, scored=True)
    >>> [h.page for h in sel.hits], sel.reason
    ([0, 1, 2], 'stopped at a reranker score below -2.0')
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from docqa.types import SearchHit

__all__ = ["Selection", "select_passages"]

# Tokens a passage's label and separators take in the prompt ("[3] (file.pdf, p. 12)\n...\n\n").
_LABEL_TOKENS = 16


@dataclass
class Selection:
    hits: list[SearchHit]
    tokens: int
    """Prompt tokens of the selected passages (text + labels)."""
    reason: str


def _limit(
    chosen: int, score: float, max_passages: int, min_score: float | None, scored: bool, unit: str
) -> str | None:
    """Why no further passage goes in (past the minimum), or None."""
    if chosen >= max_passages:
        return f"reached the maximum of {max_passages} {unit}"
    if scored and min_score is not None and score < min_score:
        return f"stopped at a reranker score below {min_score}"
    return None


def select_passages(
    hits: Sequence[SearchHit],
    count_tokens: Callable[[str], int],
    *,
    min_passages: int,
    max_passages: int,
    min_score: float | None,
    max_tokens: int,
    scored: bool,
) -> Selection:
    chosen: list[SearchHit] = []
    total = 0
    reason = f"all {len(hits)} candidates fit"
    for i, hit in enumerate(hits):
        cost = count_tokens(hit.text) + _LABEL_TOKENS
        if i >= min_passages:
            stop = _limit(len(chosen), hit.score, max_passages, min_score, scored, "passages")
            if stop:
                reason = stop
                break
            if total + cost > max_tokens:
                reason = f"the next passage would pass the {max_tokens}-token budget"
                break
        chosen.append(hit)
        total += cost
    return Selection(hits=chosen, tokens=total, reason=reason)


def select_pages(
    hits: Sequence[SearchHit],
    page_text: Callable[[str, int], str | None],
    count_tokens: Callable[[str], int],
    *,
    min_passages: int,
    max_passages: int,
    min_score: float | None,
    max_tokens: int,
    max_page_tokens: int,
    scored: bool,
) -> Selection:
    """Pages instead of chunks: the reranked `hits` grouped by page, pages ranked by their best
    hit, each page given whole (`page_text(doc_id, page)`) when it costs at most
    `max_page_tokens` and fits the budget, else as its retrieved chunks joined in document order
    (else its best chunk). The same rules as `select_passages` decide how many pages (one page
    counts as one passage; the page's score is its best hit's). A chunk never spans pages, so
    each passage still names exactly one page."""
    groups: dict[tuple[str, int], list[SearchHit]] = {}
    for h in hits:
        groups.setdefault((h.doc_id, h.page), []).append(h)
    chosen: list[SearchHit] = []
    total = 0
    reason = f"all {len(groups)} candidate pages fit"
    for i, ((doc_id, page), group) in enumerate(groups.items()):
        best = group[0]
        if i >= min_passages:
            stop = _limit(len(chosen), best.score, max_passages, min_score, scored, "pages")
            if stop:
                reason = stop
                break
        in_order = sorted(group, key=lambda h: h.chunk_index)
        # what the page can go in as, most first: (text, boxes to highlight, prompt tokens)
        joined = "\n\n".join(h.text for h in in_order)
        options = [
            (joined, [b for h in in_order for b in h.boxes], count_tokens(joined) + _LABEL_TOKENS),
            (best.text, list(best.boxes), count_tokens(best.text) + _LABEL_TOKENS),
        ]
        whole = page_text(doc_id, page)
        whole_tokens = count_tokens(whole) if whole else 0
        if whole and whole_tokens <= max_page_tokens:
            options.insert(0, (whole, [], whole_tokens + _LABEL_TOKENS))
        fits = [o for o in options if total + o[2] <= max_tokens]
        if not fits and i >= min_passages:
            reason = f"the next page would pass the {max_tokens}-token budget"
            break
        # a page the minimum needs goes in as its best chunk when nothing fits
        text, boxes, cost = fits[0] if fits else options[-1]
        chosen.append(best.model_copy(update={"text": text, "boxes": boxes}))
        total += cost
    return Selection(hits=chosen, tokens=total, reason=reason)
