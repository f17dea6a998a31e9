"""Query expansion for retrieval: a financial metric's question searched with the line items
it is computed from.

"What is Best Buy's interest coverage ratio?" names a ratio no statement prints; the pages
that answer it are the income statement's "operating income" and "interest expense" lines. The
glossary below holds textbook definitions of common ratios and metrics (not tuned to any
document or question): a question that names one is searched (dense, BM25 and the reranker)
as the question plus the names of its components. Fiscal-year shorthands are spelled out the
way filings write them ("FY2023" -> "fiscal 2023").

Example:
    >>> expand_query("What is the interest coverage ratio for FY2022?")
    'What is the interest coverage ratio for FY2022? (fiscal 2022; operating income, interest expense)'
    >>> expand_query("Who are Boeing's primary customers?")
    "Who are Boeing's primary customers?"
"""

from __future__ import annotations

import re

__all__ = ["GLOSSARY", "expand_query"]

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
