"""Figures, tables, sections and appendices a question names, and the chunks that hold them.

A reader asks "In Figure 3, which method is best?" or "Does Section 3.3 cite more papers than
Section 3.1?". The words of "Figure 3" say little to a dense embedder or a reranker, and a
figure's caption rarely repeats the question's words, so the page that shows Figure 3 is often
not retrieved. But the document names it exactly: a caption line starting "Figure 3:" (or
"Fig. 3.", "Table 2:"), a heading starting "3.3 " or "Appendix A". `find_references` reads the
names in a question, `anchors` tells whether a chunk holds one of them, and the retriever adds
such chunks to its candidates (`docqa.retrieval.Retriever.run`).

Pages named by number ("page 9") are not followed: a printed page label is not the PDF's page
number, and "from page 3 to page 10" asks about a range, not a place.

    >>> [r.text for r in find_references("Compare Figure 3 (left) with Table 2 and Section 3.3.")]
    ['Figure 3', 'Table 2', 'Section 3.3']
    >>> anchors(find_references("In Fig. 3, which is best?")[0], "Figure 3: Results on NLP tasks.")
    True
    >>> anchors(find_references("In Figure 3, which is best?")[0], "as shown in Figure 3, the ...")
    False
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel

__all__ = ["Reference", "anchors", "find_references"]

ReferenceKind = Literal["figure", "table", "section", "appendix"]

_KINDS: dict[str, ReferenceKind] = {
    "figure": "figure",
    "figures": "figure",
    "fig": "figure",
    "figs": "figure",
    "table": "table",
    "tables": "table",
    "tab": "table",
    "section": "section",
    "sections": "section",
    "sec": "section",
    "§": "section",
    "appendix": "appendix",
}

# "Figure 3", "Fig. 3a", "Table A.1", "Section 3.3", "§ 4", "Appendix B"
_MENTION = re.compile(
    r"(?<![\w.])(figures?|figs?\.?|tables?|tab\.|sections?|sec\.|§|appendix)\s*"
    r"((?:[A-Z]|\d+)(?:\.\d+)*)(?![\w.]*\d)",
    re.I,
)
_AND = re.compile(r"\s*(?:,|and|&)\s*((?:[A-Z]|\d+)(?:\.\d+)*)\b")

_CAPTION_WORD: dict[ReferenceKind, str] = {
    "figure": r"(?:figure|fig\.)",
    "table": r"(?:table|tab\.)",
    "section": r"(?:section|sec\.|§)",
    "appendix": r"appendix",
}


class Reference(BaseModel):
    """A figure, table, section or appendix named in a question."""

    kind: ReferenceKind
    label: str
    """"3", "3.3", "A", "A.1"."""

    @property
    def text(self) -> str:
        """How a reader names it ("Figure 3"): what the keyword search looks for."""
        return f"{self.kind.capitalize()} {self.label}"


def find_references(question: str) -> list[Reference]:
    """The figures, tables, sections and appendices `question` names, in order, each once
    ("Tables 1 and 2" names two). A letter is a label only as a single upper-case one ("Table
    A", "Appendix B")."""
    found: list[Reference] = []
    for m in _MENTION.finditer(question):
        word = m.group(1).lower().rstrip(".")
        kind = _KINDS.get(word)
        if kind is None:
            continue
        labels = [m.group(2)]
        rest = question[m.end() :]
        while (more := _AND.match(rest)) is not None:
            labels.append(more.group(1))
            rest = rest[more.end() :]
        for label in labels:
            if label.isalpha() and (len(label) != 1 or not label.isupper()):
                continue
            ref = Reference(kind=kind, label=label)
            if ref not in found:
                found.append(ref)
    return found


def _anchor_pattern(ref: Reference) -> re.Pattern[str]:
    label = re.escape(ref.label)
    word = _CAPTION_WORD[ref.kind]
    if ref.kind in ("figure", "table"):
        # a caption: "Figure 3: ...", "Table 2. ...", "TABLE 2 | ..." at the start of a line
        return re.compile(rf"(?mi)^[\s|*]*{word}\s*{label}\s*[:.|—–-]")
    # a heading: "3.3 Post-hoc Correction", "Section 3.3 ...", "Appendix A ...", "A.2 CHESS"
    return re.compile(rf"(?m)^[\s#*]*(?:(?i:{word})\s*)?{label}\.?\s+[A-Z]")


def anchors(ref: Reference, text: str, heading: str | None = None) -> bool:
    """True when `text` (or its `heading`) holds `ref` itself: its caption for a figure or a
    table, its heading for a section or an appendix; not a sentence that merely mentions it."""
    pattern = _anchor_pattern(ref)
    return bool(pattern.search(text) or (heading and pattern.search(heading)))
