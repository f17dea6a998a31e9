"""Speculative vs plain long-context decoding on this machine: decode tokens/s of the answering
model over 2K-16K tokens of a real document, per drafter (`docqa.generation.speculative`), with
answers of a realistic length, side by side in one run.

    python -m eval.bench_speculative --out eval/out/speculative          # make bench-speculative
    python -m eval.bench_speculative --contexts 2048,4096 --drafters ngram --answer-tokens 80
    python -m eval.bench_speculative --policies grow,cost --pass-cost       # draft-length rules

For each context size the target's pass time is measured over 1, 2, 4, 8 and 16 tokens
(`--pass-cost`): speculative decoding can only pay where scoring n tokens at once costs less
than n single-token passes, and `(n tokens) / (pass time of n)` bounds what a perfect drafter
could reach. Each drafter runs under each draft-length policy: `grow` (start at 10, grow after
a fully accepted draft, shrink after a rejection) and `cost` (`DraftPlanner`: the length with
the most expected tokens per second from the measured pass and draft times and acceptance).

For each context size the document's first pages (with `[p. N]` markers, as the long-context
prompt has them) are cut to that many tokens and one question is asked about them. The target
prefills the prompt once; then it decodes greedily alone (the baseline) and with each drafter,
from the same cached prompt (a drafter model's own prompt is prefilled before its clock starts
too). The drafters read what RAG would give them: the three pages of the
context that share the most words with the question (a lexical stand-in for the retriever, so
that the benchmark needs no index), plus the document itself for n-gram lookup. Reported per
run: tokens, decode tokens/s, speed-up over plain decoding, drafted and accepted tokens, passes,
and how much of the output equals the plain output (the common prefix; llama.cpp's batch-shape
noise can make them part at a close top-2 margin, see `docqa.generation.speculative`).
Writes `speculative.json`, `speculative.md` and `speculative_tokens_per_second.png`.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pymupdf
from matplotlib.figure import Figure

from docqa.config import Settings
from docqa.generation import ChatMessage, LogitsModel
from docqa.generation.base import common_prefix_length
from docqa.generation.draft_planner import DraftPlanner
from docqa.generation.llamacpp import (
    LlamaCppGenerator,
    LlamaCppLogitsModel,
    default_threads,
    load_llama,
    system_info,
)
from docqa.generation.speculative import (
    Drafter,
    ModelDrafter,
    NGramDrafter,
    SpeculativeStats,
    greedy_decode,
    greedy_speculative,
)
from docqa.models import ModelRegistry
from eval.report import machine_info, save_figure

DEFAULT_DOC = Path("../shared/corpus/dev/BESTBUY_2023_10K.pdf")
QUESTION = (
    "Describe in detail what these pages say about the company's stores, employees and "
    "competition, quoting the figures they give and citing each page as [p. N]."
)
SYSTEM = "Answer from the document only. Cite the pages you use as [p. N]."
_WORD = re.compile(r"[a-z]{4,}")


def document_pages(path: Path) -> list[str]:
    with pymupdf.open(path) as doc:  # type: ignore[no-untyped-call]
        return [str(page.get_text()).strip() for page in doc]


def context_of(gen: LlamaCppGenerator, pages: list[str], tokens: int) -> list[tuple[int, str]]:
    """The document's first pages, `[p. N]`-marked, cut to `tokens` tokens (the last page cut
    at a line)."""
    out: list[tuple[int, str]] = []
    used = 0
    for n, text in enumerate(pages, start=1):
        if not text:
            continue
        block = f"[p. {n}]\n{text}"
        size = gen.count_tokens(block)
        if used + size > tokens:
            lines = block.splitlines()
            while lines and gen.count_tokens("\n".join(lines)) > tokens - used:
                lines.pop()
            if len(lines) > 1:
                out.append((n, "\n".join(lines)))
            break
        out.append((n, block))
        used += size
    return out


def lexical_top(pages: list[tuple[int, str]], question: str, k: int = 3) -> list[str]:
    """The `k` pages sharing the most distinct words (4+ letters) with the question."""
    want = set(_WORD.findall(question.lower()))
    scored = sorted(
        pages,
        key=lambda p: -sum(c for w, c in Counter(_WORD.findall(p[1].lower())).items() if w in want),
    )
    return [text for _, text in scored[:k]]


def _messages(body: str) -> list[ChatMessage]:
    return [
        ChatMessage(role="system", content=SYSTEM),
        ChatMessage(role="user", content=f"Document:\n{body}\n\nQuestion: {QUESTION}"),
    ]


PASS_SIZES = (1, 2, 4, 8, 16)


def pass_cost(lm: LogitsModel, prompt: list[int], repeats: int = 5) -> dict[str, float]:
    """Median seconds of one target pass over n tokens after the cached `prompt`, per n."""
    base = lm.n_past
    out: dict[str, float] = {}
    for n in PASS_SIZES:
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            lm.extend(prompt[:n])
            times.append(time.perf_counter() - t0)
            lm.truncate(base)
        out[str(n)] = round(statistics.median(times), 4)
    return out


def run(
    doc: Path,
    contexts: list[int],
    drafters: list[str],
    answer_tokens: int,
    threads: int,
    cache: Path,
    target: str = "qwen2.5-1.5b",
    drafter_model: str = "qwen2.5-0.5b",
    policies: tuple[str, ...] = ("grow",),
    measure_passes: bool = False,
) -> dict[str, Any]:
    registry = ModelRegistry(cache)
    target_path = registry.path(target)
    assert isinstance(target_path, Path), f"{target} is not a local GGUF"
    pages = document_pages(doc)
    gen = LlamaCppGenerator(
        target_path, name=target, n_ctx=max(contexts) + answer_tokens + 512, threads=threads
    )
    lm = LlamaCppLogitsModel(gen.llama)
    helpers: dict[str, LlamaCppLogitsModel] = {}
    if "self" in drafters:
        helpers["self"] = LlamaCppLogitsModel(load_llama(target_path, n_ctx=4096, threads=threads))
    if "model" in drafters:
        small = registry.path(drafter_model)
        assert isinstance(small, Path), f"{drafter_model} is not a local GGUF"
        helpers["model"] = LlamaCppLogitsModel(load_llama(small, n_ctx=4096, threads=threads))
    rows: list[dict[str, Any]] = []
    passes: dict[str, dict[str, float]] = {}
    prefill: dict[str, dict[str, float]] = {}
    try:
        for size in contexts:
            ctx = context_of(gen, pages, size)
            body = "\n\n".join(text for _, text in ctx)
            prompt = gen.chat_tokens(_messages(body))
            passages = "\n\n".join(lexical_top(ctx, QUESTION))
            draft_prompt = gen.chat_tokens(_messages(passages))
            # the prompt's prefill from an empty cache (the sizes share their first pages)
            lm.truncate(0)
            t0 = time.perf_counter()
            lm.prefill(prompt)
            took = time.perf_counter() - t0
            prefill[str(size)] = {
                "tokens": len(prompt),
                "seconds": round(took, 2),
                "tokens_per_second": round(len(prompt) / took, 1),
            }
            print(f"{size:>6} prefill: {len(prompt)} tokens in {took:.1f} s", flush=True)
            plain = greedy_decode(lm, prompt, answer_tokens)
            base = plain.stats.tokens_per_second
            rows.append(
                _row(size, len(prompt), "none", "-", plain.stats, plain.tokens, plain.tokens, base)
            )
            print(_line(rows[-1]), flush=True)
            if measure_passes:
                lm.prefill(prompt)
                passes[str(size)] = pass_cost(lm, prompt)
                print(f"{size:>6} pass seconds by tokens scored: {passes[str(size)]}", flush=True)
            # n-gram lookup source: the document and the passages, tokenized once per size
            source = [*lm.tokenize(body), *lm.tokenize(passages)] if "ngram" in drafters else []
            for name in drafters:
                for policy in policies:
                    drafter: Drafter
                    if name == "ngram":
                        drafter = NGramDrafter(source)
                    else:
                        helper: LogitsModel = helpers[name]
                        # the drafter's prompt is prefilled before the clock starts, as the
                        # target's is: both policies then time decoding alone
                        helper.prefill(draft_prompt)
                        drafter = ModelDrafter(helper, draft_prompt, name)
                    planner = DraftPlanner() if policy == "cost" else None
                    out = greedy_speculative(lm, prompt, drafter, answer_tokens, planner=planner)
                    rows.append(
                        _row(
                            size,
                            len(prompt),
                            name,
                            policy,
                            out.stats,
                            out.tokens,
                            plain.tokens,
                            base,
                        )
                    )
                    print(_line(rows[-1]), flush=True)
    finally:
        for h in helpers.values():
            h.close()
            h.llama.close()
        gen.close()
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "document": doc.name,
        "target": target,
        "drafter_model": drafter_model if "model" in drafters else None,
        "question": QUESTION,
        "answer_tokens": answer_tokens,
        "threads": threads,
        "policies": list(policies),
        "pass_seconds": passes,
        "prefill": prefill,
        "llama_cpp": system_info(),
        "rows": rows,
    }


def _row(
    size: int,
    prompt_tokens: int,
    drafter: str,
    policy: str,
    stats: SpeculativeStats,
    tokens: list[int],
    plain: list[int],
    base: float,
) -> dict[str, Any]:
    same = common_prefix_length(tokens, plain)
    return {
        "context": size,
        "prompt_tokens": prompt_tokens,
        "drafter": drafter,
        "policy": policy,
        "tokens": stats.tokens,
        "tokens_per_second": round(stats.tokens_per_second, 2),
        "speedup": round(stats.tokens_per_second / base, 2) if base else None,
        "drafted": stats.drafted,
        "accepted": stats.accepted,
        "acceptance_rate": round(stats.acceptance_rate, 3),
        "passes": stats.passes,
        "draft_seconds": round(stats.draft_seconds, 2),
        "same_as_plain": round(same / max(len(plain), 1), 3),
    }


def _line(r: dict[str, Any]) -> str:
    return (
        f"{r['context']:>6} {r['drafter']:>6} {r.get('policy', '-'):>4}: {r['tokens']} tokens, {r['tokens_per_second']} tok/s"
        f" (x{r['speedup']}), accepted {r['accepted']}/{r['drafted']}, passes {r['passes']},"
        f" same as plain {r['same_as_plain']:.0%}"
    )


def markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        f"Speculative decoding, {result['target']} over {result['document']}, {result['date']}, "
        f"{m.get('cpu_count')} CPUs, {m.get('platform', '')}; answers up to "
        f"{result['answer_tokens']} tokens, {result['threads']} threads.",
        "",
        "| context | drafter | draft length | tokens | decode tok/s | speed-up | accepted / drafted "
        "| passes | same as plain |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['context']:,} | {r['drafter']} | {r.get('policy', '-')} | {r['tokens']} | "
            f"{r['tokens_per_second']} | "
            f"{r['speedup']}x | {r['accepted']} / {r['drafted']} | {r['passes']} | "
            f"{r['same_as_plain']:.0%} |"
        )
    if result.get("prefill"):
        lines += [
            "",
            "Prefill of the prompt from an empty cache (llama.cpp: "
            f"{result.get('llama_cpp', '?').strip()}):",
            "",
            "| context | prompt tokens | seconds | tokens/s |",
            "|---|---:|---:|---:|",
        ]
        for size, pre in result["prefill"].items():
            lines.append(
                f"| {int(size):,} | {pre['tokens']:,} | {pre['seconds']} | "
                f"{pre['tokens_per_second']} |"
            )
    if result.get("pass_seconds"):
        lines += [
            "",
            "Target pass time by tokens scored in one pass (median of 5), and the decode rate "
            "a perfect drafter would reach with that many tokens per pass:",
            "",
            "| context | " + " | ".join(f"{n} tokens" for n in PASS_SIZES) + " |",
            "|---" * (len(PASS_SIZES) + 1) + "|",
        ]
        for size, cost in result["pass_seconds"].items():
            cells = [
                f"{cost[str(n)] * 1000:.0f} ms ({n / cost[str(n)]:.1f} tok/s)" for n in PASS_SIZES
            ]
            lines.append(f"| {int(size):,} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(result: dict[str, Any], path: Path) -> Path:
    fig = Figure(figsize=(6.4, 4.0))
    ax = fig.add_subplot()
    by: dict[str, list[dict[str, Any]]] = {}
    for r in result["rows"]:
        name = (
            "plain decoding"
            if r["drafter"] == "none"
            else f"{r['drafter']} drafter, {r.get('policy', 'grow')} length"
        )
        by.setdefault(name, []).append(r)
    for label, rs in by.items():
        ax.plot([r["context"] for r in rs], [r["tokens_per_second"] for r in rs], "o-", label=label)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("context tokens")
    ax.set_ylabel("decode tokens/s")
    ax.set_title(f"Speculative vs plain long-context decoding ({result['target']})")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--doc", type=Path, default=DEFAULT_DOC, help="a PDF (default: a dev 10-K)")
    ap.add_argument("--model", default="qwen2.5-1.5b", help="the target (answering) model")
    ap.add_argument("--drafter-model", default="qwen2.5-0.5b", help="the `model` drafter")
    ap.add_argument("--contexts", default="2048,4096,8192,16384")
    ap.add_argument("--drafters", default="ngram,self,model")
    ap.add_argument("--policies", default="grow,cost", help="draft-length policies: grow, cost")
    ap.add_argument(
        "--pass-cost", action="store_true", help="also time target passes over 1-16 tokens"
    )
    ap.add_argument("--answer-tokens", type=int, default=160)
    ap.add_argument("--threads", type=int, default=default_threads())
    ap.add_argument("--cache-dir", type=Path, default=None, help="model cache (default: docqa's)")
    ap.add_argument("--out", type=Path, default=Path("eval/out/speculative"))
    args = ap.parse_args()
    if not args.doc.is_file():
        ap.error(f"--doc {args.doc}: no such file")
    drafters = [d.strip() for d in args.drafters.split(",") if d.strip()]
    bad = [d for d in drafters if d not in ("ngram", "self", "model")]
    if bad:
        ap.error(f"unknown drafter(s) {', '.join(bad)}: choose from ngram, self, model")
    policies = tuple(p.strip() for p in args.policies.split(",") if p.strip())
    if not policies or any(p not in ("grow", "cost") for p in policies):
        ap.error("--policies: choose from grow, cost")
    contexts = sorted(int(c) for c in args.contexts.split(","))
    result = run(
        args.doc,
        contexts,
        drafters,
        args.answer_tokens,
        args.threads,
        args.cache_dir or Settings().cache_dir,
        args.model,
        args.drafter_model,
        policies,
        args.pass_cost,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "speculative.json").write_text(json.dumps(result, indent=1))
    (args.out / "speculative.md").write_text(markdown(result))
    plot(result, args.out / "speculative_tokens_per_second.png")
    print(markdown(result))


if __name__ == "__main__":
    main()
