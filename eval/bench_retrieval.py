"""Retrieval benchmark: evidence-page recall@k of dense, BM25, hybrid (RRF) and hybrid + rerank.

    python -m eval.bench_retrieval [--docs DIR] [--out eval/out/retrieval.json] [--k 5]

The valid PDFs of the dev corpus are ingested once (docqa `Ingestor`, fresh Qdrant Edge store
in a temp DOCQA home). Then, for every answerable question of `qa.jsonl` (non-empty
`evidence_pages`), each method searches the question's own document (`doc_ids=[doc]`); a
question is a hit when one of the top-k chunks covers an evidence page (a chunk covers
`page..page_end`). Reported overall, per document type (`extra.doc_type`, else guessed from
the file name) and with the mean latency per query (query embedding, search and reranking;
models are warmed up first).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DOCS = ROOT.parent / "shared" / "corpus" / "dev"
# Files of the dev corpus that are meant to fail (corrupt, encrypted).
BAD = ("corrupt_", "encrypted_")
METHODS = ("dense", "bm25", "hybrid", "hybrid+rerank")


def doc_type(q: dict[str, Any]) -> str:
    extra = q.get("extra") or {}
    if extra.get("doc_type"):
        return str(extra["doc_type"])
    name = q["doc"].lower()
    if "10k" in name or "earnings" in name:
        return "10-K/earnings (FinanceBench)"
    if name.startswith("report") or "slide" in name:
        return "slide deck"
    if name[:4].isdigit() or "tacl" in name:
        return "paper"
    return "report"


def load_questions(docs: Path) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in (docs / "qa.jsonl").read_text().splitlines() if line]
    return [r for r in rows if r.get("evidence_pages")]


def ingest(docs: Path, home: Path) -> dict[str, str]:
    """Ingest the valid PDFs into `home`; file name -> doc_id."""
    from docqa.config import Settings
    from docqa.runtime import Runtime
    from ingest.pipeline import Ingestor

    files = sorted(p for p in docs.glob("*.pdf") if not p.name.startswith(BAD))
    settings = Settings(home=home)
    rt = Runtime(settings)
    t0 = time.perf_counter()
    report = Ingestor.from_runtime(rt).run(files)
    print(f"ingested {len(files)} files in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    rt.close()
    return {
        Path(d.path).name: d.doc_id
        for d in report.documents
        if d.doc_id and d.status.value != "failed"
    }


def evaluate(home: Path, doc_ids: dict[str, str], qs: list[dict[str, Any]], k: int) -> Any:
    from docqa.config import Settings
    from docqa.retrieval import CrossEncoderReranker, Retriever
    from docqa.runtime import Runtime
    from docqa.types import SearchHit

    rt = Runtime(Settings(home=home))
    searcher = rt.searcher
    retriever = Retriever(searcher, CrossEncoderReranker.from_registry(rt.registry))
    runs: dict[str, Callable[[str, list[str]], list[SearchHit]]] = {
        "dense": lambda q, d: searcher.run(q, k=k, doc_ids=d, mode="dense"),
        "bm25": lambda q, d: searcher.run(q, k=k, doc_ids=d, mode="sparse"),
        "hybrid": lambda q, d: searcher.run(q, k=k, doc_ids=d, mode="hybrid"),
        "hybrid+rerank": lambda q, d: retriever.run(q, k=k, doc_ids=d, candidates=30),
    }
    for run in runs.values():
        run("warm-up query about revenue", list(doc_ids.values())[:1])

    per_q: list[dict[str, Any]] = []
    for q in qs:
        doc = doc_ids.get(q["doc"])
        if doc is None:
            print(f"skipped {q['id']}: {q['doc']} not ingested", file=sys.stderr)
            continue
        evidence = set(q["evidence_pages"])
        row: dict[str, Any] = {"id": q["id"], "doc": q["doc"], "type": doc_type(q)}
        for name, run in runs.items():
            t0 = time.perf_counter()
            hits = run(q["question"], [doc])
            row[f"{name}_s"] = time.perf_counter() - t0
            row[name] = any(p in evidence for h in hits[:k] for p in range(h.page, h.page_end + 1))
        per_q.append(row)
    rt.close()
    return per_q


def summarize(per_q: list[dict[str, Any]]) -> dict[str, Any]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in per_q:
        groups["all"].append(r)
        groups[r["type"]].append(r)
    out: dict[str, Any] = {}
    for g, rows in groups.items():
        out[g] = {"n": len(rows)} | {
            m: round(sum(r[m] for r in rows) / len(rows), 3) for m in METHODS
        }
    out["latency_ms"] = {
        m: round(1000 * sum(r[f"{m}_s"] for r in per_q) / len(per_q), 1) for m in METHODS
    }
    return out


def table(summary: dict[str, Any], k: int) -> str:
    head = f"| group | n | {' | '.join(f'{m} R@{k}' for m in METHODS)} |"
    lines = [head, "|" + "---|" * (len(METHODS) + 2)]
    groups = ["all", *sorted(g for g in summary if g not in ("all", "latency_ms"))]
    for g in groups:
        s = summary[g]
        lines.append(f"| {g} | {s['n']} | " + " | ".join(f"{s[m]:.3f}" for m in METHODS) + " |")
    lat = summary["latency_ms"]
    lines.append("| mean latency (ms/query) | | " + " | ".join(f"{lat[m]}" for m in METHODS) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--docs", type=Path, default=DEFAULT_DOCS)
    ap.add_argument("--out", type=Path, default=ROOT / "eval" / "out" / "retrieval.json")
    ap.add_argument("--k", type=int, default=5)
    a = ap.parse_args()
    if not (a.docs / "qa.jsonl").is_file():
        sys.exit(f"no qa.jsonl in {a.docs} (pass --docs DIR)")
    qs = load_questions(a.docs)
    with tempfile.TemporaryDirectory(prefix="docqa-bench-retrieval-") as tmp:
        home = Path(tmp)
        doc_ids = ingest(a.docs, home)
        per_q = evaluate(home, doc_ids, qs, a.k)
    summary = summarize(per_q)
    print(table(summary, a.k))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(
        json.dumps(
            {
                "date": datetime.now(UTC).strftime("%Y-%m-%d"),
                "machine": f"{platform.machine()}, Python {platform.python_version()}",
                "k": a.k,
                "candidates": 30,
                "summary": summary,
                "questions": per_q,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
