"""The citation check as an abstention signal, measured on a `docqa eval` run's records without
answering anything again.

An answer none of whose claims its cited passages support is more often a guess than a
reading: the question may not be answerable from the documents at all. For each rule "abstain
when the answer's citation recall (ALCE, the share of its claim sentences the checker calls
supported) is below t", this reports per split (`eval.bench_retrieval.split_of`: tune /
held-out) what the rule would have done: accuracy, unanswerable questions abstained, answerable
questions abstained (right answers lost, and wrong ones turned into "not found"), and the
AUROC of citation recall for telling right answers from the rest.

    python -m eval.abstain_signal --records eval/out/dev/answers.jsonl [--strategy rag]

Records the checker did not score (abstentions, answers without citations) keep their answer.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eval.bench_budget import auroc
from eval.bench_retrieval import split_of
from eval.report import EvalRecord, read_written_records, write_summary

THRESHOLDS = (0.01, 0.34, 0.5, 0.67, 1.0)
"""`recall < t` abstains: 0.01 = no claim supported; 1.0 = any claim unsupported."""


def abstains(record: EvalRecord, threshold: float | None) -> bool:
    """Whether the answer is an abstention once the rule (None: no rule) is applied."""
    if record.abstained:
        return True
    recall = record.citation_recall
    return threshold is not None and recall is not None and recall < threshold


def correct(record: EvalRecord, threshold: float | None) -> bool:
    """Right under the rule: an abstention is right exactly on unanswerable questions."""
    if abstains(record, threshold) and not record.abstained:
        return record.unanswerable
    return record.correct


def outcome(records: Sequence[EvalRecord], threshold: float | None) -> dict[str, Any]:
    answerable = [r for r in records if not r.unanswerable]
    unanswerable = [r for r in records if r.unanswerable]
    newly = [r for r in answerable if abstains(r, threshold) and not r.abstained]
    return {
        "n": len(records),
        "right": sum(correct(r, threshold) for r in records),
        "accuracy": sum(correct(r, threshold) for r in records) / len(records) if records else None,
        "unanswerable_abstained": sum(abstains(r, threshold) for r in unanswerable),
        "unanswerable": len(unanswerable),
        "answerable_abstained": sum(abstains(r, threshold) for r in answerable),
        "answerable": len(answerable),
        "right_lost": sum(1 for r in newly if r.correct),
        "wrong_withdrawn": sum(1 for r in newly if not r.correct),
    }


def measure(records: Sequence[EvalRecord]) -> dict[str, Any]:
    ok = [r for r in records if r.error is None and r.skipped is None]
    splits = {
        "all": ok,
        "tune": [r for r in ok if split_of(r.item_id) == "tune"],
        "held-out": [r for r in ok if split_of(r.item_id) == "held-out"],
    }
    scored = [r for r in ok if not r.abstained and r.citation_recall is not None]
    right = [r.citation_recall or 0.0 for r in scored if r.correct]
    other = [r.citation_recall or 0.0 for r in scored if not r.correct]
    auc = auroc(right, other)
    return {
        "answers_scored_by_the_checker": len(scored),
        "auroc_citation_recall_right_vs_rest": None if auc is None else round(auc, 3),
        "rules": {
            ("none" if t is None else f"recall < {t}"): {
                name: outcome(rows, t) for name, rows in splits.items()
            }
            for t in (None, *THRESHOLDS)
        },
    }


def markdown(summary: dict[str, Any]) -> str:
    lines = [
        f"{summary['answers_scored_by_the_checker']} answers scored by the checker; AUROC of "
        f"citation recall, right answers against the rest: "
        f"{summary['auroc_citation_recall_right_vs_rest']}",
        "",
        "| rule | split | accuracy | unanswerable abstained | answerable abstained | "
        "right answers lost | wrong answers withdrawn |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for rule, by_split in summary["rules"].items():
        for split, o in by_split.items():
            if not o["n"]:
                continue
            lines.append(
                f"| {rule} | {split} | {o['right']}/{o['n']} ({100 * o['accuracy']:.1f}%) | "
                f"{o['unanswerable_abstained']}/{o['unanswerable']} | "
                f"{o['answerable_abstained']}/{o['answerable']} | {o['right_lost']} | "
                f"{o['wrong_withdrawn']} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=Path, required=True)
    ap.add_argument("--strategy", default="rag")
    ap.add_argument("--out", type=Path, help="folder for abstain_signal.json and .md")
    args = ap.parse_args(argv)
    records = [r for r in read_written_records(args.records) if r.strategy == args.strategy]
    summary = measure(records)
    text = markdown(summary)
    print(text, end="")
    if args.out is not None:
        write_summary(args.out, "abstain_signal", summary, text)


if __name__ == "__main__":
    main()
