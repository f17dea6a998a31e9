"""The questions of a dataset that ask for arithmetic (`docqa.answer.formula.needs_computation`),
written as a dataset of their own, so that computed answers can be compared with the model's
own arithmetic on exactly those questions (`make eval-compute`).

    python -m eval.compute_questions --dataset ../shared/corpus/dev/qa.jsonl --out eval/out/compute/qa.jsonl

The selection reads the question's words only (never its answer), and prints how many questions
of each split (`eval.bench_retrieval.split_of`: tune / held-out) it kept.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from docqa.answer.formula import needs_computation
from eval.bench_retrieval import split_of


def select(dataset: Path, out: Path) -> Counter[str]:
    """Write the arithmetic questions of `dataset` (JSON lines with `id` and `question`) to
    `out`, lines unchanged; returns how many of each split were kept."""
    kept: Counter[str] = Counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    with dataset.open(encoding="utf-8") as src, out.open("w", encoding="utf-8") as dst:
        for line in src:
            if not line.strip():
                continue
            item = json.loads(line)
            if needs_computation(str(item["question"])):
                dst.write(line if line.endswith("\n") else line + "\n")
                kept[split_of(str(item["id"]))] += 1
    return kept


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    kept = select(args.dataset, args.out)
    print(f"{sum(kept.values())} questions ask for arithmetic: {dict(sorted(kept.items()))}")


if __name__ == "__main__":
    main()
