"""Answers as the web UI shows and exports them: pure functions of the engine's `Answer`."""

from __future__ import annotations

import html
from pathlib import Path

from docqa.types import Answer, AnswerSentence, Citation

VERDICT_STYLE = {
    "supported": ("#1b7f3b", "#e6f4ea", "supported by its citations"),
    "partial": ("#8a5a00", "#fff4d6", "partly supported by its citations"),
    "unsupported": ("#b3261e", "#fde7e6", "not supported by its citations"),
}


EXTRA_TITLE = "not needed: the sentence's other citations support it without this one"


def _cite_html(n: int, extra: bool) -> str:
    """A citation number; an extra one (`AnswerSentence.extra_citations`) faded, saying why on
    hover."""
    if not extra:
        return f"<sup>[{n}]</sup>"
    return f'<sup class="docqa-extra" title="{EXTRA_TITLE}" style="opacity:0.45">[{n}]</sup>'


def sentence_html(s: AnswerSentence) -> str:
    """One answer sentence marked by its verdict (colour, and the score on hover), with its
    citation numbers, the extra ones faded."""
    text = html.escape(s.text)
    cites = "".join(_cite_html(n, n in s.extra_citations) for n in s.citations)
    if s.verdict is None or not s.claim:
        return f"<span>{text}{cites}</span>"
    fg, bg, words = VERDICT_STYLE[s.verdict.value]
    score = f" (score {s.score:.2f})" if s.score is not None else ""
    title = html.escape(f"{s.verdict.value}: {words}{score}")
    mark = "" if s.verdict.value == "supported" else f" <b>[{s.verdict.value}]</b>"
    return (
        f'<span class="docqa-{s.verdict.value}" title="{title}" '
        f'style="color:{fg};background:{bg};border-radius:3px;padding:1px 3px">'
        f"{text}{cites}{mark}</span>"
    )


def answer_html(answer: Answer) -> str:
    if not answer.sentences:
        return f"<p>{html.escape(answer.answer)}</p>"
    return "<p>" + " ".join(sentence_html(s) for s in answer.sentences) + "</p>"


def chip_label(c: Citation) -> str:
    name = Path(c.path).name if c.path else (c.doc_id or "?")
    return f"[{c.n}] {name} p. {c.page}"


def to_markdown(turns: list[Answer]) -> str:
    """The conversation as Markdown: each question, its answer, the verdicts of flagged
    sentences, and the cited pages with their quotes."""
    out = ["# docqa conversation", ""]
    for a in turns:
        out += [f"## {a.question}", "", a.answer, ""]
        out += [line for c in a.caveats for line in (f"> {c}", "")]
        flagged = [
            s for s in a.sentences if s.claim and s.verdict and s.verdict.value != "supported"
        ]
        for s in flagged:
            out.append(f"- *{s.verdict.value if s.verdict else ''}*: {s.text}")
        if flagged:
            out.append("")
        for c in a.citations:
            quote = " ".join((c.quote or "").split())
            out.append(f"- {chip_label(c)}: “{quote}”")
        out += ["", f"*{a.route.strategy}: {'; '.join(a.route.reasons)}*", ""]
    return "\n".join(out)
