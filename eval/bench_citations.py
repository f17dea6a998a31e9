"""Citation verifier benchmark on the dev corpus QA: AUROC per verifier, accuracy, repair rate.

    python -m eval.bench_citations --corpus ../shared/corpus/dev --out eval/out/citations.json

Pairs, built from the answerable rows of `qa.jsonl` whose PDF opens and that name evidence pages:

- supported: the statement "<question> <answer>" (question stripped of answering instructions
  such as "Answer in millions.", answer stripped of FinanceBench's "The answer here assumes ..."
  note) against the text of its evidence pages (PyMuPDF `get_text`, one passage per page);
- unsupported, `number`: the same statement with one number of the answer altered in one digit,
  against the same evidence pages (rows whose answer holds a number);
- unsupported, `page`: the same statement against a random other page of the same document;
- unsupported, `entity`: the company named in the statement swapped for another company of the
  corpus (rows that name one), against the evidence pages.

Passages carry the PDF's file name as `path`, as retrieved chunks do. Evidence pages without a
text layer (slides that need OCR) are left out.

Rows whose answer holds a number that does not appear literally on the evidence pages (ratios,
differences, counts of figures: computed from the page) are kept, and the `checkable` subset
leaves them and their negatives out, because a checker that only reads the page cannot confirm
a computed number.

The combined score is computed from the members' scores of each pair (`CombinedVerifier.combine`),
i.e. without the skip of later members that `score_batch` does; verdicts are the same.

Repair: for each row whose evidence fits one page, an answer citing a wrong passage among
the evidence page + 3 random other pages of the document; repaired when the checker's
`repaired_citations` names the evidence passage.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymupdf
from sklearn.metrics import roc_auc_score

from docqa.citations.checker import CitationChecker
from docqa.citations.numbers import extract_quantities
from docqa.citations.verifiers import (
    CombinedVerifier,
    GroundingVerifier,
    RerankerVerifier,
    Verifier,
    VerifierScore,
    score_many,
)
from docqa.models import ModelRegistry
from docqa.types import Passage

_pymupdf: Any = pymupdf  # untyped: its calls go through Any

_INSTRUCTIONS = re.compile(
    r"(?:\?|\.)?\s*(?:Answer in|Answer the question in|Round|round|Give me|Directly answer|"
    r"Please|If gross margin|If|Just answer|Write|Answer)\b[^?]*$"
)
_ASSUMES = re.compile(r"\s*The answer here assumes.*$", re.S)
_COMPANIES = ["Best Buy", "Boeing", "Ulta Beauty", "Walmart", "Target", "Lockheed Martin"]
_ANSWER_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


@dataclass
class Pair:
    row: str
    kind: str
    """supported | number | page | entity"""
    statement: str
    passages: list[Passage]
    computed: bool
    """The answer holds a number the evidence pages do not state literally."""


def _clean_question(q: str) -> str:
    q = " ".join(q.split())
    head = re.split(r"(?<=\?)\s+", q)[0] if "?" in q else q
    head = _INSTRUCTIONS.sub("", head).strip()
    return head.rstrip("?").strip() or q


def _clean_answer(a: str) -> str:
    a = _ASSUMES.sub("", a).strip()
    if a.startswith("[") and a.endswith("]"):
        a = ", ".join(x.strip(" '\"") for x in a[1:-1].split(","))
    return a.strip().strip('"')


def _computed(answer: str, evidence: Sequence[str]) -> bool:
    text = " ".join(evidence).replace(",", "")
    for tok in _ANSWER_NUMBER.findall(answer):
        digits = tok.replace(",", "").rstrip(".")
        if not re.search(rf"(?<![\d.]){re.escape(digits)}(?!\d)", text):
            return True
    return False


def _alter_number(statement: str, answer_at: int, rng: random.Random) -> str | None:
    """Change one digit of the longest number in the answer part of the statement."""
    qs = [q for q in extract_quantities(statement) if q.start >= answer_at and q.kind != "year"]
    if not qs:
        return None
    q = max(qs, key=lambda x: len(re.sub(r"\D", "", x.text)))
    digits = [i for i in range(q.start, q.end) if statement[i].isdigit()]
    # the last digit of the mantissa: a change that rounding cannot hide only if it is the
    # last written digit; pick among the last two to vary it
    pos = rng.choice(digits[-2:]) if len(digits) > 1 else digits[0]
    old = int(statement[pos])
    new = (old + rng.choice([1, 2, 3, 7, 8, 9])) % 10
    if pos == digits[0] and new == 0:
        new = (old + 1) % 10 or 1
    return statement[:pos] + str(new) + statement[pos + 1 :]


def build_pairs(corpus: Path, seed: int = 13) -> tuple[list[Pair], list[dict[str, Any]], list[str]]:
    rng = random.Random(seed)
    rows = [json.loads(line) for line in (corpus / "qa.jsonl").read_text().splitlines() if line]
    pairs: list[Pair] = []
    repair_cases: list[dict[str, Any]] = []
    docs: dict[str, list[str]] = {}
    skipped: list[str] = []
    for r in rows:
        if r.get("extra", {}).get("unanswerable") or not r.get("evidence_pages"):
            continue
        path = corpus / r["doc"]
        if r["doc"] not in docs:
            try:
                with _pymupdf.open(path) as doc:
                    docs[r["doc"]] = [page.get_text() for page in doc]
            except Exception:
                docs[r["doc"]] = []
        pages = docs[r["doc"]]
        ev = [
            p
            for p in r["evidence_pages"]
            if 1 <= p <= len(pages) and len("".join(pages[p - 1].split())) >= 50
        ]
        if not ev:
            skipped.append(r["id"])
            continue
        question = _clean_question(r["question"])
        answer = _clean_answer(r["answer"])
        statement = f"{question}: {answer}"
        answer_at = len(question) + 2
        computed = _computed(answer, [pages[p - 1] for p in ev])
        doc = r["doc"]
        ev_passages = [
            Passage(n=i + 1, text=pages[p - 1], page=p, path=doc) for i, p in enumerate(ev)
        ]
        pairs.append(Pair(r["id"], "supported", statement, ev_passages, computed))
        altered = _alter_number(statement, answer_at, rng)
        if altered and altered != statement:
            pairs.append(Pair(r["id"], "number", altered, ev_passages, computed))
        others = [i for i in range(1, len(pages) + 1) if i not in ev and pages[i - 1].strip()]
        if others:
            o = rng.choice(others)
            pairs.append(
                Pair(
                    r["id"],
                    "page",
                    statement,
                    [Passage(n=1, text=pages[o - 1], page=o, path=doc)],
                    computed,
                )
            )
        for name in _COMPANIES:
            if name in statement:
                other = rng.choice([c for c in _COMPANIES if c != name])
                pairs.append(
                    Pair(r["id"], "entity", statement.replace(name, other), ev_passages, computed)
                )
                break
        if len(ev) == 1 and len(others) >= 3 and not computed:
            distractors = rng.sample(others, 3)
            order = [ev[0], *distractors]
            rng.shuffle(order)
            passages = [
                Passage(n=i + 1, text=pages[p - 1], page=p, path=doc) for i, p in enumerate(order)
            ]
            right = order.index(ev[0]) + 1
            wrong = rng.choice([n for n in range(1, 5) if n != right])
            repair_cases.append(
                {
                    "row": r["id"],
                    "answer": f"{statement} [{wrong}].",
                    "passages": passages,
                    "right": right,
                }
            )
    return pairs, repair_cases, skipped


def _auroc(labels: Sequence[int], scores: Sequence[float]) -> float | None:
    if len(set(labels)) < 2:
        return None
    return round(float(roc_auc_score(labels, scores)), 4)


def member_scores(
    pairs: list[Pair], verifiers: dict[str, Verifier]
) -> tuple[dict[str, list[VerifierScore]], dict[str, float]]:
    items = [(p.statement, p.passages) for p in pairs]
    scores: dict[str, list[VerifierScore]] = {}
    seconds: dict[str, float] = {}
    for name, v in verifiers.items():
        t0 = time.perf_counter()
        scores[name] = score_many(v, items)
        seconds[name] = (time.perf_counter() - t0) / max(1, len(items))
    return scores, seconds


def evaluate(pairs: list[Pair], scores: dict[str, list[float]]) -> dict[str, Any]:
    kinds = sorted({p.kind for p in pairs})
    out: dict[str, Any] = {"pairs": {k: sum(p.kind == k for p in pairs) for k in kinds}}
    out["pairs"]["supported_computed"] = sum(p.kind == "supported" and p.computed for p in pairs)
    subsets: dict[str, list[int]] = {
        "all": list(range(len(pairs))),
        "checkable": [i for i, p in enumerate(pairs) if not p.computed],
    }
    for k in kinds:
        if k != "supported":
            subsets[f"checkable_vs_{k}"] = [
                i for i, p in enumerate(pairs) if p.kind in ("supported", k) and not p.computed
            ]
    out["auroc"] = {}
    out["accuracy_at_0.5"] = {}
    out["mean_score"] = {}
    for name, sc in scores.items():
        out["auroc"][name] = {}
        for sub, idx in subsets.items():
            labels = [int(pairs[i].kind == "supported") for i in idx]
            out["auroc"][name][sub] = _auroc(labels, [sc[i] for i in idx])
        acc = {}
        for sub in ("all", "checkable"):
            idx = subsets[sub]
            ok = sum((sc[i] >= 0.5) == (pairs[i].kind == "supported") for i in idx)
            acc[sub] = round(ok / max(1, len(idx)), 4)
        out["accuracy_at_0.5"][name] = acc
        out["mean_score"][name] = {
            k: round(
                sum(sc[i] for i, p in enumerate(pairs) if p.kind == k and not p.computed)
                / max(1, sum(p.kind == k and not p.computed for p in pairs)),
                3,
            )
            for k in kinds
        }
    return out


def evaluate_repair(cases: list[dict[str, Any]], verifier: Verifier) -> dict[str, Any]:
    checker = CitationChecker(verifier)
    repaired = flagged = 0
    t0 = time.perf_counter()
    for c in cases:
        report = checker.check(c["answer"], c["passages"])
        s = report.sentences[0]
        flagged += s.verdict.value != "supported"
        repaired += s.repaired_citations == [c["right"]]
    return {
        "cases": len(cases),
        "flagged_unsupported": flagged,
        "repaired_to_evidence": repaired,
        "repair_rate": round(repaired / len(cases), 4) if cases else None,
        "seconds_per_answer": round((time.perf_counter() - t0) / max(1, len(cases)), 3),
    }


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=Path("../shared/corpus/dev"))
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--cache", type=Path, default=None, help="model cache folder (sha256 memo)")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--show", action="store_true", help="print every pair with its scores")
    args = ap.parse_args(argv)

    pairs, repair_cases, skipped = build_pairs(args.corpus, args.seed)
    cache = args.cache or Path(tempfile.mkdtemp(prefix="docqa-bench-"))
    grounding = GroundingVerifier()
    reranker = RerankerVerifier.from_registry(ModelRegistry(cache))
    combined = CombinedVerifier.default(grounding, reranker)
    members, seconds = member_scores(pairs, {"grounding": grounding, "reranker": reranker})
    scores = {name: [s.score for s in ss] for name, ss in members.items()}
    scores["combined"] = [
        combined.combine([g, r]).score
        for g, r in zip(members["grounding"], members["reranker"], strict=True)
    ]
    result = evaluate(pairs, scores)
    result["rows_without_text_layer"] = skipped
    result["seconds_per_pair"] = {k: round(v, 4) for k, v in seconds.items()}
    result["repair"] = evaluate_repair(repair_cases, combined)
    if args.show:
        for i, p in enumerate(pairs):
            cols = " ".join(f"{n[:4]}={scores[n][i]:.3f}" for n in scores)
            flag = "C" if p.computed else " "
            print(f"{p.row:>22} {p.kind:>9} {flag} {cols} | {p.statement[:110]}")
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
