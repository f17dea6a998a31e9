"""The Eval page: an eval run's output folder (on the service's side, inside its ingestion
roots) as a dashboard: the strategy table, the run's plots and a per-question browser with each
strategy's answer beside the gold answer and the evidence pages as images."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from eval.report import EvalRecord
from eval.runs import EvalRunView
from ui.client import ServiceClient, ServiceError
from ui.web.highlight import highlight

PLOT_TITLES = {
    "accuracy_vs_length.png": "Accuracy vs document length",
    "accuracy_vs_cost.png": "Accuracy vs cost",
    "router_choices.png": "Router choices",
}
FILTERS: dict[str, Callable[[list[EvalRecord]], bool]] = {
    "every question": lambda rs: True,
    "strategies disagree": lambda rs: len({r.correct for r in rs}) > 1,
    "every strategy wrong": lambda rs: not any(r.correct for r in rs),
    "unanswerable": lambda rs: any(r.unanswerable for r in rs),
}
MAX_EVIDENCE_PAGES = 4


def _pct(value: Any) -> float | None:
    return round(100 * value, 1) if isinstance(value, int | float) else None


def _fmt(value: Any, unit: str = "", digits: int = 1) -> str:
    if not isinstance(value, int | float):
        return "–"
    return f"{value:.{digits}f}{unit}" if isinstance(value, float) else f"{value}{unit}"


def strategy_table(summary: dict[str, Any]) -> pd.DataFrame:
    """The strategies of `summary.json` side by side (one column each, so any number of
    measures fits a narrow window): accuracy, abstention, pages, citations, cost, as text."""
    skipped = summary.get("skipped", {})
    columns: dict[str, dict[str, str]] = {}
    for name, m in summary.get("strategies", {}).items():
        pages, tokens, latency = m.get("pages", {}), m.get("tokens", {}), m.get("latency", {})
        support = m.get("citation_support", {})
        columns[name] = {
            "questions": _fmt(m.get("n")),
            "accuracy": _fmt(_pct(m.get("accuracy")), "%"),
            "answerable: right": _fmt(_pct(m.get("answerable", {}).get("accuracy")), "%"),
            "unanswerable: abstained": _fmt(_pct(m.get("unanswerable", {}).get("accuracy")), "%"),
            "evidence page in the prompt": _fmt(_pct(pages.get("recall_at_k")), "%"),
            "cited-page precision": _fmt(_pct(pages.get("citation_precision")), "%"),
            "citation recall (ALCE)": _fmt(_pct(support.get("citation_recall")), "%"),
            "prompt tokens (mean)": _fmt(tokens.get("prompt_mean"), digits=0),
            "seconds per answer (p50)": _fmt(latency.get("seconds_p50"), " s"),
            "errors": _fmt(m.get("errors")),
            "skipped": _fmt(skipped.get(name, {}).get("n", 0)),
        }
    return pd.DataFrame(columns)


def by_question(records: list[EvalRecord]) -> dict[str, list[EvalRecord]]:
    """Records grouped by question, questions in first-seen order, strategies in run order."""
    grouped: dict[str, list[EvalRecord]] = defaultdict(list)
    for r in records:
        grouped[r.item_id].append(r)
    return dict(grouped)


def _summary_line(run: EvalRunView) -> str:
    s = run.summary
    machine = s.get("machine") or {}
    where = f" · {machine.get('cpu_count')} CPUs" if machine.get("cpu_count") else ""
    line = (
        f"{s.get('n_questions', '?')} questions, {s.get('n_records', '?')} answers · "
        f"model {s.get('model') or '?'} · {s.get('date', '?')}{where}"
    )
    if run.computed:
        line += (
            " · no summary.json yet (a run in progress?): the table is computed from the answers"
        )
    return line


def _record_card(r: EvalRecord) -> None:
    if r.skipped:
        st.markdown(f"**{r.strategy}** · skipped")
        st.caption(r.skipped)
        return
    if r.error:
        st.markdown(f"**{r.strategy}** · :red[error]")
        st.caption(r.error)
        return
    mark = ":green[right]" if r.correct else ":red[wrong]"
    st.markdown(f"**{r.strategy}** · {mark} · score {r.score:.2f}")
    st.markdown(r.answer or "*(empty answer)*")
    facts = []
    if r.abstained:
        facts.append("abstained")
    if r.cited_pages:
        facts.append("cites p. " + ", ".join(map(str, r.cited_pages)))
    if r.retrieved_pages:
        facts.append("retrieved p. " + ", ".join(map(str, r.retrieved_pages)))
    if r.route and r.route != r.strategy:
        facts.append(f"routed to {r.route}")
    if r.seconds is not None:
        facts.append(f"{r.seconds:.1f} s")
    if r.prompt_tokens is not None:
        facts.append(f"{r.prompt_tokens} prompt tokens")
    st.caption(" · ".join(facts))


def _evidence(svc: ServiceClient, doc: str, pages: list[int], gold: str | None) -> None:
    """The evidence pages as images, with the gold answer highlighted where the page spells it
    out (`locate`: a computed or reworded gold is simply not marked)."""
    if not pages:
        return
    try:
        found = [d for d in svc.documents() if d.filename == doc and d.status.visible]
    except ServiceError as e:
        st.warning(str(e))
        return
    if not found:
        st.info(f"{doc} is not in this service's store: ingest it to see its evidence pages.")
        return
    doc_id = found[0].doc_id
    shown = pages[:MAX_EVIDENCE_PAGES]
    st.markdown(
        "**Evidence pages**" + (" (the gold answer marked where it is written)" if gold else "")
    )
    cols = st.columns(max(len(shown), 3))  # a lone page takes a third of the width, not all
    for col, n in zip(cols, shown, strict=False):
        try:
            png = svc.page_image(doc_id, n)
            if gold and (lines := svc.locate(doc_id, n, gold, [])):
                page = svc.page(doc_id, n)
                png = highlight(png, page.width, page.height, lines)
            col.image(png, caption=f"{doc} p. {n}", width="stretch")
        except ServiceError as e:
            col.warning(str(e))
    if len(pages) > len(shown):
        st.caption(f"and {len(pages) - len(shown)} more evidence pages")


def question_browser(svc: ServiceClient, records: list[EvalRecord]) -> None:
    st.subheader("Questions")
    if not records:
        st.info("This folder kept only its summary (no answers.jsonl): no answers to browse.")
        return
    grouped = by_question(records)
    docs = sorted({rs[0].doc for rs in grouped.values()})
    left, right = st.columns(2)
    doc = left.selectbox("Document", ["every document", *docs], key="eval_doc")
    which = right.selectbox("Show", list(FILTERS), key="eval_filter")
    keep = [
        qid
        for qid, rs in grouped.items()
        if (doc == "every document" or rs[0].doc == doc) and FILTERS[which](rs)
    ]
    if not keep:
        st.info("No question matches.")
        return
    qid = st.selectbox(
        f"Question ({len(keep)})",
        keep,
        format_func=lambda q: f"{q} · {grouped[q][0].question[:90]}",
        key="eval_question",
    )
    rs = grouped[qid]
    first = rs[0]
    st.markdown(f"**{first.question}**")
    gold = "*not answerable from the document*" if first.unanswerable else first.gold
    evidence = first.evidence_pages or []
    where = f" · evidence p. {', '.join(map(str, evidence))}" if evidence else ""
    st.markdown(f"Gold ({first.answer_format}): {gold}")
    st.caption(f"{first.doc}{where}" + (f" · {first.doc_type}" if first.doc_type else ""))
    per_row = 3
    for start in range(0, len(rs), per_row):
        row = rs[start : start + per_row]
        for col, r in zip(st.columns(per_row), row, strict=False):
            with col.container(border=True):
                _record_card(r)
    _evidence(svc, first.doc, evidence, None if first.unanswerable else first.gold)


def evals_page(svc: ServiceClient) -> None:
    st.header("Eval runs")
    st.caption(
        "Open the output folder of a `docqa eval` run. The folder is read by the service, so "
        "it must be inside the service's ingestion roots."
    )
    default = st.query_params.get("run", "")
    with st.form("open_run", border=False):
        path = st.text_input("Run folder", value=default, placeholder="/data/evals/dev")
        opened = st.form_submit_button("Open")
    if opened:
        st.query_params["run"] = path
    path = path.strip() if opened else default
    if not path:
        return
    try:
        run = svc.eval_run(path)
    except ServiceError as e:
        st.error(str(e))
        return
    st.caption(_summary_line(run))
    table = strategy_table(run.summary)
    if table.empty:
        st.info("The run has no answers yet.")
    else:
        st.dataframe(table, width="stretch", height=35 * (len(table) + 1) + 3)  # no scrolling
    common = run.summary.get("common") or {}
    if common.get("n") and len(common.get("accuracy", {})) > 1:
        parts = [f"{s} {(_pct(a) or 0):.1f}%" for s, a in common["accuracy"].items()]
        st.caption(f"On the {common['n']} questions every strategy answered: " + ", ".join(parts))
    if run.plots:
        tabs = st.tabs([PLOT_TITLES.get(p, Path(p).stem.replace("_", " ")) for p in run.plots])
        for tab, name in zip(tabs, run.plots, strict=True):
            try:
                tab.image(svc.eval_plot(path, name), width="stretch")
            except ServiceError as e:
                tab.warning(str(e))
    question_browser(svc, run.records)
