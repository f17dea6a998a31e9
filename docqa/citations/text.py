"""Text normalisation shared by the grounding checks: words with offsets, stop words, stems."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["STOPWORDS", "Word", "content_stems", "normalize", "stem", "words"]

_STOPWORD_TEXT = """
a about above after again against all also am among an and any are as at be because been before
being below between both but by can could did do does doing down during each either else ever
few for from further had has have having he her here hers herself him himself his how however i
if in into is it its itself just least less let like may me might more most much must my myself
neither no nor not now of off on once only or other otherwise our ours ourselves out over own
per rather same shall she should since so some such than that the their theirs them themselves
then there these they this those though through thus to too under until up upon us very via was
we were what when where whether which while who whom whose why will with within without would
yet you your yours yourself yourselves
yes according amount approximately around based compared comprises comprised consisted
due given including include includes noted reported respectively roughly total stated
one two three four five six seven eight nine ten
"""
STOPWORDS: frozenset[str] = frozenset(_STOPWORD_TEXT.split())

_WORD = re.compile(r"[A-Za-z][A-Za-z&]*(?:['’][A-Za-z]+)?")
_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-", "−": "-"})


@dataclass(frozen=True)
class Word:
    text: str
    start: int
    end: int
    stem: str


def normalize(text: str) -> str:
    """Lower case, ASCII quotes and dashes, possessives dropped, dotted acronyms joined ("U.S." ->
    "us"), punctuation other than & and % turned into spaces, single spaces; padded with a space at
    each end so that word-bounded containment is `f" {x} " in normalize(text)`."""
    t = unicodedata.normalize("NFKC", text).translate(_QUOTES).lower()
    t = re.sub(r"\b((?:[a-z]\.){2,})", lambda m: m.group(1).replace(".", ""), t)
    t = re.sub(r"(?<=[a-z])'s\b|(?<=s)'(?=\s|$)", "", t)
    t = re.sub(r"[^a-z0-9&%]+", " ", t)
    return f" {t.strip()} "


_SUFFIXES = ("ational", "ization", "ations", "ation", "ments", "ment", "ings", "ing", "ies", "ied")


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A light stemmer: enough to match "acquisitions" and "acquisition", "increased" and
    "increase", "margins" and "margin" (the overlap score only needs equal stems for such pairs)."""
    w = word.lower().replace("’", "'")
    w = w[:-2] if w.endswith("'s") else w
    if len(w) <= 3:
        return w
    for suf in _SUFFIXES:
        if w.endswith(suf) and len(w) - len(suf) >= 3:
            base = w[: -len(suf)]
            return base + "y" if suf in ("ies", "ied") else base
    if (w.endswith("ed") and len(w) > 4) or (w.endswith("es") and len(w) > 4 and w[-3] in "sxz"):
        w = w[:-2]
    elif w.endswith("s") and not w.endswith("ss") and len(w) > 3:
        w = w[:-1]
    return w.rstrip("e") if len(w) > 4 else w


@lru_cache(maxsize=2048)
def _words(text: str) -> tuple[Word, ...]:
    return tuple(
        Word(m.group(0), m.start(), m.end(), stem(m.group(0))) for m in _WORD.finditer(text)
    )


def words(text: str) -> list[Word]:
    """Alphabetic words of `text` with their offsets and stems (numbers are left to `numbers`)."""
    return list(_words(text))


def content_stems(text: str) -> list[str]:
    """Stems of the words that carry content (no stop words, no single letters), unique, in order."""
    out: list[str] = []
    for w in _words(text):
        low = w.text.lower().replace("’", "'")
        if low in STOPWORDS or low.removesuffix("'s") in STOPWORDS or len(w.stem) < 2:
            continue
        if w.stem not in out:
            out.append(w.stem)
    return out
