"""Whole-page vectors fused with chunk retrieval: does a strong page lift its chunks?

    python -m eval.bench_pagefusion [--docs DIR] [--home DIR] [--out eval/out/pagefusion.json]

The pages of each dev document with questions are embedded whole by position-interpolated MiniLM
(`eval.longembed`, the best whole-page embedder of `eval.bench_longembed`) and ranked by cosine
against each answerable question. The RAG candidates (the hybrid top 20 reranked, what `rag`
uses) are then changed in three ways:

- `pool P`: the chunks on the top P pages join the reranker's pool (P = 1, 2, 3);
- `lift L`: as `pool P`, and a chunk on one of those pages has L added to its reranker logit;
- `rrf K`: as `pool P` (P = 0: the pool unchanged), chunks ordered by reciprocal-rank fusion of
  their reranker rank and their page's rank, 1/(K + rank).

For each variant: rerank hit@5 (an evidence page among the top 5 chunks) and what the prompt gets
(`select_passages` with the answer settings): an evidence page among its passages (`any`), the
share of the evidence pages, and passage tokens; for all questions and the tune / held-out split
of `eval.bench_retrieval.split_of`.

Adoption rule, fixed before the first run (2026-12-05): a variant goes into the product when it
gains at least 2 of the 44 tune questions in prompt `any` over the baseline and loses none of
the held-out ones. Otherwise `embedding.long_mode` and the page embedder leave the engine.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from docqa.retrieval import chunk_hit
from docqa.types import SearchHit
from eval.bench_retrieval import DEFAULT_DOCS, covers, ingest, load_questions, split_of

ROOT = Path(__file__).resolve().parents[1]
POOL = 20
K = 5


@dataclass(frozen=True)
class Variant:
    name: str
    pages: int = 0
    """Chunks on the top `pages` pages join the pool."""
    lift: float = 0.0
    """Added to the reranker logit of a chunk on one of those pages."""
    rrf: int | None = None
    """Order by 1/(rrf + reranker rank) + 1/(rrf + page rank) instead of the logit."""


VARIANTS = (
    Variant("baseline"),
    *(Variant(f"rrf {k}", rrf=k) for k in (10, 60)),
    *(
        v
        for p in (1, 2, 3)
        for v in (
            Variant(f"pool {p}", pages=p),
            *(Variant(f"pool {p} + lift {lift:g}", pages=p, lift=lift) for lift in (1.0, 2.0, 4.0)),
            *(Variant(f"pool {p} + rrf {k}", pages=p, rrf=k) for k in (10, 60)),
        )
    ),
)


def fuse(reranked: Sequence[SearchHit], page_order: Sequence[int], v: Variant) -> list[SearchHit]:
    """`reranked` (the pool, `score` = reranker logit) in the variant's order, best first.
    `page_order`: the document's pages, best page vector first."""
    top = set(page_order[: v.pages])
    if v.rrf is None:
        return sorted(reranked, key=lambda h: -(h.score + (v.lift if h.page in top else 0.0)))
    by_logit = sorted(reranked, key=lambda h: -h.score)
    prank = {p: r for r, p in enumerate(page_order)}
    k = v.rrf

    def fused(item: tuple[int, SearchHit]) -> float:
        r, h = item
        return -(1 / (k + r) + 1 / (k + prank.get(h.page, len(prank))))

    return [h for _, h in sorted(enumerate(by_logit), key=fused)]


def evaluate(
    home: Path, doc_ids: dict[str, str], qs: list[dict[str, Any]], progress: bool = True
) -> list[dict[str, Any]]:
    from docqa.answer.budget import select_passages
    from docqa.config import Settings
    from docqa.runtime import Runtime
    from eval.longembed import load_long_embedder

    settings = Settings(home=home)
    ans = settings.answer
    rt = Runtime(settings)
    count: Callable[[str], int] = rt.generator.count_tokens
    long = load_long_embedder(settings.embedding, rt.registry, base=rt.embedder)
    pages: dict[str, tuple[list[int], np.ndarray[Any, Any]]] = {}
    chunks: dict[str, list[SearchHit]] = {}
    t0 = time.perf_counter()
    for name in sorted({q["doc"] for q in qs} & set(doc_ids)):
        did = doc_ids[name]
        stored = sorted(rt.store.get_pages(did), key=lambda p: p.page)
        vectors = np.asarray(long.embed_documents([p.text or "" for p in stored]))
        pages[did] = ([p.page for p in stored], vectors)
        chunks[did] = [chunk_hit(c, name) for c in rt.store.get_chunks(did)]
    embed_s = time.perf_counter() - t0
    if progress:
        print(f"{sum(len(p) for p, _ in pages.values())} pages in {embed_s:.0f} s", file=sys.stderr)

    rows: list[dict[str, Any]] = []
    for q in qs:
        if q["doc"] not in doc_ids:
            continue
        did = doc_ids[q["doc"]]
        evidence = set(q["evidence_pages"])
        numbers, vectors = pages[did]
        qv = np.asarray(long.embed_query(q["question"])).reshape(-1)
        order = [numbers[i] for i in np.argsort(-(vectors @ qv), kind="stable")]
        logits = {
            h.chunk_index: h.score
            for h in rt.retriever.run(q["question"], k=POOL, doc_ids=[did], candidates=POOL)
        }
        row: dict[str, Any] = {
            "id": q["id"],
            "split": split_of(q["id"]),
            "page_vector@5": bool(set(order[:K]) & evidence),
        }
        for v in VARIANTS:
            top = set(order[: v.pages])
            new = [c for c in chunks[did] if c.page in top and c.chunk_index not in logits]
            for h in rt.retriever.reranker.rerank(q["question"], new):
                logits[h.chunk_index] = h.score
            keep = {h.chunk_index for h in chunks[did] if h.page in top} | set(list(logits)[:POOL])
            pool = [
                c.model_copy(update={"score": logits[c.chunk_index]})
                for c in chunks[did]
                if c.chunk_index in keep
            ]
            ranked = fuse(pool, order, v)
            sel = select_passages(
                ranked,
                count,
                min_passages=ans.min_passages,
                max_passages=ans.max_passages,
                min_score=ans.min_rerank_score,
                max_tokens=ans.context_tokens,
                scored=True,
            )
            seen = {p for h in sel.hits for p in range(h.page, h.page_end + 1)}
            row[v.name] = {
                "hit5": covers([(h.page, h.page_end) for h in ranked[:K]], evidence),
                "any": bool(seen & evidence),
                "share": len(seen & evidence) / len(evidence),
                "tokens": sel.tokens,
                "pool": len(pool),
            }
        rows.append(row)
        if progress:
            print(q["id"], row["split"], row["baseline"]["any"], file=sys.stderr)
    rt.close()
    return rows


def summarize(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups["all"].append(r)
        groups[r["split"]].append(r)
    out: dict[str, dict[str, Any]] = {}
    for g, rs in groups.items():
        out[g] = {"n": len(rs), "page_vector@5": float(np.mean([r["page_vector@5"] for r in rs]))}
        for v in VARIANTS:
            out[g][v.name] = {
                m: float(np.mean([float(r[v.name][m]) for r in rs]))
                for m in ("hit5", "any", "share", "tokens", "pool")
            }
            out[g][v.name]["any_count"] = sum(r[v.name]["any"] for r in rs)
    return out


def adopted(summary: dict[str, dict[str, Any]]) -> list[str]:
    """The variants the fixed rule adopts: +2 tune questions in prompt `any`, none lost held out."""
    tune, held = summary.get("tune", {}), summary.get("held-out", {})
    if not tune or not held:
        return []
    return [
        v.name
        for v in VARIANTS[1:]
        if tune[v.name]["any_count"] >= tune["baseline"]["any_count"] + 2
        and held[v.name]["any_count"] >= held["baseline"]["any_count"]
    ]


def table(summary: dict[str, dict[str, Any]]) -> str:
    groups = [g for g in ("all", "tune", "held-out") if g in summary]
    head = "| variant | " + " | ".join(
        f"{g} ({summary[g]['n']}): hit@5 / prompt any / share / tokens" for g in groups
    )
    lines = [head + " | mean pool |", "|---|" + "---:|" * (len(groups) + 1)]
    for v in VARIANTS:
        cells = [
            "{hit5:.3f} / {any:.3f} / {share:.3f} / {tokens:,.0f}".format(**summary[g][v.name])
            for g in groups
        ]
        lines.append(
            f"| {v.name} | " + " | ".join(cells) + f" | {summary['all'][v.name]['pool']:.1f} |"
        )
    pv = " / ".join(f"{summary[g]['page_vector@5']:.3f}" for g in groups)
    lines.append(
        f"\nPage vectors alone, evidence page in the top {K} pages ({', '.join(groups)}): {pv}"
    )
    lines.append(f"Adopted by the fixed rule: {', '.join(adopted(summary)) or 'none'}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--docs", type=Path, default=DEFAULT_DOCS)
    ap.add_argument("--home", type=Path, default=None, help="DOCQA home to ingest into / reuse")
    ap.add_argument("--out", type=Path, default=ROOT / "eval" / "out" / "pagefusion.json")
    a = ap.parse_args()
    if not (a.docs / "qa.jsonl").is_file():
        sys.exit(f"no qa.jsonl in {a.docs} (pass --docs DIR)")
    qs = load_questions(a.docs)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="docqa-bench-pagefusion-") as tmp:
        home = a.home or Path(tmp)
        rows = evaluate(home, ingest(a.docs, home), qs)
    summary = summarize(rows)
    print(table(summary))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(
        json.dumps(
            {
                "date": datetime.now(UTC).strftime("%Y-%m-%d"),
                "machine": f"{platform.machine()}, Python {platform.python_version()}",
                "seconds": round(time.perf_counter() - t0, 1),
                "summary": summary,
                "adopted": adopted(summary),
                "questions": rows,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
