"""How many passages a RAG prompt gets: chosen from the reranker's scores and the prompt budget,
not a fixed k.

"Long-Context LLMs Meet RAG" shows that more passages can hurt (hard negatives distract the
model), and on a CPU every prompt token costs prefill time. So, from the reranked hits (best
first):

1. the best `min_passages` always go in (a weak best hit still beats no context: the model can
   abstain);
2. then each next hit goes in while its reranker logit is at least `min_score` and the passages
   still fit in `max_tokens` prompt tokens, up to `max_passages`;
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


def select_passages(
    hits: Sequence[SearchHit],
    count_tokens: Callable[[str], int],
    *,
    min_passages: int,
    max_passages: int,
    min_score: float,
    max_tokens: int,
    scored: bool,
) -> Selection:
    chosen: list[SearchHit] = []
    total = 0
    reason = f"all {len(hits)} candidates fit"
    for i, hit in enumerate(hits):
        cost = count_tokens(hit.text) + _LABEL_TOKENS
        if i >= min_passages:
            if len(chosen) >= max_passages:
                reason = f"reached the maximum of {max_passages} passages"
                break
            if scored and hit.score < min_score:
                reason = f"stopped at a reranker score below {min_score}"
                break
            if total + cost > max_tokens:
                reason = f"the next passage would pass the {max_tokens}-token budget"
                break
        chosen.append(hit)
        total += cost
    return Selection(hits=chosen, tokens=total, reason=reason)
