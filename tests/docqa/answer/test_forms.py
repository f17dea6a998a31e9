"""The answer form read from a question's wording, and the prompt line it adds."""

from __future__ import annotations

import pytest

from docqa.answer.forms import FORM_HINTS, AnswerForm, expected_form, form_hint
from docqa.answer.prompts import long_context_messages, rag_messages
from docqa.types import Page, Passage


@pytest.mark.parametrize(
    ("question", "form"),
    [
        ("How many employees did the company have at year end?", "number"),
        ("For fiscal 2023, how much did the company spend on buybacks?", "number"),
        ("What is the operating margin in 2022? Round to one decimal place.", "number"),
        ("What was the total revenue? Answer in millions.", "number"),
        ("What percentage of sales came from Europe?", "number"),
        ("Did net income rise in 2023?", "yes_no"),
        ("Has the board approved a dividend?", "yes_no"),
        ("Which segment grew fastest? Answer yes or no.", "yes_no"),
        ("Is the gross margin higher or lower than in 2021?", "choice"),
        ("In 2014, was the loss larger or smaller than in 2013?", "choice"),
        ("Which city hosts the headquarters? Directly answer 'Paris' or 'Lyon'.", "choice"),
        ("List all the subsidiaries named in the filing.", "list"),
        ("How many stores opened in 2021 and 2022, respectively?", "list"),
        ("What are the risk factors about supply chains?", "list"),
        ("Who audited the financial statements?", "free"),
        ("Why did inventories increase?", "free"),
    ],
)
def test_expected_form_reads_the_question(question: str, form: AnswerForm) -> None:
    assert expected_form(question) == form


def test_a_free_question_gets_no_hint() -> None:
    assert form_hint("Why did inventories increase?") == ""
    assert form_hint("How many stores?") == FORM_HINTS["number"]


def test_the_hint_goes_between_the_question_and_the_citation_reminder_when_asked() -> None:
    passages = [Passage(n=1, text="Revenue was $5.", page=3, path="r.pdf")]
    plain = rag_messages("How many stores?", passages)[1].content
    hinted = rag_messages("How many stores?", passages, form=True)[1].content
    assert FORM_HINTS["number"] not in plain
    assert f"Question: How many stores?\n{FORM_HINTS['number']}\nEnd each sentence" in hinted


def test_the_hint_keeps_the_long_context_prefix_shared() -> None:
    pages = [Page(doc_id="d", page=1, text="page text", width=1, height=1)]
    a = long_context_messages("Did sales rise?", "Report", pages, form=True)[1].content
    b = long_context_messages("How many stores?", "Report", pages, form=True)[1].content
    cut = a.rindex("Question: ")
    assert a[:cut] == b[:cut]
    assert FORM_HINTS["yes_no"] in a[cut:] and FORM_HINTS["number"] in b[cut:]
