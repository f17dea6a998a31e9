from __future__ import annotations

from docqa.citations.terms import ground_terms

PASSAGE = (
    "[1] (northwind_annual_report_2024.pdf, p. 1)\n"
    "Revenue rose 10.7% to $503.8 million, driven by the Greyhaven distribution centre."
)


def test_names_and_figures_of_the_passages_are_grounded() -> None:
    g = ground_terms(
        "Revenue at the Greyhaven centre rose 10.7% to $503.8 million [1].", "Revenue?", [PASSAGE]
    )
    assert g.terms == ["Greyhaven", "10.7%", "$503.8 million"]
    assert g.ungrounded == [] and g.ungrounded_share == 0.0


def test_invented_names_and_figures_are_ungrounded() -> None:
    g = ground_terms(
        "The accounts were audited by Harbor & Lane, who charged $1.9 million [1][2].",
        "Who audited the accounts?",
        [PASSAGE],
    )
    assert g.ungrounded == ["Harbor & Lane", "$1.9 million"] == g.terms
    assert g.ungrounded_share == 1.0


def test_what_the_question_states_is_not_a_term() -> None:
    question = "What did the Kestrel programme cost Northwind in 2023?"
    answer = "The Kestrel programme cost Northwind $2.4 million in 2023 [1]."
    g = ground_terms(answer, question, [PASSAGE])
    assert g.terms == ["$2.4 million"] and g.ungrounded == ["$2.4 million"]
    # asked about something else, the answer's names are its own, and one is made up
    g = ground_terms(answer, "What did the programme cost?", [PASSAGE])
    assert g.terms == ["Kestrel", "Northwind", "$2.4 million", "2023"]
    # "Northwind" is in the passage's label (its file name); the passage's year is 2024
    assert g.ungrounded == ["Kestrel", "$2.4 million", "2023"]


def test_a_derived_figure_is_ungrounded_beside_the_quoted_ones() -> None:
    g = ground_terms(
        "Revenue of $503.8 million was 48.7 million more than a year before.", "Growth?", [PASSAGE]
    )
    assert g.terms == ["$503.8 million", "48.7 million"] and g.ungrounded == ["48.7 million"]
    assert g.ungrounded_share == 0.5


def test_an_answer_without_names_or_figures_has_no_share() -> None:
    g = ground_terms("Yes, it rose [1].", "Did revenue rise?", [PASSAGE])
    assert g.terms == [] and g.ungrounded_share is None


def test_short_numbers_are_not_terms() -> None:
    # "4" and "20%" are on most pages by chance; finding them proves nothing
    g = ground_terms("There are 4 figures, and 20% of them are tables [1].", "How many?", [PASSAGE])
    assert g.terms == [] and g.ungrounded_share is None
