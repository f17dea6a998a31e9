"""Answer latency with the default model on real documents: RAG time to first token and total,
and long context with the document KV cache (first vs later questions on the same document).

    python -m eval.bench_answer [--corpus DIR] [--out FILE] [--rag N]

Ingests the documents it needs from the dev corpus into its own home (`<out dir>/bench-home`),
empties the KV cache, then:

1. long context on `--lc-doc` (a document that fits the window): question 1 (computes and saves
   the document's state), a RAG question (the model's cache moves elsewhere, as in real use),
   then questions 2 and 3 (state loaded from disk). Target: TTFT at least 10x lower the second
   time.
2. RAG on `--rag` answerable questions of the ingested documents: TTFT and total per answer.

Everything runs for real (Qdrant Edge, MiniLM, reranker, citation checker, the 1.5B through
llama.cpp); the machine's load shows in the numbers, so run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
from datetime import date
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from docqa.config import GenerationSettings, Settings
from docqa.runtime import Runtime
from docqa.search import resolve_document
from docqa.types import Answer
from ingest.pipeline import Ingestor

ROOT = Path(__file__).resolve().parents[1]
console = Console()


def _questions(corpus: Path, docs: set[str]) -> list[dict[str, Any]]:
    out = []
    for line in (corpus / "qa.jsonl").read_text().splitlines():
        q = json.loads(line)
        if q["doc"] in docs and q["answer"] != "Not answerable":
            out.append(q)
    return out


def _row(kind: str, q: dict[str, Any], a: Answer) -> dict[str, Any]:
    return {
        "kind": kind,
        "id": q["id"],
        "doc": q["doc"],
        "question": q["question"],
        "gold": q["answer"],
        "answer": a.answer,
        "abstained": a.abstained,
        "strategy": a.route.strategy,
        "ttft": a.timings.time_to_first_token,
        "total": a.timings.total,
        "retrieval": a.timings.retrieval,
        "prefill": a.timings.prefill,
        "generation": a.timings.generation,
        "check": a.timings.check,
        "prompt_tokens": a.tokens.prompt,
        "completion_tokens": a.tokens.completion,
        "cached_tokens": a.tokens.cached,
        "cited_pages": sorted({c.page for c in a.citations if c.page is not None}),
        "evidence_pages": q["evidence_pages"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus" / "dev")
    ap.add_argument("--out", type=Path, default=ROOT / "eval" / "out" / "answer.json")
    ap.add_argument("--lc-doc", default="ULTABEAUTY_2023Q4_EARNINGS.pdf")
    ap.add_argument("--rag-docs", default="ULTABEAUTY_2023Q4_EARNINGS.pdf,tacl_a_00660.pdf")
    ap.add_argument("--rag", type=int, default=8, help="RAG questions to time")
    ap.add_argument("--model", default="qwen2.5-1.5b")
    args = ap.parse_args()

    home = args.out.parent / "bench-home"
    rag_docs = [d for d in args.rag_docs.split(",") if d]
    settings = Settings(home=home, generation=GenerationSettings(model=args.model))
    rt = Runtime(settings)
    rows: list[dict[str, Any]] = []
    try:
        files = [args.corpus / d for d in {args.lc_doc, *rag_docs}]
        report = Ingestor.from_runtime(rt).run(files)
        for r in report.documents:
            console.print(f"{r.status.value}: {Path(r.path).name} ({r.pages} pages)")
        shutil.rmtree(settings.kv_cache_dir, ignore_errors=True)

        lc_qs = _questions(args.corpus, {args.lc_doc})[:3]
        rag_qs = _questions(args.corpus, set(rag_docs))[: args.rag]
        doc = resolve_document(rt.store, args.lc_doc)
        console.print(f"long context on {args.lc_doc}: {len(lc_qs)} questions")
        for i, q in enumerate(lc_qs):
            if i == 1:  # another question takes the model's cache, as in real use
                rt.answerer.ask(rag_qs[0]["question"], strategy="rag")
            a = rt.answerer.ask(q["question"], [doc], "long-context")
            rows.append(_row(f"long-context q{i + 1}", q, a))
            console.print(
                f"  q{i + 1}: ttft {a.timings.time_to_first_token:.1f} s (prefill "
                f"{a.timings.prefill:.1f} s, cached {a.tokens.cached} of {a.tokens.prompt} "
                f"tokens), total {a.timings.total:.1f} s: {a.answer[:100]!r}"
            )
        console.print(f"RAG: {len(rag_qs)} questions")
        for q in rag_qs:
            scope = [resolve_document(rt.store, q["doc"])]
            a = rt.answerer.ask(q["question"], scope, "rag")
            rows.append(_row("rag", q, a))
            console.print(
                f"  {q['id']}: ttft {a.timings.time_to_first_token or 0:.1f} s, total "
                f"{a.timings.total:.1f} s, {a.tokens.prompt} prompt tokens: {a.answer[:100]!r}"
            )
    finally:
        rt.close()

    lc = [r for r in rows if r["kind"].startswith("long-context")]
    rag = [r for r in rows if r["kind"] == "rag"]
    later = [r["ttft"] for r in lc[1:] if r["ttft"] is not None]
    summary: dict[str, Any] = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "model": args.model,
        "long_context": {
            "doc": args.lc_doc,
            "prompt_tokens": lc[0]["prompt_tokens"] if lc else None,
            "first_ttft": lc[0]["ttft"] if lc else None,
            "later_ttft_mean": statistics.mean(later) if later else None,
            "speedup": (lc[0]["ttft"] / statistics.mean(later))
            if later and lc[0]["ttft"]
            else None,
        },
        "rag": {
            "n": len(rag),
            "ttft_p50": statistics.median(r["ttft"] for r in rag if r["ttft"] is not None)
            if rag
            else None,
            "total_p50": statistics.median(r["total"] for r in rag) if rag else None,
            "total_mean": statistics.mean(r["total"] for r in rag) if rag else None,
            "prompt_tokens_mean": statistics.mean(r["prompt_tokens"] for r in rag) if rag else None,
            "abstained": sum(r["abstained"] for r in rag),
        },
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2))
    t = Table(title=f"answer latency, {args.model} ({summary['machine']})")
    for col in ("kind", "ttft s", "total s", "prompt tok", "cached tok", "answer"):
        t.add_column(col)
    for row in rows:
        t.add_row(
            row["kind"],
            f"{row['ttft']:.1f}" if row["ttft"] is not None else "-",
            f"{row['total']:.1f}",
            str(row["prompt_tokens"]),
            str(row["cached_tokens"]),
            row["answer"][:60],
        )
    console.print(t)
    console.print(json.dumps({k: v for k, v in summary.items() if k != "rows"}, indent=2))


if __name__ == "__main__":
    main()
