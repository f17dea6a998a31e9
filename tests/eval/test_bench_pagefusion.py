from __future__ import annotations

from typing import Any

from docqa.types import SearchHit
from eval.bench_pagefusion import VARIANTS, Variant, adopted, fuse


def hit(page: int, score: float) -> SearchHit:
    return SearchHit(
        doc_id="d",
        path="p",
        page=page,
        page_end=page,
        score=score,
        kind="text",
        text=f"chunk on {page}",
        chunk_index=page,
    )


POOL = [hit(1, 3.0), hit(2, 2.0), hit(3, 1.0), hit(4, -1.0)]
PAGES = [4, 3, 1, 2]  # page 4 has the best page vector


def test_baseline_keeps_the_reranker_order() -> None:
    assert [h.page for h in fuse(POOL, PAGES, Variant("baseline"))] == [1, 2, 3, 4]


def test_lift_raises_the_chunks_of_the_top_pages_only() -> None:
    lifted = fuse(POOL, PAGES, Variant("lift", pages=1, lift=4.5))
    assert [h.page for h in lifted] == [4, 1, 2, 3]
    assert [h.page for h in fuse(POOL, PAGES, Variant("lift", pages=1, lift=1.0))] == [1, 2, 3, 4]


def test_rrf_mixes_reranker_rank_and_page_rank() -> None:
    # 0-based (reranker rank, page rank): page 1 (0, 2), 2 (1, 3), 3 (2, 1), 4 (3, 0); with k = 1:
    # 1 + 1/3, 1/2 + 1/4, 1/3 + 1/2, 1/4 + 1: page 4 (worst logit, best page) comes second
    assert [h.page for h in fuse(POOL, PAGES, Variant("rrf", rrf=1))] == [1, 4, 3, 2]


def summary(tune: tuple[int, int], held: tuple[int, int]) -> dict[str, Any]:
    def group(base: int, other: int) -> dict[str, Any]:
        out: dict[str, Any] = {"n": 10}
        for v in VARIANTS:
            out[v.name] = {"any_count": base}
        out[VARIANTS[1].name] = {"any_count": other}
        return out

    return {"tune": group(*tune), "held-out": group(*held)}


def test_adoption_needs_two_tune_questions_and_no_held_out_loss() -> None:
    assert adopted(summary((5, 7), (3, 3))) == [VARIANTS[1].name]
    assert adopted(summary((5, 6), (3, 4))) == []
    assert adopted(summary((5, 8), (3, 2))) == []
