"""Numeric grounding: every quantity a sentence states must be found in the cited text.

Quantities are read with their format, unit and scale: "$1,577 million", "1.577 billion",
"$1.6bn", "12.5%", "12.5 percent", "(1,234)" (an accounting negative), "-1,234", years, dates.

A sentence quantity is grounded when some passage quantity of a compatible kind has the same
value, where:

- scale is free for a number written without one: tables print "1,577" under an "In millions"
  header the chunk may not include, and answers drop the scale the question implied ("Answer in
  millions: 1874"). A bare number may therefore be read as units, thousands, millions or billions;
  a number written with a scale is read at that scale only ("$1,578 million" never equals 1,577).
- rounding follows the sentence: "$1.6 billion" is grounded by 1,577 million because 1.577
  rounds to 1.6 at the sentence's precision (half a unit of its last digit). The reverse is not
  true: "$1,577 million" is not grounded by a passage that only says "$1.6 billion".
- sign is ignored: text states it in words as often as in signs ("a loss of $1,234" for "(1,234)").
- kinds: a year (a bare integer 1900-2100, or "FY2023", "FY23") only matches a year or a date's year,
  never an amount: "$2,023" is not 2023. Percentages match percentages or bare numbers ("41" in a
  table whose column says %), never currency amounts. Dates match dates, or their parts on the page
  ("December 31, 2023" in a sentence, "December 31," and "2023" in a table header).

Example:
    >>> g = ground_numbers("Capex was $1.6 billion in FY2018.", ["Capital spending (1,577) 2018"])
    >>> [q.text for q in g.grounded_quantities], [q.text for q in g.ungrounded]
    (['$1.6 billion', 'FY2018'], [])
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache

__all__ = [
    "NumberGrounding",
    "NumberMatch",
    "Quantity",
    "QuantityKind",
    "extract_quantities",
    "ground_numbers",
    "is_distinctive",
    "quantities_match",
]


class QuantityKind(StrEnum):
    amount = "amount"
    """Any number that is not a year, percentage or date (money, counts, ratios, identifiers)."""
    percent = "percent"
    year = "year"
    date = "date"


@dataclass(frozen=True)
class Quantity:
    text: str
    start: int
    end: int
    kind: QuantityKind
    mantissa: float
    """The number as written, unsigned, without its scale ("1.577" in "$1.577 billion")."""
    decimals: int
    """Digits written after the decimal point: the precision the writer claims."""
    scale: float | None = None
    """Written scale (1e3, 1e6, 1e9, 1e12); None when none is written."""
    negative: bool = False
    currency: str | None = None
    date: tuple[int | None, int, int | None] | None = None
    """(year, month, day) for dates; year or day may be missing ("March 2023", "December 31")."""

    @property
    def value(self) -> float:
        """Signed value at the written scale (units when no scale is written)."""
        v = self.mantissa * (self.scale or 1.0)
        return -v if self.negative else v


@dataclass(frozen=True)
class NumberMatch:
    claim: Quantity
    source: Quantity
    passage: int
    """Index of the source text in the list given to `ground_numbers`."""


@dataclass(frozen=True)
class NumberGrounding:
    matches: list[NumberMatch] = field(default_factory=list)
    ungrounded: list[Quantity] = field(default_factory=list)

    @property
    def grounded_quantities(self) -> list[Quantity]:
        return [m.claim for m in self.matches]

    @property
    def total(self) -> int:
        return len(self.matches) + len(self.ungrounded)

    @property
    def all_grounded(self) -> bool:
        return not self.ungrounded


_SCALE_WORDS: dict[str, float] = {
    "thousand": 1e3,
    "thousands": 1e3,
    "million": 1e6,
    "millions": 1e6,
    "mn": 1e6,
    "mln": 1e6,
    "mm": 1e6,
    "billion": 1e9,
    "billions": 1e9,
    "bn": 1e9,
    "bln": 1e9,
    "trillion": 1e12,
    "trillions": 1e12,
    "tn": 1e12,
}
# single letters only count when glued to the number ("$1.5B", "500M", "20k")
_GLUED_SCALES: dict[str, float] = {"k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}
_FREE_SCALES = (1.0, 1e3, 1e6, 1e9, 1e12)

_MONTHS: dict[str, int] = {
    "january": 1,
    "february": 2,
    "march": 3,
    "april": 4,
    "may": 5,
    "june": 6,
    "july": 7,
    "august": 8,
    "september": 9,
    "october": 10,
    "november": 11,
    "december": 12,
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "sept": 9,
    "oct": 10,
    "nov": 11,
    "dec": 12,
}
# capitalised only: "may" the verb is not a month
_MONTH_RE = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December"
    r"|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)\.?"
)
_DAY_RE = r"(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?"
_DATE_PATTERNS: list[re.Pattern[str]] = [
    re.compile(rf"\b(?P<month>{_MONTH_RE})\s+(?P<day>{_DAY_RE}),?\s+(?P<year>(?:19|20)\d\d)\b"),
    re.compile(rf"\b(?P<day>{_DAY_RE})\s+(?P<month>{_MONTH_RE}),?\s+(?P<year>(?:19|20)\d\d)\b"),
    re.compile(r"\b(?P<year>(?:19|20)\d\d)-(?P<mnum>0[1-9]|1[0-2])-(?P<day>[0-2]\d|3[01])\b"),
    re.compile(
        r"\b(?P<mnum>0?[1-9]|1[0-2])/(?P<day>0?[1-9]|[12]\d|3[01])/(?P<year>(?:19|20)\d\d)\b"
    ),
    re.compile(rf"\b(?P<month>{_MONTH_RE})\s+(?P<year>(?:19|20)\d\d)\b"),
    re.compile(rf"\b(?P<month>{_MONTH_RE})\s+(?P<day>{_DAY_RE})\b(?![,.]?\d)"),
]
_FISCAL_YEAR = re.compile(r"\bFY\s?'?(?P<y>(?:19|20)\d\d|\d\d)\b", re.IGNORECASE)
_NUMBER = re.compile(r"(?<![\w.])(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)")
_CURRENCY_BEFORE = re.compile(r"(US\$|C\$|A\$|\$|€|£|¥|USD|EUR|GBP|JPY)\s*[-−]?\s*\(?\s*$")
_PERCENT_AFTER = re.compile(
    r"\s*(?:%|percent\b|per\s+cent\b|pct\b|percentage\s+points?\b|ppts?\b|pp\b)", re.IGNORECASE
)
_BPS_AFTER = re.compile(r"\s*(?:bps\b|basis\s+points?\b)", re.IGNORECASE)
_SCALE_AFTER = re.compile(
    r"\s*(thousands?|millions?|billions?|trillions?|mn|mln|mm|bn|bln|tn)\b", re.IGNORECASE
)
_GLUED_AFTER = re.compile(r"([kKmMbBtT])(?![A-Za-z])")
_BAD_AFTER = re.compile(r"(?:[A-Za-z]|-[A-Za-z])")


def _date_quantities(text: str) -> list[Quantity]:
    found: list[Quantity] = []
    taken: list[tuple[int, int]] = []
    for pat in _DATE_PATTERNS:
        for m in pat.finditer(text):
            if any(m.start() < e and s < m.end() for s, e in taken):
                continue
            gd = m.groupdict()
            month = _MONTHS[gd["month"].rstrip(".").lower()] if gd.get("month") else int(gd["mnum"])
            day_s = gd.get("day")
            day = int(re.sub(r"\D", "", day_s)) if day_s else None
            year = int(gd["year"]) if gd.get("year") else None
            taken.append((m.start(), m.end()))
            found.append(
                Quantity(
                    text=m.group(0),
                    start=m.start(),
                    end=m.end(),
                    kind=QuantityKind.date,
                    mantissa=float(year or 0),
                    decimals=0,
                    date=(year, month, day),
                )
            )
    return found


def _is_year(raw: str, q_currency: str | None, scale: float | None, percent: bool) -> bool:
    return (
        len(raw) == 4
        and raw.isdigit()
        and 1900 <= int(raw) <= 2100
        and q_currency is None
        and scale is None
        and not percent
    )


@lru_cache(maxsize=4096)
def _extract(text: str) -> tuple[Quantity, ...]:
    out = _date_quantities(text)
    taken = [(q.start, q.end) for q in out]

    def free(s: int, e: int) -> bool:
        return not any(s < te and ts < e for ts, te in taken)

    for m in _FISCAL_YEAR.finditer(text):
        if not free(m.start(), m.end()):
            continue
        y = m.group("y")
        year = int(y) if len(y) == 4 else 2000 + int(y)
        taken.append((m.start(), m.end()))
        out.append(Quantity(m.group(0), m.start(), m.end(), QuantityKind.year, float(year), 0))

    for m in _NUMBER.finditer(text):
        s, e = m.start(), m.end()
        if not free(s, e):
            continue
        raw = m.group(0)
        before = text[max(0, s - 12) : s]
        # "COVID-19", "S-1": a hyphen glued to a word is part of a name
        if s >= 2 and text[s - 1] == "-" and text[s - 2].isalpha():
            continue
        rest = text[e : e + 40]
        percent = False
        bps = False
        scale: float | None = None
        end = e
        if pm := _PERCENT_AFTER.match(rest):
            percent = True
            end = e + pm.end()
        elif bm := _BPS_AFTER.match(rest):
            percent = bps = True
            end = e + bm.end()
        elif sm := _SCALE_AFTER.match(rest):
            scale = _SCALE_WORDS[sm.group(1).lower()]
            end = e + sm.end()
        elif gm := _GLUED_AFTER.match(rest):
            scale = _GLUED_SCALES[gm.group(1).lower()]
            end = e + gm.end()
        elif rest[:1] == "x" and not rest[1:2].isalpha():
            end = e + 1
        elif _BAD_AFTER.match(rest):
            # "777X", "3rd", "10-K", "1990s", "10-year": identifiers and ordinals, not amounts
            continue
        cur = _CURRENCY_BEFORE.search(before)
        currency = cur.group(1) if cur else None
        qstart = s - (len(before) - cur.start()) if cur else s
        negative = False
        lead = text[:s].rstrip(" $€£¥")
        if lead.endswith(("-", "−")) and (len(lead) < 2 or not lead[-2].isalnum()):
            negative = True
            qstart = min(qstart, len(lead) - 1)
        paren = re.search(r"\(\s*(?:US\$|\$|€|£)?\s*$", before)
        close = re.match(r"\s*%?\s*\)(\s*%)?", text[end:])
        if paren and close:
            after = text[end + close.end() :].lstrip(" ")
            if (
                currency is None
                and "." not in raw
                and len(raw) <= 2
                and not close.group(1)
                and after[:1].isalpha()
            ):
                continue  # "(1) Current Health and (2) Yardbird": an enumerator
            if not _is_year(raw, currency, scale, percent or "%" in close.group(0)):
                # "(1,234)": an accounting negative; "(2024)" stays a year
                negative = True
                qstart = min(qstart, s - (len(before) - paren.start()))
                end = end + close.end()
                percent = percent or "%" in close.group(0)
        digits = raw.replace(",", "")
        mantissa = float(digits)
        decimals = len(digits.split(".")[1]) if "." in digits else 0
        if bps:
            mantissa /= 100.0
            decimals += 2
        if _is_year(raw, currency, scale, percent) and not negative:
            kind = QuantityKind.year
        elif percent:
            kind = QuantityKind.percent
        else:
            kind = QuantityKind.amount
        taken.append((qstart, end))
        out.append(
            Quantity(
                text=text[qstart:end].strip(),
                start=qstart,
                end=end,
                kind=kind,
                mantissa=mantissa,
                decimals=decimals,
                scale=scale,
                negative=negative,
                currency=currency,
            )
        )
    out.sort(key=lambda q: q.start)
    return tuple(out)


def extract_quantities(text: str) -> list[Quantity]:
    """Every quantity in `text`, in order.

    >>> [(q.kind.value, q.value) for q in extract_quantities("Loss of (1,234) or $1.5bn, 12.5% in 2023")]
    [('amount', -1234.0), ('amount', 1500000000.0), ('percent', 12.5), ('year', 2023.0)]
    """
    return list(_extract(text))


def _candidates(q: Quantity) -> list[tuple[float, float]]:
    """(absolute value, scale used) pairs a quantity may stand for."""
    if q.scale is not None:
        return [(q.mantissa * q.scale, q.scale)]
    return [(q.mantissa * c, c) for c in _FREE_SCALES]


def _values_match(claim: Quantity, source: Quantity) -> bool:
    for cv, cs in _candidates(claim):
        tol = 0.5 * 10.0 ** (-claim.decimals) * cs
        tol += 1e-9 * max(abs(cv), 1.0)
        for sv, _ in _candidates(source):
            if abs(cv - sv) <= tol:
                return True
    return False


def _kinds_compatible(claim: Quantity, source: Quantity) -> bool:
    ck, sk = claim.kind, source.kind
    if ck is QuantityKind.amount:
        if sk is QuantityKind.amount:
            return not (claim.currency and source.currency and _cur(claim) != _cur(source))
        # a bare number in the sentence may be a percentage the table states as "41%"
        return sk is QuantityKind.percent and claim.currency is None and claim.scale is None
    if ck is QuantityKind.percent:
        if sk is QuantityKind.percent:
            return True
        return sk is QuantityKind.amount and source.currency is None and source.scale is None
    return False


def _cur(q: Quantity) -> str:
    return {"US$": "$", "USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}.get(
        q.currency or "", q.currency or ""
    )


def quantities_match(claim: Quantity, source: Quantity) -> bool:
    """True when `source` (from a passage) states the quantity `claim` (from a sentence) states."""
    if claim.kind is QuantityKind.year:
        if source.kind is QuantityKind.year:
            return claim.mantissa == source.mantissa
        return (
            source.kind is QuantityKind.date
            and source.date is not None
            and (source.date[0] == int(claim.mantissa))
        )
    if claim.kind is QuantityKind.date:
        if source.kind is not QuantityKind.date or source.date is None or claim.date is None:
            return False
        cy, cm, cd = claim.date
        sy, sm, sd = source.date
        return cm == sm and (cd is None or cd == sd) and (cy is None or cy == sy)
    if not _kinds_compatible(claim, source):
        return False
    return _values_match(claim, source)


def _date_from_parts(
    claim: Quantity, sources: Sequence[Sequence[Quantity]]
) -> tuple[int, Quantity] | None:
    """A date the passages state in pieces: "December 31," and "2023" apart in a table header."""
    assert claim.date is not None
    cy, cm, cd = claim.date
    for i, qs in enumerate(sources):
        year_ok = cy is None or any(
            (q.kind is QuantityKind.year and q.mantissa == cy)
            or (q.kind is QuantityKind.date and q.date is not None and q.date[0] == cy)
            for q in qs
        )
        if not year_ok:
            continue
        for q in qs:
            if (
                q.kind is QuantityKind.date
                and q.date is not None
                and q.date[1] == cm
                and (cd is None or q.date[2] == cd)
            ):
                return i, q
    return None


def ground_numbers(
    sentence: str,
    passages: Sequence[str],
    accept: Callable[[NumberMatch], bool] | None = None,
) -> NumberGrounding:
    """Which quantities of `sentence` some passage states (see the module doc for the rules).

    `accept` can refuse a candidate match (e.g. one far from the sentence's other words); the
    next candidate is tried.
    """
    claims = _extract(sentence)
    sources = [_extract(t) for t in passages]
    matches: list[NumberMatch] = []
    ungrounded: list[Quantity] = []
    for c in claims:
        found: NumberMatch | None = None
        for i, qs in enumerate(sources):
            for q in qs:
                if quantities_match(c, q):
                    cand = NumberMatch(c, q, i)
                    if accept is None or accept(cand):
                        found = cand
                        break
            if found:
                break
        if found is None and c.kind is QuantityKind.date:
            parts = _date_from_parts(c, sources)
            if parts is not None:
                found = NumberMatch(c, parts[1], parts[0])
        if found:
            matches.append(found)
        else:
            ungrounded.append(c)
    return NumberGrounding(matches=matches, ungrounded=ungrounded)


def is_distinctive(q: Quantity) -> bool:
    """A number unlikely to be on a page by chance: three significant digits ("1,874", "72.3%")
    or two with a decimal point ("3.3", "6.31"); not "5", "42%" or "$2 billion"."""
    digits = re.sub(r"\D", "", f"{q.mantissa:.{q.decimals}f}").lstrip("0")
    return len(digits) >= 3 or (q.decimals > 0 and len(digits) >= 2)
