"""Which pages an answer's citations point to, under other citation policies, without
generating again.

    python -m eval.citation_replay --records eval/results/dev-det/answers.jsonl
        [--home DIR] [--out eval/out/citation-replay.json]

For each RAG record of an eval run, the RAG prompt is built again on the same store (search is
deterministic; a record whose passage pages differ from the recorded ones is counted and left
out), the recorded answer is checked again by the default citation checker, and the pages its
citations point to are computed under each policy:

- `as-is`: each sentence's repaired citations when it has them, else its own (what `ask`
  lists in `Answer.citations`);
- `needed`: `citations.needed_only` (`shown_citations`): a supported sentence leaves out the
  citations the checker calls not needed;
- `supported-only`: as `needed`, and a claim that is not supported and has no repair shows no
  citation.

Reported per split (`eval.bench_retrieval.split_of`): cited-page precision averaged over the
answers that cite a page (the eval's figure), micro precision (evidence pages cited over pages
cited), cited-page recall over the questions with gold pages (an abstention
recalls none), and how many answers
cite a page. The answers' texts and verdicts are those of the run.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from docqa.citations.checker import shown_citations
from docqa.types import Passage, SentenceCheck, Verdict
from eval.bench_retrieval import split_of
from eval.scoring import citation_page_scores, pages_of

Policy = Callable[[SentenceCheck], list[int]]


def as_is(check: SentenceCheck) -> list[int]:
    return shown_citations(check)


def needed(check: SentenceCheck) -> list[int]:
    return shown_citations(check, needed_only=True)


def supported_only(check: SentenceCheck) -> list[int]:
    if check.claim and check.verdict != Verdict.supported and check.repaired_citations is None:
        return []
    return needed(check)


POLICIES: dict[str, Policy] = {"as-is": as_is, "needed": needed, "supported-only": supported_only}


def cited_pages(
    checks: Iterable[SentenceCheck], passages: Sequence[Passage], policy: Policy
) -> list[int]:
    """The pages (each of a passage's pages, `pages_of`) the sentences' citations point to
    under `policy`, sorted."""
    by_n = {p.n: p for p in passages}
    return sorted(pages_of(by_n[n] for check in checks for n in policy(check) if n in by_n))


def summarize(rows: Sequence[dict[str, Any]], policy: str) -> dict[str, Any]:
    """Cited-page figures of `policy` over `rows` (each with `gold` and `cited[policy]`)."""
    precisions: list[float] = []
    recalls: list[float] = []
    hit = cited = 0
    for r in rows:
        pages = r["cited"][policy]
        p, rec = citation_page_scores(pages, r["gold"])
        if p is not None:
            precisions.append(p)
        if rec is not None:
            recalls.append(rec)
        if r["gold"]:
            hit += len(set(pages) & set(r["gold"]))
            cited += len(pages)
    return {
        "answers_citing": sum(1 for r in rows if r["cited"][policy]),
        "precision": round(sum(precisions) / len(precisions), 4) if precisions else None,
        "micro_precision": round(hit / cited, 4) if cited else None,
        "recall": round(sum(recalls) / len(recalls), 4) if recalls else None,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument("--records", type=Path, required=True, help="an eval run's answers.jsonl")
    ap.add_argument("--home", type=Path, default=None, help="the DOCQA home the run used")
    ap.add_argument("--out", type=Path, default=Path("eval/out/citation-replay.json"))
    a = ap.parse_args(argv)
    from docqa.config import Settings
    from docqa.runtime import Runtime
    from docqa.search import resolve_document

    records = [
        r
        for r in map(json.loads, a.records.read_text().splitlines())
        if r["strategy"] == "rag" and not r.get("skipped") and not r.get("error")
    ]
    rt = Runtime(Settings() if a.home is None else Settings(home=a.home))
    checker = rt.checker
    rows: list[dict[str, Any]] = []
    moved: list[str] = []
    try:
        for i, r in enumerate(records, 1):
            doc = resolve_document(rt.store, r["doc"])
            prompt = rt.answerer.rag_prompt(r["question"], [doc])
            ranked = sorted(prompt.passages, key=lambda p: p.rank or 0)
            if pages_of(ranked, doc=r["doc"]) != r["retrieved_pages"]:
                moved.append(r["item_id"])
                continue
            report = None if r["abstained"] else checker.check(r["answer"], prompt.passages)
            checks = report.sentences if report else []
            row = {
                "id": r["item_id"],
                "split": split_of(r["item_id"]),
                "gold": r["evidence_pages"],
                "abstained": r["abstained"],
                "recorded": r["cited_pages"],
                "cited": {
                    name: cited_pages(checks, prompt.passages, f) for name, f in POLICIES.items()
                },
            }
            rows.append(row)
            print(f"[{i}/{len(records)}] {r['item_id']}: {row['cited']}", flush=True)
    finally:
        rt.close()
    same = sum(1 for r in rows if r["cited"]["as-is"] == sorted(r["recorded"]))
    summary: dict[str, Any] = {
        "records": str(a.records),
        "replayed": len(rows),
        "passages_moved": moved,
        "as_is_equals_recorded": same,
        "recorded": {
            split: summarize([{**r, "cited": {"rec": r["recorded"]}} for r in part], "rec")
            for split, part in _splits(rows).items()
        },
        "policies": {
            name: {split: summarize(part, name) for split, part in _splits(rows).items()}
            for name in POLICIES
        },
        "rows": rows,
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(table(summary))


def _splits(rows: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    return {
        "all": list(rows),
        "tune": [r for r in rows if r["split"] == "tune"],
        "held-out": [r for r in rows if r["split"] == "held-out"],
    }


def table(summary: dict[str, Any]) -> str:
    """The policies side by side, a Markdown table."""
    lines = [
        "| policy | split | answers citing | precision | micro precision | recall |",
        "|---|---|---:|---:|---:|---:|",
    ]
    groups = {"recorded": summary["recorded"], **summary["policies"]}
    for name, by_split in groups.items():
        for split, s in by_split.items():
            lines.append(
                f"| {name} | {split} | {s['answers_citing']} | {s['precision']} | "
                f"{s['micro_precision']} | {s['recall']} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
