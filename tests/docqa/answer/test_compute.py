"""`answer.compute` inside `Answerer.ask`, branch by branch: the model's replies are scripted
(a chat server on loopback, `scripted_chat`), everything else runs as in use: the demo store,
hybrid search, the reranker, each operand's own retrieval, numeric grounding, the citation
checker. What the 1.5B model does with these prompts is tested in test_qwen_answers.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from scripted_chat import ScriptedChat, scripted_chat

from docqa.answer.formula import EXTRACT_SYSTEM, PLAN_SYSTEM
from docqa.answer.prompts import RAG_SYSTEM
from docqa.config import AnswerSettings, GenerationSettings, Settings
from docqa.runtime import Runtime
from docqa.types import Answer, Verdict
from ingest.demo import write_demo_folder
from ingest.pipeline import Ingestor

PLAN = PLAN_SYSTEM[:40]
COPY = EXTRACT_SYSTEM[:40]
RAG = RAG_SYSTEM[:40]

GROWTH = "By how much did Northwind's net income grow from 2023 to 2024, in percent?"
GROWTH_PLAN = (
    "FORMULA: (ni_2024 - ni_2023) / ni_2023 * 100\n"
    "ni_2024: net income, fiscal 2024\n"
    "ni_2023: net income, fiscal 2023"
)
GROWTH_COPIES = [
    ("Copy this figure: net income, fiscal 2024", "$33.5 [1]"),
    ("Copy this figure: net income, fiscal 2023", "$28.7 [1]"),
]
REVENUE = "What was Northwind's revenue in 2024, and how much did it grow?"
REVENUE_PLAN = (
    "FORMULA: revenue_2024 - revenue_2023\n"
    "revenue_2024: revenue, fiscal 2024\n"
    "revenue_2023: revenue, fiscal 2023"
)
REVENUE_COPIES = [
    ("Copy this figure: revenue, fiscal 2024", "$503.8 [1]"),
    ("Copy this figure: revenue, fiscal 2023", "$455.1 [1]"),
]


@pytest.fixture(scope="module")
def chat() -> Iterator[ScriptedChat]:
    with scripted_chat([], default="Not found in the documents.") as c:
        yield c


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, chat: ScriptedChat) -> Path:
    home = tmp_path_factory.mktemp("home")
    folder = tmp_path_factory.mktemp("demo")
    write_demo_folder(folder)
    rt = _runtime(home, chat, "check")
    try:
        Ingestor.from_runtime(rt).run([folder])
    finally:
        rt.close()
    return home


def _runtime(home: Path, chat: ScriptedChat, compute: str) -> Runtime:
    generation = GenerationSettings(
        backend="openai", base_url=chat.base_url, model="scripted", max_answer_tokens=96
    )
    answer = AnswerSettings(compute=compute)  # type: ignore[arg-type]
    return Runtime(Settings(home=home, generation=generation, answer=answer))


def _ask(home: Path, chat: ScriptedChat, compute: str, question: str) -> tuple[Answer, str]:
    rt = _runtime(home, chat, compute)
    streamed: list[str] = []
    try:
        a = rt.answerer.ask(question, strategy="rag", on_text=streamed.append)
    finally:
        rt.close()
    return a, "".join(streamed)


def test_check_keeps_an_answer_that_states_the_computed_result(
    home: Path, chat: ScriptedChat
) -> None:
    said = "Northwind's revenue in 2024 was $503.8 million, up 10.7% [1]."
    chat.script([(PLAN, REVENUE_PLAN), *REVENUE_COPIES, (RAG, said)], default="?")
    a, streamed = _ask(home, chat, "check", REVENUE)
    c = a.computation
    assert c is not None and c.result == pytest.approx(48.7)
    # 48.7 is the absolute reading; the document's "10.7%" is the relative one: it stands
    assert c.agrees == "10.7%" and not c.used
    assert a.answer == said == streamed
    assert any("the answer's 10.7% agrees" in r for r in a.route.reasons)
    # the model answered first, then the plan and one copy per figure: every request is paid
    assert chat.asked(RAG) == 1 and chat.asked(PLAN) == 1 and chat.asked(COPY) == 2
    assert a.tokens.prompt == sum(chat.prompt_tokens)
    assert a.sentences[0].verdict == Verdict.supported


def test_check_replaces_a_misquoted_figure_with_the_computation(
    home: Path, chat: ScriptedChat
) -> None:
    # the operating margin (9.2%, stated on the page) given as the net income growth: a
    # figure the passages state, so numeric grounding alone cannot catch it
    said = "Northwind's net income grew by 9.2% [1]."
    chat.script([(PLAN, GROWTH_PLAN), *GROWTH_COPIES, (RAG, said)], default="?")
    a, streamed = _ask(home, chat, "check", GROWTH)
    c = a.computation
    assert c is not None and c.used and c.agrees is None
    assert streamed == said == c.replaced  # the model's answer streamed first, then replaced
    assert a.answer.startswith("16.72%, computed as")
    assert sorted(o.value for o in c.operands if o.value is not None) == [28.7, 33.5]
    assert all(o.grounded for o in c.operands)
    assert any("by code" in r for r in a.route.reasons)
    assert a.sentences[0].verdict == Verdict.supported
    assert {cit.page for cit in a.citations} == {1}
    assert a.tokens.prompt == sum(chat.prompt_tokens)


def test_check_answers_an_abstention_with_the_computation(home: Path, chat: ScriptedChat) -> None:
    chat.script(
        [(PLAN, GROWTH_PLAN), *GROWTH_COPIES, (RAG, "Not found in the documents.")], default="?"
    )
    a, _ = _ask(home, chat, "check", GROWTH)
    assert a.computation is not None and a.computation.used
    assert not a.abstained and a.answer.startswith("16.72%")


def test_check_keeps_the_answer_when_a_figure_is_stated_nowhere(
    home: Path, chat: ScriptedChat
) -> None:
    said = "Net income grew by 17% [1]."
    copies = [(GROWTH_COPIES[0][0], "$35.9 [1]"), GROWTH_COPIES[1]]  # no page says 35.9
    chat.script([(PLAN, GROWTH_PLAN), *copies, (RAG, said)], default="?")
    a, streamed = _ask(home, chat, "check", GROWTH)
    c = a.computation
    assert c is not None and not c.used and c.agrees is None
    assert c.error == "ni_2024 not stated in any passage of the prompt"
    assert a.answer == said == streamed
    assert f"computation dropped: {c.error}" in a.route.reasons


def test_a_plan_without_arithmetic_is_a_lookup_rag_answers(home: Path, chat: ScriptedChat) -> None:
    said = "Revenue rose 10.7% to $503.8 million [1]."
    chat.script([(PLAN, "FORMULA: revenue_growth"), (RAG, said)], default="$1 [1]")
    a, _ = _ask(home, chat, "check", REVENUE)
    assert a.answer == said
    assert a.computation is not None and "no arithmetic" in (a.computation.error or "")
    assert chat.asked(COPY) == 0


def test_replace_computes_without_asking_the_model_for_its_own_answer(
    home: Path, chat: ScriptedChat
) -> None:
    chat.script([(PLAN, GROWTH_PLAN), *GROWTH_COPIES], default="Net income grew by 9.2% [1].")
    a, streamed = _ask(home, chat, "replace", GROWTH)
    assert a.computation is not None and a.computation.used
    assert streamed == a.answer and a.answer.startswith("16.72%")
    assert chat.asked(RAG) == 0


def test_replace_falls_back_to_the_model_when_the_computation_fails(
    home: Path, chat: ScriptedChat
) -> None:
    said = "Net income grew by 9.2% [1]."
    chat.script([(PLAN, "I cannot say."), (RAG, said)], default="?")
    a, streamed = _ask(home, chat, "replace", GROWTH)
    assert a.answer == said == streamed
    assert a.computation is not None and a.computation.error == "the plan has no FORMULA line"
    assert chat.asked(RAG) == 1


def test_off_leaves_the_arithmetic_to_the_model(home: Path, chat: ScriptedChat) -> None:
    said = "Net income grew by 9.2% [1]."
    chat.script([(RAG, said)], default="?")
    a, _ = _ask(home, chat, "off", GROWTH)
    assert a.answer == said and a.computation is None
    assert chat.asked(PLAN) == 0 and len(chat.requests) == 1
