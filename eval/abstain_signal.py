"""Abstention rules measured on a `docqa eval` run's records without answering anything again.

Three signals say an answer is more often a guess than a reading (the question may not be
answerable from the documents at all):

- citation recall (ALCE, the share of its claim sentences the checker calls supported): the rule
  "recall < t" abstains when it is below t;
- the share of the names and figures it adds to the question that are in no passage
  (`Answer.terms`, `docqa.citations.terms`): the rule "ungrounded >= s" abstains from that share
  up, which is what `answer.abstain_ungrounded = s` does when answering;
- the probability the model gave to starting with the abstention reply (`Answer.abstain_probability`,
  its first token, read from the logits whatever it then wrote): the rule "p(abstain) >= q"
  abstains from q up.

The adoption rule for the last one, fixed on 2026-12-05 before any record had it: the threshold
q with the best tune accuracy is adopted as a default when it gains at least 2 tune questions,
loses none held out, and withdraws at most 10% of the answers to answerable questions in each
split (`adopt_probability`).

For each rule this reports per split (`eval.bench_retrieval.split_of`: tune / held-out) what it
would have done: accuracy, unanswerable questions abstained, answerable questions abstained
(right answers lost, and wrong ones turned into "not found"), and the AUROC of each signal for
telling right answers from the rest.

    python -m eval.abstain_signal --records eval/out/dev/answers.jsonl [--strategy rag]

Records a signal does not score (abstentions, answers the checker did not check, answers without
names or figures) keep their answer under its rules.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.bench_budget import auroc
from eval.bench_retrieval import split_of
from eval.report import EvalRecord, read_written_records, write_summary

THRESHOLDS = (0.01, 0.34, 0.5, 0.67, 1.0)
"""`recall < t` abstains: 0.01 = no claim supported; 1.0 = any claim unsupported."""
SHARES = (0.34, 0.5, 0.67, 1.0)
"""`ungrounded >= s` abstains: 1.0 = every name and figure made up; 0.34 = a third of them."""
PROBABILITIES = (0.05, 0.1, 0.2, 0.3, 0.5)
"""`p(abstain) >= q` abstains: greedy decoding already abstains when "Not" is the top token."""


def citation_recall(record: EvalRecord) -> float | None:
    return record.citation_recall


def ungrounded_share(record: EvalRecord) -> float | None:
    return None if record.terms is None else record.terms.ungrounded_share


def abstain_probability(record: EvalRecord) -> float | None:
    return record.abstain_probability


@dataclass(frozen=True)
class Rule:
    """Abstain when `signal` is below `threshold` (`below`) or at least it (not `below`)."""

    name: str
    signal: Callable[[EvalRecord], float | None]
    threshold: float
    below: bool

    def fires(self, record: EvalRecord) -> bool:
        value = self.signal(record)
        if value is None:
            return False
        return value < self.threshold if self.below else value >= self.threshold


PROBABILITY_RULES = [
    Rule(f"p(abstain) >= {q}", abstain_probability, q, False) for q in PROBABILITIES
]
RULES = [
    *(Rule(f"recall < {t}", citation_recall, t, True) for t in THRESHOLDS),
    *(Rule(f"ungrounded >= {s}", ungrounded_share, s, False) for s in SHARES),
    *PROBABILITY_RULES,
]


def abstains(record: EvalRecord, rule: Rule | None) -> bool:
    """Whether the answer is an abstention once the rule (None: no rule) is applied."""
    if record.abstained:
        return True
    return rule is not None and rule.fires(record)


def correct(record: EvalRecord, rule: Rule | None) -> bool:
    """Right under the rule: an abstention is right exactly on unanswerable questions."""
    if abstains(record, rule) and not record.abstained:
        return record.unanswerable
    return record.correct


def outcome(records: Sequence[EvalRecord], rule: Rule | None) -> dict[str, Any]:
    answerable = [r for r in records if not r.unanswerable]
    unanswerable = [r for r in records if r.unanswerable]
    newly = [r for r in answerable if abstains(r, rule) and not r.abstained]
    right = sum(correct(r, rule) for r in records)
    return {
        "n": len(records),
        "right": right,
        "accuracy": right / len(records) if records else None,
        "unanswerable_abstained": sum(abstains(r, rule) for r in unanswerable),
        "unanswerable": len(unanswerable),
        "answerable_abstained": sum(abstains(r, rule) for r in answerable),
        "answerable": len(answerable),
        "right_lost": sum(1 for r in newly if r.correct),
        "wrong_withdrawn": sum(1 for r in newly if not r.correct),
    }


def _auroc(
    records: Sequence[EvalRecord], signal: Callable[[EvalRecord], float | None], higher: bool
) -> tuple[int, float | None]:
    """Answers the signal scores, and its AUROC for right answers against the rest (`higher`:
    right answers are expected to score higher)."""
    scored = [(r, v) for r in records if not r.abstained and (v := signal(r)) is not None]
    sign = 1.0 if higher else -1.0
    right = [sign * v for r, v in scored if r.correct]
    other = [sign * v for r, v in scored if not r.correct]
    auc = auroc(right, other)
    return len(scored), None if auc is None else round(auc, 3)


def measure(records: Sequence[EvalRecord]) -> dict[str, Any]:
    ok = [r for r in records if r.error is None and r.skipped is None]
    splits = {
        "all": ok,
        "tune": [r for r in ok if split_of(r.item_id) == "tune"],
        "held-out": [r for r in ok if split_of(r.item_id) == "held-out"],
    }
    checked, recall_auc = _auroc(ok, citation_recall, True)
    termed, terms_auc = _auroc(ok, ungrounded_share, False)
    probed, probability_auc = _auroc(ok, abstain_probability, False)
    unanswerable_auc = auroc(
        [p for r in ok if r.unanswerable and (p := r.abstain_probability) is not None],
        [p for r in ok if not r.unanswerable and (p := r.abstain_probability) is not None],
    )
    rules = {
        ("none" if rule is None else rule.name): {
            name: outcome(rows, rule) for name, rows in splits.items()
        }
        for rule in (None, *RULES)
    }
    return {
        "answers_scored_by_the_checker": checked,
        "auroc_citation_recall_right_vs_rest": recall_auc,
        "answers_with_names_or_figures": termed,
        "auroc_grounded_share_right_vs_rest": terms_auc,
        "answers_with_an_abstain_probability": probed,
        "auroc_abstain_probability_right_vs_rest": probability_auc,
        "auroc_abstain_probability_unanswerable_vs_answerable": (
            None if unanswerable_auc is None else round(unanswerable_auc, 3)
        ),
        "rules": rules,
        "adopted_probability": adopt_probability(rules),
    }


def adopt_probability(rules: dict[str, dict[str, dict[str, Any]]]) -> str | None:
    """The `p(abstain) >= q` rule the fixed adoption rule picks (module docstring), or None."""
    base = rules["none"]
    best = max(PROBABILITY_RULES, key=lambda r: rules[r.name]["tune"]["right"]).name
    out = rules[best]

    def withdrawn(split: str) -> int:
        return int(out[split]["answerable_abstained"] - base[split]["answerable_abstained"])

    ok = (
        out["tune"]["right"] >= base["tune"]["right"] + 2
        and out["held-out"]["right"] >= base["held-out"]["right"]
        and all(withdrawn(s) <= 0.1 * out[s]["answerable"] for s in ("tune", "held-out"))
    )
    return best if ok else None


def markdown(summary: dict[str, Any]) -> str:
    lines = [
        f"{summary['answers_scored_by_the_checker']} answers scored by the checker; AUROC of "
        f"citation recall, right answers against the rest: "
        f"{summary['auroc_citation_recall_right_vs_rest']}",
        "",
        f"{summary['answers_with_names_or_figures']} answers add names or figures to their "
        f"question; AUROC of the share of them found in a passage (1 - ungrounded), right "
        f"answers against the rest: {summary['auroc_grounded_share_right_vs_rest']}",
        "",
        f"{summary['answers_with_an_abstain_probability']} answers have the model's first-token "
        f"probability of abstaining; its AUROC, right answers (lower) against the rest: "
        f"{summary['auroc_abstain_probability_right_vs_rest']}; unanswerable (higher) against "
        f"answerable questions: {summary['auroc_abstain_probability_unanswerable_vs_answerable']}",
        "",
        f"Adopted by the fixed rule: {summary['adopted_probability'] or 'no p(abstain) threshold'}",
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
