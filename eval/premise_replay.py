"""What `answer.premise_check` would have done to an eval run, without generating again.

    python -m eval.premise_replay --home <DOCQA home with the run's documents>
                                  --records <run>/answers.jsonl [MORE/answers.jsonl ...]
                                  [--out eval/out/premise.json] [--write <replayed>.jsonl]

For each record, the question's premises (a year, a page, a numbered figure or table:
`docqa.answer.premise`) are looked up in what its document mentions, read from the store. A
record with a premise its document never mentions becomes an abstention, scored as
`eval.abstain_signal` scores any abstention rule (`premise_rule`, through `outcome`): right for
an unanswerable question, wrong for an answerable one. Every other record is kept as it is.
Printed per split (`bench_retrieval.split_of`): right answers, right answers lost, unanswerable
and answerable questions abstained (with several runs, every record counts: a question once per
strategy), and the flagged questions with their premises. `--write` saves the records as the
check would have left them (`replayed`), for the tools that read records (`eval.fit_router`:
the router's fit with the check on every strategy).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from docqa.answer.premise import Mentions, absent_premises
from docqa.answer.prompts import ABSTAIN
from docqa.config import Settings
from docqa.runtime import Runtime
from docqa.search import resolve_document
from docqa.types import RouteSignals
from eval.abstain_signal import Rule, outcome
from eval.bench_retrieval import split_of
from eval.report import EvalRecord, item_fields, read_records, rescore, write_records

SPLITS = ("all", "tune", "held-out")


def premise_rule(flagged: Mapping[str, list[str]]) -> Rule:
    """The abstention rule that fires on the records whose question ids are `flagged` (id ->
    the premises its document never mentions)."""
    return Rule("premise absent", lambda r: 1.0 if flagged.get(r.item_id) else None, 1.0, False)


def replayed(records: list[EvalRecord], flagged: Mapping[str, list[str]]) -> list[EvalRecord]:
    """`records` as the premise check would have left them: a flagged question's record is the
    abstention the eval runner records when the check declines (nothing retrieved, no tokens,
    no time, scored again by `eval.report.rescore`); the others are kept."""
    return [
        rescore(_declined(r, flagged[r.item_id]))
        if flagged.get(r.item_id) and r.error is None and r.skipped is None
        else r
        for r in records
    ]


def _declined(record: EvalRecord, absent: list[str]) -> EvalRecord:
    """The record of the same question and run in which the check declined: its question's
    fields, how it was run, and an abstention; every other field as a new record has it."""
    signals = record.route_signals
    if signals is not None:  # only what the router knew before the check: the rest not measured
        signals = RouteSignals(**signals.model_dump(include={"documents", "window", "scope"}))
    return EvalRecord(
        **item_fields(record),
        k=record.k,
        model=record.model,
        route=record.route,
        answer=ABSTAIN,
        abstained=True,
        prompt_tokens=0,
        completion_tokens=0,
        seconds=0.0,
        route_reasons=[f"not searched (replayed): {', '.join(absent)} in no document in scope"],
        route_signals=signals,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--home", type=Path, required=True, help="a DOCQA home with the documents")
    ap.add_argument(
        "--records", type=Path, nargs="+", required=True, help="eval runs' answers.jsonl"
    )
    ap.add_argument("--out", type=Path, default=Path("eval/out/premise-replay.json"))
    ap.add_argument("--write", type=Path, default=None, help="save the replayed records here")
    a = ap.parse_args()
    records = [r for path in a.records for r in read_records(path)]
    rt = Runtime(Settings(home=a.home))
    mentions: dict[str, Mentions] = {}
    flagged: dict[str, list[str]] = {}
    try:
        for r in records:
            if r.doc not in mentions:
                doc = resolve_document(rt.store, r.doc)
                pages = rt.store.get_pages(doc.doc_id)
                mentions[r.doc] = Mentions.of_pages([p.text for p in pages])
            if absent := [p.text for p in absent_premises(r.question, [mentions[r.doc]])]:
                flagged[r.item_id] = absent
    finally:
        rt.close()
    rule = premise_rule(flagged)
    result: dict[str, Any] = {"records": [str(p) for p in a.records], "flagged": flagged}
    print("| split | | right | right lost | unanswerable abstained | answerable abstained |")
    print("|---|---|---:|---:|---:|---:|")
    for split in SPLITS:
        part = [r for r in records if split == "all" or split_of(r.item_id) == split]
        result[split] = {"before": outcome(part, None), "after": outcome(part, rule)}
        for when, t in result[split].items():
            print(
                f"| {split} | {when} | {t['right']} / {t['n']} | {t['right_lost']} | "
                f"{t['unanswerable_abstained']} / {t['unanswerable']} | "
                f"{t['answerable_abstained']} / {t['answerable']} |"
            )
    by_id = {r.item_id: r for r in records}
    for item, absent in flagged.items():
        r = by_id[item]
        kind = "unanswerable" if r.unanswerable else "ANSWERABLE"
        print(f"- {item} ({split_of(item)}, {kind}, abstained before: {r.abstained}): {absent}")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=1) + "\n")
    if a.write is not None:
        write_records(replayed(records, flagged), a.write)


if __name__ == "__main__":
    main()
