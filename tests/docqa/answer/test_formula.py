"""`docqa.answer.formula`: when arithmetic is asked, the plan and value parsers, operand
grounding, the safe evaluator, the result's wording and the computed answer's verdicts."""

from __future__ import annotations

import math

import pytest

from docqa.answer.formula import (
    ComputeError,
    apply_to_report,
    check_operands,
    compose_answer,
    confirming_figure,
    describe_computation,
    format_result,
    formula_names,
    needs_computation,
    operand_values,
    parse_plan,
    parse_value,
    readings,
    safe_eval,
    same_figure_twice,
)
from docqa.citations.split import split_answer
from docqa.types import (
    CitationReport,
    Computation,
    Operand,
    Passage,
    SentenceCheck,
    Verdict,
)


@pytest.mark.parametrize(
    "question",
    [
        "What was the gross margin in 2022?",
        "What is the interest coverage ratio for FY2020? Round to three decimals.",
        "By how much did revenue grow from 2022 to 2023?",
        "What is the difference between the two segments' sales?",
        "What was the combined revenue of both segments?",
        "What was the average headcount over the two years?",
        "What is the return on equity?",
    ],
)
def test_questions_that_ask_for_arithmetic(question: str) -> None:
    assert needs_computation(question)


@pytest.mark.parametrize(
    "question",
    [
        "Who is the chief executive?",
        "How many refrigerated trucks does the company run?",
        "What was revenue in 2024?",
        "Which section describes the experiments?",
        "What drove the increase in merchandise inventories at the end of FY2023?",
        "Why did the operating margin decline?",
        "Explain the change in the effective tax rate.",
    ],
)
def test_questions_that_do_not(question: str) -> None:
    assert not needs_computation(question)


def test_a_plan_gives_the_formula_and_what_each_name_is() -> None:
    reply = (
        "**FORMULA:** (ni_2024 - ni_2023) / ni_2023 * 100\n"
        "- ni_2024: net income, fiscal 2024\n"
        "- `ni_2023`: net income, fiscal 2023\n"
        "unused: something the formula does not use\n"
    )
    formula, operands = parse_plan(reply)
    assert formula == "(ni_2024 - ni_2023) / ni_2023 * 100"
    assert operands == {"ni_2024": "net income, fiscal 2024", "ni_2023": "net income, fiscal 2023"}


def test_a_name_the_plan_does_not_describe_describes_itself() -> None:
    _, operands = parse_plan("FORMULA: (net_income_2024 - cost) / cost\ncost: total cost")
    assert operands == {"net_income_2024": "net income 2024", "cost": "total cost"}


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ("The margin is 9.2%.", "no FORMULA"),
        ("FORMULA: a / \na: x", "does not parse"),
        ("FORMULA: 3 * 4", "no operand"),
        ("FORMULA: a.real\na: x", "not allowed"),
        ("FORMULA: backlog_2022\nbacklog_2022: total backlog, 2022", "no arithmetic"),
        ("FORMULA: (revenue)", "no arithmetic"),
    ],
)
def test_a_plan_that_cannot_be_used_says_why(reply: str, message: str) -> None:
    with pytest.raises(ComputeError, match=message):
        parse_plan(reply)


def test_formula_names_come_in_order_and_exclude_functions() -> None:
    assert formula_names("round(b / a, 2) + abs(c)") == ["b", "a", "c"]


@pytest.mark.parametrize(
    ("formula", "values", "expected"),
    [
        ("a + b * c", {"a": 1, "b": 2, "c": 3}, 7.0),
        ("(a + b) * c", {"a": 1, "b": 2, "c": 3}, 9.0),
        ("-a / 4", {"a": 2}, -0.5),
        ("(a / b) ** (1 / 3) - 1", {"a": 1.331, "b": 1}, 0.1),
        ("max(a, b) - min(a, b)", {"a": 5, "b": 8}, 3.0),
        ("round(a / b * 100, 1)", {"a": 370, "b": 1788}, 20.7),
        ("sqrt(a)", {"a": 16}, 4.0),
    ],
)
def test_safe_eval_computes(formula: str, values: dict[str, float], expected: float) -> None:
    assert math.isclose(safe_eval(formula, values), expected, rel_tol=1e-9)


@pytest.mark.parametrize(
    ("formula", "message"),
    [
        ("__import__('os').system('true')", "not allowed|may be called"),
        ("open('x')", "may be called"),
        ("a.__class__", "Attribute is not allowed"),
        ("a[0]", "Subscript is not allowed"),
        ("(lambda: 1)()", "may be called"),
        ("[x for x in a]", "not allowed"),
        ("'a' * 3", "not a number"),
        ("True + 1", "not a number"),
        ("a // 2", "FloorDiv"),
        ("a % 2", "Mod"),
        ("a < 2", "Compare is not allowed"),
        ("2 ** 1000", "power"),
        ("a / (b - b)", "divides by zero"),
        ("c + 1", "c has no value"),
        ("(-8) ** 0.5", "power"),
        ("sqrt(-1)", "not negative"),
        ("round(a, b, 1)", "round takes"),
        ("10.0 ** 99 * 10.0 ** 99 * 10.0 ** 99 * 10.0 ** 99", "finite|evaluated"),
        ("+".join(["a"] * 200), "too long"),
    ],
)
def test_safe_eval_refuses_everything_else(formula: str, message: str) -> None:
    with pytest.raises(ComputeError, match=message):
        safe_eval(formula, {"a": 2.0, "b": 3.0})


@pytest.mark.parametrize(
    ("reply", "value", "scale", "passage"),
    [
        ("$28.7 million [3]", 28.7, 1e6, 3),
        ("net_income = $28.7 [3].", 28.7, None, 3),
        ("- `loss`: (1,234) [2]", -1234.0, None, 2),
        ("1.5 billion [1][2]", 1.5, 1e9, 1),
        ("12.5%", 12.5, None, None),
        ("  \n$7 [4]\nThe figure is 9 [5].", 7.0, None, 4),
    ],
)
def test_a_value_is_read_with_sign_scale_and_passage(
    reply: str, value: float, scale: float | None, passage: int | None
) -> None:
    o = parse_value("x", "what", reply)
    assert (o.value, o.scale, o.passage) == (value, scale, passage)
    assert o.description == "what"


@pytest.mark.parametrize("reply", ["?", "", "Not given [2].", "n = ?"])
def test_no_value_when_the_reply_gives_no_number(reply: str) -> None:
    o = parse_value("x", "what", reply)
    assert o.value_text is None and o.passage is None


def test_an_operand_is_grounded_by_a_passage_that_states_it() -> None:
    passages = [
        Passage(n=1, text="Revenue $455.1 Net income $28.7 (in millions)"),
        Passage(n=2, text="We employ 2,150 people."),
    ]
    read = [
        parse_value("a", "net income", "$28.7 [1]"),
        parse_value("b", "revenue", "455.1 [2]"),  # named the wrong passage
        parse_value("c", "staff", "2,150 [7]"),  # a passage that does not exist
        parse_value("d", "debt", "99.9 [1]"),  # stated nowhere
        parse_value("e", "cash", "?"),
    ]
    got = {o.name: o for o in check_operands(read, passages)}
    assert {n: o.grounded for n, o in got.items()} == {
        "a": True,
        "b": True,
        "c": True,
        "d": False,
        "e": False,
    }
    assert (got["a"].passage, got["a"].named_passage) == (1, None)
    assert (got["b"].passage, got["b"].named_passage) == (1, 2)
    assert (got["c"].passage, got["c"].named_passage) == (2, 7)


def test_operand_values_reconcile_written_scales() -> None:
    bare = [
        Operand(name="a", description="", value=28.7),
        Operand(name="b", description="", value=455.1),
    ]
    assert operand_values(bare) == {"a": 28.7, "b": 455.1}
    same = [
        Operand(name="a", description="", value=2.0, scale=1e9),
        Operand(name="b", description="", value=4.0, scale=1e9),
    ]
    assert operand_values(same) == {"a": 2.0, "b": 4.0}
    mixed = [
        Operand(name="a", description="", value=1.2, scale=1e9),
        Operand(name="b", description="", value=600.0, scale=1e6),
    ]
    assert operand_values(mixed) == {"a": 1.2e9, "b": 6e8}


@pytest.mark.parametrize(
    ("value", "question", "formula", "text"),
    [
        (
            20.6794,
            "Answer in percentage term, round to one decimal places.",
            "a / b * 100",
            "20.7%",
        ),
        (0.48812, "round your answer to three decimal places", "a / b", "0.488"),
        (51.28571, "round your answer to three decimal?", "a / b", "51.286"),
        (13929.4, "Answer in million.", "a + b", "13,929"),
        (6.3063, "What was the net margin, in percent?", "a / b * 100", "6.31%"),
        (6.3063, "What was the net margin?", "a / b * 100", "6.31"),
        (42.0, "What is the difference?", "a - b", "42"),
    ],
)
def test_results_are_worded_as_the_question_asks(
    value: float, question: str, formula: str, text: str
) -> None:
    assert format_result(value, question, formula) == text


def _computation() -> Computation:
    return Computation(
        formula="ni / rev * 100",
        result=6.3063,
        result_text="6.31%",
        used=True,
        operands=[
            Operand(
                name="ni",
                description="net income, 2023",
                value_text="$28.7",
                value=28.7,
                passage=2,
                grounded=True,
            ),
            Operand(
                name="rev",
                description="revenue, 2023",
                value_text="$455.1",
                value=455.1,
                passage=1,
                grounded=True,
            ),
        ],
    )


def test_the_composed_answer_leads_with_the_result_and_cites_each_operand() -> None:
    text = compose_answer(_computation())
    sentences = split_answer(text)
    assert len(sentences) == 3
    assert sentences[0].text.startswith("6.31%, computed as ni / rev × 100 = $28.7 / $455.1 × 100")
    assert sentences[0].citations == [2, 1]
    assert [s.citations for s in sentences[1:]] == [[2], [1]]
    assert "$455.1" in sentences[2].text


def _check(text: str, verdict: Verdict, score: float, cites: list[int]) -> SentenceCheck:
    bad = [] if verdict == Verdict.supported else cites
    return SentenceCheck(
        text=text, citations=cites, verdict=verdict, score=score, irrelevant_citations=bad
    )


@pytest.mark.parametrize(
    ("second", "verdict", "recall", "precision"),
    [
        (Verdict.supported, Verdict.supported, 1.0, 1.0),
        (Verdict.partial, Verdict.partial, 1 / 3, 1 / 4),
    ],
)
def test_the_result_sentence_takes_its_weakest_operands_verdict(
    second: Verdict, verdict: Verdict, recall: float, precision: float
) -> None:
    report = CitationReport(
        sentences=[
            _check("6.31%, computed ...", Verdict.unsupported, 0.05, [2, 1]),
            _check("ni is $28.7", Verdict.supported, 0.9, [2]),
            _check("rev is $455.1", second, 0.6, [1]),
        ],
        citation_recall=2 / 3,
        citation_precision=0.5,
    )
    patched = apply_to_report(report, _computation())
    first = patched.sentences[0]
    assert first.verdict == verdict
    assert first.score == 0.6
    assert "computed by docqa" in first.reasons[0]
    assert patched.citation_recall == pytest.approx(recall)
    assert patched.citation_precision == pytest.approx(precision)
    assert patched.sentences[1:] == report.sentences[1:]


def test_front_ends_describe_what_was_computed_from_what() -> None:
    c = _computation()
    c.operands[1] = c.operands[1].model_copy(update={"named_passage": 4})
    line = describe_computation(c)
    assert line == (
        "computed by docqa: ni / rev * 100 = 6.31%, from ni = $28.7 [2], "
        "rev = $455.1 [1] (the model named [4])"
    )
    c.replaced = "Net margin was\n9.2% [1]. " + "x" * 200
    assert describe_computation(c).endswith(
        "; the model had answered: Net margin was 9.2% [1]. " + "x" * 95 + "..."
    )


@pytest.mark.parametrize(
    "question",
    [
        "Are the company's gross margins consistent (not changing by more than 2%)?",
        "Did revenue grow in 2023?",
        "Is the ratio higher than last year?",
    ],
)
def test_yes_no_questions_are_not_computed(question: str) -> None:
    assert not needs_computation(question)


def test_two_figures_copied_as_one_are_caught() -> None:
    def op(name: str, value: float | None, passage: int | None) -> Operand:
        text = None if value is None else str(value)
        return Operand(name=name, description=name, value_text=text, value=value, passage=passage)

    assert same_figure_twice([op("a", 10.5, 2), op("b", 10.5, 2), op("c", 10.5, 2)]) == [
        "a",
        "b",
        "c",
    ]
    assert same_figure_twice([op("a", 10.5, 2), op("b", 10.5, 3)]) == []  # two passages
    assert same_figure_twice([op("a", 10.5, 2), op("b", 9.5, 2)]) == []
    assert same_figure_twice([op("a", None, None), op("b", None, None)]) == []


def _growth(
    a: float = 503.8, b: float = 455.1, formula: str = "rev_2024 - rev_2023"
) -> Computation:
    ops = [
        Operand(name="rev_2024", description="revenue 2024", value_text=f"${a}", value=a),
        Operand(name="rev_2023", description="revenue 2023", value_text=f"${b}", value=b),
    ]
    result = safe_eval(formula, {"rev_2024": a, "rev_2023": b})
    return Computation(formula=formula, operands=ops, result=result, result_text=f"{result:.2f}")


def test_a_difference_reads_as_absolute_and_relative_change() -> None:
    values = readings("rev_2024 - rev_2023", {"rev_2024": 503.8, "rev_2023": 455.1})
    assert any(math.isclose(v, 48.7) for v in values)  # absolute
    assert any(math.isclose(v, 48.7 / 455.1 * 100) for v in values)  # percent change
    assert any(math.isclose(v, 48.7 / 455.1) for v in values)  # as a fraction
    # a ratio reads as itself, as a percentage and as a fraction of 100, nothing else
    ratio = sorted(readings("a / b", {"a": 46.2, "b": 503.8}))
    expected = sorted([46.2 / 503.8, 46.2 / 503.8 * 100, 46.2 / 503.8 / 100])
    assert len(ratio) == 3 and all(map(math.isclose, ratio, expected))


@pytest.mark.parametrize(
    ("answer", "figure"),
    [
        # the document's "rose 10.7%" is the relative reading of the computed difference
        ("Revenue in 2024 was $503.8 million, which rose 10.7% [1].", "10.7%"),
        ("Revenue grew by $48.7 million [1][2].", "$48.7 million"),
        ("It grew by 48.70 [1].", "48.70"),
        ("Revenue declined by -10.70 percent [1].", "-10.70 percent"),
        ("The growth was 0.107 [2].", "0.107"),
    ],
)
def test_an_answer_that_states_the_result_in_either_reading_is_confirmed(
    answer: str, figure: str
) -> None:
    assert confirming_figure(answer, _growth()) == figure


@pytest.mark.parametrize(
    "answer",
    [
        "Net income grew by 9.2% [1].",  # a misquote: the operating margin
        "Revenue was $503.8 million in 2024 and $455.1 million in 2023 [1].",  # the operands
        "Revenue grew by 10.9% [1].",  # outside the precision it writes (10.85 - 10.95)
        "Revenue grew by 12% in 2024 [1].",  # 10.70 is 11 at a whole percent, not 12
        "Not found in the documents.",
    ],
)
def test_an_answer_that_does_not_state_the_result_is_not(answer: str) -> None:
    assert confirming_figure(answer, _growth()) is None


def test_a_failed_computation_confirms_nothing() -> None:
    c = _growth()
    assert confirming_figure("It rose 10.7% [1].", c.model_copy(update={"result": None})) is None
    # a formula that no longer evaluates over its operands (a name lost) confirms nothing
    bad = c.model_copy(update={"formula": "rev_2024 - capex"})
    assert confirming_figure("It rose 10.7% [1].", bad) is None


def test_a_confirmed_computation_is_described_as_a_check() -> None:
    c = _growth().model_copy(update={"agrees": "10.7%", "result_text": "48.7"})
    assert describe_computation(c) == (
        "checked by docqa: rev_2024 - rev_2023 = 48.7 confirms the answer's 10.7%"
    )
