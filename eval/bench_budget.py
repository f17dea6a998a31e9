"""Passage budget and abstention signals, from the reranked pool that `rag` reads.

    python -m eval.bench_budget [--docs DIR] [--home DIR] [--candidates 20]
                                [--out eval/out/budget.json]

For every question of `qa.jsonl` (answerable and unanswerable), the hybrid top `--candidates`
of its own document are reranked once, as `rag_prompt` does. Two things are then measured on
that pool without searching again:

1. **The passage budget** (`docqa.answer.budget.select_passages`) over a grid of
   `min_passages` x `min_rerank_score` x `context_tokens`: the share of answerable questions with
   an evidence page among the chosen passages (`any`), the share of evidence pages reached
   (`share`, the eval's "evidence-page recall") and the mean passage tokens (prefill time: ~1/60
   s per token for the 1.5B here). The budget chosen by `--pick` is the cheapest grid point
   within 0.01 of the best `any` on the *tune* split; its held-out figures are reported beside.
2. **Retrieval confidence as an abstention signal**: the top reranker logit of answerable vs
   unanswerable questions (a rank-based AUROC), and for thresholds t, the share of unanswerable
   questions whose top logit is below t (they would be abstained) against the share of
   answerable ones (wrongly abstained). Reported per split; no threshold is adopted here.

The split is `bench_retrieval.split_of` (a hash of the question id): tune ~2/3, held-out ~1/3.
Ingestion is shared with `bench_retrieval` (`--home`: one ingest serves both).
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eval.bench_retrieval import DEFAULT_DOCS, ROOT, doc_type, ingest, split_of

MIN_PASSAGES = (2, 3, 4, 5, 6)
MIN_SCORES: tuple[float | None, ...] = (-2.0, -4.0, -6.0, -8.0, None)
"""Reranker-score floors; None: no floor (only the token budget and `max_passages` stop)."""
BUDGETS = (1536, 2048, 3072)
THRESHOLDS = (-8.0, -6.0, -4.0, -2.0, 0.0, 2.0)
SPLITS = ("all", "tune", "held-out")
BEFORE = (2, -2.0)
"""(min_passages, min_rerank_score) of the budget as of 2026-12-02, shown for comparison."""


def load_all_questions(docs: Path) -> list[dict[str, Any]]:
    """Every question; `answerable` from its evidence pages (unanswerable ones have none)."""
    rows = [json.loads(line) for line in (docs / "qa.jsonl").read_text().splitlines() if line]
    for r in rows:
        extra = r.get("extra") or {}
        r["answerable"] = bool(r.get("evidence_pages")) and not extra.get("unanswerable")
    return rows


def pools(
    home: Path, doc_ids: dict[str, str], qs: list[dict[str, Any]], candidates: int
) -> list[dict[str, Any]]:
    """Per question: the reranked pool as (page, page_end, logit, tokens), best first."""
    from docqa.config import Settings
    from docqa.runtime import Runtime

    rt = Runtime(Settings(home=home))
    try:
        count = rt.generator.count_tokens
        out: list[dict[str, Any]] = []
        for i, q in enumerate(qs, start=1):
            doc = doc_ids.get(q["doc"])
            if doc is None:
                print(f"skipped {q['id']}: {q['doc']} not ingested", file=sys.stderr)
                continue
            hits = rt.retriever.run(
                q["question"], k=candidates, doc_ids=[doc], candidates=candidates
            )
            out.append(
                {
                    "id": q["id"],
                    "doc": q["doc"],
                    "type": doc_type(q),
                    "split": split_of(q["id"]),
                    "answerable": q["answerable"],
                    "evidence": q.get("evidence_pages") or [],
                    "pool": [(h.page, h.page_end, h.score, count(h.text)) for h in hits],
                }
            )
            print(f"\r{i}/{len(qs)} questions reranked", end="", file=sys.stderr)
        print(file=sys.stderr)
        return out
    finally:
        rt.close()


def choose(
    pool: Sequence[Sequence[float]], min_passages: int, min_score: float | None, max_tokens: int
) -> tuple[list[tuple[int, int]], int]:
    """The pages and tokens `select_passages` keeps of a pool (tokens per hit precomputed)."""
    from docqa.answer.budget import select_passages
    from docqa.types import SearchHit

    hits = [
        SearchHit(
            doc_id="d",
            path="p",
            page=int(a),
            page_end=int(b),
            score=s,
            kind="text",
            text=str(i),
            chunk_index=i,
        )
        for i, (a, b, s, _) in enumerate(pool)
    ]
    tokens = {str(i): int(t) for i, (_, _, _, t) in enumerate(pool)}
    sel = select_passages(
        hits,
        tokens.__getitem__,
        min_passages=min_passages,
        max_passages=8,
        min_score=min_score,
        max_tokens=max_tokens,
        scored=True,
    )
    return [(h.page, h.page_end) for h in sel.hits], sel.tokens


def _in(rows: list[dict[str, Any]], split: str) -> list[dict[str, Any]]:
    return rows if split == "all" else [r for r in rows if r["split"] == split]


def sweep(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every grid point's `any` / `share` / tokens per split, over the answerable questions."""
    answerable = [r for r in rows if r["answerable"]]
    grid: list[dict[str, Any]] = []
    for mp, ms, mt in itertools.product(MIN_PASSAGES, MIN_SCORES, BUDGETS):
        point: dict[str, Any] = {"min_passages": mp, "min_score": ms, "context_tokens": mt}
        for split in SPLITS:
            part = _in(answerable, split)
            anys, shares, toks = [], [], []
            for r in part:
                spans, tokens = choose(r["pool"], mp, ms, mt)
                seen = {p for a, b in spans for p in range(a, b + 1)}
                ev = set(r["evidence"])
                anys.append(bool(seen & ev))
                shares.append(len(seen & ev) / len(ev))
                toks.append(tokens)
            n = max(len(part), 1)
            point[split] = {
                "n": len(part),
                "any": round(sum(anys) / n, 3),
                "share": round(sum(shares) / n, 3),
                "tokens": round(sum(toks) / n),
            }
        grid.append(point)
    return grid


def pick(grid: list[dict[str, Any]], tolerance: float = 0.01) -> dict[str, Any]:
    """The cheapest point (mean tokens on tune) within `tolerance` of the best tune `any`."""
    best = max(p["tune"]["any"] for p in grid)
    near = [p for p in grid if p["tune"]["any"] >= best - tolerance]
    return min(near, key=lambda p: (p["tune"]["tokens"], -p["tune"]["share"]))


def auroc(pos: Sequence[float], neg: Sequence[float]) -> float | None:
    """P(a positive scores above a negative), ties half: the Mann-Whitney form."""
    if not pos or not neg:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def _top(r: dict[str, Any]) -> float:
    """The best reranker logit of a question's pool (-99 when the search found nothing)."""
    return float(r["pool"][0][2]) if r["pool"] else -99.0


def abstention(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for split in SPLITS:
        part = _in(rows, split)
        pos = [_top(r) for r in part if r["answerable"]]
        neg = [_top(r) for r in part if not r["answerable"]]
        auc = auroc(pos, neg)
        out[split] = {
            "answerable": len(pos),
            "unanswerable": len(neg),
            "auroc_top_logit": None if auc is None else round(auc, 3),
            "thresholds": {
                str(t): {
                    "unanswerable_abstained": round(sum(s < t for s in neg) / max(len(neg), 1), 3),
                    "answerable_abstained": round(sum(s < t for s in pos) / max(len(pos), 1), 3),
                }
                for t in THRESHOLDS
            },
        }
    return out


def _fmt(x: float | None) -> str:
    return "none" if x is None else f"{x:g}"


def report(
    grid: list[dict[str, Any]],
    chosen: dict[str, Any],
    default: dict[str, Any],
    abst: dict[str, Any],
) -> str:
    def row(p: dict[str, Any], label: str = "") -> str:
        cells = " | ".join(
            f"{p[s]['any']:.3f} / {p[s]['share']:.3f} / {p[s]['tokens']:,}" for s in SPLITS
        )
        return (
            f"| {p['min_passages']} | {_fmt(p['min_score'])} | {p['context_tokens']} | {cells} |"
            f" {label} |"
        )

    head = (
        "| min_passages | min_rerank_score | context_tokens | all: any / share / tokens"
        " | tune | held-out | |\n|---:|---:|---:|---|---|---|---|"
    )
    ranked = sorted(grid, key=lambda p: (-p["tune"]["any"], p["tune"]["tokens"]))[:12]
    before = next(
        p
        for p in grid
        if (p["min_passages"], p["min_score"], p["context_tokens"])
        == (*BEFORE, default["context_tokens"])
    )
    lines = [head, row(default, "today's default"), row(chosen, "picked on tune")]
    if before is not default:
        lines.append(row(before, "a floor of -2 (the default through 2026-12-02)"))
    shown = (chosen, default, before)
    lines += [row(p) for p in ranked if all(p is not q for q in shown)]
    lines.append("")
    lines.append(
        "| split | answerable / unanswerable | AUROC of the top reranker logit | "
        + " | ".join(f"top < {t:g}: unans. / ans. abstained" for t in THRESHOLDS)
        + " |"
    )
    lines.append("|---|---|---|" + "---|" * len(THRESHOLDS))
    for split in SPLITS:
        a = abst[split]
        cells = " | ".join(
            f"{a['thresholds'][str(t)]['unanswerable_abstained']:.2f} / "
            f"{a['thresholds'][str(t)]['answerable_abstained']:.2f}"
            for t in THRESHOLDS
        )
        lines.append(
            f"| {split} | {a['answerable']} / {a['unanswerable']} | "
            f"{a['auroc_top_logit']} | {cells} |"
        )
    return "\n".join(lines)


def plot(
    grid: list[dict[str, Any]], chosen: dict[str, Any], default: dict[str, Any], path: Path
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for split, marker in (("tune", "o"), ("held-out", "x")):
        ax.scatter(
            [p[split]["tokens"] for p in grid],
            [p[split]["any"] for p in grid],
            marker=marker,
            alpha=0.5,
            label=f"grid ({split})",
        )
    for p, label, color in ((default, "default", "black"), (chosen, "picked on tune", "red")):
        ax.scatter(
            [p["held-out"]["tokens"]],
            [p["held-out"]["any"]],
            s=120,
            facecolors="none",
            edgecolors=color,
            label=f"{label} (held-out)",
        )
    ax.set_xlabel("mean passage tokens in the prompt")
    ax.set_ylabel("answerable questions with an evidence page in the prompt")
    ax.set_title("RAG passage budget: evidence in the prompt vs prompt tokens")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    from docqa.config import AnswerSettings

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--docs", type=Path, default=DEFAULT_DOCS)
    ap.add_argument("--home", type=Path, default=None, help="DOCQA home to ingest into / reuse")
    ap.add_argument("--out", type=Path, default=ROOT / "eval" / "out" / "budget.json")
    ap.add_argument("--candidates", type=int, default=AnswerSettings().candidates)
    a = ap.parse_args()
    if not (a.docs / "qa.jsonl").is_file():
        sys.exit(f"no qa.jsonl in {a.docs} (pass --docs DIR)")
    qs = load_all_questions(a.docs)
    with tempfile.TemporaryDirectory(prefix="docqa-bench-budget-") as tmp:
        home = a.home or Path(tmp)
        rows = pools(home, ingest(a.docs, home), qs, a.candidates)
    grid = sweep(rows)
    now = AnswerSettings()
    default = next(
        p
        for p in grid
        if (p["min_passages"], p["min_score"], p["context_tokens"])
        == (now.min_passages, now.min_rerank_score, now.context_tokens)
    )
    chosen = pick(grid)
    abst = abstention(rows)
    print(report(grid, chosen, default, abst))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    plot(grid, chosen, default, a.out.with_suffix(".png"))
    a.out.write_text(
        json.dumps(
            {
                "date": datetime.now(UTC).strftime("%Y-%m-%d"),
                "machine": f"{platform.machine()}, Python {platform.python_version()}",
                "candidates": a.candidates,
                "picked": chosen,
                "default": default,
                "abstention": abst,
                "grid": grid,
                "questions": rows,
            },
            indent=2,
        )
    )
    print(f"wrote {a.out} and {a.out.with_suffix('.png')}", file=sys.stderr)


if __name__ == "__main__":
    main()
