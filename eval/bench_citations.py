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

Every verifier is reported with accuracy at 0.5, AUROC, Brier score and ECE (10 equal-width
bins), and drawn in a reliability diagram (`citations_reliability.png` beside `--out`). The
combined score is also Platt-calibrated (logistic regression on its log-odds) with 5-fold
cross-validation (stratified, out-of-fold predictions), and the members' log-odds are stacked
the same way (the fitted weights are what `DEFAULT_WEIGHTS` can be compared with). Each fold
has its own map, so the calibrated AUROC can differ from the raw one: scores tied at
grounding's ceiling get different values in different folds.

`--judge` adds the LLM judge (`LLMJudgeVerifier`, default model qwen2.5-1.5b) on a subset
stratified by kind and `computed` (`--judge-pairs`, 0: all pairs); every verifier is then also
reported on that subset, where `combined+llm` is grounding + reranker + judge with
`DEFAULT_WEIGHTS`. Judge scores are kept in `--judge-cache` (JSON lines, keyed by model,
passage cap, prompt, statement and passages), so an interrupted run resumes. Its cost is
reported per check (seconds, prompt and decoded tokens: passages shared by several checks of
a row are prefilled once) and per answer: `--judge-answers` answers of 4 sentences (the
supported statements of 4 rows of one document, each citing its own evidence pages) checked by
the `CitationChecker` with the judge in the combination.

    python -m eval.bench_citations --judge --judge-pairs 104 --out eval/out/citations.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import re
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pymupdf
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from docqa.citations.checker import CitationChecker
from docqa.citations.numbers import extract_quantities
from docqa.citations.verifiers import (
    JUDGE_QUESTION,
    JUDGE_SYSTEM,
    CombinedVerifier,
    GroundingVerifier,
    LLMJudgeVerifier,
    RerankerVerifier,
    Verifier,
    VerifierScore,
    chat_renderer,
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


def brier(labels: Sequence[int], scores: Sequence[float]) -> float:
    """Mean squared error of the probabilities."""
    y = np.asarray(labels, dtype=float)
    p = np.asarray(scores, dtype=float)
    return float(np.mean((p - y) ** 2)) if len(y) else math.nan


def reliability(
    labels: Sequence[int], scores: Sequence[float], bins: int = 10
) -> list[tuple[float, float, int]]:
    """(mean score, share of positives, count) of each non-empty bin of equal width on [0, 1]."""
    y = np.asarray(labels, dtype=float)
    p = np.asarray(scores, dtype=float)
    which = np.minimum((p * bins).astype(int), bins - 1)
    out = []
    for b in range(bins):
        m = which == b
        if m.any():
            out.append((float(p[m].mean()), float(y[m].mean()), int(m.sum())))
    return out


def ece(labels: Sequence[int], scores: Sequence[float], bins: int = 10) -> float:
    """Expected calibration error: sum over bins of |mean score - share of positives| weighted
    by the bin's share of the pairs (equal-width bins)."""
    n = len(labels)
    if not n:
        return math.nan
    return float(sum(c / n * abs(mp - fp) for mp, fp, c in reliability(labels, scores, bins)))


def _subsets(pairs: list[Pair]) -> dict[str, list[int]]:
    kinds = sorted({p.kind for p in pairs})
    subsets: dict[str, list[int]] = {
        "all": list(range(len(pairs))),
        "checkable": [i for i, p in enumerate(pairs) if not p.computed],
    }
    for k in kinds:
        if k != "supported":
            subsets[f"checkable_vs_{k}"] = [
                i for i, p in enumerate(pairs) if p.kind in ("supported", k) and not p.computed
            ]
    return subsets


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
    out["pairs"]["total"] = len(pairs)
    subsets = _subsets(pairs)
    out["auroc"] = {}
    out["accuracy_at_0.5"] = {}
    out["brier"] = {}
    out["ece_10"] = {}
    out["mean_score"] = {}
    for name, sc in scores.items():
        out["auroc"][name] = {}
        for sub, idx in subsets.items():
            labels = [int(pairs[i].kind == "supported") for i in idx]
            out["auroc"][name][sub] = _auroc(labels, [sc[i] for i in idx])
        acc, bs, ec = {}, {}, {}
        for sub in ("all", "checkable"):
            idx = subsets[sub]
            labels = [int(pairs[i].kind == "supported") for i in idx]
            ok = sum((sc[i] >= 0.5) == (pairs[i].kind == "supported") for i in idx)
            acc[sub] = round(ok / max(1, len(idx)), 4)
            bs[sub] = round(brier(labels, [sc[i] for i in idx]), 4)
            ec[sub] = round(ece(labels, [sc[i] for i in idx]), 4)
        out["accuracy_at_0.5"][name] = acc
        out["brier"][name] = bs
        out["ece_10"][name] = ec
        out["mean_score"][name] = {
            k: round(
                sum(sc[i] for i, p in enumerate(pairs) if p.kind == k and not p.computed)
                / max(1, sum(p.kind == k and not p.computed for p in pairs)),
                3,
            )
            for k in kinds
        }
    return out


def _logits(scores: Sequence[float]) -> np.ndarray[Any, np.dtype[np.float64]]:
    p = np.clip(np.asarray(scores, dtype=float), 1e-4, 1 - 1e-4)
    return np.asarray(np.log(p / (1 - p)), dtype=np.float64)


def _cv_probs(x: np.ndarray[Any, Any], y: list[int], seed: int) -> np.ndarray[Any, Any]:
    folds = StratifiedKFold(
        n_splits=min(5, min(sum(y), len(y) - sum(y))), shuffle=True, random_state=seed
    )
    probs = cross_val_predict(LogisticRegression(C=100.0), x, y, cv=folds, method="predict_proba")
    return np.asarray(probs[:, 1], dtype=float)


def calibration(
    pairs: list[Pair],
    combined: dict[str, list[float]],
    members: dict[str, list[float]],
    ceilings: list[float],
    seed: int,
) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """Platt scaling of each combined score, and a stacked combination of the members' log-odds
    (grounding's ceiling applied after it, as `CombinedVerifier` does), both cross-validated
    (5 folds, out-of-fold predictions). Returns the report and the calibrated scores on all
    pairs (for the reliability diagram)."""
    report: dict[str, Any] = {}
    curves: dict[str, list[float]] = {}
    subsets = _subsets(pairs)
    for sub in ("all", "checkable"):
        idx = subsets[sub]
        y = [int(pairs[i].kind == "supported") for i in idx]
        if len(set(y)) < 2 or min(sum(y), len(y) - sum(y)) < 2:
            continue
        rep: dict[str, Any] = {"n": len(idx)}
        for name, sc in combined.items():
            raw = [sc[i] for i in idx]
            x = _logits(raw)[:, None]
            cal = _cv_probs(x, y, seed)
            fit = LogisticRegression(C=100.0).fit(x, y)
            rep[name] = {
                "ece_before": round(ece(y, raw), 4),
                "ece_after": round(ece(y, cal.tolist()), 4),
                "brier_before": round(brier(y, raw), 4),
                "brier_after": round(brier(y, cal.tolist()), 4),
                "auroc_after": _auroc(y, cal.tolist()),
                "accuracy_after": round(float(np.mean((cal >= 0.5) == np.asarray(y))), 4),
                "platt": {
                    "slope": round(float(fit.coef_[0, 0]), 4),
                    "intercept": round(float(fit.intercept_[0]), 4),
                },
            }
            if sub == "all":
                curves[f"{name} (Platt, CV)"] = cal.tolist()
        names = list(members)
        x = np.stack([_logits([members[n][i] for i in idx]) for n in names], axis=1)
        stacked = np.minimum(_cv_probs(x, y, seed), [ceilings[i] for i in idx])
        fit = LogisticRegression(C=100.0).fit(x, y)
        rep["stacked_members"] = {
            "members": names,
            "auroc": _auroc(y, stacked.tolist()),
            "ece": round(ece(y, stacked.tolist()), 4),
            "brier": round(brier(y, stacked.tolist()), 4),
            "weights": {n: round(float(w), 4) for n, w in zip(names, fit.coef_[0], strict=True)},
            "bias": round(float(fit.intercept_[0]), 4),
        }
        report[sub] = rep
    return report, curves


def plot_reliability(
    path: Path, panels: list[tuple[str, list[Pair], dict[str, list[float]]]]
) -> None:
    """One reliability diagram per panel: share of supported pairs against the mean score in
    10 equal-width bins (marker area ~ pairs in the bin); ECE in the legend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(6.2 * len(panels), 5.6), squeeze=False)
    for ax, (title, pairs, curves) in zip(axes[0], panels, strict=True):
        y = [int(p.kind == "supported") for p in pairs]
        ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--")
        for name, sc in curves.items():
            pts = reliability(y, sc)
            ax.plot(
                [a for a, _, _ in pts],
                [b for _, b, _ in pts],
                marker="o",
                lw=1.2,
                label=f"{name} (ECE {ece(y, sc):.3f})",
            )
            ax.scatter(
                [a for a, _, _ in pts],
                [b for _, b, _ in pts],
                s=[6 + 3 * c for _, _, c in pts],
                alpha=0.25,
            )
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("mean score in bin")
        ax.set_ylabel("share of supported pairs")
        ax.set_title(f"{title} (n={len(pairs)})")
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def stratified_subset(pairs: list[Pair], n: int, seed: int) -> list[int]:
    """About `n` pair indices, the same share of each (kind, computed) stratum (at least one
    per stratum; largest remainders fill up to `n`), sorted."""
    if n <= 0 or n >= len(pairs):
        return list(range(len(pairs)))
    rng = random.Random(seed)
    strata: dict[tuple[str, bool], list[int]] = defaultdict(list)
    for i, p in enumerate(pairs):
        strata[(p.kind, p.computed)].append(i)
    frac = n / len(pairs)
    quota = {k: max(1, math.floor(len(v) * frac)) for k, v in strata.items()}
    rest = sorted(strata, key=lambda k: len(strata[k]) * frac - quota[k], reverse=True)
    for k in rest:
        if sum(quota.values()) >= n:
            break
        if quota[k] < len(strata[k]):
            quota[k] += 1
    out: list[int] = []
    for k in sorted(strata):
        out.extend(rng.sample(strata[k], quota[k]))
    return sorted(out)


class JudgeCache:
    """Judge results by key in a JSON-lines file, appended as they are computed."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.entries: dict[str, dict[str, Any]] = {}
        if path is not None and path.exists():
            for line in path.read_text().splitlines():
                if line.strip():
                    e = json.loads(line)
                    self.entries[e["key"]] = e

    @staticmethod
    def key(model: str, cap: int, statement: str, passages: Sequence[Passage]) -> str:
        sources = [[p.text, p.path, p.page] for p in passages]
        raw = json.dumps([model, cap, JUDGE_SYSTEM, JUDGE_QUESTION, statement, sources])
        return hashlib.sha256(raw.encode()).hexdigest()[:32]

    def add(self, entry: dict[str, Any]) -> None:
        self.entries[entry["key"]] = entry
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as f:
                f.write(json.dumps(entry) + "\n")


def judge_scores(
    judge: LLMJudgeVerifier,
    pairs: list[Pair],
    cache: JudgeCache,
    model: str,
    progress: bool = True,
) -> tuple[list[float], dict[str, Any]]:
    """The judge's P(yes) for each pair (from the cache when there), and its cost: checks
    sharing passages are run together so that the passages are prefilled once."""
    keys = [JudgeCache.key(model, judge.max_passage_tokens, p.statement, p.passages) for p in pairs]
    groups: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for i, p in enumerate(pairs):
        if keys[i] not in cache.entries:
            groups[tuple(x.text for x in p.passages)].append(i)
    done = 0
    todo = sum(len(g) for g in groups.values())
    for g in sorted(groups, key=lambda k: groups[k][0]):
        idx = groups[g]
        before = (judge.stats.seconds, judge.stats.decoded_tokens, judge.stats.cut_passages)
        res = judge.score_batch([(pairs[i].statement, pairs[i].passages) for i in idx])
        secs = judge.stats.seconds - before[0]
        decoded = judge.stats.decoded_tokens - before[1]
        for i, r in zip(idx, res, strict=True):
            cache.add(
                {
                    "key": keys[i],
                    "row": pairs[i].row,
                    "kind": pairs[i].kind,
                    "p_yes": r.score,
                    "yes_no_mass": r.details.get("yes_no_mass"),
                    "prompt_tokens": int(r.details.get("prompt_tokens", 0)),
                    "decoded_tokens": decoded / len(idx),
                    "seconds": secs / len(idx),
                    "cut": (judge.stats.cut_passages - before[2]) / len(idx),
                }
            )
        done += len(idx)
        if progress:
            print(
                f"judge: {done}/{todo} checks, {secs:.1f} s for {len(idx)} "
                f"({decoded} tokens decoded)",
                flush=True,
            )
    entries = [cache.entries[k] for k in keys]
    seconds = sum(e["seconds"] for e in entries)
    decoded = sum(e["decoded_tokens"] for e in entries)
    prompt = sum(e["prompt_tokens"] for e in entries)
    masses = [e["yes_no_mass"] for e in entries if e.get("yes_no_mass") is not None]
    cost = {
        "checks": len(entries),
        "computed_this_run": todo,
        "seconds_total": round(seconds, 1),
        "seconds_per_check": round(seconds / max(1, len(entries)), 2),
        "prompt_tokens_per_check": round(prompt / max(1, len(entries)), 1),
        "decoded_tokens_per_check": round(decoded / max(1, len(entries)), 1),
        "decoded_tokens_per_second": round(decoded / seconds, 1) if seconds else None,
        "checks_with_cut_passages": round(sum(e.get("cut", 0) > 0 for e in entries)),
        "min_yes_no_mass": round(min(masses), 4) if masses else None,
    }
    return [float(e["p_yes"]) for e in entries], cost


def judge_answers(
    pairs: list[Pair], checker: CitationChecker, judge: LLMJudgeVerifier, n: int, seed: int
) -> dict[str, Any]:
    """Cost of checking whole answers with the judge in the combination: `n` answers of 4
    sentences, each the supported statement of one row citing that row's evidence pages."""
    rng = random.Random(seed)
    by_doc: dict[str, list[Pair]] = defaultdict(list)
    for p in pairs:
        if p.kind == "supported" and not p.computed and p.passages[0].path:
            by_doc[p.passages[0].path].append(p)
    docs = sorted(d for d, ps in by_doc.items() if len(ps) >= 4)
    rng.shuffle(docs)
    runs: list[dict[str, Any]] = []
    for doc in docs[:n]:
        rows = rng.sample(by_doc[doc], 4)
        passages: list[Passage] = []
        by_page: dict[int | None, int] = {}
        sentences = []
        for r in rows:
            ns = []
            for ev in r.passages:
                if ev.page not in by_page:
                    by_page[ev.page] = len(passages) + 1
                    passages.append(ev.model_copy(update={"n": len(passages) + 1}))
                ns.append(by_page[ev.page])
            marks = "".join(f"[{k}]" for k in ns)
            sentences.append(f"{r.statement.rstrip('.')} {marks}.")
        answer = " ".join(sentences)
        before = (judge.stats.checks, judge.stats.seconds, judge.stats.decoded_tokens)
        t0 = time.perf_counter()
        report = checker.check(answer, passages)
        runs.append(
            {
                "doc": doc,
                "sentences": len(report.sentences),
                "passages": len(passages),
                "seconds": round(time.perf_counter() - t0, 1),
                "judge_checks": judge.stats.checks - before[0],
                "judge_seconds": round(judge.stats.seconds - before[1], 1),
                "judge_decoded_tokens": judge.stats.decoded_tokens - before[2],
                "verdicts": [s.verdict.value for s in report.sentences],
            }
        )
        print(f"answer on {doc}: {runs[-1]}", flush=True)
    mean = sum(r["seconds"] for r in runs) / len(runs) if runs else None
    return {
        "answers": runs,
        "seconds_per_answer": round(mean, 1) if mean is not None else None,
    }


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


def _summary(metrics: dict[str, Any], cal: dict[str, Any], sub: str) -> list[str]:
    lines = [
        f"{'verifier':<14} {'acc':>6} {'AUROC':>6} {'Brier':>6} {'ECE':>6} {'ECE cal':>7}",
    ]
    for name in metrics["auroc"]:
        after = cal.get(sub, {}).get(name, {}).get("ece_after")
        lines.append(
            f"{name:<14} {metrics['accuracy_at_0.5'][name][sub]:>6.3f} "
            f"{metrics['auroc'][name][sub] or float('nan'):>6.3f} "
            f"{metrics['brier'][name][sub]:>6.3f} {metrics['ece_10'][name][sub]:>6.3f} "
            f"{'' if after is None else f'{after:.3f}':>7}"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    from docqa.config import CitationSettings, GenerationSettings

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=Path("../shared/corpus/dev"))
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--cache", type=Path, default=None, help="model cache folder (sha256 memo)")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--show", action="store_true", help="print every pair with its scores")
    ap.add_argument("--judge", action="store_true", help="add the LLM judge")
    ap.add_argument("--judge-model", default="qwen2.5-1.5b")
    ap.add_argument("--judge-pairs", type=int, default=104, help="stratified subset; 0: all")
    ap.add_argument("--judge-threads", type=int, default=None)
    ap.add_argument(
        "--judge-max-passage-tokens",
        type=int,
        default=CitationSettings().judge_max_passage_tokens,
    )
    ap.add_argument("--judge-cache", type=Path, default=None, help="JSON lines of judge scores")
    ap.add_argument("--judge-answers", type=int, default=2, help="answers timed whole")
    ap.add_argument("--judge-repair", action="store_true", help="repair cases with the judge")
    args = ap.parse_args(argv)

    pairs, repair_cases, skipped = build_pairs(args.corpus, args.seed)
    cache = args.cache or Path(tempfile.mkdtemp(prefix="docqa-bench-"))
    registry = ModelRegistry(cache)
    out_dir = args.out.parent if args.out else Path("eval/out")
    grounding = GroundingVerifier()
    reranker = RerankerVerifier.from_registry(registry)
    combined = CombinedVerifier.default(grounding, reranker)
    members, seconds = member_scores(pairs, {"grounding": grounding, "reranker": reranker})
    scores = {name: [s.score for s in ss] for name, ss in members.items()}
    scores["combined"] = [
        combined.combine([g, r]).score
        for g, r in zip(members["grounding"], members["reranker"], strict=True)
    ]
    ceilings = [1.0 if g.ceiling is None else g.ceiling for g in members["grounding"]]
    result = evaluate(pairs, scores)
    result["rows_without_text_layer"] = skipped
    result["seconds_per_pair"] = {k: round(v, 4) for k, v in seconds.items()}
    cal, curves = calibration(
        pairs,
        {"combined": scores["combined"]},
        {k: scores[k] for k in ("grounding", "reranker")},
        ceilings,
        args.seed,
    )
    result["calibration"] = cal
    result["repair"] = evaluate_repair(repair_cases, combined)
    panels = [("all pairs", pairs, {**scores, **curves})]
    summary = ["all pairs:", *_summary(result, cal, "all")]

    if args.judge:
        from docqa.generation import load_logits_model

        gen = GenerationSettings(model=args.judge_model, n_ctx=4096, threads=args.judge_threads)
        lm = load_logits_model(gen, registry)
        judge = LLMJudgeVerifier(
            lm, chat_renderer(lm), max_passage_tokens=args.judge_max_passage_tokens
        )
        idx = stratified_subset(pairs, args.judge_pairs, args.seed)
        sub = [pairs[i] for i in idx]
        jcache = JudgeCache(
            args.judge_cache or out_dir / f"citations_judge_{args.judge_model}.jsonl"
        )
        llm, cost = judge_scores(judge, sub, jcache, args.judge_model)
        with_judge = CombinedVerifier.default(grounding, reranker, judge)
        sub_scores = {k: [v[i] for i in idx] for k, v in scores.items()}
        sub_scores["llm"] = llm
        sub_scores["combined+llm"] = [
            with_judge.combine(
                [members["grounding"][i], members["reranker"][i], VerifierScore(p)]
            ).score
            for i, p in zip(idx, llm, strict=True)
        ]
        jcal, jcurves = calibration(
            sub,
            {k: sub_scores[k] for k in ("combined", "combined+llm")},
            {k: sub_scores[k] for k in ("grounding", "reranker", "llm")},
            [ceilings[i] for i in idx],
            args.seed,
        )
        jres: dict[str, Any] = {
            "model": args.judge_model,
            "max_passage_tokens": args.judge_max_passage_tokens,
            "n_pairs": len(sub),
            "strata": {
                f"{k}{'_computed' if c else ''}": sum(p.kind == k and p.computed == c for p in sub)
                for k in sorted({p.kind for p in sub})
                for c in (False, True)
            },
            "metrics": evaluate(sub, sub_scores),
            "calibration": jcal,
            "cost": cost,
        }
        if args.judge_answers:
            checker = CitationChecker(with_judge)
            jres["cost_per_answer"] = judge_answers(
                pairs, checker, judge, args.judge_answers, args.seed
            )
        if args.judge_repair:
            jres["repair"] = evaluate_repair(repair_cases, with_judge)
        result["judge"] = jres
        panels.append((f"judge subset ({args.judge_model})", sub, {**sub_scores, **jcurves}))
        summary += ["", f"judge subset (n={len(sub)}):", *_summary(jres["metrics"], jcal, "all")]
        summary += [f"judge cost: {cost}"]
        if args.show:
            for p, sc in zip(sub, llm, strict=True):
                print(f"{p.row:>22} {p.kind:>9} {'C' if p.computed else ' '} llm={sc:.3f}")

    png = out_dir / "citations_reliability.png"
    plot_reliability(png, panels)
    result["reliability_png"] = png.name
    if args.show:
        for i, p in enumerate(pairs):
            cols = " ".join(f"{n[:4]}={scores[n][i]:.3f}" for n in scores)
            flag = "C" if p.computed else " "
            print(f"{p.row:>22} {p.kind:>9} {flag} {cols} | {p.statement[:110]}")
    print(json.dumps(result, indent=2))
    print("\n".join(summary))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
