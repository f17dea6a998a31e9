"""The form a question expects its answer in, read from the question's wording alone.

Small models bury the answer: "The performance of X on Y is ..." restates the question before
the figure, a yes/no question gets a paragraph without the word, a question asking for several
items gets one. The prompt's last lines (`docqa.answer.prompts.question_block`) tell the model
the form to start with, as MMLongBench-Doc's answer formats (Int, Float, Str, List, yes/no) and
FinanceBench's graders expect it. The rules are English-language cues, not fitted to any
question set:

- `choice`: the question names the options ("higher or lower", "Directly answer 'A' or 'B'");
- `yes_no`: it asks for yes or no, or opens with an auxiliary verb ("Does ...", "Is ...")
  without an "or" between options;
- `list`: it asks for a list ("list all", "list format", "respectively", an example list), or
  for several things ("what are the ...", when no number is asked for);
- `number`: a count or an amount ("how many", "how much", "what percentage", "round to",
  "in millions", "int format");
- `free`: none of these; no hint is added.

The explicit requests come first, then the question's shape: yes/no asked, an option asked,
a list asked, an auxiliary verb first (yes/no, or a choice when "or" joins two options), a
number, a list-shaped "what are the".

Example:
    >>> expected_form("How many subfigures are in Figure 3?")
    'number'
    >>> expected_form("Does Section 3.3 cite more papers than Section 3.1?")
    'yes_no'
    >>> expected_form("Is the margin higher or lower than last year?")
    'choice'
    >>> expected_form("Who audited the statements?")
    'free'
"""

from __future__ import annotations

import re
from typing import Literal

__all__ = ["FORM_HINTS", "AnswerForm", "expected_form", "form_hint"]

AnswerForm = Literal["choice", "yes_no", "list", "number", "free"]

FORM_HINTS: dict[AnswerForm, str] = {
    "choice": "Start the answer with the option you choose, in the question's words.",
    "yes_no": 'Start the answer with "Yes" or "No".',
    "list": "Start the answer with all the items, separated by commas.",
    "number": (
        "Start the answer with the number, with its unit and scale as the source writes them."
    ),
    "free": "",
}
"""The line the prompt adds for each form (nothing for `free`)."""

_AUX = (
    r"is|are|was|were|do|does|did|has|have|had|can|could|will|would|should|shall|may|might"
    r"|must"
)
_YES_NO_ASKED = re.compile(r"\byes\b[\"'’”]?\s*(?:or|/)\s*[\"'‘“]?no\b", re.I)
_CHOICE_ASKED = re.compile(
    r"\b(?:directly\s+)?answer\s+(?:with\s+)?[\"'‘“][^\"'’”]+[\"'’”]\s+or\s+[\"'‘“]", re.I
)
# an "or" between two options of a yes/no-shaped question ("Is X higher or lower ...?",
# "Did sales rise or fall?"); not "or not" and not an "or" in a longer clause after a comma
_OPTIONS = re.compile(r"\b(\w+)\s+or\s+(?!not\b)(\w+)\b", re.I)
# an auxiliary verb opening the question, perhaps after a short leading phrase ("As of 2015,
# is ...")
_AUX_START = re.compile(rf"^\s*(?:[^,?]{{1,60}},\s*)?(?:{_AUX})\b", re.I)
_LIST_ASKED = re.compile(
    r"\blist\s+(?:all|the|every|each|format)\b|\benumerate\b|"
    r"\bname\s+(?:all|every|each)\b|\be\.g\.,?\s*\[|\brespectively\b",
    re.I,
)
_LIST_SHAPED = re.compile(r"^\s*(?:what|which)\s+(?:\w+\s+){0,3}?(?:are|were)\s+the\b", re.I)
_NUMBER_ASKED = re.compile(
    r"\bhow\s+(?:many|much)\b|^\s*how\s+(?:long|old|large|big|high|far)\b|"
    r"\bwhat\s+(?:is|was|are|were)\s+the\s+(?:\w+\s+){0,3}?(?:number|percentage|percent|share|"
    r"ratio|rate|amount|total|value|margin|growth|change|difference|gap|sum|average|count|price|"
    r"cost)\b|\bwhat\s+(?:percentage|percent|share|proportion|fraction|number)\b|"
    r"\bround(?:ed)?\s+(?:\w+\s+){0,3}?(?:to|at)\b|"
    r"\b(?:in|answer\s+in)\s+(?:millions?|billions?|thousands?|percent(?:age)?)\b|"
    r"\b(?:int|float|integer)\s+format\b",
    re.I,
)


def expected_form(question: str) -> AnswerForm:
    """The answer form the question's wording asks for (module docstring)."""
    q = question.strip()
    if _YES_NO_ASKED.search(q):
        return "yes_no"
    if _CHOICE_ASKED.search(q):
        return "choice"
    if _LIST_ASKED.search(q):
        return "list"
    if _AUX_START.match(q):
        first_clause = re.split(r"[;?]", q, maxsplit=1)[0]
        return "choice" if _OPTIONS.search(first_clause) else "yes_no"
    if _NUMBER_ASKED.search(q):
        return "number"
    if _LIST_SHAPED.search(q):
        return "list"
    return "free"


def form_hint(question: str) -> str:
    """The prompt line for the question's expected form, or "" when it expects none."""
    return FORM_HINTS[expected_form(question)]
