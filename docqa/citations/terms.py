"""Whether an answer's names and figures come from what the model was shown.

A model that reads its passages copies their names and numbers; a model that guesses makes them
up. This takes the answer's key terms (the names, acronyms and distinctive quantities that
`docqa.citations.entities` and `docqa.citations.numbers` extract, citation markers removed),
leaves out those the question itself states (restating the question proves nothing), and finds
which of the rest appear in no passage, labels included. It looks at every passage the model was
given, not only the cited ones (a 1.5B model often cites the wrong passage of a right answer),
so it says "made up", not "miscited".

Only distinctive figures count (`is_distinctive`: "1,874", "72.3%", "3.3", not "4" or "20%"): a
short number is on most pages by chance, so finding it proves nothing. A figure the answer
derives (a growth rate, a sum) is in no passage either: a rule built on this should ask for most
terms to be ungrounded, not one. Answers that add no name or distinctive figure to the question
("yes", "4 figures", a phrase of common words) have no key terms and say nothing here.

Example:
    >>> g = ground_terms("The accounts of Northwind were audited by Harbor & Lane [1], at $1.2 million.",
    ...                  "Who audited Northwind?", ["[1] Northwind revenue was $503.8 million."])
    >>> g.terms, g.ungrounded
    (['Harbor & Lane', '$1.2 million'], ['Harbor & Lane', '$1.2 million'])
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from docqa.citations.entities import Entity, ground_entities
from docqa.citations.numbers import Quantity, ground_numbers, is_distinctive
from docqa.citations.split import strip_citations
from docqa.types import TermGrounding

__all__ = ["ground_terms"]

_Span = tuple[int, int, str]


def _spans(terms: Iterable[Entity | Quantity]) -> set[_Span]:
    return {(t.start, t.end, t.text) for t in terms}


def ground_terms(answer: str, question: str, passages: Sequence[str]) -> TermGrounding:
    """The key terms `answer` adds to `question` (names first, then quantities, each in reading
    order) and those found in none of `passages`."""
    text = strip_citations(answer)
    names = _spans(ground_entities(text, [question]).ungrounded)
    numbers = _spans(q for q in ground_numbers(text, [question]).ungrounded if is_distinctive(q))
    missing = _spans(ground_entities(text, passages).ungrounded) & names
    missing |= _spans(ground_numbers(text, passages).ungrounded) & numbers
    spans = sorted(names) + sorted(numbers)
    return TermGrounding(
        terms=[s[2] for s in spans], ungrounded=[s[2] for s in spans if s in missing]
    )
