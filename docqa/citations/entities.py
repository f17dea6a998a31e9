"""Entity grounding without a model: the names a sentence states must appear in the cited text.

Extracted from the sentence:
- capitalised names of one or more words ("Best Buy", "Bank of America", "Boeing"), except a
  single capitalised word that opens the sentence (capitalisation says nothing there), common
  words that happen to be capitalised ("The", "In", "However", "Total") and month or day names;
- acronyms ("SG&A", "GAAP", "U.S."), tickers ("$BBY", "NYSE: BBY"), quoted strings.

Matching is case-, whitespace-, punctuation- and possessive-insensitive; corporate suffixes are
dropped ("Best Buy Co., Inc." is found as "Best Buy"); a one-word name may differ by a letter or
two ("Defence" ~ "Defense"); an acronym is also found as the initials of consecutive words
("SG&A" ~ "selling, general and administrative").

Example:
    >>> g = ground_entities("Best Buy Co., Inc. acquired Yardbird.", ["Best Buy bought Yardbird"])
    >>> [e.text for e in g.grounded], [e.text for e in g.ungrounded]
    (['Best Buy Co., Inc.', 'Yardbird'], [])
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from docqa.citations.text import STOPWORDS, normalize

__all__ = ["Entity", "EntityGrounding", "extract_entities", "ground_entities"]

EntityKind = Literal["name", "acronym", "ticker", "quote"]

_COMMON_TEXT = """
the a an in on at for to of and or but by from with as into onto over under about after before
this that these those it its we our ours they their he she his her you your i my me us them
yes no not however also although while when where which who whom what why how there here then
thus therefore moreover furthermore additionally overall finally first second third last next
total net gross operating annual quarterly fiscal year years quarter quarters company companies
according based compared during following including since until both each every all some any
revenue revenues sales income profit loss margin margins expense expenses cash assets
segment segments note notes table figure section page item part appendix chapter exhibit
monday tuesday wednesday thursday friday saturday sunday
january february march april may june july august september october november december
jan feb mar apr jun jul aug sep sept oct nov dec
"""
_COMMON: frozenset[str] = frozenset(_COMMON_TEXT.split()) | STOPWORDS
_CORPORATE_TEXT = """
co corp corporation company inc incorporated ltd limited llc lp llp plc nv sa ag gmbh
holdings holding group
"""
_CORPORATE = frozenset(_CORPORATE_TEXT.split())
# "and" is left out: "Current Health and Yardbird" are two names, "Procter & Gamble" one
_CONNECTORS = frozenset(["of", "&", "de", "du", "la", "van", "von", "der", "for", "the"])
_ACRONYM_SKIP = frozenset(
    ["I", "A", "AM", "PM", "OK", "II", "III", "IV", "VI", "VII", "VIII", "IX", "FY", "YTD", "QTD"]
)
# no digits: "FY2023" and "Q4" are periods, not names
_CAP_WORD = r"(?<![\w'’])[A-Z][A-Za-z'’&-]*\.?(?![\w])"
_CORP_SUFFIX = r"(?:Inc|Co|Corp|Corporation|Ltd|LLC|L\.L\.C|LP|L\.P|PLC|plc|N\.V|S\.A|AG|GmbH)\.?"
# capitalised words, joined by spaces, connectors ("Bank of America"), or a comma before a
# corporate suffix ("Best Buy Co., Inc."); a bare comma separates names ("Boeing, Airbus")
_NAME_RUN = re.compile(
    rf"{_CAP_WORD}(?:\s+(?:(?:of|&|de|du|la|van|von|der|for|the)\s+)*{_CAP_WORD}|,\s+{_CORP_SUFFIX})*"
)
_ACRONYM = re.compile(r"\b(?:[A-Z]\.){2,}|\b[A-Z][A-Z0-9&]*[A-Z](?:s|'s|’s)?\b")
_TICKER = re.compile(
    r"\$([A-Z]{1,5})\b|\b(?:NYSE|NASDAQ|Nasdaq|AMEX|NYSE American)\s*:\s*([A-Z.]{1,6})\b"
)
_QUOTED = re.compile(r"\"([^\"\n]{2,80})\"|“([^”\n]{2,80})”")
_SENTENCE_OPEN = re.compile(r"^[\s\"'“‘(\[*_-]*")


@dataclass(frozen=True)
class Entity:
    text: str
    start: int
    end: int
    kind: EntityKind
    key: str
    """Normalised form looked for in passages (corporate suffixes dropped)."""


@dataclass(frozen=True)
class EntityGrounding:
    grounded: list[Entity] = field(default_factory=list)
    ungrounded: list[Entity] = field(default_factory=list)
    passages: list[int] = field(default_factory=list)
    """For each grounded entity, the index of the passage it was found in."""

    @property
    def total(self) -> int:
        return len(self.grounded) + len(self.ungrounded)


def _name_key(words: list[str]) -> str:
    ws = [w.rstrip(".,").lower() for w in words]
    while ws and ws[-1] in _CORPORATE | _CONNECTORS:
        ws.pop()
    while ws and ws[0] in ("the", "a", "an"):
        ws.pop(0)
    return normalize(" ".join(ws)).strip()


def _names(sentence: str) -> list[Entity]:
    out: list[Entity] = []
    opening = _SENTENCE_OPEN.match(sentence)
    # capitalisation says nothing about the first word of a sentence, or of a clause after ":"
    opens = {opening.end() if opening else 0}
    opens.update(m.end() for m in re.finditer(r"[:;.!?]\s+[\"'“‘(]*", sentence))
    for m in _NAME_RUN.finditer(sentence):
        tokens = [(t.group(0), t.start(), t.end()) for t in re.finditer(r"\S+", m.group(0))]
        # leading common words ("The", "In", "Our") are not part of a name
        while tokens and tokens[0][0].rstrip(".,").lower() in _COMMON:
            tokens.pop(0)
        while tokens and tokens[-1][0].rstrip(".,").lower() in _CONNECTORS | _COMMON:
            tokens.pop()
        if not tokens:
            continue
        s = m.start() + tokens[0][1]
        e = m.start() + tokens[-1][2]
        caps = [t[0] for t in tokens if t[0][:1].isupper()]
        if len(caps) == 1:
            word = caps[0].rstrip(".,").replace("’", "'").removesuffix("'s")
            if s in opens or word.lower() in _COMMON or len(word) < 3:
                continue
            if word.isupper():
                continue  # an acronym: found by _ACRONYM
        key = _name_key([t[0] for t in tokens])
        if not key or all(w in _CORPORATE for w in key.split()):
            continue
        text = sentence[s:e].rstrip(",")
        if text.endswith(".") and tokens[-1][0].rstrip(".,").lower() not in _CORPORATE:
            text, e = text[:-1], e - 1
        out.append(Entity(text, s, e, "name", key))
    return out


def extract_entities(sentence: str) -> list[Entity]:
    """The names, acronyms, tickers and quoted strings of a sentence, in order, unique by key.

    >>> [e.text for e in extract_entities('The U.S. unit of Best Buy said "Totaltech" grew.')]
    ['U.S.', 'Best Buy', 'Totaltech']
    """
    found: list[Entity] = []
    for m in _QUOTED.finditer(sentence):
        inner = m.group(1) or m.group(2)
        key = normalize(inner).strip()
        if key:
            found.append(Entity(inner, m.start(), m.end(), "quote", key))
    for m in _TICKER.finditer(sentence):
        sym = m.group(1) or m.group(2)
        found.append(Entity(m.group(0), m.start(), m.end(), "ticker", sym))
    for m in _ACRONYM.finditer(sentence):
        raw = m.group(0)
        bare = re.sub(r"(?:'s|’s)$", "", raw)
        if bare in _ACRONYM_SKIP:
            continue
        found.append(Entity(raw, m.start(), m.end(), "acronym", normalize(bare).strip()))
    for ent in _names(sentence):
        if ent.key.replace(" ", "").isupper():
            continue
        found.append(ent)
    found.sort(key=lambda e: e.start)
    out: list[Entity] = []
    for e in found:
        # an acronym or name inside a quote, ticker or longer name is not counted twice
        if any(
            o is not e
            and o.start <= e.start
            and e.end <= o.end
            and (o.end - o.start) > (e.end - e.start)
            for o in found
        ):
            continue
        if any(o.key.lower() == e.key.lower() for o in out):
            continue
        out.append(e)
    return out


@dataclass(frozen=True)
class _Index:
    norm: str
    joined: str
    tokens: tuple[str, ...]
    token_set: frozenset[str]


@lru_cache(maxsize=1024)
def _index(text: str) -> _Index:
    norm = normalize(text)
    tokens = tuple(norm.split())
    return _Index(norm, norm.replace(" ", ""), tokens, frozenset(tokens))


def _fuzzy_word(word: str, index: _Index) -> bool:
    if word in index.token_set:
        return True
    if len(word) < 5:
        return False
    for tok in index.token_set:
        if (
            tok[:1] == word[:1]
            and abs(len(tok) - len(word)) <= 2
            and difflib.SequenceMatcher(None, word, tok).ratio() >= 0.85
        ):
            return True
    return False


def _initials(acronym: str, index: _Index) -> bool:
    letters = [c for c in acronym.lower() if c.isalpha()]
    if len(letters) < 2:
        return False
    words = [t for t in index.tokens if t not in ("and", "of", "&", "the", "for")]
    n = len(letters)
    for i in range(len(words) - n + 1):
        if all(words[i + j][0] == letters[j] for j in range(n)):
            return True
    return False


def _found(entity: Entity, text: str) -> bool:
    index = _index(text)
    if entity.kind == "ticker":
        return re.search(rf"\b{re.escape(entity.key)}\b", text) is not None
    if f" {entity.key} " in index.norm:
        return True
    joined = entity.key.replace(" ", "")
    if len(joined) >= 6 and joined in index.joined:
        return True  # "Best Buy" in "BESTBUY_2023_10K", "Bestbuy" for "Best Buy"
    if entity.kind == "quote":
        return False
    if entity.kind == "acronym":
        return _initials(entity.key, index)
    words = [w for w in entity.key.split() if w not in _CONNECTORS]
    return bool(words) and all(_fuzzy_word(w, index) for w in words)


def ground_entities(sentence: str, passages: Sequence[str]) -> EntityGrounding:
    """Which entities of `sentence` appear in some passage."""
    grounded: list[Entity] = []
    ungrounded: list[Entity] = []
    where: list[int] = []
    for ent in extract_entities(sentence):
        hit = next((i for i, p in enumerate(passages) if _found(ent, p)), None)
        if hit is None:
            ungrounded.append(ent)
        else:
            grounded.append(ent)
            where.append(hit)
    return EntityGrounding(grounded=grounded, ungrounded=ungrounded, passages=where)
