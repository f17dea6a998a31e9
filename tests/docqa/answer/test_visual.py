"""`docqa.answer.visual`: questions about what only a picture shows."""

from __future__ import annotations

import pytest

from docqa.answer.visual import visual_caveat, visual_cues


@pytest.mark.parametrize(
    ("question", "cues"),
    [
        ("What is the share of the blue slice in the pie chart?", ["blue slice"]),
        ("Which method does the red dashed line stand for?", ["red dashed line"]),
        ("Compare the blue and orange bars for 2021.", ["blue and orange bars"]),
        ("What colour is used for the baseline?", ["colour"]),
        ("Which countries are coloured dark on the map?", ["coloured"]),
        ("What shape marks the outliers?", ["shape"]),
        ("Whose logo is on the cover? Is there a photo of the CEO?", ["logo", "photo"]),
    ],
)
def test_questions_about_colours_shapes_and_photos_are_found(
    question: str, cues: list[str]
) -> None:
    assert visual_cues(question) == cues
    caveat = visual_caveat(question)
    assert caveat is not None and f"'{cues[0]}'" in caveat and "cannot see" in caveat


@pytest.mark.parametrize(
    "question",
    [
        "How much did the green bonds raise in 2023?",
        "Which inputs does the Black-Scholes model take?",
        "What does the white paper recommend?",
        "What was the operating margin in fiscal 2023?",
        "Which line item grew the most, and in which figure is it shown?",
    ],
)
def test_colour_words_that_name_no_drawn_thing_are_not_cues(question: str) -> None:
    assert visual_cues(question) == [] and visual_caveat(question) is None
