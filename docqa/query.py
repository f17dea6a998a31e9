"""What retrieval reads of a question: its answer-format instructions left out
(`search_question`), and query expansion (`expand_query`), a financial metric's question
searched with the line items it is computed from.

"How many strategies are plotted ...? Write the answer in the list format, e.g., ["1","2"]"
asks the model for a form; the words "write", "answer", "list", "format" and the example
brackets say nothing of where the answer is, yet BM25 matches them, the embedder reads them
and the cross-encoder scores every passage against them. `search_question` removes the
instructions English questions use to ask for a form (a format, a rounding, a unit or scale
to answer in, the options to answer with, an example answer) and leaves the rest word for
word; the model still reads the question as asked.

"What is Best Buy's interest coverage ratio?" names a ratio no statement prints; the pages
that answer it are the income statement's "operating income" and "interest expense" lines. The
glossary below holds textbook definitions of common ratios and metrics (not tuned to any
document or question): a question that names one is searched (dense, BM25 and the reranker)
as the question plus the names of its components. Fiscal-year shorthands are spelled out the
way filings write them ("FY2023" -> "fiscal 2023").

Example:
    >>> search_question("How many tables are there? Write the answer in int format.")
    'How many tables are there?'
    >>> expand_query("What is the interest coverage ratio for FY2022?")
    'What is the interest coverage ratio for FY2022? (fiscal 2022; operating income, interest expense)'
    >>> expand_query("Who are Boeing's primary customers?")
    "Who are Boeing's primary customers?"
"""

from __future__ import annotations

import re

__all__ = ["GLOSSARY", "expand_query", "search_question"]

GLOSSARY: dict[str, tuple[str, ...]] = {
    "interest coverage": ("operating income", "interest expense"),
    "effective tax rate": ("provision for income taxes", "earnings before income taxes"),
    "gross margin": ("gross profit", "revenue", "cost of sales"),
    "operating margin": ("operating income", "revenue"),
    "net profit margin": ("net income", "revenue"),
    "net margin": ("net income", "revenue"),
    "ebitda": ("operating income", "depreciation and amortization"),
    "return on assets": ("net income", "total assets"),
    "return on equity": ("net income", "total shareholders' equity"),
    "return on average equity": ("net income", "total shareholders' equity"),
    "return on capital employed": ("operating income", "total assets", "current liabilities"),
    "return on invested capital": ("operating income", "total debt", "shareholders' equity"),
    "invested capital": ("total debt", "shareholders' equity", "long-term debt"),
    "current ratio": ("total current assets", "total current liabilities"),
    "quick ratio": ("cash and cash equivalents", "receivables", "total current liabilities"),
    "working capital": ("total current assets", "total current liabilities"),
    "debt to equity": ("long-term debt", "total shareholders' equity"),
    "debt-to-equity": ("long-term debt", "total shareholders' equity"),
    "total debt": ("long-term debt", "current portion of long-term debt"),
    "asset turnover": ("revenue", "total assets"),
    "inventory turnover": ("cost of sales", "merchandise inventories"),
    "days sales": ("receivables", "revenue"),
    "free cash flow": ("cash provided by operating activities", "capital expenditures"),
    "capital expenditure": ("property and equipment", "investing activities"),
    "capex": ("capital expenditures", "property and equipment", "investing activities"),
    "payout ratio": ("dividends", "net earnings"),
    "dividend payout": ("dividends", "net earnings"),
    "earnings per share": ("net earnings per share", "basic", "diluted"),
    "eps": ("earnings per share", "basic", "diluted"),
    "cash conversion": ("cash provided by operating activities", "net income"),
}
"""Metric (lower case, as a question may name it) -> the line items it is computed from."""

_FISCAL = re.compile(r"\bFY\s?'?(\d{2}|\d{4})\b", re.IGNORECASE)


def _fiscal_years(question: str) -> list[str]:
    years = []
    for m in _FISCAL.finditer(question):
        y = m.group(1)
        years.append(f"fiscal {'20' + y if len(y) == 2 else y}")
    return list(dict.fromkeys(years))


def expand_query(question: str) -> str:
    """`question` plus, in parentheses, fiscal years spelled out and the components of every
    glossary metric it names (each once); unchanged when there is nothing to add."""
    low = " ".join(question.lower().split())
    items: dict[str, None] = {}
    for metric, parts in GLOSSARY.items():
        if re.search(rf"\b{re.escape(metric)}\b", low):
            items.update(dict.fromkeys(p for p in parts if p not in low))
    extra = "; ".join(x for x in (", ".join(_fiscal_years(question)), ", ".join(items)) if x)
    return f"{question.rstrip()} ({extra})" if extra else question


_OPTION = r"[\"'‘“][^\"'’”]{1,40}[\"'’”]"
_FORMATS = r"(?:list|integer|int|float|decimal|number|numeric|string|str|json|percentage)"
_SCALES = r"(?:percent(?:age)?|millions?|billions?|thousands?|dollars?|us\s*\$|\$)"
_INSTRUCTIONS = [
    # an example answer in brackets: 'e.g., ["1","2"]', "for example [3000, 4000]"
    r",?\s*\b(?:e\.g\.|for\s+example|such\s+as)\s*[,:]?\s*\[[^\]]*\]",
    # "(Please) write the answer in the list format (and in descend order)"
    rf"\b(?:please\s+)?(?:write|give|put|provide|return|present|format)\s+(?:the\s+|your\s+)?"
    rf"answers?\s+(?:in|into|as)\s+(?:an?\s+|the\s+)?{_FORMATS}(?:\s+(?:format|form|terms?))?"
    r"(?:\s+and\s+in\s+(?:descend|ascend)(?:ing)?\s+order)?",
    # "Answer in percentage term(s)", "Answer in million"
    rf"\b(?:please\s+)?answer\s+in\s+{_SCALES}(?:\s+terms?)?",
    # "Answer with a list of two number(s) for boundary"
    r"\b(?:please\s+)?answer\s+with\s+an?\s+(?:list|number|integer|float)\b[^,.;?!\[]*",
    # "in int format", "in the list format", "in float format"
    rf"\b(?:in|into|as)\s+(?:an?\s+|the\s+)?{_FORMATS}\s+format\b",
    # "round your answer to three decimal places", "round to 2 decimal places"
    r"\b(?:and\s+)?round(?:ed)?\s+(?:off\s+)?(?:your\s+|the\s+)?(?:answer\s+|result\s+)?"
    r"to\s+(?:the\s+nearest\s+\w+|(?:\w+\s+)?decimals?(?:\s+places?)?|\w+\s+"
    r"(?:digits?|places?|significant\s+figures?))",
    # "Directly answer 'yes' or 'no'" (the words only: named options stay)
    r"\b(?:directly\s+)?answer\s+(?:with\s+)?[\"'‘“]yes[\"'’”]\s+or\s+[\"'‘“]no[\"'’”]",
    rf"\b(?:directly\s+)?answer\s+(?:with\s+)?(?={_OPTION}\s+or\s+{_OPTION})",
]
_INSTRUCTION = re.compile("|".join(f"(?:{p})" for p in _INSTRUCTIONS), re.IGNORECASE)
_LEFTOVER = re.compile(r"\s*[,;:]?\s*([.?!])(?:\s*[.,;:])+|\s+([,.;:?!])")
_MIN_WORDS = 3


def search_question(question: str) -> str:
    """`question` without its answer-format instructions (module docstring), for the search
    and the reranker; `question` itself when nothing is removed or fewer than three words
    would be left."""
    bare = _INSTRUCTION.sub(" ", question)
    if bare == question:
        return question
    bare = " ".join(bare.split())
    bare = _LEFTOVER.sub(lambda m: m.group(1) or m.group(2), bare)
    bare = re.sub(r"([.?!])(?:\s*[.?!,;:])+", r"\1", bare).strip(" ,;:")
    return bare if len(re.findall(r"\w+", bare)) >= _MIN_WORDS else question
