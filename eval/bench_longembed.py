"""Long-context embedding benchmark: truncation vs sub-window pooling vs position interpolation.

    python -m eval.bench_longembed [--corpus DIR] [--out DIR] [--limit N] [--configs a,b]

Every page of each dev PDF that has questions is parsed with the ingestion parser
(`ingest.parse.parse_page`, the whole-page `text`; OCR for image-only pages as in ingestion) and
embedded whole, once per configuration (`eval.longembed.LongTextEmbedder`). For every answerable
question with gold evidence pages, the pages of ITS document are ranked by cosine to the question
embedding. Reported overall and per document type (`extra.doc_type`): evidence-page recall@5 (the
fraction of gold pages in the top 5, averaged over questions), hit@5 (a gold page in the top 5)
and MRR of the first gold page; plus the seconds spent embedding the pages, per configuration.
Writes `longembed.md` and `longembed.json` to --out (default eval/out/longembed/).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from eval.longembed import LongMode

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus" / "dev"
K = 5


@dataclass(frozen=True)
class Config:
    name: str
    model: str
    """Registry name of the base embedder."""
    mode: LongMode
    options: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments of `LongTextEmbedder`."""
    note: str = ""


CONFIGS = [
    Config("truncate", "minilm", "truncate", note="MiniLM as is: cut at 256 tokens"),
    Config(
        "subwindow",
        "minilm",
        "subwindow",
        note="254-token windows, 32 overlap, mean weighted by window tokens",
    ),
    Config(
        "subwindow-mean",
        "minilm",
        "subwindow",
        {"weighted": False},
        note="same windows, plain mean",
    ),
    Config(
        "interpolate",
        "minilm",
        "interpolate",
        note="PI 512 -> 2048 learned positions; texts <= 256 tokens keep the original model",
    ),
    Config(
        "interpolate-all",
        "minilm",
        "interpolate",
        {"keep_short": False},
        note="PI 512 -> 2048 for every text, queries included",
    ),
    Config(
        "extend-512",
        "minilm",
        "interpolate",
        {"target_positions": 512},
        note="no interpolation: window raised to the 512 learned positions",
    ),
    Config("bge-truncate", "bge-small", "truncate", note="bge-small INT8 ONNX, cut at 512"),
    Config(
        "bge-subwindow",
        "bge-small",
        "subwindow",
        note="bge-small, 510-token windows, 32 overlap, weighted mean",
    ),
]


def doc_type(q: dict[str, Any]) -> str:
    extra = q.get("extra") or {}
    if extra.get("doc_type"):
        return str(extra["doc_type"])
    name = q["doc"].lower()
    # FinanceBench rows carry no doc_type; MMLongBench calls the same filings "Financial report"
    if "10k" in name or "earnings" in name or "10q" in name:
        return "Financial report"
    return "other"


def load_questions(corpus: Path) -> tuple[list[dict[str, Any]], int]:
    """Answerable questions with gold pages, and how many answerable ones have none."""
    rows = [json.loads(line) for line in (corpus / "qa.jsonl").read_text().splitlines() if line]
    answerable = [r for r in rows if r.get("answer") != "Not answerable"]
    scored = [r for r in answerable if r.get("evidence_pages")]
    return scored, len(answerable) - len(scored)


def parse_pages(corpus: Path, docs: list[str], progress: Any) -> dict[str, list[str]]:
    """File name -> whole-page texts (index 0 = page 1), parsed as ingestion does."""
    from docqa.config import IngestSettings
    from ingest.parse import ParseError, open_pdf, parse_page

    settings = IngestSettings(page_images=False)
    out: dict[str, list[str]] = {}
    for name in docs:
        try:
            pdf: Any = open_pdf(corpus / name)  # pymupdf is partly annotated
        except ParseError as exc:
            print(f"skipped {name}: {exc.message}", file=sys.stderr)
            continue
        task = progress.add_task(f"parse {name[:28]}", total=pdf.page_count)
        texts: list[str] = []
        try:
            for i in range(pdf.page_count):
                try:
                    texts.append(parse_page(pdf, i, settings, None, "bench").page.text)
                except ParseError:
                    texts.append("")
                progress.advance(task)
        finally:
            pdf.close()
        out[name] = texts
    return out


def score(ranked: list[int], gold: set[int]) -> dict[str, float]:
    top = ranked[:K]
    first = next((r for r, p in enumerate(ranked, start=1) if p in gold), None)
    return {
        "recall": sum(p in gold for p in top) / len(gold),
        "hit": float(any(p in gold for p in top)),
        "mrr": 1.0 / first if first else 0.0,
    }


def run_config(
    cfg: Config,
    base: Any,
    pages: dict[str, list[str]],
    qs: list[dict[str, Any]],
    progress: Any,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    from eval.longembed import LongTextEmbedder

    t0 = time.perf_counter()
    emb = LongTextEmbedder(base, cfg.mode, **cfg.options)
    build_s = time.perf_counter() - t0
    emb.embed_query("warm-up query about revenue")

    task = progress.add_task(f"embed {cfg.name}", total=sum(len(p) for p in pages.values()))
    vectors: dict[str, np.ndarray] = {}
    embed_s = 0.0
    windows = 0
    for name, texts in pages.items():
        if cfg.mode == "subwindow":
            windows += sum(len(emb.windows(t)) for t in texts)
        vecs = []
        for i in range(0, len(texts), 16):  # small slices so the progress bar moves
            t0 = time.perf_counter()
            vecs.append(emb.embed_documents(texts[i : i + 16]))
            embed_s += time.perf_counter() - t0
            progress.advance(task, len(texts[i : i + 16]))
        vectors[name] = np.concatenate(vecs)

    rows: list[dict[str, Any]] = []
    query_s = 0.0
    for q in qs:
        t0 = time.perf_counter()
        qv = emb.embed_query(q["question"])
        query_s += time.perf_counter() - t0
        sims = vectors[q["doc"]] @ qv
        ranked = [int(i) + 1 for i in np.argsort(-sims, kind="stable")]
        rows.append({"id": q["id"], "top": ranked[:K]} | score(ranked, set(q["evidence_pages"])))
    n_pages = sum(len(p) for p in pages.values())
    timing = {
        "build_s": round(build_s, 2),
        "embed_s": round(embed_s, 1),
        "pages_per_s": round(n_pages / embed_s, 2) if embed_s else None,
        "query_ms": round(1000 * query_s / max(len(qs), 1), 1),
        "windows": windows or None,
    }
    return timing, rows


def token_stats(pages: dict[str, list[str]], base: Any) -> dict[str, Any]:
    counts = [base.count_tokens(t) for texts in pages.values() for t in texts]
    arr = np.array(counts)
    return {
        "pages": len(counts),
        "median_tokens": int(np.median(arr)),
        "p90_tokens": int(np.percentile(arr, 90)),
        "max_tokens": int(arr.max()),
        "share_over_254": round(float((arr > 254).mean()), 3),
        "share_over_510": round(float((arr > 510).mean()), 3),
        "share_over_2046": round(float((arr > 2046).mean()), 3),
    }


def summarize(
    names: list[str], per_q: dict[str, list[dict[str, Any]]], qs: list[dict[str, Any]]
) -> dict[str, Any]:
    groups: dict[str, list[int]] = defaultdict(list)
    for i, q in enumerate(qs):
        groups["all"].append(i)
        groups[doc_type(q)].append(i)
    out: dict[str, Any] = {}
    for g, idx in groups.items():
        out[g] = {"n": len(idx)}
        for name in names:
            rows = [per_q[name][i] for i in idx]
            out[g][name] = {
                m: round(sum(r[m] for r in rows) / len(rows), 3) for m in ("recall", "hit", "mrr")
            }
    return out


def table(
    names: list[str],
    summary: dict[str, Any],
    timing: dict[str, Any],
    per_q: dict[str, list[dict[str, Any]]],
) -> str:
    """Recall@k per group; hit@k, MRR, questions better / worse than `truncate` (paired, by
    recall), embedding seconds and pages per second overall. The best recall in bold."""
    groups = ["all", *sorted(g for g in summary if g != "all")]
    head = "| configuration | " + " | ".join(f"R@{K} {g} (n={summary[g]['n']})" for g in groups)
    lines = [
        head + f" | hit@{K} all | MRR all | vs truncate +/- | embed s | pages/s |",
        "|---|" + "---|" * (len(groups) + 5),
    ]
    best = max(names, key=lambda n: summary["all"][n]["recall"])
    ref = per_q.get("truncate")
    for name in names:
        cells = [f"{summary[g][name]['recall']:.3f}" for g in groups]
        s = summary["all"][name]
        t = timing[name]
        paired = "-"
        if ref is not None and name != "truncate":
            diffs = [r["recall"] - b["recall"] for r, b in zip(per_q[name], ref, strict=True)]
            paired = f"{sum(d > 0 for d in diffs)} / {sum(d < 0 for d in diffs)}"
        label = f"**{name}**" if name == best else name
        lines.append(
            f"| {label} | "
            + " | ".join(cells)
            + f" | {s['hit']:.3f} | {s['mrr']:.3f} | {paired} | {t['embed_s']} "
            f"| {t['pages_per_s']} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--out", type=Path, default=ROOT / "eval" / "out" / "longembed")
    ap.add_argument("--limit", type=int, default=None, help="first N scored questions only")
    ap.add_argument(
        "--configs",
        default=",".join(c.name for c in CONFIGS),
        help="comma-separated subset of: " + ", ".join(c.name for c in CONFIGS),
    )
    a = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if not (a.corpus / "qa.jsonl").is_file():
        sys.exit(f"no qa.jsonl in {a.corpus} (pass --corpus DIR)")
    wanted = a.configs.split(",")
    unknown = set(wanted) - {c.name for c in CONFIGS}
    if unknown:
        sys.exit(f"unknown configuration(s): {', '.join(sorted(unknown))}")
    configs = [c for c in CONFIGS if c.name in wanted]

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from docqa.config import EmbeddingSettings
    from docqa.embedding import load_embedder
    from docqa.models import ModelRegistry

    qs, no_evidence = load_questions(a.corpus)
    if a.limit:
        qs = qs[: a.limit]
    docs = sorted({q["doc"] for q in qs})
    console = Console(stderr=True)
    columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        t0 = time.perf_counter()
        pages = parse_pages(a.corpus, docs, progress)
        parse_s = time.perf_counter() - t0
        qs = [q for q in qs if q["doc"] in pages]
        with tempfile.TemporaryDirectory(prefix="docqa-bench-longembed-") as tmp:
            registry = ModelRegistry(Path(tmp))
            bases: dict[str, Any] = {}
            timing: dict[str, Any] = {}
            per_q: dict[str, list[dict[str, Any]]] = {}
            for cfg in configs:
                if cfg.model not in bases:
                    bases[cfg.model] = load_embedder(EmbeddingSettings(model=cfg.model), registry)
                timing[cfg.name], per_q[cfg.name] = run_config(
                    cfg, bases[cfg.model], pages, qs, progress
                )
            stats = {m: token_stats(pages, b) for m, b in bases.items()}

    names = [c.name for c in configs]
    summary = summarize(names, per_q, qs)
    md = table(names, summary, timing, per_q)
    notes = "\n".join(f"- `{c.name}`: {c.note}" for c in configs)
    stat_lines = "\n".join(
        f"- {m} tokens per page: median {s['median_tokens']}, p90 {s['p90_tokens']}, "
        f"max {s['max_tokens']}; over 254: {s['share_over_254']:.0%}, over 510: "
        f"{s['share_over_510']:.0%}, over 2046: {s['share_over_2046']:.0%} of {s['pages']} pages"
        for m, s in stats.items()
    )
    report = (
        f"# Long-context embedding: page retrieval on the dev corpus\n\n"
        f"Evidence-page recall@{K} (R@{K}) ranking the pages of each question's own document.\n\n"
        f"{md}\n\n{notes}\n\n"
        f"{stat_lines}\n- {len(qs)} answerable questions with evidence pages over {len(pages)} "
        f"documents ({no_evidence} answerable questions without evidence pages are not scored); "
        f"parsing took {parse_s:.0f} s.\n"
    )
    print(report)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "longembed.md").write_text(report)
    questions = [
        {"id": q["id"], "doc": q["doc"], "type": doc_type(q), "gold": q["evidence_pages"]}
        | {name: per_q[name][i] for name in names}
        for i, q in enumerate(qs)
    ]
    (a.out / "longembed.json").write_text(
        json.dumps(
            {
                "date": datetime.now(UTC).strftime("%Y-%m-%d"),
                "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
                f"Python {platform.python_version()}",
                "k": K,
                "configs": {
                    c.name: {"model": c.model, "mode": c.mode} | c.options for c in configs
                },
                "summary": summary,
                "timing": timing,
                "page_tokens": stats,
                "parse_s": round(parse_s, 1),
                "questions": questions,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
