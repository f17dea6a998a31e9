"""The three `answer.compute` modes compared on one `docqa eval` run made with `check` (the
default), without answering anything again (`make eval-compute`).

A `check` answer records everything the other modes would have said: the model's own answer
(the record's answer, or `computation.replaced` when the computation replaced it) is what `off`
gives; `replace` gives the computed answer whenever the computation holds (`used`, or `agrees`
with the model) and the model's answer otherwise. Greedy decoding and batch-stable KV reuse make
those the answers the other modes give when run (the model's answer comes first in `check`,
from the same prompt as in `off`; plan and copies are the same prompts in every mode).

    python -m eval.compute_modes --records eval/out/compute/check/answers.jsonl

Prints, per mode, right answers overall, on answerable and unanswerable questions, and per split
(`eval.bench_retrieval.split_of`: tune / held-out), and what the computations did; writes the
same as JSON and Markdown with `--out`.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from docqa.answer.formula import compose_answer
from docqa.answer.prompts import is_abstention
from eval.bench_retrieval import split_of
from eval.report import EvalRecord, drop_kind, read_written_records, rescore, write_summary

MODES = ("off", "replace", "check")


def mode_answers(record: EvalRecord) -> dict[str, str]:
    """The answer text each mode gives to the record's question (see the module doc)."""
    c = record.computation
    if c is None:  # no arithmetic asked, or no passages: every mode answers alike
        return dict.fromkeys(MODES, record.answer)
    own = c.replaced if c.used and c.replaced is not None else record.answer
    holds = c.result_text is not None and (c.used or c.agrees is not None)
    if c.used and c.replaced is None:  # a `replace` run: the model's answer was never asked
        raise ValueError(f"{record.item_id}: not a `check` run (no model answer recorded)")
    return {
        "off": own,
        "replace": compose_answer(c) if holds else own,
        "check": record.answer,
    }


def scored(record: EvalRecord, answer: str) -> EvalRecord:
    return rescore(record.model_copy(update={"answer": answer, "abstained": is_abstention(answer)}))


def _share(records: Sequence[EvalRecord]) -> dict[str, Any]:
    right = sum(r.correct for r in records)
    return {
        "n": len(records),
        "right": right,
        "accuracy": right / len(records) if records else None,
    }


def compare(records: Sequence[EvalRecord]) -> dict[str, Any]:
    """Per mode: accuracy over all, answerable and unanswerable questions, tune and held-out;
    and what the computations did (tried, held, agreed, replaced, dropped by reason)."""
    ok = [r for r in records if r.error is None and r.skipped is None]
    per_mode: dict[str, Any] = {}
    for mode in MODES:
        rows = [scored(r, mode_answers(r)[mode]) for r in ok]
        per_mode[mode] = {
            "all": _share(rows),
            "answerable": _share([r for r in rows if not r.unanswerable]),
            "unanswerable": _share([r for r in rows if r.unanswerable]),
            "tune": _share([r for r in rows if split_of(r.item_id) == "tune"]),
            "held-out": _share([r for r in rows if split_of(r.item_id) == "held-out"]),
        }
    tried = [r.computation for r in ok if r.computation is not None]
    dropped = Counter(drop_kind(c.error or "") for c in tried if not c.used and c.agrees is None)
    seconds = [r.seconds for r in ok if r.seconds is not None]
    return {
        "questions": len(ok),
        "modes": per_mode,
        "computations": {
            "tried": len(tried),
            "held": sum(1 for c in tried if c.used or c.agrees is not None),
            "agreed": sum(1 for c in tried if c.agrees is not None),
            "replaced": sum(1 for c in tried if c.used),
            "dropped": dict(dropped.most_common()),
        },
        "check_seconds_mean": sum(seconds) / len(seconds) if seconds else None,
    }


def _cell(share: dict[str, Any]) -> str:
    if not share["n"]:
        return "–"
    return f"{share['right']}/{share['n']} ({100 * share['accuracy']:.1f}%)"


def markdown(summary: dict[str, Any]) -> str:
    head = "| compute | all | answerable | unanswerable (abstained) | tune | held-out |"
    lines = [head, "|---|---:|---:|---:|---:|---:|"]
    for mode, m in summary["modes"].items():
        parts = [m["all"], m["answerable"], m["unanswerable"], m["tune"], m["held-out"]]
        lines.append(f"| {mode} | " + " | ".join(_cell(p) for p in parts) + " |")
    c = summary["computations"]
    lines.append("")
    lines.append(
        f"Computations: {c['tried']} tried, {c['held']} held ({c['agreed']} agreed with the "
        f"model's answer, {c['replaced']} replaced it); dropped: "
        + (", ".join(f"{k} ({v})" for k, v in c["dropped"].items()) or "none")
    )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=Path, required=True, help="answers.jsonl of a check run")
    ap.add_argument("--strategy", default="rag")
    ap.add_argument("--out", type=Path, help="folder for compute_modes.json and .md")
    args = ap.parse_args(argv)
    records = [r for r in read_written_records(args.records) if r.strategy == args.strategy]
    summary = compare(records)
    text = markdown(summary)
    print(text, end="")
    if args.out is not None:
        write_summary(args.out, "compute_modes", summary, text)


if __name__ == "__main__":
    main()
