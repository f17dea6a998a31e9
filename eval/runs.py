"""An eval run's output folder read back for looking at (the web UI's eval dashboard, through the
REST service): its summary, its records and the names of its plots.

A folder is a run when it holds `answers.jsonl` (written by `docqa eval` as it goes) or
`summary.json` (written at its end; a results folder kept without its answers has only this).
The summary is the run's own `summary.json` when there is one: it carries the run's date, model
and machine, and only the strategies that run reported. Without it (a run still going, or
stopped before its report) the summary is computed from the records, dated by the answers
file. Records are the last one per (question, strategy), restricted to the summary's
strategies, in the file's order; a torn last line (a run killed mid-write) is skipped.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from eval.report import EvalRecord, read_written_records, summarize

__all__ = ["ANSWERS", "SUMMARY", "EvalRunView", "NotARunError", "load_run", "plot_file"]

ANSWERS = "answers.jsonl"
SUMMARY = "summary.json"
_PLOT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,100}\.png")


class NotARunError(ValueError):
    """The folder holds no eval run (no answers.jsonl and no summary.json)."""


class EvalRunView(BaseModel):
    path: str
    summary: dict[str, Any]
    """As `summary.json` (`eval.report.summarize`)."""
    records: list[EvalRecord] = Field(default_factory=list)
    """One per (question, strategy); [] when the folder kept only its summary."""
    plots: list[str] = Field(default_factory=list)
    """File names of the run's PNG plots, for `plot_file`."""
    computed: bool = False
    """The summary was computed here (the run wrote none yet)."""


def _records(path: Path) -> list[EvalRecord]:
    last: dict[tuple[str, str], EvalRecord] = {}
    for rec in read_written_records(path):
        last.pop((rec.item_id, rec.strategy), None)  # the newest keeps its place at the end
        last[(rec.item_id, rec.strategy)] = rec
    return list(last.values())


def load_run(folder: Path) -> EvalRunView:
    """The run in `folder` (see the module doc); NotARunError when there is none, ValueError
    when its summary.json is not JSON."""
    answers, summary_file = folder / ANSWERS, folder / SUMMARY
    if not folder.is_dir() or not (answers.is_file() or summary_file.is_file()):
        raise NotARunError(f"{folder} holds no eval run (no {ANSWERS} or {SUMMARY})")
    records = _records(answers) if answers.is_file() else []
    summary: dict[str, Any]
    if summary_file.is_file():
        try:
            summary = json.loads(summary_file.read_text(encoding="utf-8"))
        except ValueError as e:
            raise ValueError(f"{summary_file} is not valid JSON: {e}") from None
        reported = set(summary.get("strategies", {}))
        records = [r for r in records if r.strategy in reported]
        computed = False
    else:
        mtime = datetime.fromtimestamp(answers.stat().st_mtime, UTC)
        summary = summarize(records, date=mtime.isoformat(timespec="seconds"), machine={})
        computed = True
    plots = sorted(p.name for p in folder.glob("*.png") if _PLOT_NAME.fullmatch(p.name))
    return EvalRunView(
        path=str(folder), summary=summary, records=records, plots=plots, computed=computed
    )


def plot_file(folder: Path, name: str) -> Path:
    """The plot `name` of the run in `folder`; FileNotFoundError for any other name (nothing
    outside the folder, nothing but its PNG files)."""
    path = folder / name
    if not _PLOT_NAME.fullmatch(name) or not path.is_file():
        raise FileNotFoundError(f"the run in {folder} has no plot {name!r}")
    return path
