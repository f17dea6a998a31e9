"""Query expansion: fiscal years and a metric's line items, nothing else."""

from __future__ import annotations

from docqa.query import expand_query


def test_a_named_metric_brings_its_line_items_once_and_skips_what_is_said() -> None:
    q = "What is the current ratio and the working capital of Acme?"
    out = expand_query(q)
    assert out.startswith(q)
    assert out.count("total current assets") == 1
    assert "total current liabilities" in out
    said = expand_query("Operating margin: operating income over revenue?")
    assert said == "Operating margin: operating income over revenue?"


def test_fiscal_year_shorthands_are_spelled_out() -> None:
    assert expand_query("Revenue in FY23 vs FY 2022?").endswith("(fiscal 2023, fiscal 2022)")


def test_words_inside_other_words_do_not_match() -> None:
    assert expand_query("Who reps the company?") == "Who reps the company?"
    assert expand_query("What is Acme's capexity?") == "What is Acme's capexity?"
