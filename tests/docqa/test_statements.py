"""`docqa.statements.statement_title`: which pages hold a primary financial statement."""

from __future__ import annotations

import pytest

from docqa.statements import MIN_NUMBERS, statement_title

FIGURES = "\n".join(f"Line item {i} {1000 + i:,} {2000 + i:,}" for i in range(MIN_NUMBERS // 2))


@pytest.mark.parametrize(
    "title",
    [
        "Consolidated Balance Sheets",
        "Balance Sheet",
        "Consolidated Statements of Operations",
        "CONSOLIDATED STATEMENTS OF EARNINGS",
        "Consolidated Statement of Financial Position",
        "Consolidated Statements of Comprehensive Income (Loss)",
        "Consolidated Statements of Cash Flows",
        "Consolidated Statements of Changes in Shareholders' Equity",
        "Statements of Stockholders’ Equity (Deficit)",
        "Combined Statements of Income",
        "Consolidated Statements of Cash Flows (Continued)",
        "Consolidated Statements of Cash Flows — continued",
        "Condensed Consolidated Balance Sheets (Unaudited)",
    ],
)
def test_a_statement_title_under_a_running_header_names_the_page(title: str) -> None:
    text = f"Table of Contents\nThe Company, Inc.\n{title}\n($ in millions)\n{FIGURES}"
    assert statement_title(text) == title


@pytest.mark.parametrize(
    "text",
    [
        # the index of the statements: titles with page numbers, few figures
        "Index to Financial Statements\nConsolidated Balance Sheets 39\n"
        "Consolidated Statements of Earnings 40\nConsolidated Statements of Cash Flows 42",
        # a statement's title with too few figures on the page
        "Consolidated Balance Sheets\nSee the notes.\n1 2 3",
        # the title inside prose, on a page full of figures
        "Note 4. Goodwill\nThe consolidated balance sheets include goodwill as follows.\n"
        + FIGURES,
        # a title below the first lines of the page
        "\n".join(f"Paragraph {i} of the notes." for i in range(10))
        + "\nConsolidated Balance Sheets\n"
        + FIGURES,
        # not a primary statement
        "Statements of Work\n" + FIGURES,
    ],
)
def test_other_pages_are_not_statements(text: str) -> None:
    assert statement_title(text) is None
