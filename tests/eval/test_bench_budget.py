"""The budget sweep and the abstention signal of `eval.bench_budget`, on hand-made pools."""

from __future__ import annotations

from typing import Any

import pytest

from eval.bench_budget import abstention, auroc, choose, pick, sweep


def _row(
    qid: str,
    split: str,
    evidence: list[int],
    pool: list[tuple[int, float, int]],
    answerable: bool = True,
) -> dict[str, Any]:
    return {
        "id": qid,
        "split": split,
        "answerable": answerable,
        "evidence": evidence,
        "pool": [(page, page, score, tokens) for page, score, tokens in pool],
    }


POOL = [(1, 6.0, 100), (2, 1.0, 100), (7, -3.0, 100), (9, -5.0, 900)]
"""(page, reranker logit, tokens), best first."""
HITS = [(page, page, score, tokens) for page, score, tokens in POOL]


def test_choose_follows_select_passages_rules() -> None:
    assert choose(HITS, 2, -2.0, 2048) == ([(1, 1), (2, 2)], 232)  # the -3 hit is cut
    assert choose(HITS, 2, -4.0, 2048)[0] == [(1, 1), (2, 2), (7, 7)]
    # no floor: the 900-token hit still fits 2048, not 1024
    assert [p for p, _ in choose(HITS, 2, None, 2048)[0]] == [1, 2, 7, 9]
    assert [p for p, _ in choose(HITS, 2, None, 1024)[0]] == [1, 2, 7]
    assert [p for p, _ in choose(HITS, 4, -2.0, 2048)[0]] == [1, 2, 7, 9]  # the minimum wins


def test_sweep_and_pick_choose_on_tune_only() -> None:
    rows = [
        _row("a", "tune", [7], POOL),  # needs a floor of -4 or lower
        _row("b", "tune", [1], POOL),
        _row("c", "held-out", [9], POOL),  # only reached with no floor (or 4 passages)
        _row("u", "tune", [], [(3, -7.0, 50)], answerable=False),
    ]
    grid = sweep(rows)
    at = {(p["min_passages"], p["min_score"], p["context_tokens"]): p for p in grid}
    assert at[(2, -2.0, 2048)]["tune"]["any"] == 0.5
    assert at[(2, -4.0, 2048)]["tune"]["any"] == 1.0
    assert at[(2, -4.0, 2048)]["held-out"]["any"] == 0.0
    assert at[(2, -2.0, 2048)]["all"]["n"] == 3  # the unanswerable question is not counted
    chosen = pick(grid)
    assert chosen["tune"]["any"] == 1.0
    # the cheapest of the best on tune: three 100-token passages, not four with the 900 one
    assert chosen["tune"]["tokens"] == 3 * 116


def test_auroc_and_thresholds() -> None:
    assert auroc([3.0, 2.0], [1.0, 0.0]) == 1.0
    assert auroc([1.0], [1.0]) == 0.5
    assert auroc([], [1.0]) is None
    rows = [
        _row("a", "tune", [1], [(1, 5.0, 10)]),
        _row("b", "tune", [1], [(1, -3.0, 10)]),
        _row("u", "tune", [], [(1, -5.0, 10)], answerable=False),
        _row("v", "held-out", [], [], answerable=False),  # nothing found: lowest
    ]
    out = abstention(rows)
    assert out["tune"]["auroc_top_logit"] == 1.0
    below = out["all"]["thresholds"]["-4.0"]
    assert below == {"unanswerable_abstained": 1.0, "answerable_abstained": 0.0}
    assert out["all"]["thresholds"]["0.0"]["answerable_abstained"] == pytest.approx(0.5)
