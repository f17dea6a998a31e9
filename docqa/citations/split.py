"""Split an answer into sentences and read their `[n]` citations.

Sentence boundaries come from NLTK's Punkt model (the `punkt_tab` data that llama-index-core ships
offline; a user's own NLTK data wins when present), with extra abbreviations for financial and
academic text ("e.g.", "approx.", "No.", "Fig."). Punkt alone mishandles what LLM answers are made
of, so around it:

- newlines: blank lines, list items ("- ", "* ", "1. ", "a) ") and Markdown headings start a new
  block; lines inside a block are soft wraps. List markers are not part of the sentence.
- citation markers after the full stop ("... in 2023. [2] Next") belong to the sentence before.
- a sentence ending in an abbreviation followed by a marker and a capital ("in the U.S. [1] Sales")
  is split after the marker, which Punkt cannot see.
- a period inside parentheses does not end the sentence ("methods (w.o. ensemble) reach 2.1%"):
  a break that leaves a parenthesis open is undone up to the one that closes it.

Without NLTK (or its data) a small regex splitter with the same abbreviation list is used.

Example:
    >>> [(s.text, s.citations) for s in split_answer("Revenue was $1.5 billion [1]. It grew 3% [1, 2].")]
    [('Revenue was $1.5 billion.', [1]), ('It grew 3%.', [1, 2])]
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "ABBREVIATIONS",
    "AnswerSentence",
    "parse_citations",
    "split_answer",
    "split_sentences",
    "strip_citations",
    "without_repeats",
]

# lower case, without the final period (Punkt's convention)
_ABBREVIATION_WORDS = """
    e.g i.e etc vs v cf al approx est ca incl excl esp viz resp
    no nos fig figs tab eq eqs ref refs sec secs ch chap vol vols p pp para ed eds
    inc corp co cos ltd llc plc bros dept div intl assn govt
    mr mrs ms dr prof st jr sr gen rep sen gov
    jan feb mar apr jun jul aug sep sept oct nov dec
    u.s u.s.a u.k e.u u.n a.m p.m n.a
    avg max min mo mos yr yrs qtr qtrs mln bn tn mgmt
    """
ABBREVIATIONS: frozenset[str] = frozenset(_ABBREVIATION_WORDS.split())

_CITE_BODY = r"\d+(?:\s*(?:,|;|-|–)\s*\d+)*"
_CITE = re.compile(rf"\[\s*({_CITE_BODY})\s*\]")
_CITES_RUN = re.compile(rf"(?:\s*\[\s*{_CITE_BODY}\s*\])+")
_LEADING_CITES = re.compile(rf"\s*(?:\[\s*{_CITE_BODY}\s*\]\s*)+")
# "... the U.S. [1] Sales rose" : a period, markers, then a capitalised word
_ABBREV_CITE_BREAK = re.compile(rf"\.((?:\s*\[\s*{_CITE_BODY}\s*\])+)\s+(?=[A-Z])")
_LIST_MARKER = re.compile(r"^[ \t]*(?:[-*•+▪◦‣]|\d{1,2}[.)]|[a-zA-Z][.)]|\(\d{1,2}\))[ \t]+")
_HEADING = re.compile(r"^[ \t]*#{1,6}[ \t]")
_MAX_RANGE = 20


@dataclass(frozen=True)
class AnswerSentence:
    """A sentence of an answer: its text without citation markers, and what it cites."""

    text: str
    citations: list[int]
    """Cited passage numbers, in order of appearance, without duplicates."""
    start: int
    end: int
    """Span in the answer, markers included (list markers excluded)."""


class _SpanTokenizer(Protocol):
    def span_tokenize(self, text: str) -> Any: ...


def parse_citations(text: str) -> list[int]:
    """The passage numbers cited by `[n]`, `[1, 2]`, `[1][3]` or `[2-4]` markers, in order, unique.

    >>> parse_citations("as shown [2][1, 3] and [2-4]")
    [2, 1, 3, 4]
    """
    out: list[int] = []
    for m in _CITE.finditer(text):
        for part in re.split(r"\s*[,;]\s*", m.group(1)):
            bounds = re.split(r"\s*[-–]\s*", part)
            nums: list[int]
            if len(bounds) == 2:
                lo, hi = int(bounds[0]), int(bounds[1])
                # "[1-1000]" is not a citation range anyone means: keep its ends only
                nums = list(range(lo, hi + 1)) if 0 <= hi - lo <= _MAX_RANGE else [lo, hi]
            else:
                nums = [int(b) for b in bounds]
            for n in nums:
                if n not in out:
                    out.append(n)
    return out


def strip_citations(text: str) -> str:
    """The text without citation markers, with the spaces they leave tidied.

    >>> strip_citations("Revenue rose [1] to $5 [2][3].")
    'Revenue rose to $5.'
    """
    out = _CITES_RUN.sub("", text)
    out = re.sub(r"\s+([.,;:!?)])", r"\1", out)
    return re.sub(r"\s+", " ", out).strip()


@lru_cache(maxsize=1)
def _punkt() -> _SpanTokenizer | None:
    try:
        import nltk.data
        from nltk.tokenize.punkt import PunktSentenceTokenizer, load_punkt_params
    except ImportError:
        return None
    resource = "tokenizers/punkt_tab/english/"
    try:
        lang_dir = nltk.data.find(resource)
    except LookupError:
        bundled = _llama_index_nltk_cache()
        if bundled is None:
            return None
        # NLTK refuses to open data files outside `nltk.data.path`, so the folder is added
        # there (as llama-index itself does) rather than passed to `find` alone
        if str(bundled) not in nltk.data.path:
            nltk.data.path.append(str(bundled))
        try:
            lang_dir = nltk.data.find(resource)
        except LookupError:
            return None
    params = load_punkt_params(lang_dir)
    params.abbrev_types.update(ABBREVIATIONS)
    tokenizer: _SpanTokenizer = PunktSentenceTokenizer(params)
    return tokenizer


def _llama_index_nltk_cache() -> Path | None:
    # located without importing llama_index.core, whose import is slow and has side effects
    try:
        spec = importlib.util.find_spec("llama_index.core")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "_static" / "nltk_cache"
    return path if path.is_dir() else None


_FALLBACK_BREAK = re.compile(
    rf"[.!?]+[\"'”’)]*(?:\s*\[\s*{_CITE_BODY}\s*\])*(?=\s+[\"'“‘(]*[A-Z0-9])"
)


def _regex_spans(text: str) -> list[tuple[int, int]]:
    """Used only when Punkt is unavailable: break after . ! ? before a capital or digit, unless
    the word before the period is a known abbreviation or a single initial."""
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _FALLBACK_BREAK.finditer(text):
        word = re.search(r"(\S+)$", text[start : m.start() + 1])
        token = word.group(1).lower().rstrip(".") if word else ""
        token = token.lstrip("(\"'“‘[")
        if m.group(0).startswith(".") and (token in ABBREVIATIONS or re.fullmatch(r"[a-z]", token)):
            continue
        spans.append((start, m.end()))
        start = m.end()
        while start < len(text) and text[start].isspace():
            start += 1
    if start < len(text):
        spans.append((start, len(text)))
    return spans


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    tok = _punkt()
    if tok is None:
        return _regex_spans(text)
    return [(int(s), int(e)) for s, e in tok.span_tokenize(text)]


def _blocks(text: str) -> list[tuple[int, int]]:
    """Spans of paragraphs / list items: the units sentences never cross."""
    blocks: list[tuple[int, int]] = []
    cur: tuple[int, int] | None = None
    pos = 0
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        lstart, lend = pos, pos + len(body)
        pos += len(line)
        if not body.strip():
            if cur:
                blocks.append(cur)
            cur = None
            continue
        if _HEADING.match(body):
            # a Markdown heading is structure, not a claim: it ends the block and is skipped
            if cur:
                blocks.append(cur)
            cur = None
            continue
        marker = _LIST_MARKER.match(body)
        starts_new = marker is not None or body.lstrip().startswith("|")
        prev_ends_block = cur is not None and text[cur[0] : cur[1]].rstrip().endswith(":")
        if cur is None or starts_new or prev_ends_block:
            if cur:
                blocks.append(cur)
            cur = (lstart + (marker.end() if marker else 0), lend)
        else:
            cur = (cur[0], lend)
    if cur:
        blocks.append(cur)
    return blocks


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _depth(piece: str) -> int:
    """Parentheses `piece` opens and does not close (negative: closes more than it opens)."""
    return piece.count("(") - piece.count(")")


def _within_parentheses(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """`spans` with a break inside parentheses undone: "methods (w.o. ensemble) reach 2.1%" is
    one sentence, whatever Punkt made of the period. A span that leaves a parenthesis open is
    joined to the spans after it up to the one that closes it; one never closed is left as it
    was."""
    out: list[tuple[int, int]] = []
    i = 0
    while i < len(spans):
        s, e = spans[i]
        depth, j = _depth(text[s:e]), i
        while depth > 0 and j + 1 < len(spans):
            j += 1
            depth += _depth(text[spans[j][0] : spans[j][1]])
        if depth <= 0 and j > i:
            out.append((s, spans[j][1]))
            i = j + 1
        else:
            out.append((s, e))
            i += 1
    return out


def _split_block(text: str, bstart: int, bend: int) -> list[tuple[int, int]]:
    block = text[bstart:bend]
    spans = _within_parentheses(text, [(bstart + s, bstart + e) for s, e in _sentence_spans(block)])
    # split "U.S. [1] Sales ..." after the markers
    out: list[tuple[int, int]] = []
    for s, e in spans:
        cut = s
        for m in _ABBREV_CITE_BREAK.finditer(text, s, e):
            out.append((cut, m.start(1) + len(m.group(1))))
            cut = m.end()
        out.append((cut, e))
    # markers that Punkt put at the start of the next sentence belong to the previous one
    merged: list[tuple[int, int]] = []
    for s, e in out:
        lead = _LEADING_CITES.match(text, s, e)
        if merged and lead is not None and lead.end() > s:
            merged[-1] = _trim(text, merged[-1][0], lead.end())
            s = lead.end()
        s, e = _trim(text, s, e)
        if s >= e:
            continue
        if merged and not re.search(r"\w", strip_citations(text[s:e])):
            merged[-1] = (merged[-1][0], e)
            continue
        merged.append((s, e))
    return merged


def split_sentences(text: str) -> list[str]:
    """Plain sentence splitting (markers kept), for passages or answers.

    >>> split_sentences("The U.S. segment grew 3.2%, e.g. in Q3. Costs fell.")
    ['The U.S. segment grew 3.2%, e.g. in Q3.', 'Costs fell.']
    """
    return [text[s:e] for bs, be in _blocks(text) for s, e in _split_block(text, bs, be)]


def split_answer(answer: str) -> list[AnswerSentence]:
    """The answer's sentences, each with its citations and its span in `answer`."""
    out: list[AnswerSentence] = []
    for bs, be in _blocks(answer):
        for s, e in _split_block(answer, bs, be):
            raw = answer[s:e]
            text = strip_citations(raw)
            if not text:
                continue
            out.append(AnswerSentence(text=text, citations=parse_citations(raw), start=s, end=e))
    return out


MIN_REPEAT_WORDS = 4
"""The fewest words a sentence said again must have to be removed as a repeat."""


def _whole_item(answer: str, start: int, end: int) -> tuple[int, int]:
    """The span to remove for the sentence at `start:end`: its list item's line, marker and
    line break included, when the sentence is all the item holds; else the sentence."""
    line = answer.rfind("\n", 0, start) + 1
    marker = _LIST_MARKER.match(answer[line:start])
    if marker is None or marker.end() != start - line or answer[end : end + 1] not in ("\n", ""):
        return start, end
    if end < len(answer):
        return line, end + 1
    return max(0, line - 1), end  # the last item: the break before it goes with it


def _joined(left: str, right: str) -> str:
    """Two pieces of an answer whose sentence between them was removed: one space where the
    sentence stood inside a line, nothing where a line ends."""
    left, right = left.rstrip(" \t"), right.lstrip(" \t") if left else right
    if not left or not right or left.endswith("\n") or right.startswith(("\n", "\r")):
        return left + right
    return f"{left} {right}"


def without_repeats(answer: str) -> tuple[str, list[str]]:
    """`answer` without the sentences of at least `MIN_REPEAT_WORDS` words that say an earlier
    one again word for word (case and spacing aside) and cite nothing it did not, and the
    sentences removed. A small model can loop on a sentence until its token limit; the repeats
    add nothing a reader or the checker needs, and a repeat that cites another passage is kept
    with its citation.

    >>> without_repeats("Sales rose [1]. Margins are still weak [2]. Margins are still weak.")
    ('Sales rose [1]. Margins are still weak [2].', ['Margins are still weak.'])
    """
    cited: dict[str, set[int]] = {}
    cuts: list[tuple[int, int]] = []
    removed: list[str] = []
    for sentence in split_answer(answer):
        key = " ".join(sentence.text.lower().split())
        # "Yes." twice can answer two parts of a question; a loop is a whole statement
        long = len(key.split()) >= MIN_REPEAT_WORDS
        if long and key in cited and cited[key].issuperset(sentence.citations):
            cuts.append(_whole_item(answer, sentence.start, sentence.end))
            removed.append(sentence.text)
        cited.setdefault(key, set()).update(sentence.citations)
    if not cuts:
        return answer, []
    text, pos = "", 0
    for s, e in cuts:
        text, pos = _joined(text, answer[pos:s]), e
    return _joined(text, answer[pos:]).strip(), removed
