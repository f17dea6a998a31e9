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


def test_answer_format_instructions_are_left_out_of_the_search() -> None:
    from docqa.query import search_question

    cases = {
        "How many tables are in the report? Write the answer in integer format.": (
            "How many tables are in the report?"
        ),
        "What was revenue growth? Give your answer as a percentage, rounded to the nearest"
        " tenth.": "What was revenue growth?",
        "What is the net income? Answer in billions.": "What is the net income?",
        'List the segments, e.g., ["A", "B"] in the 2022 annual report.': (
            "List the segments in the 2022 annual report."
        ),
        "Is the company profitable? Directly answer 'yes' or 'no'.": ("Is the company profitable?"),
        "Which is larger, sales or costs? Answer 'Sales' or 'Costs'.": (
            "Which is larger, sales or costs? 'Sales' or 'Costs'."
        ),
    }
    for question, bare in cases.items():
        assert search_question(question) == bare


def test_a_question_without_instructions_or_all_instruction_is_kept_as_asked() -> None:
    from docqa.query import search_question

    for q in (
        "What is the format of the list in Table 3?",
        "How are numbers rounded in the  segment table?",
        "Answer in million.",
    ):
        assert search_question(q) == q
