"""Fit the `auto` router's thresholds on eval records of the fixed strategies.

    python -m eval.fit_router --records RUN/answers.jsonl [MORE/answers.jsonl ...]
                              [--out eval/out/router-fit]

Every question needs a `rag` record and a `long-context` record (skipped when the document does
not fit: long context is then impossible) with their route signals, from one `docqa eval` run
or from several (`--records` of a rag run and of a long-context run on the same store and
settings; a later file's record of a question and strategy replaces an earlier one's).
For each point of a grid over the router's settings (`answer.small_document_tokens`,
`answer.whole_document_first`, `answer.fallback_min_score` / `fallback_max_score`,
`answer.fallback_abstain_probability`), the engine's own `Router` decides every question from
the recorded signals, and the question is scored with the record of the strategy it chose: the
runs `auto` makes are the same greedy runs as the fixed strategies' (RAG first, then long
context on the same prompt), so this is what `auto` would answer, without answering again. When
the long-context answer gives way to RAG's abstention (`Router.after_fallback`, on the
long-context record's `abstain_probability`), the question is scored with RAG's record and the
long-context prefill still counts.

The chosen point has the best accuracy on the *tune* split (`bench_retrieval.split_of`: a hash
of the question id, ~2/3) among the points whose long-context prefill tokens are at most
`--max-prefill-share` (0.5) of always reading whole; ties go to fewer prefill tokens, then to
the defaults. Its held-out accuracy is reported beside, with rag's and long context's, the
per-question best (oracle), today's defaults with each `answer.fallback_abstain_probability`
alone, the confusion against the per-question best strategy, and a plot of accuracy against
prefill tokens with every grid point and the chosen one. The settings to use
are printed as environment variables; nothing is changed on its own.
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from docqa.answer.router import Router
from docqa.config import AnswerSettings
from docqa.types import RouteSignals, Strategy
from eval.bench_retrieval import split_of
from eval.report import EvalRecord, read_records, save_figure

__all__ = ["Case", "FitPoint", "cases_of", "fit", "main", "simulate"]

SPLITS = ("tune", "held-out", "all")
SMALL_DOCUMENT_TOKENS = (0, 2048, 3072, 4096, 8192, 16384, 32768)
FALLBACK_ABSTAIN_PROBABILITY = (None, 0.05, 0.1, 0.2, 0.3, 0.5)


@dataclass(frozen=True)
class Case:
    """One question as the router sees it: the signals of both runs, and their outcomes."""

    item_id: str
    split: str
    signals: RouteSignals
    rag: EvalRecord
    long_context: EvalRecord | None
    """None: long context cannot run (the document does not fit)."""


@dataclass(frozen=True)
class FitPoint:
    settings: dict[str, Any]
    """The router's settings at this point (`AnswerSettings` fields)."""
    metrics: dict[str, dict[str, float]]
    """Per split: accuracy, prefill (long-context prompt tokens per question), share of LC."""
    routes: dict[str, str]
    """item_id -> the strategy chosen."""


def cases_of(records: Sequence[EvalRecord]) -> tuple[list[Case], list[str]]:
    """The questions that have both records (errors excluded), and why others were left out."""
    by: dict[tuple[str, str], EvalRecord] = {(r.item_id, r.strategy): r for r in records}
    ids = list(dict.fromkeys(r.item_id for r in records))
    cases: list[Case] = []
    left: list[str] = []
    for item in ids:
        rag, lc = by.get((item, "rag")), by.get((item, "long-context"))
        if rag is None or lc is None:
            left.append(f"{item}: no {'rag' if rag is None else 'long-context'} record")
            continue
        if rag.error or lc.error:
            left.append(f"{item}: an answer failed ({rag.error or lc.error})")
            continue
        if rag.route_signals is None:
            left.append(f"{item}: the rag record has no route signals (recorded before them)")
            continue
        sig = rag.route_signals.model_copy()
        if lc.skipped:
            sig.fits = False
            sig.document_tokens = sig.document_tokens or lc.doc_tokens
            cases.append(Case(item, split_of(item), sig, rag, None))
            continue
        ls = lc.route_signals
        tokens = ls.document_tokens if ls and ls.document_tokens else lc.prompt_tokens
        sig.document_tokens, sig.fits = tokens, True
        sig.fallback_abstain_probability = lc.abstain_probability
        # the cost of reading whole as if nothing were cached (the eval reuses KV states)
        sig.cached = False
        sig.prefill_seconds = (tokens or 0) / AnswerSettings().prefill_tokens_per_second
        cases.append(Case(item, split_of(item), sig, rag, lc))
    return cases, left


def simulate(case: Case, cfg: AnswerSettings) -> tuple[Strategy, bool, int]:
    """(strategy answering, correct, long-context prompt tokens spent) of `auto` with `cfg`."""
    router = Router(cfg)
    lc_tokens = case.signals.document_tokens or 0
    if case.long_context is not None and router.first(case.signals).strategy == "long-context":
        return "long-context", case.long_context.correct, lc_tokens
    if case.long_context is not None and router.after_rag(case.signals).strategy:
        if router.after_fallback(case.signals) is not None:
            return "rag", case.rag.correct, lc_tokens  # read whole, then RAG's "not found"
        return "long-context", case.long_context.correct, lc_tokens
    return "rag", case.rag.correct, 0


def _grid(cases: Sequence[Case]) -> list[dict[str, Any]]:
    scores = sorted(
        {
            round(c.signals.top_score, 2)
            for c in cases
            if c.split == "tune" and c.signals.rag_abstained and c.signals.top_score is not None
        }
    )
    cuts: list[float | None] = [None]
    cuts += [round((a + b) / 2, 2) for a, b in itertools.pairwise(scores)]
    if scores:
        cuts += [scores[0] - 1.0, scores[-1] + 1.0]
    points: list[dict[str, Any]] = []
    for small, whole, lo, hi, p in itertools.product(
        SMALL_DOCUMENT_TOKENS, (False, True), cuts, cuts, FALLBACK_ABSTAIN_PROBABILITY
    ):
        if lo is not None and hi is not None and lo >= hi:
            continue  # empty: "never fall back" is lo above every score
        points.append(
            {
                "small_document_tokens": small,
                "whole_document_first": whole,
                "fallback_min_score": lo,
                "fallback_max_score": hi,
                "fallback_abstain_probability": p,
            }
        )
    return points


def _metrics(
    cases: Sequence[Case], routes: dict[str, tuple[Strategy, bool, int]]
) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for split in SPLITS:
        part = [c for c in cases if split == "all" or c.split == split]
        n = len(part) or 1
        out[split] = {
            "n": len(part),
            "accuracy": sum(routes[c.item_id][1] for c in part) / n,
            "prefill": sum(routes[c.item_id][2] for c in part) / n,
            "long_context_share": sum(routes[c.item_id][0] == "long-context" for c in part) / n,
        }
    return out


def _fixed(cases: Sequence[Case]) -> dict[str, dict[str, dict[str, float]]]:
    """rag, long context (rag where it cannot run) and the per-question best, per split."""
    rows: dict[str, dict[str, tuple[Strategy, bool, int]]] = {
        "rag": {},
        "long-context": {},
        "oracle": {},
    }
    for c in cases:
        lc = c.long_context
        tokens = c.signals.document_tokens or 0
        rows["rag"][c.item_id] = ("rag", c.rag.correct, 0)
        rows["long-context"][c.item_id] = (
            ("long-context", lc.correct, tokens) if lc is not None else ("rag", c.rag.correct, 0)
        )
        best_lc = lc is not None and lc.correct and not c.rag.correct
        rows["oracle"][c.item_id] = (
            ("long-context", True, tokens) if best_lc else ("rag", c.rag.correct, 0)
        )
    return {name: _metrics(cases, r) for name, r in rows.items()}


def fit(cases: Sequence[Case], max_prefill_share: float = 0.5) -> dict[str, Any]:
    """Every grid point scored; the chosen one (see the module doc) and the fixed baselines."""
    fixed = _fixed(cases)
    budget = max_prefill_share * fixed["long-context"]["tune"]["prefill"]
    defaults = AnswerSettings()
    points: list[FitPoint] = []
    for values in _grid(cases):
        cfg = defaults.model_copy(update=values)
        routes = {c.item_id: simulate(c, cfg) for c in cases}
        points.append(
            FitPoint(values, _metrics(cases, routes), {k: v[0] for k, v in routes.items()})
        )

    def changed(p: FitPoint) -> set[str]:
        """The settings of `p` that differ from today's defaults."""
        return {k for k, v in p.settings.items() if getattr(defaults, k) != v}

    def is_default(p: FitPoint) -> bool:
        return not changed(p)

    within = [p for p in points if p.metrics["tune"]["prefill"] <= budget + 1e-9] or points
    chosen = max(
        within,
        key=lambda p: (p.metrics["tune"]["accuracy"], -p.metrics["tune"]["prefill"], is_default(p)),
    )
    default = next((p for p in points if is_default(p)), None)
    sweep = [p for p in points if changed(p) == {"fallback_abstain_probability"}]
    return {
        "n": len(cases),
        "splits": {s: chosen.metrics[s]["n"] for s in SPLITS},
        "budget_prefill_tokens": budget,
        "max_prefill_share": max_prefill_share,
        "chosen": chosen,
        "default": default,
        "abstain_sweep": sweep,
        "fixed": fixed,
        "points": points,
        "confusion": _confusion(cases, chosen),
    }


def _best_strategy(c: Case) -> str:
    lc = c.long_context.correct if c.long_context is not None else None
    if c.rag.correct and lc:
        return "both"
    if c.rag.correct:
        return "rag"
    if lc:
        return "long-context"
    return "neither"


def _confusion(cases: Sequence[Case], point: FitPoint) -> dict[str, dict[str, int]]:
    """Per-question best strategy (rag, long-context, both right, neither) -> router's choice."""
    table: dict[str, Counter[str]] = {}
    for c in cases:
        table.setdefault(_best_strategy(c), Counter())[point.routes[c.item_id]] += 1
    return {k: dict(v) for k, v in sorted(table.items())}


def env_lines(settings: dict[str, Any]) -> list[str]:
    """The settings as environment variables (a None is the default: left unset)."""
    out = []
    for k, v in settings.items():
        name = f"DOCQA_ANSWER__{k.upper()}"
        if v is None:
            out.append(f"# {name} unset (None)")
        else:
            out.append(f"{name}={str(v).lower() if isinstance(v, bool) else v}")
    return out


def plot(result: dict[str, Any], path: Path) -> Path:
    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot()
    pts: list[FitPoint] = result["points"]
    ax.scatter(
        [p.metrics["tune"]["prefill"] for p in pts],
        [100 * p.metrics["tune"]["accuracy"] for p in pts],
        s=10,
        color="#bbbbbb",
        label="grid points (tune)",
    )
    marks = [
        ("rag", result["fixed"]["rag"], "#1f77b4", "s"),
        ("long context", result["fixed"]["long-context"], "#d62728", "D"),
        ("oracle", result["fixed"]["oracle"], "#2ca02c", "*"),
    ]
    for name, m, color, marker in marks:
        for split, fill in (("tune", color), ("held-out", "none")):
            ax.scatter(
                m[split]["prefill"],
                100 * m[split]["accuracy"],
                s=70,
                marker=marker,
                facecolors=fill,
                edgecolors=color,
                label=f"{name} ({split})",
            )
    chosen: FitPoint = result["chosen"]
    for split, fill in (("tune", "black"), ("held-out", "none")):
        ax.scatter(
            chosen.metrics[split]["prefill"],
            100 * chosen.metrics[split]["accuracy"],
            s=90,
            marker="o",
            facecolors=fill,
            edgecolors="black",
            label=f"router, chosen ({split})",
        )
    ax.axvline(result["budget_prefill_tokens"], color="#888888", lw=0.8, ls="--")
    ax.set_xlabel("long-context prefill tokens per question")
    ax.set_ylabel("accuracy (%)")
    ax.set_title("auto router: accuracy vs cost (hollow marks: held out)")
    ax.legend(fontsize=7, loc="lower right")
    return save_figure(fig, path)


def _row(name: str, m: dict[str, dict[str, float]]) -> str:
    cells = [
        f"{100 * m[s]['accuracy']:.1f}% | {m[s]['prefill']:,.0f}"
        for s in ("tune", "held-out", "all")
    ]
    return f"| {name} | " + " | ".join(cells) + " |"


def render(result: dict[str, Any], left: Sequence[str]) -> str:
    chosen: FitPoint = result["chosen"]
    s = result["splits"]
    lines = [
        "# auto router fit",
        "",
        f"{result['n']} questions (tune {s['tune']}, held-out {s['held-out']}); long-context "
        f"prefill budget {result['budget_prefill_tokens']:,.0f} tokens per question "
        f"({result['max_prefill_share']:.0%} of always reading whole, on tune).",
        "",
        "| | tune acc | tune prefill | held-out acc | held-out prefill | all acc | all prefill |",
        "|---|---:|---:|---:|---:|---:|---:|",
        _row("rag", result["fixed"]["rag"]),
        _row("long context (rag where it cannot run)", result["fixed"]["long-context"]),
        _row("per-question best (oracle)", result["fixed"]["oracle"]),
    ]
    if result["default"] is not None:
        lines.append(_row("auto, today's defaults", result["default"].metrics))
    for point in result["abstain_sweep"]:
        at = point.settings["fallback_abstain_probability"]
        lines.append(_row(f"auto, defaults + fallback_abstain_probability {at:g}", point.metrics))
    lines += [
        _row("auto, chosen", chosen.metrics),
        "",
        "Chosen settings: " + ", ".join(f"`{k}={v}`" for k, v in chosen.settings.items()),
        "",
        "Confusion, per-question best strategy (rows) against the chosen router's choice:",
        "",
        "| best | rag | long-context |",
        "|---|---:|---:|",
    ]
    for best, row in result["confusion"].items():
        lines.append(f"| {best} | {row.get('rag', 0)} | {row.get('long-context', 0)} |")
    if left:
        lines += ["", f"Left out ({len(left)}):", *[f"- {x}" for x in left]]
    return "\n".join(lines) + "\n"


def _jsonable(result: dict[str, Any]) -> dict[str, Any]:
    def point(p: FitPoint | None) -> dict[str, Any] | None:
        return None if p is None else {"settings": p.settings, "metrics": p.metrics}

    return {
        **{
            k: v
            for k, v in result.items()
            if k not in ("chosen", "default", "points", "abstain_sweep")
        },
        "chosen": point(result["chosen"]),
        "default": point(result["default"]),
        "abstain_sweep": [point(p) for p in result["abstain_sweep"]],
        "routes": result["chosen"].routes,
        "grid_points": len(result["points"]),
    }


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument(
        "--records",
        type=Path,
        nargs="+",
        required=True,
        help="answers.jsonl of one docqa eval, or of a rag run and a long-context run",
    )
    ap.add_argument("--out", type=Path, default=Path("eval/out/router-fit"))
    ap.add_argument("--max-prefill-share", type=float, default=0.5)
    a = ap.parse_args(argv)
    cases, left = cases_of([r for path in a.records for r in read_records(path)])
    if not cases:
        raise SystemExit(
            f"{', '.join(map(str, a.records))}: no question has both a rag and a long-context record with route "
            "signals: run `docqa eval --strategies rag,long-context` first"
        )
    result = fit(cases, a.max_prefill_share)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "fit.json").write_text(json.dumps(_jsonable(result), indent=1, default=str) + "\n")
    report = render(result, left)
    (a.out / "fit.md").write_text(report)
    plot(result, a.out / "accuracy_vs_prefill.png")
    print(report)
    print("\n".join(env_lines(result["chosen"].settings)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
