"""Answer scoring in the style of MMLongBench-Doc, plus abstention, page and citation metrics.

MMLongBench-Doc (eval/eval_score.py of mayubo2333/MMLongBench-Doc) first has an LLM extract a
short answer from the model's reply, then scores it by the gold's `answer_format`:

- Int: exact integer equality;
- Float: relative tolerance 1% (`math.isclose(rel_tol=0.01)`), and the gold may be matched as a
  percentage or a fraction (`include_percentage`: gold "12%" accepts 12, 12% and 0.12);
- Str: ANLS (1 - normalised Levenshtein distance, 0 below the 0.5 threshold), exact match for
  URLs, e-mail addresses, dates, phone-like numbers and file names;
- List: same length, then element-wise (sorted) exact or ANLS match;
- None ("Not answerable"): the reply must say so.

docqa answers are sentences with `[n]` markers, and no extraction LLM runs here, so this module
extracts without one:

- `[n]` markers are stripped (as `docqa.citations.split.strip_citations` does, but only markers
  of numbers below 100: "[1500, 8000]" is a list answer, not a citation), and so are echoes of the
  question's references ("Figure 3" in "How many subfigures are in Figure 3?") and page references
  ("(p. 12)"), which would otherwise count as numbers stated by the answer;
- numbers are read with `docqa.citations.numbers.extract_quantities` (currency, percent, scale
  words: "$1,577 million", "1.577 billion", "$1577.00" and a bare "1,577" all equal a gold of
  "$1,577 million"; a bare number may stand for any scale when the other side writes one, since
  tables print "1,577" under "in millions"), plus number words up to ninety ("six subfigures");
- `correct` searches the whole answer: a numeric gold is correct when any number of the answer
  equals it (Int exactly, Float within 1%, sign ignored: answers state it in words, "a decrease of
  5%"); a string gold when the extracted short answer passes ANLS or the normalised gold is
  contained, word-bounded, in the normalised answer; a list gold when every element is matched
  by its own element scorer, each answer item or number used at most once (so ['3', '2', '3']
  needs two 3s);
- `strict` is the paper's rule applied to the extracted short answer (the answer's first
  sentence, lead-ins such as "The answer is" removed): the first number of that sentence for
  Int/Float, ANLS alone for Str, and for lists also exactly as many items as the gold. It shows
  how much of `correct` comes from the lenient search (a long answer that lists many numbers can
  hit a numeric gold by chance; a verbose sentence never passes ANLS against a 2-word gold).
- `score` is the ANLS value for Str (1.0 when only containment matched), the minimum element
  score for lists, 0/1 otherwise: the mean of `score` is the paper's "Acc".

Decisions:

- "12%" equals 0.12 (and 12): as in the official scorer. Only when one side is written as a
  percentage and the other is a bare number without currency or scale.
- Gold strings are normalised more than upstream (which only lower-cases and strips "$", "%",
  parentheses and quotes): accents folded ("Tiếng Việt" = "Tieng Viet"), punctuation dropped,
  articles dropped ("the", "an", and "a" at the start only: "Appendix A" keeps its letter),
  parenthesised asides dropped.
- ANLS is 0 when the numbers or one-letter labels of the two strings differ ("Section 4.1" vs
  "Section 4.2", "Appendix A" vs "Appendix B": plain ANLS gives them 0.9 and would pass).
- Yes/no golds compare the answer's first word (containment would accept "No, ... yes ...").
- A Str gold, or a string element of a list gold, that the question itself names ("Instagram
  or Appota?", "among training-time, generation-time and post-hoc correction") is not matched
  by containment: an answer repeating the question contains every option. ANLS decides.
- Unanswerable golds ("Not answerable", LaRA "hallu", format "None") are correct exactly when
  the system abstained; an answerable question the system abstained on scores 0.
- Gold answers without an upstream format (FinanceBench, LaRA) get one from
  `infer_answer_format`: a single quantity -> Int/Float, a short phrase -> Str, else "Free".
  "Free" is a heuristic, not a judge (both benchmarks grade with humans or an LLM): a leading
  yes/no must agree, every amount or percentage of the gold's first sentence that has any must
  be in the answer, and a gold with neither needs half of its content words in the answer. Use
  it for trends only.

Example:
    >>> s = score_answer("$1,577 million", "The revenue was 1.577 billion dollars [2].", "Float",
    ...                  abstained=False)
    >>> s.correct, s.score
    (True, 1.0)
"""

from __future__ import annotations

import ast
import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Literal, Protocol

from pydantic import BaseModel

from docqa.citations.numbers import Quantity, QuantityKind, extract_quantities
from docqa.citations.split import ABBREVIATIONS
from docqa.citations.text import content_stems
from docqa.citations.text import normalize as _normalize_words

__all__ = [
    "ANLS_THRESHOLD",
    "ANSWER_FORMATS",
    "FLOAT_REL_TOL",
    "NOT_ANSWERABLE",
    "AbstentionScores",
    "AnswerFormat",
    "AnswerScore",
    "abstention_scores",
    "anls",
    "answer_numbers",
    "citation_page_scores",
    "clean_gold",
    "infer_answer_format",
    "is_not_answerable",
    "levenshtein",
    "mmlongbench_f1",
    "normalize_text",
    "numbers_equal",
    "page_recall_at_k",
    "pages_of",
    "parse_gold_list",
    "score_answer",
    "score_free",
    "score_list",
    "score_number",
    "score_string",
    "sentences",
    "short_answer",
    "strip_answer",
]

AnswerFormat = Literal["Int", "Float", "Str", "List", "None", "Free"]
"""MMLongBench-Doc's formats ("None" = not answerable), plus "Free" for long free-form golds."""
ANSWER_FORMATS: tuple[AnswerFormat, ...] = ("Int", "Float", "Str", "List", "None", "Free")
NOT_ANSWERABLE = "Not answerable"
ANLS_THRESHOLD = 0.5
FLOAT_REL_TOL = 0.01
"""MMLongBench-Doc's `isclose(rel_tol=0.01)` for Float answers."""
_INT_REL_TOL = 1e-9  # exact, up to float rounding of "1.577 billion" vs 1577 million
_FREE_SCALES = (1.0, 1e3, 1e6, 1e9, 1e12)
_FREE_RECALL = 0.5


class AnswerScore(BaseModel):
    """The score of one answer against its gold."""

    score: float
    """0..1: ANLS for strings, the minimum element score for lists, else 0 or 1."""
    correct: bool
    """The primary verdict: the gold searched in the whole answer (see the module doc)."""
    strict: bool
    """The paper's rule applied to the extracted short answer only."""
    method: str
    """How it was decided: abstention, number, anls, exact, contains, yes-no, list, free."""
    extracted: str = ""
    """The short answer (or the matched numbers) that was compared, for audits."""


# --- text helpers -----------------------------------------------------------------------------

_FINANCEBENCH_NOTE = re.compile(r"\s*The answer here assumes\b.*$", re.IGNORECASE | re.DOTALL)
# citation markers as docqa writes them ("[2]", "[1, 3]", "[2-4]", "[1][3]"), numbers below 100
_CITE_BODY = r"\d{1,2}(?:\s*[,;\-–]\s*\d{1,2})*"
_CITES_RUN = re.compile(rf"(?:\s*\[\s*{_CITE_BODY}\s*\])+")
_MARKDOWN = re.compile(r"(\*\*|__|`|^#+\s*)", re.MULTILINE)
_LEAD_INS = re.compile(
    r"^(?:(?:the\s+)?(?:final\s+|short\s+)?answer\s*(?:is|:)\s*"
    r"|(?:based\s+on|according\s+to)\s+(?:the\s+)?(?:document|passages?|context|text|report)s?,\s*)",
    re.IGNORECASE,
)
_PAREN = re.compile(r"\s*\([^)]*\)")
_ARTICLES = re.compile(r"\b(?:an|the)\b|^a\b")  # "a" inside is often a label: "Appendix A"
_LABELS = (
    r"(?:figures?|figs?\.?|tables?|sections?|secs?\.?|chapters?|appendix|appendices|pages?"
    r"|equations?|eqs?\.?|items?|notes?|steps?|parts?|exhibits?|slides?|questions?)"
)
_LABEL_REF = re.compile(
    rf"\b{_LABELS}\s*(?P<num>\d+(?:\.\d+)*[a-z]?(?:\s*(?:-|–|to|and)\s*\d+(?:\.\d+)*)?)",
    re.IGNORECASE,
)
_PAGE_REF = re.compile(r"[\[(]?\b(?:p|pp)\.\s*\d+(?:\s*[-–]\s*\d+)?[\])]?", re.IGNORECASE)
_EXACT_PATTERNS = (
    re.compile(r"https?://|www\."),
    re.compile(r"\.(?:py|ipynb|pdf|json|csv|txt)$"),
    re.compile(r"^page\b"),
    re.compile(r"^\d+(?:-\d+|\s\d+)+$"),  # phone-like
    re.compile(r"\b[ap]\.m\.?"),
    re.compile(r"^\d{4}[-/\s]\d{1,2}(?:[-/\s]\d{1,2})?$"),  # YYYY-MM(-DD)
    re.compile(r"^[\w.%+-]+@[\w.-]+\.[a-z]{2,}$"),
)
_WORD_NUMBERS: dict[str, int] = {
    w: i
    for i, w in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        ]
    )
}
_TENS: dict[str, int] = {
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_NUMBER_WORD = re.compile(
    r"\b(?P<tens>twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)(?:[-\s](?P<unit>one|two"
    r"|three|four|five|six|seven|eight|nine)\b)?|\b(?P<small>"
    + "|".join(sorted(_WORD_NUMBERS, key=len, reverse=True))
    + r")\b",
    re.IGNORECASE,
)


def clean_gold(answer: str) -> str:
    """The gold answer without FinanceBench's "The answer here assumes ..." note, surrounding
    quotes and spaces."""
    text = _FINANCEBENCH_NOTE.sub("", answer).strip()
    return text.strip("\"'“”‘’ ").strip()


def strip_answer(answer: str) -> str:
    """The answer without `[n]` markers and Markdown emphasis, on one line.

    >>> strip_answer("Revenue rose [1] to $5 [2][3, 4]. The pair is [1500, 8000].")
    'Revenue rose to $5. The pair is [1500, 8000].'
    """
    out = _CITES_RUN.sub("", _MARKDOWN.sub("", answer))
    out = re.sub(r"\s+([.,;:!?)])", r"\1", out)
    return re.sub(r"\s+", " ", out).strip()


_SENTENCE_BREAK = re.compile(r"[.!?]+[\"'”’)]*(?=\s+[\"'“‘(]*[A-Z0-9])")
_LIST_MARK = re.compile(r"^\s*(?:[-*•+]|\d{1,2}[.)])\s+")


def sentences(text: str) -> list[str]:
    """Sentences of a short text: a break after . ! ? before a capital or a digit, unless the
    word before the period is an abbreviation (docqa's list) or an initial; lines are kept apart.

    The same rule as `docqa.citations.split`'s fallback splitter, rather than its Punkt model:
    NLTK's import alone takes ~4 s (it pulls in SciPy), and scoring only needs the first sentence
    of an answer or a gold.

    >>> sentences("Revenue was $1.5 billion in the U.S. in 2023. Costs fell.")
    ['Revenue was $1.5 billion in the U.S. in 2023.', 'Costs fell.']
    """
    out: list[str] = []
    for line in text.splitlines():
        line = _LIST_MARK.sub("", line).strip()
        start = 0
        for m in _SENTENCE_BREAK.finditer(line):
            word = re.search(r"(\S+)$", line[start : m.start() + 1])
            token = (word.group(1).lower().rstrip(".") if word else "").lstrip("(\"'“‘[")
            if m.group(0).startswith(".") and (token in ABBREVIATIONS or len(token) == 1):
                continue
            out.append(line[start : m.end()].strip())
            start = m.end()
        if line[start:].strip():
            out.append(line[start:].strip())
    return [s for s in out if s]


def short_answer(answer: str) -> str:
    """The extracted short answer: the first sentence of the answer (markers and Markdown
    removed), without lead-ins ("The answer is", "According to the document,") or the final
    full stop.

    >>> short_answer("The answer is 42 [1]. It was on page 3.")
    '42'
    """
    lines = [strip_answer(line) for line in answer.splitlines()]
    found = sentences("\n".join(line for line in lines if line))
    if not found:
        return ""
    return _LEAD_INS.sub("", found[0]).rstrip(" .").strip()


def normalize_text(text: str) -> str:
    """Lower case, accents folded, quotes/dashes unified, parenthesised asides, punctuation
    (except & and %) and articles dropped ("a" only at the start), single spaces (no padding).

    >>> normalize_text("The “Tiếng Việt” edition (2nd).")
    'tieng viet edition'
    """
    folded = unicodedata.normalize("NFKD", text)
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    folded = _PAREN.sub(" ", folded)
    words = _normalize_words(folded).strip()
    return re.sub(r"\s+", " ", _ARTICLES.sub(" ", words)).strip()


def _contains(haystack: str, needle: str) -> bool:
    """Word-bounded containment of normalised texts."""
    return bool(needle) and f" {needle} " in f" {haystack} "


def _named_by(question: str | None, gold: str) -> bool:
    """The question itself names the normalised `gold` (a choice among options): containment
    is then no evidence, since an answer repeating the question contains every option."""
    return question is not None and _contains(normalize_text(question), gold)


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions all cost 1).

    Written here rather than imported: no edit-distance library is a dependency of docqa
    (rapidfuzz / python-Levenshtein are not installed; NLTK's is only a transitive dependency),
    and ANLS needs nothing more than this two-row dynamic programme.
    """
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def anls(gold: str, prediction: str, threshold: float = ANLS_THRESHOLD) -> float:
    """Average Normalised Levenshtein Similarity of one pair (Biten et al. 2019, as used by
    MMLongBench-Doc): 1 - distance / max length, and 0 when that is not above `threshold`.
    Inputs are compared as given (normalise them first).

    >>> anls("appota", "appota"), anls("appota", "apota"), anls("appota", "google")
    (1.0, 0.8333333333333334, 0.0)
    """
    length = max(len(gold), len(prediction))
    if length == 0:
        return 1.0
    value = 1.0 - levenshtein(gold, prediction) / length
    return value if value > threshold else 0.0


def _labels(normalized: str) -> list[str]:
    return sorted(t for t in normalized.split() if t.isdigit() or len(t) == 1)


def _similarity(gold: str, prediction: str) -> float:
    """ANLS of normalised texts, but 0 when their numbers or one-letter labels differ: "Section
    4.1" is not "Section 4.2", "Appendix A" not "Appendix B" (ANLS alone gives them 0.9)."""
    if _labels(gold) != _labels(prediction):
        return 0.0
    return anls(gold, prediction)


def _is_exact_kind(gold: str) -> bool:
    """Golds that ANLS would wrongly accept near misses of (URLs, dates, phone numbers, files)."""
    low = gold.lower().strip()
    return any(p.search(low) for p in _EXACT_PATTERNS)


def is_not_answerable(gold: str) -> bool:
    return clean_gold(gold).rstrip(".").strip().lower() == NOT_ANSWERABLE.lower()


# --- numbers ----------------------------------------------------------------------------------


def _remove_references(text: str, question: str | None) -> str:
    """Drop page references ("p. 12", "[pp. 3-4]") and the question's own references ("Figure 3",
    "Page 100") from `text`, so that their numbers are not read as the answer's."""
    text = _PAGE_REF.sub(" ", text)
    if question:
        echoes = {re.sub(r"\s+", " ", m.group(0).lower()) for m in _LABEL_REF.finditer(question)}
        if echoes:

            def drop(m: re.Match[str]) -> str:
                return " " if re.sub(r"\s+", " ", m.group(0).lower()) in echoes else m.group(0)

            text = _LABEL_REF.sub(drop, text)
    return text


def _word_quantities(text: str) -> list[Quantity]:
    out: list[Quantity] = []
    for m in _NUMBER_WORD.finditer(text):
        if m.group("tens"):
            value = _TENS.get(m.group("tens").lower(), 20)
            if m.group("unit"):
                value += _WORD_NUMBERS[m.group("unit").lower()]
        else:
            value = _WORD_NUMBERS[m.group("small").lower()]
        out.append(Quantity(m.group(0), m.start(), m.end(), QuantityKind.amount, float(value), 0))
    return out


def answer_numbers(answer: str, question: str | None = None) -> list[Quantity]:
    """The quantities an answer states, in order: digits with their units and scales, and number
    words ("six"), without citation markers, page references or echoes of the question's
    references."""
    text = _remove_references(strip_answer(answer), question)
    found = [q for q in extract_quantities(text) if q.kind is not QuantityKind.date or q.date]
    words = [
        w
        for w in _word_quantities(text)
        if not any(q.start < w.end and w.start < q.end for q in found)
    ]
    return sorted([*found, *words], key=lambda q: q.start)


def _gold_quantity(gold: str) -> Quantity | None:
    qs = extract_quantities(clean_gold(gold))
    if not qs:
        qs = _word_quantities(clean_gold(gold))
    return qs[0] if qs else None


def _currency(q: Quantity) -> str:
    c = q.currency or ""
    return {"US$": "$", "USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}.get(c, c)


def numbers_equal(gold: Quantity, pred: Quantity, rel_tol: float = FLOAT_REL_TOL) -> bool:
    """Whether `pred` states the number `gold` (see the module doc for the rules).

    >>> g = extract_quantities("$1,577 million")[0]
    >>> [numbers_equal(g, extract_quantities(t)[0]) for t in ("1.577 billion", "1,577", "1,757")]
    [True, True, False]
    """
    if gold.kind is QuantityKind.date or pred.kind is QuantityKind.date:
        if gold.date is None or pred.date is None:
            return False
        (gy, gm, gd), (py, pm, pd) = gold.date, pred.date
        return gm == pm and (gd is None or pd is None or gd == pd) and (gy is None or gy == py)

    def close(a: float, b: float) -> bool:
        return math.isclose(a, b, rel_tol=max(rel_tol, _INT_REL_TOL), abs_tol=1e-12)

    if _currency(gold) and _currency(pred) and _currency(gold) != _currency(pred):
        return False
    g_pct, p_pct = gold.kind is QuantityKind.percent, pred.kind is QuantityKind.percent
    if g_pct != p_pct:
        # a percentage against a bare number: 12% = 12 = 0.12 (MMLongBench's include_percentage)
        pct, other = (gold, pred) if g_pct else (pred, gold)
        if other.currency or other.scale:
            return False
        return close(pct.mantissa, other.mantissa) or close(pct.mantissa, other.mantissa * 100)
    if (gold.scale is None) != (pred.scale is None):
        # one side writes a scale, the other is bare (a table under "in millions")
        bare, scaled = (gold, pred) if gold.scale is None else (pred, gold)
        target = scaled.mantissa * (scaled.scale or 1.0)
        return any(close(target, bare.mantissa * s) for s in _FREE_SCALES)
    return close(gold.mantissa * (gold.scale or 1.0), pred.mantissa * (pred.scale or 1.0))


# --- scorers ----------------------------------------------------------------------------------


def score_number(
    gold: str,
    answer: str,
    *,
    integer: bool,
    question: str | None = None,
) -> AnswerScore:
    """Int (exact) or Float (within `FLOAT_REL_TOL`) gold against the numbers of the answer."""
    target = _gold_quantity(gold)
    if target is None:  # a gold the number reader cannot parse: compare as a string
        return score_string(gold, answer, question)
    tol = _INT_REL_TOL if integer else FLOAT_REL_TOL
    found = [q for q in answer_numbers(answer, question) if numbers_equal(target, q, tol)]
    first = answer_numbers(short_answer(answer), question)[:1]
    strict = bool(first) and numbers_equal(target, first[0], tol)
    return AnswerScore(
        score=float(bool(found)),
        correct=bool(found),
        strict=strict,
        method="number",
        extracted=found[0].text if found else (first[0].text if first else ""),
    )


def _yes_no(text: str) -> str | None:
    words = normalize_text(text).split()
    return words[0] if words and words[0] in ("yes", "no") else None


def score_string(gold: str, answer: str, question: str | None = None) -> AnswerScore:
    """Str gold: ANLS (or exact match, see `_is_exact_kind`) against the short answer; also
    correct when the normalised gold is contained in the normalised answer, unless `question`
    contains it too (a choice among named options: an answer repeating the question would
    contain every option, right or not)."""
    g_raw = clean_gold(gold)
    g = normalize_text(g_raw)
    short = short_answer(answer)
    s = normalize_text(short)
    if g in ("yes", "no"):
        ok = _yes_no(short) == g
        return AnswerScore(score=float(ok), correct=ok, strict=ok, method="yes-no", extracted=short)
    if _is_exact_kind(g_raw):
        value = float(g == s)
        method = "exact"
    else:
        value = _similarity(g, s)
        method = "anls"
    strict = value > 0.0
    if (
        not strict
        and not _named_by(question, g)
        and _contains(normalize_text(strip_answer(answer)), g)
    ):
        return AnswerScore(score=1.0, correct=True, strict=False, method="contains", extracted=g)
    return AnswerScore(score=value, correct=strict, strict=strict, method=method, extracted=short)


def parse_gold_list(gold: str) -> list[str]:
    """A List gold ("['a', 'b']", "[1500, 8000]") as strings; `ast.literal_eval`, never `eval`.
    A gold that is not a Python list literal is split on commas and semicolons."""
    text = clean_gold(gold)
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        value = None
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value]
    return [p.strip() for p in re.split(r"[;,]", text.strip("[]")) if p.strip()]


_ITEM_SPLIT = re.compile(r"\s*(?:[;,\n]|\band\b|•)\s*", re.IGNORECASE)


def _answer_items(answer: str) -> list[str]:
    text = _LEAD_INS.sub("", strip_answer(answer))
    text = re.sub(r"\s+\d{1,2}[.)]\s+", "\n", f" {text}")  # "1. a 2. b" numbered items
    return [normalize_text(p) for p in _ITEM_SPLIT.split(text) if normalize_text(p)]


def _is_numeric(element: str) -> bool:
    qs = extract_quantities(element)
    if len(qs) != 1:
        return False
    rest = element[: qs[0].start] + element[qs[0].end :]
    return not re.search(r"[A-Za-z]", rest)


def score_list(gold: str, answer: str, question: str | None = None) -> AnswerScore:
    """List gold: every element matched by its element scorer (numbers with Float tolerance,
    strings by ANLS or containment against the answer's items), each answer item or number used
    at most once; order is free."""
    elements = parse_gold_list(gold)
    if not elements:
        return score_string(gold, answer, question)
    numbers = answer_numbers(answer, question)
    items = _answer_items(answer)
    used_numbers: set[int] = set()
    used_items: set[int] = set()
    element_scores: list[float] = []
    strict_ok = True
    # numbers first, then strings; longer strings first so "Section 4.1" is not taken by "4"
    order = sorted(
        range(len(elements)), key=lambda i: (not _is_numeric(elements[i]), -len(elements[i]))
    )
    for i in order:
        element = elements[i]
        if _is_numeric(element):
            target = extract_quantities(element)[0]
            j = next(
                (
                    j
                    for j, q in enumerate(numbers)
                    if j not in used_numbers and numbers_equal(target, q, FLOAT_REL_TOL)
                ),
                None,
            )
            if j is None:
                element_scores.append(0.0)
                strict_ok = False
            else:
                used_numbers.add(j)
                element_scores.append(1.0)
            continue
        g = normalize_text(element)
        best, best_j, contained = 0.0, None, False
        for j, item in enumerate(items):
            if j in used_items:
                continue
            value = _similarity(g, item)
            if value > best:
                best, best_j = value, j
        if best_j is None and not _named_by(question, g):
            best_j = next(
                (j for j, item in enumerate(items) if j not in used_items and _contains(item, g)),
                None,
            )
            contained = best_j is not None
        if best_j is None:
            element_scores.append(0.0)
            strict_ok = False
        else:
            used_items.add(best_j)
            element_scores.append(1.0 if contained else best)
            strict_ok = strict_ok and not contained
    correct = all(s > 0.0 for s in element_scores)
    n_pred = len(items) if not all(_is_numeric(e) for e in elements) else len(numbers)
    strict = correct and strict_ok and n_pred == len(elements)
    return AnswerScore(
        score=min(element_scores) if correct else 0.0,
        correct=correct,
        strict=strict,
        method="list",
        extracted="; ".join(items),
    )


def score_free(gold: str, answer: str, question: str | None = None) -> AnswerScore:
    """A long free-form gold (FinanceBench, LaRA): a heuristic, see the module doc."""
    g = clean_gold(gold)
    gold_sentences = sentences(g) or [g]
    checks: list[bool] = []
    polarity = _yes_no(g)
    if polarity:
        checks.append(_yes_no(short_answer(answer)) == polarity)
    with_numbers = next(
        (s for s in gold_sentences if any(_key_number(q) for q in extract_quantities(s))), None
    )
    if with_numbers is not None:
        stated = answer_numbers(answer, question)
        for target in (q for q in extract_quantities(with_numbers) if _key_number(q)):
            checks.append(any(numbers_equal(target, q, FLOAT_REL_TOL) for q in stated))
    if not checks:
        gold_stems = content_stems(g)
        answer_stems = set(content_stems(strip_answer(answer)))
        recall = sum(s in answer_stems for s in gold_stems) / len(gold_stems) if gold_stems else 0
        checks.append(recall >= _FREE_RECALL)
    ok = all(checks)
    return AnswerScore(
        score=float(ok), correct=ok, strict=ok, method="free", extracted=short_answer(answer)
    )


def _key_number(q: Quantity) -> bool:
    return q.kind in (QuantityKind.amount, QuantityKind.percent)


def infer_answer_format(gold: str, unanswerable: bool = False) -> AnswerFormat:
    """A format for a gold that has none upstream: "None" when unanswerable, Int/Float for a
    single quantity ("$78,509 million." -> Int, "$4.68 billion." -> Float, "36%" -> Float), List
    for a list literal, Str for a short phrase (at most 8 words), else "Free".

    >>> [infer_answer_format(g) for g in ["140,473.", "$4.68 billion.", "PricewaterhouseCoopers LLP."]]
    ['Int', 'Float', 'Str']
    """
    if unanswerable or is_not_answerable(gold):
        return "None"
    g = clean_gold(gold)
    if g.startswith("[") and g.endswith("]"):
        return "List"
    qs = extract_quantities(g)
    if len(qs) == 1:
        rest = (g[: qs[0].start] + g[qs[0].end :]).strip(" .")
        if not re.search(r"[A-Za-z]{2,}", rest):
            q = qs[0]
            return "Int" if q.decimals == 0 and q.kind is not QuantityKind.percent else "Float"
    if len(g.split()) <= 8 and not qs:
        return "Str"
    return "Free"


def score_answer(
    gold: str,
    answer: str,
    answer_format: str,
    *,
    abstained: bool,
    unanswerable: bool | None = None,
    question: str | None = None,
) -> AnswerScore:
    """Score one answer by the gold's `answer_format` (see the module doc).

    `unanswerable` defaults to `answer_format == "None"` or a gold of "Not answerable";
    `question`, when given, lets the number search ignore the question's own references.

    >>> score_answer("Not answerable", "I could not find this.", "None", abstained=True).correct
    True
    """
    if unanswerable is None:
        unanswerable = answer_format == "None" or is_not_answerable(gold)
    if unanswerable or abstained:
        ok = unanswerable and abstained
        return AnswerScore(
            score=float(ok), correct=ok, strict=ok, method="abstention", extracted=""
        )
    if answer_format == "Int":
        return score_number(gold, answer, integer=True, question=question)
    if answer_format == "Float":
        return score_number(gold, answer, integer=False, question=question)
    if answer_format == "List":
        return score_list(gold, answer, question)
    if answer_format == "Free":
        return score_free(gold, answer, question)
    return score_string(gold, answer, question)


# --- aggregate metrics ------------------------------------------------------------------------


class AbstentionScores(BaseModel):
    """How well the system abstains: precision = share of its abstentions that were on
    unanswerable questions; recall = share of unanswerable questions it abstained on. None when
    undefined (no abstention, or no unanswerable question)."""

    precision: float | None
    recall: float | None
    f1: float | None
    abstained: int
    unanswerable: int
    true_abstentions: int


def abstention_scores(abstained: Sequence[bool], unanswerable: Sequence[bool]) -> AbstentionScores:
    """Abstention precision / recall over parallel sequences of per-question flags.

    >>> abstention_scores([True, True, False], [True, False, True]).model_dump()
    {'precision': 0.5, 'recall': 0.5, 'f1': 0.5, 'abstained': 2, 'unanswerable': 2, 'true_abstentions': 1}
    """
    if len(abstained) != len(unanswerable):
        raise ValueError("abstained and unanswerable differ in length")
    tp = sum(a and u for a, u in zip(abstained, unanswerable, strict=True))
    n_abs, n_un = sum(abstained), sum(unanswerable)
    precision = tp / n_abs if n_abs else None
    recall = tp / n_un if n_un else None
    f1 = (
        2 * precision * recall / (precision + recall)
        if precision is not None and recall is not None and precision + recall > 0
        else (0.0 if precision is not None and recall is not None else None)
    )
    return AbstentionScores(
        precision=precision,
        recall=recall,
        f1=f1,
        abstained=n_abs,
        unanswerable=n_un,
        true_abstentions=tp,
    )


def mmlongbench_f1(
    scores: Sequence[float], unanswerable: Sequence[bool], abstained: Sequence[bool]
) -> float | None:
    """MMLongBench-Doc's generalised F1: recall = summed score over answerable questions / their
    number; precision = the same sum / the number of questions the system answered (did not
    abstain on). None when there is no answerable question or no answer."""
    rows = list(zip(scores, unanswerable, abstained, strict=True))
    answerable = [s for s, u, _ in rows if not u]
    answered = sum(not a for _, _, a in rows)
    if not answerable or not answered:
        return None
    recall = sum(answerable) / len(answerable)
    precision = sum(answerable) / answered
    return 2 * recall * precision / (recall + precision) if recall + precision > 0 else 0.0


class _HasPages(Protocol):
    @property
    def page(self) -> int | None: ...
    @property
    def page_end(self) -> int | None: ...
    @property
    def path(self) -> str | None: ...


_MAX_SPAN = 50  # a passage never spans more pages than this; guards against bad page_end


def pages_of(items: Iterable[_HasPages], doc: str | None = None) -> list[int]:
    """The pages that citations or passages cover (`page..page_end`), unique, in order. With
    `doc`, only items whose `path` is that file (compared by name) or have no path count."""
    out: list[int] = []
    for item in items:
        if item.page is None:
            continue
        if doc is not None and item.path and _name(item.path) != _name(doc):
            continue
        end = item.page_end if item.page_end is not None else item.page
        end = min(max(end, item.page), item.page + _MAX_SPAN)
        for p in range(item.page, end + 1):
            if p not in out:
                out.append(p)
    return out


def _name(path: str) -> str:
    return re.split(r"[\\/]", path)[-1]


def page_recall_at_k(
    retrieved: Sequence[int], gold: Iterable[int], k: int | None = None
) -> float | None:
    """Share of the gold evidence pages among the first `k` distinct retrieved pages (all when
    `k` is None), in rank order. None when there are no gold pages (nothing to recall).

    >>> page_recall_at_k([5, 9, 2], [2, 7], k=3), page_recall_at_k([5, 9, 2], [2, 7], k=2)
    (0.5, 0.0)
    """
    gold_set = set(gold)
    if not gold_set:
        return None
    distinct: list[int] = []
    for p in retrieved:
        if p not in distinct:
            distinct.append(p)
    top = set(distinct if k is None else distinct[:k])
    return len(top & gold_set) / len(gold_set)


def citation_page_scores(
    cited: Iterable[int], gold: Iterable[int]
) -> tuple[float | None, float | None]:
    """(precision, recall) of the cited pages against the gold evidence pages: precision = share
    of distinct cited pages that are evidence pages (None when nothing is cited), recall = share
    of evidence pages cited (None when there are no gold pages).

    >>> citation_page_scores([3, 4], [4, 8])
    (0.5, 0.5)
    """
    cited_set, gold_set = set(cited), set(gold)
    if not gold_set:
        return (None, None)
    hit = len(cited_set & gold_set)
    precision = hit / len(cited_set) if cited_set else None
    return (precision, hit / len(gold_set))
