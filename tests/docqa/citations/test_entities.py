from __future__ import annotations

import pytest

from docqa.citations.entities import extract_entities, ground_entities


def _texts(sentence: str) -> list[str]:
    return [e.text for e in extract_entities(sentence)]


def test_names_acronyms_quotes_tickers() -> None:
    assert _texts('In 2023 the U.S. unit of Best Buy said "Totaltech" grew.') == [
        "U.S.",
        "Best Buy",
        "Totaltech",
    ]
    assert _texts("Shares of $BBY rose while SG&A fell at Bank of America.") == [
        "$BBY",
        "SG&A",
        "Bank of America",
    ]


def test_false_positives_are_kept_out() -> None:
    # sentence-initial words, common capitalised words, months, periods are not entities
    assert _texts("Revenue rose in January.") == []
    assert _texts("The Company reported Total revenue in FY2023 and Q4.") == []
    assert _texts("However, In March the margin fell.") == []
    assert _texts("Boeing forecasts higher rates.") == []  # one word opening the sentence


def test_corporate_suffix_and_lists() -> None:
    ents = extract_entities(
        "Best Buy Co., Inc. acquired Current Health Ltd and Yardbird Furniture."
    )
    assert [(e.text, e.key) for e in ents] == [
        ("Best Buy Co., Inc.", "best buy"),
        ("Current Health Ltd", "current health"),
        ("Yardbird Furniture", "yardbird furniture"),
    ]


@pytest.mark.parametrize(
    ("sentence", "passage"),
    [
        ("Sales at Best Buy Co., Inc. rose.", "Best Buy reported sales"),
        ("Sales at Best Buy rose.", "BEST BUY CO., INC. reported"),
        ("Analysts said Boeing's backlog grew.", "the backlog of Boeing grew"),
        ("It said Defence comprises 35% of revenue.", "Defense, Space & Security"),
        ("It said SG&A fell.", "Selling, general and administrative expenses fell"),
        ("It said the US government buys.", "the U.S. government"),
        ("It said Bestbuy grew.", "Best Buy grew"),
    ],
)
def test_found_despite_form(sentence: str, passage: str) -> None:
    g = ground_entities(sentence, [passage])
    assert g.total == 1 and g.ungrounded == []


def test_missing_names_are_reported() -> None:
    g = ground_entities("Sales at Best Buy beat those of Walmart and Target.", ["Best Buy sales"])
    assert [e.text for e in g.grounded] == ["Best Buy"]
    assert [e.text for e in g.ungrounded] == ["Walmart", "Target"]


def test_quote_must_appear_verbatim() -> None:
    sentence = 'The template is "The word {evt} triggers a MEET event".'
    assert ground_entities(sentence, ["The word {evt} triggers a MEET event: two"]).ungrounded == []
    assert len(ground_entities(sentence, ["The word {evt} starts a MEET event"]).ungrounded) == 1


def test_passage_index_of_each_found_entity() -> None:
    g = ground_entities("Sales at Best Buy and Ulta Beauty rose.", ["Ulta Beauty", "Best Buy"])
    assert g.passages == [1, 0]
