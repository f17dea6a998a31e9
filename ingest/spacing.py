"""Spaces that OCR dropped, put back: "thelargestsmartphonecommunities" -> "the largest
smartphone communities".

RapidOCR's PP-OCRv4 recogniser often leaves out the spaces of tightly set English text (slide
decks, headings in capitals). The glued words are invisible to BM25, blur the embedding and the
reranker, and read badly in a citation. Each run of letters that is not an English word is split
by SymSpell's word segmentation (`symspellpy`, MIT: the most probable split under English
unigram frequencies, in linear time; its bundled dictionary of 82,765 words), and the split is
kept only when it is plainly English: every part a dictionary word written as English writes
words (lower case, capitalised or in capitals), and the parts on average at least as common as
`MIN_WORD_PROBABILITY`. Digits, punctuation and words the dictionary knows are never touched.

A page is respaced only when its text is identified as English (`langid`, BSD: a character
n-gram classifier, which reads glued words as well as spaced ones): German compounds split into
plausible English fragments ("Anhang" -> "An hang"), so a German scan is left as read.

Example:
    >>> restore_spaces(["VIETNAMMOBILEAPPSREPORT", "thelargestsmartphonecommunities in Asia"])
    ['VIETNAM MOBILE APPS REPORT', 'the largest smartphone communities in Asia']
    >>> restore_spaces(["Anhang: die Rohrverbindungen sind nach DIN 2470 geschweisst"])
    ['Anhang: die Rohrverbindungen sind nach DIN 2470 geschweisst']
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from functools import cache
from importlib.resources import files
from typing import Any

__all__ = ["MIN_RUN", "MIN_WORD_PROBABILITY", "restore_spaces"]

MIN_RUN = 6
"""Runs of fewer letters are left as they are."""
MIN_WORD_PROBABILITY = 1e-5
"""A split is kept when the geometric mean of its parts' unigram probabilities is at least this:
one word in 100,000 (in the dictionary's counts "currently" is 8.7e-5, "smartphone" 4.1e-6)."""

_RUN = re.compile(rf"[A-Za-z]{{{MIN_RUN},}}")
# a word as English writes it: lower case, capitalised or all capitals ("iOSsaw" is not split)
_REGULAR = re.compile(r"[a-z]+|[A-Z][a-z]*|[A-Z]+")
_DICTIONARY = "frequency_dictionary_en_82_765.txt"


@cache
def _speller() -> Any:
    """The process-wide SymSpell with its English dictionary, loaded on first use (~0.5-1 s)."""
    from symspellpy import SymSpell

    speller = SymSpell(max_dictionary_edit_distance=0, prefix_length=7)
    speller.load_dictionary(str(files("symspellpy") / _DICTIONARY), term_index=0, count_index=1)
    return speller


def _split(run: str, speller: Any) -> str:
    words: dict[str, int] = speller.words
    if run.lower() in words:
        return run
    parts = speller.word_segmentation(run, max_edit_distance=0).segmented_string.split()
    if len(parts) < 2 or "".join(parts) != run:
        return run
    if not all(_REGULAR.fullmatch(p) for p in parts):
        return run
    counts = [words.get(p.lower(), 0) for p in parts]
    if not all(counts):
        return run
    total = speller.N
    mean_log = sum(math.log10(c / total) for c in counts) / len(counts)
    return " ".join(parts) if mean_log >= math.log10(MIN_WORD_PROBABILITY) else run


@cache
def _identifier() -> Any:
    """The process-wide langid identifier, its model decoded on first use (~1-2 s)."""
    from langid.langid import LanguageIdentifier, model

    return LanguageIdentifier.from_modelstring(model, norm_probs=False)


def _is_english(text: str) -> bool:
    """Whether langid identifies `text` as English."""
    return bool(_identifier().classify(text)[0] == "en")


def restore_spaces(texts: Sequence[str]) -> list[str]:
    """The texts of one page (its OCR lines) with the runs of letters that are glued English
    words split, when the page is English (module docstring); unchanged otherwise."""
    out = list(texts)
    if not any(_RUN.search(t) for t in out) or not _is_english("\n".join(out)):
        return out
    speller = _speller()
    return [_RUN.sub(lambda m: _split(m.group(0), speller), t) for t in out]
