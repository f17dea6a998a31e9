"""Does speculative decoding give the long-context answer? Token agreement on dev answers.

For each question on the given documents (ones whose long-context prompt fits the window), the
answering model answers with `long-context` (plain greedy decoding over the whole document, its
KV state cached) and with `speculative` (the same target verifying drafts; `answer.drafter`),
and the two answers are compared token by token: the share of the plain answer's tokens before
the first difference, and whether they are identical. Greedy speculative decoding must give the
target's own tokens wherever its logits do not depend on the batch shape; on llama.cpp a block
is scored in one batch, whose logits can differ slightly from one-by-one scoring, so answers
may part at a close top-2 margin (`docqa.generation.speculative`).

Where they part, one difference early in an answer makes every later token differ. So the
target's plain greedy answer is also decoded one token at a time on the token-level model (its
top-1 minus top-2 logit at each token: the margin) and then scored again in blocks of
`answer.draft_tokens` (at most `LogitsModel.max_exact_pass` on a build exact up to it), as
verification scores drafts: the share of its tokens that block
scoring picks too (`block_agreement`), the margins where it does not, and the largest change of
a margin between the two ways of scoring. A flip at a clear margin would be a bug; a flip at a
margin smaller than that change is the batch shape.

    python -m eval.spec_agreement --home eval/out/dev-home --docs ULTABEAUTY_2023Q4_EARNINGS.pdf
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from docqa.answer.prompts import normalize_page_citations
from docqa.config import Settings
from docqa.generation.base import LogitsModel, common_prefix_length
from docqa.generation.speculative import greedy_decode, top2_margin, verify_limit
from docqa.runtime import Runtime
from docqa.search import resolve_document
from eval.bench_retrieval import DEFAULT_DOCS, split_of


def block_scoring(
    lm: LogitsModel, prompt: list[int], tokens: list[int], block: int
) -> tuple[list[int], list[float]]:
    """The target's greedy choice and margin for each of `tokens` when the answer so far is
    scored in blocks of `block` tokens after `prompt` (the first from the prompt's last row)."""
    row = lm.prefill(prompt)
    rows = [row]
    for a in range(0, len(tokens) - 1, block):
        rows.extend(lm.extend(tokens[a : min(a + block, len(tokens) - 1)]))
    picks = [int(np.argmax(r)) for r in rows[: len(tokens)]]
    margins = [top2_margin(r) for r in rows[: len(tokens)]]
    return picks, margins


def parting_token(lm: LogitsModel, tokens: list[int], chars: int) -> int:
    """The index of the token of `tokens` (a raw answer, citations as `[p. N]`) that holds
    character `chars` of its shown text (citations as `[N]`): where a parting found in the
    shown answers lies in the raw tokens, whose margins are known."""
    for k in range(len(tokens)):
        if len(normalize_page_citations(lm.detokenize(tokens[: k + 1]))) > chars:
            return k
    return len(tokens)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--home", type=Path, required=True, help="a DOCQA home with the documents")
    ap.add_argument("--corpus", type=Path, default=DEFAULT_DOCS, help="folder with qa.jsonl")
    ap.add_argument("--docs", required=True, help="comma-separated file names of the documents")
    ap.add_argument("--out", type=Path, default=Path("eval/out/spec-agreement.json"))
    ap.add_argument("--ids", help="comma-separated question ids (default: all on the documents)")
    a = ap.parse_args()
    names = {n.strip() for n in a.docs.split(",") if n.strip()}
    questions = [
        q
        for q in map(json.loads, (a.corpus / "qa.jsonl").read_text().splitlines())
        if q["doc"] in names and (not a.ids or q["id"] in a.ids.split(","))
    ]
    settings = Settings(home=a.home)
    rt = Runtime(settings)
    lm = rt.logits_model
    assert lm is not None, "speculative decoding needs the llama.cpp backend"
    block = settings.answer.draft_tokens
    if (exact := verify_limit(lm)) is not None:
        block = min(block, exact)  # verification's passes are cut to the exact size
    limit = settings.generation.max_answer_tokens
    rows: list[dict[str, Any]] = []
    for q in questions:
        doc = resolve_document(rt.store, q["doc"])
        plain = rt.answerer.ask(q["question"], [doc], "long-context")
        spec = rt.answerer.ask(q["question"], [doc], "speculative")
        want, got = lm.tokenize(plain.answer), lm.tokenize(spec.answer)
        same = common_prefix_length(want, got)
        rep = spec.speculative
        # the same prompt on the token-level model: one by one, then in blocks
        full = rt.answerer.long_context_tokens(q["question"], [doc])
        ref = greedy_decode(lm, full, limit)
        picks, block_margins = block_scoring(lm, full, ref.tokens, block)
        flips = [i for i, (x, y) in enumerate(zip(picks, ref.tokens, strict=True)) if x != y]
        shown = normalize_page_citations(lm.detokenize(ref.tokens)).strip()
        parted = None
        if plain.answer != spec.answer:
            at = parting_token(lm, ref.tokens, common_prefix_length(plain.answer, spec.answer))
            parted = round(ref.margins[at], 4) if at < len(ref.margins) else None
        rows.append(
            {
                "id": q["id"],
                "split": split_of(q["id"]),
                "plain_tokens": len(want),
                "speculative_tokens": len(got),
                "agreeing_prefix": same,
                "identical": want == got,
                "drafted": rep.drafted if rep else 0,
                "accepted": rep.accepted if rep else 0,
                "rechecks": rep.rechecks if rep else 0,
                "plain_decode_tokens_per_second": round(
                    plain.tokens.completion / max(plain.timings.generation, 1e-9), 2
                ),
                "speculative_decode_tokens_per_second": rep.decode_tokens_per_second if rep else 0,
                "greedy_tokens": len(ref.tokens),
                "plain_is_the_greedy_answer": shown == plain.answer,
                "first_difference_margin": parted,
                "plain_answer": plain.answer,
                "speculative_answer": spec.answer,
                "block_agreement": round(1 - len(flips) / max(len(ref.tokens), 1), 4),
                "block_flips": [{"at": i, "margin": round(ref.margins[i], 4)} for i in flips],
                "min_margin": round(min(ref.margins), 4) if ref.margins else None,
                "max_margin_change": round(
                    max(
                        (abs(x - y) for x, y in zip(ref.margins, block_margins, strict=True)),
                        default=0.0,
                    ),
                    4,
                ),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    total = sum(r["plain_tokens"] for r in rows)
    summary = {
        "questions": len(rows),
        "identical": sum(r["identical"] for r in rows),
        "token_agreement": round(sum(r["agreeing_prefix"] for r in rows) / max(total, 1), 4),
        "block_agreement": round(
            1
            - sum(len(r["block_flips"]) for r in rows)
            / max(sum(r["greedy_tokens"] for r in rows), 1),
            4,
        ),
        "block_flips_at_margin_over_0.5": sum(
            f["margin"] > 0.5 for r in rows for f in r["block_flips"]
        ),
        "max_margin_change": max((r["max_margin_change"] for r in rows), default=0.0),
        "acceptance": round(
            sum(r["accepted"] for r in rows) / max(sum(r["drafted"] for r in rows), 1), 4
        ),
    }
    print(json.dumps(summary))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps({"summary": summary, "rows": rows}, indent=1) + "\n")
    rt.close()


if __name__ == "__main__":
    main()
