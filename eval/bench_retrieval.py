"""Retrieval benchmark: does the evidence page reach the reader, and which lever gets it there?

    python -m eval.bench_retrieval [--docs DIR] [--home DIR] [--k 5] [--candidates 20]
                                   [--methods rerank,prompt] [--out eval/out/retrieval.json]

The valid PDFs of the dev corpus are ingested (docqa `Ingestor`) into `--home` (reused when it
already holds them: one ingest serves several runs) or a temp DOCQA home. Then, for every
answerable question of `qa.jsonl` (non-empty `evidence_pages`), each method searches the
question's own document; a question is a hit when one of the method's top-k units covers an
evidence page (a chunk covers `page..page_end`).

Methods (chunks unless said otherwise):
- `dense`, `bm25`, `hybrid` (RRF): the search alone, top k chunks;
- `rerank`: hybrid top `--candidates` reranked by the cross-encoder (what `rag` uses: each
  chunk read with its context line, `SearchHit.search_text`), top k;
- `rerank-text`: the same, the reranker reading the chunk's text alone (the context line's
  share in reranking; on a store indexed without context lines it equals `rerank`);
- `rerank@50`: the same over a pool of 50 (is a bigger pool worth its time?);
- `rerank+qx-search`: `rerank` with the question expanded for the search only
  (`docqa.query.expand_query`: fiscal years spelled out, a metric's line items), reranked by the
  question as asked; `rerank+qx`: expanded for both;
- `rerank+bare`, `prompt+bare`: `rerank` and `prompt` with the search and the reranker reading
  the question without its answer-format instructions (`docqa.query.search_question`,
  `answer.search_without_instructions`);
- `rerank+distinct`, `prompt+distinct`: `rerank` and `prompt` with a reranked chunk that
  repeats a better one left out (`answer.distinct_passages` = `DISTINCT`,
  `docqa.retrieval.distinct`);
- `dense+hyde`, `hybrid+hyde`, `rerank+hyde`, `prompt+hyde`: `dense`, `hybrid`, `rerank` and
  `prompt` searching with the question plus a passage the answering model writes as if it
  answered it (HyDE, `eval.hyde`), written once per question (its time is `hyde_gen_s`);
  the reranker reads the question as asked;
- `pages`: the reranked pool grouped by page, pages ranked by their best chunk, top k *pages*
  (a different unit: k pages hold more text than k chunks);
- `prompt`: the passages `rag_prompt` actually gives the model (passage budget of
  `AnswerSettings`, the answering model's tokenizer), any evidence page among them; with
  `prompt_recall`, the share of a question's evidence pages among them (the eval's figure);
- `prompt-pages`: the same with `answer.passages = "pages"` (whole pages in the prompt);
- `rerank+refs`, `prompt+refs`: the chunks holding a figure, table or section the question
  names join the candidates (`answer.follow_references`);
- `rerank+statements`, `prompt+statements`: the chunks on the pages of the document's primary
  financial statements join the candidates (`answer.statements = "pool"`, `docqa.statements`);
  `prompt+statements-lead`: the best of them leads the passages (`answer.statements = "lead"`);
  `prompt+refs+statements-lead`: both levers at once.

Every figure is reported for all questions and for two fixed halves, split by a hash of the
question id (`split_of`): `tune`, on which levers and thresholds may be chosen, and `held-out`,
which no choice may look at. A lever that only helps `tune` is tuned to the dev questions.
"""

from __future__ import annotations

import argparse
import hashlib
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
METHODS = (
    "dense",
    "bm25",
    "hybrid",
    "rerank-text",
    "rerank",
    "rerank+refs",
    "rerank+statements",
    "rerank@50",
    "rerank+qx-search",
    "rerank+qx",
    "rerank+bare",
    "rerank+distinct",
    "dense+hyde",
    "hybrid+hyde",
    "rerank+hyde",
    "pages",
    "prompt",
    "prompt-pages",
    "prompt+hyde",
    "prompt+bare",
    "prompt+distinct",
    "prompt+refs",
    "prompt+statements",
    "prompt+statements-lead",
    "prompt+refs+statements-lead",
)
PROMPTS = tuple(m for m in METHODS if m.startswith("prompt"))
"""Methods that build the RAG prompt (`rag_prompt`): their evidence share and tokens are
reported too."""
HYDE = ("dense+hyde", "hybrid+hyde", "rerank+hyde", "prompt+hyde")
"""Methods that search with the question plus the answering model's hypothetical passage
(`eval.hyde`); the reranker reads the question alone."""
BIG_POOL = 50
DISTINCT = 0.7
"""`distinct` arms: the word 3-gram resemblance above which a chunk repeats a better one. Set
before any run (a CEO's and a CFO's certification differ in a name and a title: ~0.8), not
fitted."""


def split_of(item_id: str) -> str:
    """`held-out` for about a third of the questions, `tune` for the rest; fixed by the id."""
    return (
        "held-out" if int(hashlib.sha256(item_id.encode()).hexdigest()[:8], 16) % 3 == 0 else "tune"
    )


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
    """The valid PDFs of `docs` in the store at `home` (ingested unless already there);
    file name -> doc_id."""
    from docqa.config import Settings
    from docqa.runtime import Runtime
    from ingest.pipeline import Ingestor

    files = sorted(p for p in docs.glob("*.pdf") if not p.name.startswith(BAD))
    rt = Runtime(Settings(home=home))
    try:
        ready = {d.filename: d.doc_id for d in rt.store.list_documents()}
        todo = [f for f in files if f.name not in ready]
        if todo:
            t0 = time.perf_counter()
            report = Ingestor.from_runtime(rt).run(todo)
            print(
                f"ingested {len(todo)} files in {time.perf_counter() - t0:.0f} s", file=sys.stderr
            )
            for d in report.documents:
                if d.doc_id and d.status.value != "failed":
                    ready[Path(d.path).name] = d.doc_id
        return ready
    finally:
        rt.close()


def covers(pages: list[tuple[int, int]], evidence: set[int]) -> bool:
    return any(p in evidence for a, b in pages for p in range(a, b + 1))


def evaluate(
    home: Path,
    doc_ids: dict[str, str],
    qs: list[dict[str, Any]],
    k: int,
    candidates: int,
    methods: tuple[str, ...] = METHODS,
) -> list[dict[str, Any]]:
    from docqa.answer.strategies import rag_prompt
    from docqa.config import AnswerSettings, Settings
    from docqa.query import expand_query, search_question
    from docqa.retrieval import lead_with_named
    from docqa.runtime import Runtime
    from docqa.types import SearchHit
    from eval.hyde import hyde_query, hypothetical_passage

    settings = Settings(home=home)
    answer = settings.answer.model_copy(update={"candidates": candidates})
    rt = Runtime(settings)
    searcher, retriever = rt.searcher, rt.retriever
    count_tokens = rt.generator.count_tokens

    def spans(hits: list[SearchHit]) -> list[tuple[int, int]]:
        return [(h.page, h.page_end) for h in hits[:k]]

    def by_page(hits: list[SearchHit]) -> list[tuple[int, int]]:
        best: dict[int, float] = {}
        for h in hits:  # best first: the first hit of a page is its best
            best.setdefault(h.page, h.score)
        return [(p, p) for p in sorted(best, key=lambda p: -best[p])[:k]]

    by_pages = answer.model_copy(update={"passages": "pages"})
    with_refs = answer.model_copy(update={"follow_references": True})
    with_statements = answer.model_copy(update={"statements": "pool"})
    leading_statements = answer.model_copy(update={"statements": "lead"})
    both = answer.model_copy(update={"statements": "lead", "follow_references": True})
    bare = answer.model_copy(update={"search_without_instructions": True})
    unrepeated = answer.model_copy(update={"distinct_passages": DISTINCT})

    def with_named(q: str, d: list[str]) -> list[SearchHit]:
        """Reranked hits with the chunks of the figures, tables and sections `q` names first."""
        return lead_with_named(
            retriever.run(q, k=k, doc_ids=d, candidates=candidates, references=True)
        )

    hyde: dict[str, str] = {}  # question -> question + hypothetical passage

    def prompt_pages(
        q: str, d: list[str], how: AnswerSettings = answer, search: str | None = None
    ) -> list[tuple[int, int]]:
        prompt = rag_prompt(q, retriever, count_tokens, how, doc_ids=d, search_query=search)
        row_tokens.append(prompt.context_tokens)
        return [(p.page or 0, p.page_end or p.page or 0) for p in prompt.passages]

    row_tokens: list[int] = []

    runs: dict[str, Callable[[str, list[str]], list[tuple[int, int]]]] = {
        "dense": lambda q, d: spans(searcher.run(q, k=k, doc_ids=d, mode="dense")),
        "bm25": lambda q, d: spans(searcher.run(q, k=k, doc_ids=d, mode="sparse")),
        "hybrid": lambda q, d: spans(searcher.run(q, k=k, doc_ids=d, mode="hybrid")),
        "rerank-text": lambda q, d: spans(
            retriever.reranker.rerank(
                q,
                [
                    h.model_copy(update={"context": None})
                    for h in searcher.run(q, k=candidates, doc_ids=d, mode="hybrid")
                ],
                top_k=k,
            )
        ),
        "rerank": lambda q, d: spans(retriever.run(q, k=k, doc_ids=d, candidates=candidates)),
        "rerank+refs": lambda q, d: spans(with_named(q, d)),
        "rerank+statements": lambda q, d: spans(
            retriever.run(q, k=k, doc_ids=d, candidates=candidates, statements="pool")
        ),
        "rerank@50": lambda q, d: spans(retriever.run(q, k=k, doc_ids=d, candidates=BIG_POOL)),
        "rerank+qx-search": lambda q, d: spans(
            retriever.reranker.rerank(
                q, searcher.run(expand_query(q), k=candidates, doc_ids=d), top_k=k
            )
        ),
        "rerank+qx": lambda q, d: spans(
            retriever.run(expand_query(q), k=k, doc_ids=d, candidates=candidates)
        ),
        "rerank+bare": lambda q, d: spans(
            retriever.run(search_question(q), k=k, doc_ids=d, candidates=candidates)
        ),
        "rerank+distinct": lambda q, d: spans(
            retriever.run(q, k=k, doc_ids=d, candidates=candidates, distinct_above=DISTINCT)
        ),
        "dense+hyde": lambda q, d: spans(searcher.run(hyde[q], k=k, doc_ids=d, mode="dense")),
        "hybrid+hyde": lambda q, d: spans(searcher.run(hyde[q], k=k, doc_ids=d, mode="hybrid")),
        "rerank+hyde": lambda q, d: spans(
            retriever.run(q, k=k, doc_ids=d, candidates=candidates, search_query=hyde[q])
        ),
        "prompt+hyde": lambda q, d: prompt_pages(q, d, search=hyde[q]),
        "prompt+bare": lambda q, d: prompt_pages(q, d, bare),
        "prompt+distinct": lambda q, d: prompt_pages(q, d, unrepeated),
        "pages": lambda q, d: by_page(
            retriever.run(q, k=candidates, doc_ids=d, candidates=candidates)
        ),
        "prompt": prompt_pages,
        "prompt-pages": lambda q, d: prompt_pages(q, d, by_pages),
        "prompt+refs": lambda q, d: prompt_pages(q, d, with_refs),
        "prompt+statements": lambda q, d: prompt_pages(q, d, with_statements),
        "prompt+statements-lead": lambda q, d: prompt_pages(q, d, leading_statements),
        "prompt+refs+statements-lead": lambda q, d: prompt_pages(q, d, both),
    }
    runs = {m: runs[m] for m in methods}
    warm = "warm-up query about revenue"
    hyde[warm] = warm
    for run in runs.values():
        run(warm, list(doc_ids.values())[:1])

    per_q: list[dict[str, Any]] = []
    for q in qs:
        doc = doc_ids.get(q["doc"])
        if doc is None:
            print(f"skipped {q['id']}: {q['doc']} not ingested", file=sys.stderr)
            continue
        evidence = set(q["evidence_pages"])
        row: dict[str, Any] = {
            "id": q["id"],
            "doc": q["doc"],
            "type": doc_type(q),
            "split": split_of(q["id"]),
        }
        if any(m in HYDE for m in runs):
            t0 = time.perf_counter()
            passage = hypothetical_passage(q["question"], rt.generator)
            row["hyde_gen_s"] = time.perf_counter() - t0
            row["hyde_passage"] = passage
            hyde[q["question"]] = hyde_query(q["question"], passage)
        for name, run in runs.items():
            t0 = time.perf_counter()
            got = run(q["question"], [doc])
            row[f"{name}_s"] = time.perf_counter() - t0
            row[name] = covers(got, evidence)
            if name in PROMPTS:
                seen = {p for a, b in got for p in range(a, b + 1)}
                row[f"{name}_recall"] = len(seen & evidence) / len(evidence)
                row[f"{name}_seen"] = sorted(seen)
                row[f"{name}_tokens"] = row_tokens[-1]
        per_q.append(row)
    rt.close()
    return per_q


def figures(methods: tuple[str, ...]) -> tuple[str, ...]:
    """The summary's columns for `methods`: each method's hit rate, then the prompt methods'
    evidence recall and tokens."""
    prompts = [p for p in PROMPTS if p in methods]
    return (*methods, *(f"{p}_recall" for p in prompts), *(f"{p}_tokens" for p in prompts))


def methods_of(per_q: list[dict[str, Any]]) -> tuple[str, ...]:
    return tuple(m for m in METHODS if per_q and m in per_q[0])


def summarize(per_q: list[dict[str, Any]]) -> dict[str, Any]:
    methods = methods_of(per_q)
    cols = figures(methods)
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in per_q:
        groups["all"].append(r)
        groups[f"split: {r['split']}"].append(r)
        groups[r["type"]].append(r)
    out: dict[str, Any] = {}
    for g, rows in groups.items():
        out[g] = {"n": len(rows)} | {m: round(sum(r[m] for r in rows) / len(rows), 3) for m in cols}
    out["latency_ms"] = {
        m: round(1000 * sum(r[f"{m}_s"] for r in per_q) / len(per_q), 1) for m in methods
    }
    if per_q and "hyde_gen_s" in per_q[0]:
        out["hyde_generation_ms"] = round(1000 * sum(r["hyde_gen_s"] for r in per_q) / len(per_q))
    return out


def table(summary: dict[str, Any], k: int) -> str:
    methods = tuple(m for m in METHODS if m in summary["latency_ms"])
    cols = figures(methods)
    names = [f"{m} @{k}" if m not in PROMPTS else m for m in methods]
    names += [c.replace("_", " ") for c in cols[len(methods) :]]
    head = f"| group | n | {' | '.join(names)} |"
    lines = [head, "|" + "---|" * (len(cols) + 2)]
    splits = sorted(g for g in summary if g.startswith("split: "))
    types = sorted(
        g for g in summary if g not in ("all", "latency_ms", "hyde_generation_ms", *splits)
    )
    for g in ["all", *splits, *types]:
        s = summary[g]
        cells = [f"{s[m]:.0f}" if m.endswith("_tokens") else f"{s[m]:.3f}" for m in cols]
        lines.append(f"| {g} | {s['n']} | " + " | ".join(cells) + " |")
    lat = summary["latency_ms"]
    lines.append(
        "| mean latency (ms/query) | | "
        + " | ".join(f"{lat[m]}" for m in methods)
        + " |" * (len(cols) - len(methods) + 1)
    )
    if "hyde_generation_ms" in summary:
        lines.append(f"HyDE passage: {summary['hyde_generation_ms']} ms per question")
    return "\n".join(lines)


def main() -> None:
    from docqa.config import AnswerSettings

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--docs", type=Path, default=DEFAULT_DOCS)
    ap.add_argument("--home", type=Path, default=None, help="DOCQA home to ingest into / reuse")
    ap.add_argument("--out", type=Path, default=ROOT / "eval" / "out" / "retrieval.json")
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--candidates", type=int, default=AnswerSettings().candidates)
    ap.add_argument(
        "--methods",
        default=",".join(METHODS),
        help=f"comma-separated subset of: {', '.join(METHODS)} (default: all)",
    )
    a = ap.parse_args()
    methods = tuple(m.strip() for m in a.methods.split(",") if m.strip())
    if unknown := [m for m in methods if m not in METHODS]:
        sys.exit(f"unknown methods {unknown}; choose from {', '.join(METHODS)}")
    if not (a.docs / "qa.jsonl").is_file():
        sys.exit(f"no qa.jsonl in {a.docs} (pass --docs DIR)")
    qs = load_questions(a.docs)
    with tempfile.TemporaryDirectory(prefix="docqa-bench-retrieval-") as tmp:
        home = a.home or Path(tmp)
        doc_ids = ingest(a.docs, home)
        per_q = evaluate(home, doc_ids, qs, a.k, a.candidates, methods)
    summary = summarize(per_q)
    print(table(summary, a.k))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(
        json.dumps(
            {
                "date": datetime.now(UTC).strftime("%Y-%m-%d"),
                "machine": f"{platform.machine()}, Python {platform.python_version()}",
                "k": a.k,
                "candidates": a.candidates,
                "summary": summary,
                "questions": per_q,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
