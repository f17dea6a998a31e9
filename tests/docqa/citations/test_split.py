from __future__ import annotations

import pytest

from docqa.citations import split
from docqa.citations.split import parse_citations, split_answer, split_sentences, strip_citations


def _pairs(answer: str) -> list[tuple[str, list[int]]]:
    return [(s.text, s.citations) for s in split_answer(answer)]


def test_abbreviations_and_decimals_do_not_split() -> None:
    answer = (
        "The U.S. segment grew, e.g. in Q3, by 3.2 percent [1][3]. "
        "Mr. Smith of Acme Inc. resigned after revenue hit $1.5 billion [2]. "
        "It was approx. 5 vs. 6 units (see Fig. 2) [1]."
    )
    assert _pairs(answer) == [
        ("The U.S. segment grew, e.g. in Q3, by 3.2 percent.", [1, 3]),
        ("Mr. Smith of Acme Inc. resigned after revenue hit $1.5 billion.", [2]),
        ("It was approx. 5 vs. 6 units (see Fig. 2).", [1]),
    ]


def test_dates_and_no_dot_abbreviations() -> None:
    answer = (
        "Total assets were $1,577 million at Dec. 31, 2023 [1, 2]. "
        "No. 5 on the list is Best Buy Co., Inc. [3]"
    )
    assert _pairs(answer) == [
        ("Total assets were $1,577 million at Dec. 31, 2023.", [1, 2]),
        ("No. 5 on the list is Best Buy Co., Inc.", [3]),
    ]


def test_list_items_newlines_and_headings() -> None:
    answer = (
        "## Summary\n"
        "Key points:\n"
        "- Revenue rose to $4.2 billion [1]\n"
        "- Margin fell\n  to 12% [2]\n"
        "1. Net income was $1 million [3].\n"
        "\n"
        "Revenue rose\nsharply in 2023 [1]."
    )
    assert _pairs(answer) == [
        ("Key points:", []),
        ("Revenue rose to $4.2 billion", [1]),
        ("Margin fell to 12%", [2]),
        ("Net income was $1 million.", [3]),
        ("Revenue rose sharply in 2023.", [1]),
    ]


def test_markers_after_the_full_stop_belong_to_the_sentence_before() -> None:
    answer = "Revenue was $1.5 billion.[1] Costs rose 12.5%. [2] The end [3]."
    assert _pairs(answer) == [
        ("Revenue was $1.5 billion.", [1]),
        ("Costs rose 12.5%.", [2]),
        ("The end.", [3]),
    ]
    first = split_answer(answer)[0]
    assert answer[first.start : first.end] == "Revenue was $1.5 billion.[1]"


def test_abbreviation_then_marker_then_capital_splits() -> None:
    assert _pairs("Revenue grew in the U.S. [1] Margins fell [2].") == [
        ("Revenue grew in the U.S.", [1]),
        ("Margins fell.", [2]),
    ]


@pytest.mark.parametrize("punkt", [True, False])
def test_a_period_inside_parentheses_does_not_end_the_sentence(
    punkt: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not punkt:
        monkeypatch.setattr(split, "_punkt", lambda: None)
    # an answer repeating the question's own "(w.o. ensemble)", as the 1.5B does on the dev corpus
    answer = (
        "Filter-then-rerank methods (w.o. ensemble) reach 72.3% on TACREV [1]. "
        "The rest (see Sec. 4. Table 2) is lower [2]. It rose (by 3%. Then it fell [3]."
    )
    assert _pairs(answer) == [
        ("Filter-then-rerank methods (w.o. ensemble) reach 72.3% on TACREV.", [1]),
        ("The rest (see Sec. 4. Table 2) is lower.", [2]),
        # a parenthesis never closed: the breaks stay where they were
        ("It rose (by 3%.", []),
        ("Then it fell.", [3]),
    ]


def test_spans_point_into_the_answer() -> None:
    answer = "Alpha rose 5% [1]. Beta fell 3% [2]!  Really? Yes [3]."
    sents = split_answer(answer)
    assert [answer[s.start : s.end] for s in sents] == [
        "Alpha rose 5% [1].",
        "Beta fell 3% [2]!",
        "Really?",
        "Yes [3].",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a [1] b", [1]),
        ("a [1, 2]", [1, 2]),
        ("a [1][3]", [1, 3]),
        ("a [1] [3] [1]", [1, 3]),
        ("a [2-4]", [2, 3, 4]),
        ("a [1; 5]", [1, 5]),
        ("a [Type_1] and [x]", []),
        ("a [1-1000]", [1, 1000]),
    ],
)
def test_parse_citations(text: str, expected: list[int]) -> None:
    assert parse_citations(text) == expected


def test_strip_citations() -> None:
    assert strip_citations("Revenue rose [1] to $5 [2][3].") == "Revenue rose to $5."
    assert strip_citations("Sales grew [1, 2] , fast [3] .") == "Sales grew, fast."


def test_split_sentences_plain() -> None:
    assert split_sentences("The U.S. segment grew 3.2%, e.g. in Q3. Costs fell.") == [
        "The U.S. segment grew 3.2%, e.g. in Q3.",
        "Costs fell.",
    ]


def test_punkt_data_is_found_offline() -> None:
    # llama-index-core ships NLTK's punkt_tab: the splitter must not fall back to the regex
    assert split._punkt() is not None


def test_regex_fallback_without_nltk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(split, "_punkt", lambda: None)
    assert _pairs(
        "The U.S. segment grew, e.g. in Q3, by 3.2 percent [1]. Mr. Smith resigned [2]. "
        "It cost $1.5 billion.[3] Next one [4]."
    ) == [
        ("The U.S. segment grew, e.g. in Q3, by 3.2 percent.", [1]),
        ("Mr. Smith resigned.", [2]),
        ("It cost $1.5 billion.", [3]),
        ("Next one.", [4]),
    ]


def test_sentences_said_again_are_removed_unless_they_cite_something_new() -> None:
    # the 1.5B looped on one sentence five times in a dev answer (financebench_id_00678)
    loop = "Gross margin is not a useful metric here"
    answer = f"Yes, it improved [1]. {loop} [2]. {loop}. {loop.upper()} [2]. {loop} [3]. Done."
    text, removed = split.without_repeats(answer)
    assert text == f"Yes, it improved [1]. {loop} [2]. {loop} [3]. Done."
    assert removed == [f"{loop}.", f"{loop.upper()}."]
    items = (
        "- Sales rose by 5% [1].\n- Costs fell [2].\n- Sales rose by 5% [1].\n- Profit grew [3]."
    )
    assert split.without_repeats(items) == (
        "- Sales rose by 5% [1].\n- Costs fell [2].\n- Profit grew [3].",
        ["Sales rose by 5%."],
    )
    assert split.without_repeats("Sales rose [1]. Costs fell [1].") == (
        "Sales rose [1]. Costs fell [1].",
        [],
    )
    # only the removed item's own marker goes: another line holding a bare "1." stays
    assert split.without_repeats("Steps:\n1.\nSales rose by 5% [1]. Sales rose by 5% [1].")[0] == (
        "Steps:\n1.\nSales rose by 5% [1]."
    )
    # a short sentence twice can answer two parts of a question
    assert split.without_repeats("Yes [1]. Yes [1]. Sales rose by 5% [1].")[1] == []
