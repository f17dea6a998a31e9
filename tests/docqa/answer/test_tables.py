"""Markdown tables as the prompt shows them: signs joined to their figures, and a table piece's
lead."""

from __future__ import annotations

from docqa.answer.prompts import numbered_passages, rag_messages
from docqa.answer.tables import aligned_tables, table_lead
from docqa.types import Passage

# the parser's Markdown of a 10-K balance sheet: "$" in columns of its own, the periods over them
STATEMENT = "\n".join(
    [
        "|  | January 28, 2023 |  | January 29, 2022 |  |",
        "|---|---|---|---|---|",
        "| Cash and cash equivalents | $ | 1,874 | $ | 2,936 |",
        "| Receivables, net |  | 1,141 |  | 1,042 |",
    ]
)


def _words(text: str) -> int:
    return len(text.split())


def test_sign_columns_join_their_figures_and_the_periods_move_over_them() -> None:
    assert aligned_tables(STATEMENT).splitlines() == [
        "|  | January 28, 2023 | January 29, 2022 |",
        "|---|---|---|",
        "| Cash and cash equivalents | $1,874 | $2,936 |",
        "| Receivables, net | 1,141 | 1,042 |",
    ]


def test_a_percent_column_joins_the_figure_before_it() -> None:
    table = "| Margin | 2023 |  |\n|---|---|---|\n| Gross | 21.4 | % |\n| Operating | 3.9 | % |"
    assert aligned_tables(table).splitlines() == [
        "| Margin | 2023 |",
        "|---|---|",
        "| Gross | 21.4% |",
        "| Operating | 3.9% |",
    ]


def test_text_around_a_table_and_tables_without_sign_columns_are_unchanged() -> None:
    plain = "| Year | Revenue |\n|---|---|\n| 2024 | $503.8 |"
    assert aligned_tables(plain) == plain
    text = f"Consolidated Balance Sheets\n{STATEMENT}\nSee the notes."
    out = aligned_tables(text)
    assert out.startswith("Consolidated Balance Sheets\n|  | January 28, 2023 | January 29")
    assert out.endswith("| $1,874 | $2,936 |\n| Receivables, net | 1,141 | 1,042 |\nSee the notes.")
    assert aligned_tables("Revenue rose 5% to $12.") == "Revenue rose 5% to $12."


def test_rows_that_do_not_make_a_whole_table_are_left_as_they_are() -> None:
    ragged = "| a | $ | 1 |\n|---|---|---|\n| b | $ | 2 | 3 |"  # a row of another width
    assert aligned_tables(ragged) == ragged
    no_separator = "| a | $ | 1 |\n| b | $ | 2 |"
    assert aligned_tables(no_separator) == no_separator
    escaped = "| a \\| b | $ | 1 |\n|---|---|---|\n| c | $ | 2 |"  # "\|" is inside a cell
    assert aligned_tables(escaped).splitlines()[2] == "| c | $2 |"


def test_table_lead_takes_the_short_blocks_just_above_the_table() -> None:
    page = (
        "Item 8. Financial Statements\n\nA long paragraph " + "word " * 60 + "\n\n"
        "Consolidated Balance Sheets\n$ in millions\n\n" + STATEMENT + "\n\n39"
    )
    piece = STATEMENT.splitlines()
    lead = table_lead(page, "\n".join([*piece[:2], piece[3]]), _words)  # a later piece
    assert lead == "Consolidated Balance Sheets\n$ in millions"  # the long paragraph is not
    assert table_lead(page, "| not | on this page |", _words) is None
    assert table_lead(STATEMENT, STATEMENT, _words) is None  # nothing above it
    two = "Balance Sheets\n\n$ in millions\n\n" + STATEMENT
    assert table_lead(two, STATEMENT, _words) == "Balance Sheets\n$ in millions"
    after_table = "| x | y |\n|---|---|\n\n" + STATEMENT
    assert table_lead(after_table, STATEMENT, _words) is None  # another table is no lead


def test_the_prompt_shows_the_lead_and_the_aligned_table_but_the_passage_keeps_its_text() -> None:
    p = Passage(n=1, text=STATEMENT, page=39, path="/x/10k.pdf", lead="Balance Sheets")
    shown = numbered_passages([p], align_tables=True)
    assert shown.startswith("[1] (10k.pdf, p. 39)\nBalance Sheets\n|  | January 28, 2023 |")
    assert "| Cash and cash equivalents | $1,874 | $2,936 |" in shown
    assert p.text == STATEMENT  # what the citation checker reads
    parsed = rag_messages("Cash?", [p.model_copy(update={"lead": None})])[1].content
    assert STATEMENT in parsed  # the default shows the parser's Markdown
