"""The Ask page: a question over some or all documents, the answer streamed, every sentence
marked by its verdict, every citation a chip that opens its page with the cited text
highlighted and quoted beside it."""

from __future__ import annotations

import time
from typing import get_args

import streamlit as st

from docqa.answer.events import AnswerEvent, StatusEvent, TokenEvent
from docqa.answer.formula import describe_computation
from docqa.answer.router import describe_signals
from docqa.types import Answer, Citation, StrategyChoice
from ui.client import ServiceClient, ServiceError
from ui.web.highlight import highlight, zoom
from ui.web.render import answer_html, chip_label, to_markdown

STRATEGIES: list[str] = list(get_args(StrategyChoice))


def _turns() -> list[Answer]:
    turns: list[Answer] = st.session_state.setdefault("turns", [])
    return turns


def show_citation(svc: ServiceClient, answer: Answer, c: Citation) -> None:
    if c.doc_id is None or c.page is None:
        st.info("closed-book answers cite no page")
        return
    page_col, quote_col = st.columns([3, 2])
    try:
        page = svc.page(c.doc_id, c.page)
        png = svc.page_image(c.doc_id, c.page)
    except ServiceError as e:
        st.warning(str(e))
        return
    passage = next((p for p in answer.passages if p.n == c.n), None)
    blocks = [b for b in (passage.boxes if passage else []) if b.page == c.page]
    if not blocks and c.bbox is not None:
        blocks = [c.bbox]
    try:  # the quoted lines themselves; the passage's blocks when they cannot be found
        lines = svc.locate(c.doc_id, c.page, c.quote, blocks) if c.quote else []
    except ServiceError:
        lines = []
    boxes, context = (lines, blocks) if lines else (blocks, [])
    marked = highlight(png, page.width, page.height, boxes, context)
    with page_col:
        st.image(
            zoom(marked, page.width, page.height, [*boxes, *context]),
            caption=chip_label(c),
            width="stretch",
        )
        with st.expander("The whole page"):
            st.image(marked, width="stretch")
    with quote_col:
        st.markdown("**Quoted**")
        st.markdown(f"> {' '.join((c.quote or '').split())}")
        with st.expander("The whole cited passage"):
            st.write(c.text)


def show_answer(svc: ServiceClient, i: int, a: Answer) -> None:
    st.markdown(answer_html(a), unsafe_allow_html=True)
    if a.abstained:
        st.caption("No answer found in the documents.")
    for caveat in a.caveats:
        st.warning(caveat)
    if a.citations:
        cols = st.columns(min(len(a.citations), 6))
        for j, c in enumerate(a.citations):
            if cols[j % len(cols)].button(chip_label(c), key=f"chip-{i}-{c.n}"):
                st.session_state.open = (i, c.n)
    opened = st.session_state.get("open")
    if opened and opened[0] == i:
        picked = next((c for c in a.citations if c.n == opened[1]), None)
        if picked is not None:
            show_citation(svc, a, picked)
    t = a.timings
    with st.expander("Route, timings and tokens"):
        st.write(
            f"**{a.route.strategy}** ({a.route.requested} requested): {'; '.join(a.route.reasons)}"
        )
        if a.route.signals is not None:
            st.caption(f"Signals: {describe_signals(a.route.signals)}")
        if a.computation is not None:
            st.caption(describe_computation(a.computation))
        ttft = f"{t.time_to_first_token:.1f} s" if t.time_to_first_token is not None else "-"
        st.write(
            f"retrieval {t.retrieval:.1f} s · prefill {t.prefill:.1f} s · first token {ttft} · "
            f"generation {t.generation:.1f} s · check {t.check:.1f} s · total {t.total:.1f} s"
        )
        st.write(
            f"{a.tokens.prompt} prompt + {a.tokens.completion} answer tokens "
            f"({a.tokens.cached} cached) · {a.model}"
        )


def ask_page(svc: ServiceClient) -> None:
    st.header("Ask")
    try:
        ready = [d for d in svc.documents() if d.status.visible]
    except ServiceError as e:
        st.error(str(e))
        return
    names = {d.filename: d.doc_id for d in ready}
    left, right = st.columns([3, 1])
    chosen = left.multiselect("Documents (none: all)", list(names), key="ask_docs")
    strategy = right.selectbox("Strategy", STRATEGIES, key="ask_strategy")

    for i, a in enumerate(_turns()):
        with st.chat_message("user"):
            st.write(a.question)
        with st.chat_message("assistant"):
            show_answer(svc, i, a)
    if _turns():
        st.download_button(
            "Export the conversation (Markdown)",
            to_markdown(_turns()),
            file_name="docqa-conversation.md",
            mime="text/markdown",
        )

    question = st.chat_input("Ask a question about your documents")
    if not question:
        return
    with st.chat_message("user"):
        st.write(question)
    with st.chat_message("assistant"):
        st.button("Cancel", key="cancel")  # a click reruns the page, which drops the stream
        status = st.status("Waiting for the model…", expanded=False)
        text = st.empty()
        t0 = time.monotonic()
        streamed = ""
        answer = None
        ids = [names[n] for n in chosen] or None
        try:
            for event in svc.ask_events(question, ids, strategy):  # type: ignore[arg-type]
                elapsed = time.monotonic() - t0
                if isinstance(event, StatusEvent):
                    status.update(label=f"{event.text} · {elapsed:.0f} s")
                elif isinstance(event, TokenEvent):
                    streamed += event.text
                    text.markdown(streamed + " ▌")
                    status.update(label=f"Answering · {elapsed:.0f} s")
                elif isinstance(event, AnswerEvent):
                    answer = event.answer
        except ServiceError as e:
            status.update(label="Failed", state="error")
            st.error(str(e))
            return
        status.update(label=f"Checked · {time.monotonic() - t0:.0f} s", state="complete")
        text.empty()
    if answer is not None:
        _turns().append(answer)
        st.rerun()
