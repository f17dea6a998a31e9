"""Does speculative decoding give the long-context answer? Token agreement on dev answers.

For each question on the given documents (ones whose long-context prompt fits the window), the
answering model answers with `long-context` (plain greedy decoding over the whole document, its
KV state cached) and with `speculative` (the same target verifying drafts; `answer.drafter`),
and the two answers are compared token by token: the share of the plain answer's tokens before
the first difference, and whether they are identical. Greedy speculative decoding must give the
target's own tokens wherever its logits do not depend on the batch shape; on llama.cpp a block
is scored in one batch, whose logits can differ slightly from one-by-one scoring, so answers
may part at a close top-2 margin (`docqa.generation.speculative`).

    python -m eval.spec_agreement --home eval/out/dev-home --docs ULTABEAUTY_2023Q4_EARNINGS.pdf
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from docqa.config import Settings
from docqa.generation.base import common_prefix_length
from docqa.runtime import Runtime
from docqa.search import resolve_document
from eval.bench_retrieval import DEFAULT_DOCS, split_of


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--home", type=Path, required=True, help="a DOCQA home with the documents")
    ap.add_argument("--corpus", type=Path, default=DEFAULT_DOCS, help="folder with qa.jsonl")
    ap.add_argument("--docs", required=True, help="comma-separated file names of the documents")
    ap.add_argument("--out", type=Path, default=Path("eval/out/spec-agreement.json"))
    a = ap.parse_args()
    names = {n.strip() for n in a.docs.split(",") if n.strip()}
    questions = [
        q
        for q in map(json.loads, (a.corpus / "qa.jsonl").read_text().splitlines())
        if q["doc"] in names
    ]
    rt = Runtime(Settings(home=a.home))
    lm = rt.logits_model
    assert lm is not None, "speculative decoding needs the llama.cpp backend"
    rows: list[dict[str, Any]] = []
    for q in questions:
        doc = resolve_document(rt.store, q["doc"])
        plain = rt.answerer.ask(q["question"], [doc], "long-context")
        spec = rt.answerer.ask(q["question"], [doc], "speculative")
        want, got = lm.tokenize(plain.answer), lm.tokenize(spec.answer)
        same = common_prefix_length(want, got)
        rep = spec.speculative
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
                "plain_decode_tokens_per_second": round(
                    plain.tokens.completion / max(plain.timings.generation, 1e-9), 2
                ),
                "speculative_decode_tokens_per_second": rep.decode_tokens_per_second if rep else 0,
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    total = sum(r["plain_tokens"] for r in rows)
    summary = {
        "questions": len(rows),
        "identical": sum(r["identical"] for r in rows),
        "token_agreement": round(sum(r["agreeing_prefix"] for r in rows) / max(total, 1), 4),
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
