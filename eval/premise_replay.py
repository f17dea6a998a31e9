"""What `answer.premise_check` would have done to an eval run, without generating again.

    python -m eval.premise_replay --home <DOCQA home with the run's documents>
                                  --records <run>/answers.jsonl [--out eval/out/premise.json]

For each record, the question's premises (a year, a page, a numbered figure or table:
`docqa.answer.premise`) are looked up in what its document mentions, read from the store. A
record with a premise its document never mentions becomes an abstention, scored as the eval
scores one: right for an unanswerable question, wrong for an answerable one. Every other record
is kept as it is. Printed per split (`bench_retrieval.split_of`): answerable right, unanswerable
abstained, answerable abstained, and the flagged questions with their premises.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from docqa.answer.premise import Mentions, absent_premises
from docqa.config import Settings
from docqa.runtime import Runtime
from docqa.search import resolve_document
from eval.bench_retrieval import split_of

SPLITS = ("all", "tune", "held-out")


def _true(value: Any) -> bool:
    return value is True or str(value) == "True"


def replay(record: dict[str, Any], absent: list[str]) -> dict[str, Any]:
    """`record` as `premise_check` would have left it: abstained when `absent` names any."""
    if not absent:
        return dict(record)
    return {
        **record,
        "abstained": True,
        "correct": _true(record["unanswerable"]),
        "premises_absent": absent,
    }


def tally(rows: list[dict[str, Any]]) -> dict[str, Any]:
    answerable = [r for r in rows if not _true(r["unanswerable"])]
    unanswerable = [r for r in rows if _true(r["unanswerable"])]
    return {
        "questions": len(rows),
        "answerable_right": sum(_true(r["correct"]) for r in answerable),
        "answerable": len(answerable),
        "answerable_abstained": sum(_true(r["abstained"]) for r in answerable),
        "unanswerable_abstained": sum(_true(r["abstained"]) for r in unanswerable),
        "unanswerable": len(unanswerable),
        "right": sum(_true(r["correct"]) for r in rows),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--home", type=Path, required=True, help="a DOCQA home with the documents")
    ap.add_argument("--records", type=Path, required=True, help="an eval run's answers.jsonl")
    ap.add_argument("--out", type=Path, default=Path("eval/out/premise-replay.json"))
    a = ap.parse_args()
    records = [json.loads(line) for line in a.records.read_text().splitlines() if line.strip()]
    rt = Runtime(Settings(home=a.home))
    mentions: dict[str, Mentions] = {}
    before: list[dict[str, Any]] = []
    after: list[dict[str, Any]] = []
    flagged: list[dict[str, Any]] = []
    try:
        for r in records:
            if r["doc"] not in mentions:
                doc = resolve_document(rt.store, r["doc"])
                pages = rt.store.get_pages(doc.doc_id)
                mentions[r["doc"]] = Mentions.of_pages([p.text for p in pages])
            absent = [p.text for p in absent_premises(r["question"], [mentions[r["doc"]]])]
            before.append(r)
            after.append(replay(r, absent))
            if absent:
                flagged.append(
                    {
                        "id": r["item_id"],
                        "split": split_of(r["item_id"]),
                        "unanswerable": _true(r["unanswerable"]),
                        "was_abstained": _true(r["abstained"]),
                        "absent": absent,
                    }
                )
    finally:
        rt.close()
    result: dict[str, Any] = {"records": str(a.records), "flagged": flagged}
    for split in SPLITS:
        pick = [
            i for i, r in enumerate(records) if split == "all" or split_of(r["item_id"]) == split
        ]
        result[split] = {
            "before": tally([before[i] for i in pick]),
            "after": tally([after[i] for i in pick]),
        }
    print("| split | | answerable right | answerable abstained | unanswerable abstained |")
    print("|---|---|---:|---:|---:|")
    for split in SPLITS:
        for when in ("before", "after"):
            t = result[split][when]
            print(
                f"| {split} | {when} | {t['answerable_right']} / {t['answerable']} | "
                f"{t['answerable_abstained']} | {t['unanswerable_abstained']} / {t['unanswerable']} |"
            )
    for f in flagged:
        kind = "unanswerable" if f["unanswerable"] else "ANSWERABLE"
        print(
            f"- {f['id']} ({f['split']}, {kind}, abstained before: {f['was_abstained']}): {f['absent']}"
        )
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
