from __future__ import annotations

import pytest

from docqa.citations.numbers import (
    QuantityKind,
    extract_quantities,
    ground_numbers,
    is_distinctive,
)


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("$1,577 million", QuantityKind.amount, 1_577_000_000.0),
        ("1.577 billion", QuantityKind.amount, 1_577_000_000.0),
        ("1577.00", QuantityKind.amount, 1577.0),
        ("$1.8 bn", QuantityKind.amount, 1_800_000_000.0),
        ("$500M", QuantityKind.amount, 500_000_000.0),
        ("(1,234)", QuantityKind.amount, -1234.0),
        ("$ (1,234)", QuantityKind.amount, -1234.0),
        ("-1,234", QuantityKind.amount, -1234.0),
        ("12.5%", QuantityKind.percent, 12.5),
        ("12.5 percent", QuantityKind.percent, 12.5),
        ("(5.2)%", QuantityKind.percent, -5.2),
        ("-14.76%", QuantityKind.percent, -14.76),
        ("50 bps", QuantityKind.percent, 0.5),
        ("in 2023", QuantityKind.year, 2023.0),
        ("FY23", QuantityKind.year, 2023.0),
        ("$2,023", QuantityKind.amount, 2023.0),
        ("2,023", QuantityKind.amount, 2023.0),
        ("the fiscal year (2024)", QuantityKind.year, 2024.0),
        ("(2,024)", QuantityKind.amount, -2024.0),
        ("$(2024)", QuantityKind.amount, -2024.0),
        ("(1850)", QuantityKind.amount, -1850.0),
    ],
)
def test_extract_one(text: str, kind: QuantityKind, value: float) -> None:
    (q,) = extract_quantities(text)
    assert (q.kind, q.value) == (kind, value)


def test_extract_dates() -> None:
    qs = extract_quantities("As of Jan. 28, 2023, 2023-01-28, 1/28/2023 and March 2022")
    assert [(q.kind, q.date) for q in qs] == [
        (QuantityKind.date, (2023, 1, 28)),
        (QuantityKind.date, (2023, 1, 28)),
        (QuantityKind.date, (2023, 1, 28)),
        (QuantityKind.date, (2022, 3, None)),
    ]


def test_identifiers_ordinals_and_enumerators_are_not_numbers() -> None:
    text = "COVID-19 hit the 10-K, the 777X, the 3rd quarter, the 1990s, (1) Alpha and (2) Beta"
    assert extract_quantities(text) == []


def test_table_cells_split_across_lines() -> None:
    qs = extract_quantities("Revenue\n$\n 46,298  \n \n$\n 51,761\n (34) ")
    assert [(q.value, q.currency) for q in qs] == [(46298.0, "$"), (51761.0, "$"), (-34.0, None)]


def _grounded(sentence: str, passage: str) -> bool:
    g = ground_numbers(sentence, [passage])
    assert g.total >= 1
    return g.all_grounded


@pytest.mark.parametrize(
    ("sentence", "passage"),
    [
        ("Capex was $1,577 million.", "capital expenditures of 1.577 billion"),
        ("Capex was 1.577 billion.", "Capital expenditures $1,577 million"),
        ("Capex was $1,577 million.", "(in millions) Capital expenditures 1577.00"),
        ("Capex was $1.577 billion.", "(in millions) Capital expenditures 1,577"),
        ("Capex was $1.6 billion.", "Capital expenditures 1,577 million"),
        ("Capex was $1.58 billion.", "Capital expenditures 1,577 million"),
        ("The loss was (1,234).", "net loss of -1,234"),
        ("The loss was -1,234.", "Net loss (1,234)"),
        ("Margin was 12.5%.", "a margin of 12.5 percent"),
        ("Margin was 12.5%.", "a margin of 12.46%"),
        ("41 percent do not go online.", "Do not go online 41"),
        ("Revenue fell in FY2023.", "Fiscal 2023 revenue"),
        ("As of December 31, 2022 it had cash.", "December 31, 2023 and 2022"),
        ("Cash at Jan. 28, 2023 was high.", "January 28, 2023"),
    ],
)
def test_same_number_in_another_format_is_grounded(sentence: str, passage: str) -> None:
    assert _grounded(sentence, passage)


@pytest.mark.parametrize(
    ("sentence", "passage"),
    [
        # one digit changed
        ("Capex was $1,578 million.", "Capital expenditures 1,577"),
        ("Capex was $1,677 million.", "Capital expenditures 1.577 billion"),
        ("Capex was $1.7 billion.", "Capital expenditures 1,577 million"),
        ("Margin was 13.5%.", "a margin of 12.5 percent"),
        # the sentence claims more precision than the passage gives
        ("Capex was $1,577 million.", "Capital expenditures of $1.6 billion"),
        # a written scale is binding
        ("Capex was $1,577 thousand.", "Capital expenditures $1,577 million"),
        # years are not amounts, amounts are not years
        ("Revenue grew in 2023.", "Revenue of $2,023"),
        ("Revenue was $2,023.", "Revenue grew in 2023"),
        ("Revenue grew in 2021.", "Revenue grew in 2023 and 2022"),
        # percentages are not currency
        ("Margin was 41%.", "a fee of $41"),
        ("As of December 31, 2022 it had cash.", "December 31, 2021"),
    ],
)
def test_different_number_is_not_grounded(sentence: str, passage: str) -> None:
    assert not _grounded(sentence, passage)


def test_grounding_reports_each_number() -> None:
    g = ground_numbers(
        "In fiscal 2023 revenue was $46.3 billion and 978 stores were open, up 5.5%.",
        ["Fiscal 2023: revenue $46,298 million", "Domestic stores: 978"],
    )
    assert [q.text for q in g.grounded_quantities] == ["2023", "$46.3 billion", "978"]
    assert [q.text for q in g.ungrounded] == ["5.5%"]
    assert [m.passage for m in g.matches] == [0, 0, 1]
    assert g.matches[1].source.text == "$46,298 million"


def test_accept_hook_can_refuse_a_candidate() -> None:
    g = ground_numbers("It was 5.", ["page 5 ... 5 units"], accept=lambda m: m.source.start > 5)
    assert g.matches[0].source.start == 11


def test_distinctive_numbers() -> None:
    qs = extract_quantities("1,874 72.3% 3.3 5 42% $2 billion 0.5%")
    assert [is_distinctive(q) for q in qs] == [True, True, True, False, False, False, False]
