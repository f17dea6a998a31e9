"""Questions about what only a picture shows: colours, shapes, photographs.

docqa reads the text of a page (its text layer, or OCR of a page that has none); it does not
see the page. A question that picks out a figure's part by its colour ("the green module in
Figure 6", "the red box"), asks for a colour or a shape, or asks what a photograph shows can
only be answered by looking. `visual_cues(question)` finds the words that say so, and
`visual_caveat(question)` is the sentence an answer then carries (`Answer.caveats`), so the
reader knows why the answer may miss what the picture shows.

Written by hand: a few word patterns, no model. A colour word counts only when a word for a drawn
thing follows it closely ("green bonds", "white paper" and "Black-Scholes" are not pictures).

>>> visual_cues("If I drop the green module shown in Figure 6, what is the drop?")
['green module']
>>> visual_cues("What colour is the line for 2023?")
['colour']
>>> visual_cues("How much did green bonds raise in 2023?")
[]
"""

from __future__ import annotations

import re

__all__ = ["visual_caveat", "visual_cues"]

_COLOURS = (
    "red|green|blue|yellow|orange|purple|violet|pink|brown|grey|gray|black|white|cyan|magenta|"
    "turquoise|golden|gold|silver|beige|navy|teal"
)
_DRAWN = (
    "box|boxes|line|lines|bar|bars|module|modules|circle|circles|arrow|arrows|area|areas|region|"
    "regions|curve|curves|dot|dots|square|squares|rectangle|rectangles|block|blocks|part|parts|"
    "text|font|marker|markers|shading|background|color|colour|highlight|highlighted|cell|cells|"
    "node|nodes|edge|edges|segment|segments|slice|slices|column|columns|point|points|star|stars|"
    "triangle|triangles|border|frame|label|labels|button|buttons|bubble|bubbles|icon|icons|"
    "shape|shapes|portion|sector|legend|one|ones"
)
_PATTERNS = (
    # a colour word, then at most two words, then a drawn thing: "the red dashed line"
    re.compile(rf"\b(?:{_COLOURS})(?:[-\s]+[a-z]+){{0,2}}?[-\s]+(?:{_DRAWN})\b", re.IGNORECASE),
    re.compile(r"\bcolou?r(?:s|ed|ing)?\b", re.IGNORECASE),
    re.compile(r"\bshape[ds]?\b|\b(?:icon|logo|emoji|symbol)s?\b", re.IGNORECASE),
    re.compile(r"\b(?:photo|photograph|picture)s?\b", re.IGNORECASE),
)


def visual_cues(question: str) -> list[str]:
    """The phrases of `question` that ask about what a picture shows, in order, lower case."""
    found: list[tuple[int, str]] = []
    for pattern in _PATTERNS:
        found += [(m.start(), m.group(0).lower()) for m in pattern.finditer(question)]
    cues: list[str] = []
    for _, cue in sorted(found):
        if cue not in cues and not any(cue in c for c in cues):
            cues.append(cue)
    return cues


def visual_caveat(question: str) -> str | None:
    """The caveat an answer to `question` carries when it asks about a picture, else None."""
    cues = visual_cues(question)
    if not cues:
        return None
    quoted = ", ".join(f"'{c}'" for c in cues[:3])
    return (
        f"This question is about what a picture shows ({quoted}). docqa reads the text of the "
        "pages, not their images, so it cannot see colours, shapes or photographs: the answer "
        "may miss or misread that part."
    )
