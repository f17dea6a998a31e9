"""Do reruns give the same answer? Greedy answers to dev-corpus questions, each generated on a
cold KV cache and then again with its prompt already cached, compared word for word.

    python -m eval.bench_repro [--model qwen2.5-1.5b] [--n 16] [--requantize f16] [--out FILE]

Each question gets a RAG prompt built from the text of its evidence pages (the passages a
perfect retriever would give; at most `--pages` pages of at most `--chars` characters), so no
store is needed. Three runs per question:

- `cold`: the model's cache emptied first (as a fresh process);
- `rerun`: the same prompt right after, docqa's prefix reuse (`BatchPlan`: the cache is kept
  up to the last batch cut, the rest evaluated in the same batches as the cold run);
- `rerun_unplanned`: the same prompt after `cold` again, with llama-cpp's own reuse (the whole
  common prefix kept, the last prompt token decoded alone), the behaviour before the fix.

Reported: how many reruns differ from the cold answer, for each kind. On CPUs whose kernels
depend on the batch shape (llama.cpp's AVX-512 paths, or F16 / Q8_0 weights on AVX2,
`--requantize`), the unplanned rerun can differ; the planned one must not.

No threshold or prompt is tuned here, so the dev questions are not split.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import date
from pathlib import Path
from typing import Any

import llama_cpp
import pymupdf
from rich.console import Console
from rich.progress import Progress

from docqa.answer.prompts import rag_messages
from docqa.config import Settings
from docqa.generation import GenerationConfig
from docqa.generation.llamacpp import (
    LlamaCppGenerator,
    LlamaCppLogitsModel,
    batch_plan,
    system_info,
)
from docqa.models import ModelRegistry
from docqa.types import Passage

ROOT = Path(__file__).resolve().parents[1]
console = Console()
FTYPES = {"f16": llama_cpp.LLAMA_FTYPE_MOSTLY_F16, "q8_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0}


def requantize(src: Path, ftype: str, out_dir: Path) -> Path:
    """`src` re-encoded as `ftype` by llama.cpp's own quantizer (kept in `out_dir`)."""
    dst = out_dir / f"{src.stem}-{ftype}.gguf"
    if dst.is_file():
        return dst
    out_dir.mkdir(parents=True, exist_ok=True)
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = FTYPES[ftype]
    params.allow_requantize = True
    tmp = dst.with_suffix(".partial")
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(tmp).encode(), params)
    if rc != 0:
        raise SystemExit(f"llama.cpp could not requantize {src} to {ftype} (code {rc})")
    tmp.replace(dst)
    return dst


def questions(corpus: Path, n: int, pages: int, chars: int) -> list[dict[str, Any]]:
    """The first `n` answerable questions with evidence pages, in the dataset's order, with
    their evidence pages' text as passages."""
    out: list[dict[str, Any]] = []
    for line in (corpus / "qa.jsonl").read_text().splitlines():
        q = json.loads(line)
        path = corpus / q["doc"]
        if not q.get("evidence_pages") or q["answer"] == "Not answerable" or not path.is_file():
            continue
        with pymupdf.open(path) as doc:  # type: ignore[no-untyped-call]
            texts = [
                (p, doc[p - 1].get_text().strip()[:chars])
                for p in q["evidence_pages"][:pages]
                if 0 < p <= doc.page_count
            ]
        passages = [
            Passage(n=i, text=t, page=p, path=q["doc"])
            for i, (p, t) in enumerate([x for x in texts if x[1]], start=1)
        ]
        if passages:
            out.append({**q, "passages": passages})
        if len(out) == n:
            break
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus" / "dev")
    ap.add_argument("--model", default="qwen2.5-1.5b", help="registry name or GGUF path")
    ap.add_argument("--requantize", choices=sorted(FTYPES), help="re-encode the model first")
    ap.add_argument("--n", type=int, default=16, help="questions")
    ap.add_argument("--pages", type=int, default=2, help="evidence pages per prompt")
    ap.add_argument("--chars", type=int, default=2500, help="characters per page")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", type=Path, default=ROOT / "eval" / "out" / "repro.json")
    args = ap.parse_args()

    settings = Settings()
    registry = ModelRegistry(settings.home / "models")
    path = Path(args.model) if Path(args.model).is_file() else registry.path(args.model)
    assert isinstance(path, Path), f"{args.model} is not a GGUF model"
    if args.requantize:
        path = requantize(path, args.requantize, args.out.parent / "models")
    gen = LlamaCppGenerator(path, n_ctx=4096, threads=args.threads)
    lm = LlamaCppLogitsModel(gen.llama)
    items = questions(args.corpus, args.n, args.pages, args.chars)
    cfg = GenerationConfig(max_tokens=args.max_tokens)
    console.print(f"{len(items)} questions, {path.name}; llama.cpp: {system_info().strip()}")

    rows: list[dict[str, Any]] = []
    start = time.perf_counter()
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("answers", total=len(items))
        for q in items:
            messages = rag_messages(q["question"], q["passages"])
            prompt = gen.chat_tokens(messages)
            lm.truncate(0)
            cold = gen.generate(messages, cfg).text
            rerun = gen.generate(messages, cfg).text
            lm.truncate(0)
            gen.generate(messages, cfg)
            # the old reuse: every cached position counts as a cut, so only the last prompt
            # token is decoded again, alone (what Llama.generate does by itself)
            plan = batch_plan(gen.llama)
            plan.cuts = list(range(gen.llama.n_tokens + 1))
            unplanned = gen.generate(messages, cfg).text
            rows.append(
                {
                    "id": q["id"],
                    "doc": q["doc"],
                    "prompt_tokens": len(prompt),
                    "cold": cold,
                    "rerun": rerun,
                    "rerun_unplanned": unplanned,
                    "rerun_differs": rerun != cold,
                    "unplanned_differs": unplanned != cold,
                }
            )
            bar.advance(task)
    seconds = time.perf_counter() - start
    summary = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
        "llama_cpp": system_info().strip(),
        "model": path.name,
        "questions": len(rows),
        "rerun_differs": sum(r["rerun_differs"] for r in rows),
        "unplanned_differs": sum(r["unplanned_differs"] for r in rows),
        "seconds": round(seconds, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": summary, "rows": rows}, indent=2) + "\n")
    console.print_json(json.dumps(summary))
    gen.close()


if __name__ == "__main__":
    main()
