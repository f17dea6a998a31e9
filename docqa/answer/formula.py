"""Arithmetic done by code, the pure part (`docqa.answer.compute` runs it): a question that
needs a computation (a ratio, a margin, a change, a sum) is answered with a formula over numbers
quoted from cited passages, evaluated by docqa.

Small models are poor calculators and worse at finding every operand of a financial ratio
(they sit on different pages: the income statement, the balance sheet). So the model does only
what it is good at, naming and copying, and code does the rest:

1. `needs_computation(question)`: the question's own words ask for arithmetic.
2. Plan (`plan_messages`, `parse_plan`): the model writes the formula over named operands,
   each with what to look up ("net_income: net income, fiscal 2023").
3. Each operand's description is searched on its own (the caller's retriever), so an operand
   on another page than the question's best passage still reaches the prompt.
4. Extract (`extract_messages`, `parse_value`, one short prompt per operand): the model copies
   the operand's number as its passage writes it, with the passage number: `$28.7 [3]`.
5. `check_operands`: each number must appear in the passage it cites (numeric grounding, with
   the checker's rules for scale and rounding); `safe_eval` evaluates the formula: numbers,
   names, + - * / ** and parentheses, `abs`, `min`, `max`, `round`; nothing else parses (no
   attribute, no subscript, no other call), exponents are bounded.
6. `compose_answer`: the result first (what a reader and a scorer look for), the formula with
   its values, then one cited sentence per operand, which the citation checker verifies as
   usual. The result sentence's verdict is its operands' (`apply_to_report`).

When any step fails (no plan, an operand not found or not in its passage, a division by zero)
the caller answers the question the ordinary way and records why the computation was dropped.

Example:
    >>> safe_eval("(a - b) / b * 100", {"a": 33.5, "b": 28.7})
    16.724738675958193
    >>> needs_computation("What was the operating margin in 2023?")
    True
    >>> needs_computation("Who is the chief executive?")
    False
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence

from docqa.answer.prompts import numbered_passages
from docqa.citations.checker import citation_report
from docqa.citations.numbers import QuantityKind, extract_quantities, ground_numbers
from docqa.citations.split import strip_citations
from docqa.generation import ChatMessage
from docqa.types import CitationReport, Computation, Operand, Passage, SentenceCheck, Verdict

__all__ = [
    "COPY_MARKER",
    "ComputeError",
    "apply_to_report",
    "check_operands",
    "compose_answer",
    "confirming_figure",
    "describe_computation",
    "extract_messages",
    "format_result",
    "needs_computation",
    "parse_plan",
    "parse_value",
    "plan_messages",
    "readings",
    "safe_eval",
    "same_figure_twice",
]


class ComputeError(ValueError):
    """A formula that does not parse, uses something not allowed, or cannot be evaluated."""


# --- when ------------------------------------------------------------------------------------

_NEEDS = re.compile(
    r"\b(?:ratios?|margins?|return on|coverage|turnover|per cent change|"
    r"differences?|gap|change[sd]?|growth|grow|grew|increase[sd]?|decrease[sd]?|decline[sd]?|"
    r"how much (?:more|less|higher|lower|bigger|smaller)|(?:higher|lower|more|less) than|"
    r"sum|total of|combined|average|mean|cagr|compound annual|times as|divided|"
    r"proportion|round(?:ed)? (?:to|your|the)|decimal places?)\b",
    re.I,
)


_YES_NO = re.compile(
    r"^\W*(?:is|are|was|were|do|does|did|has|have|had|can|could|will|would|should)\b", re.I
)
_REASON = re.compile(
    r"^\W*(?:why|how come|explain|describe|what (?:drove|drives|driven|caused|causes|led to|"
    r"explains|contributed to))\b",
    re.I,
)


def needs_computation(question: str) -> bool:
    """True when the question asks for arithmetic over figures: a ratio, margin or return, a
    difference, change or growth, a sum or average, a rounding instruction. Words only: the plan
    step decides what to compute, and a plan with one operand is a plain lookup. A yes/no
    question ("Are the margins consistent?") is not: its answer is not a number; nor is a
    question about causes ("What drove the increase in inventories?").

    >>> needs_computation("Did the gross margin change by more than 2%?")
    False
    >>> needs_computation("Why did operating margin decline in 2023?")
    False
    """
    return (
        bool(_NEEDS.search(question))
        and not _YES_NO.search(question)
        and not _REASON.search(question)
    )


def same_figure_twice(operands: Sequence[Operand]) -> list[str]:
    """Names of operands that describe different figures but were copied as the same number
    from the same passage: "gross margin FY2022" and "FY2021" both read from one cell makes a
    change of 0, a sure sign of a copying slip rather than two equal figures.

    >>> ops = [Operand(name="a", description="x 2022", value_text="10.5", value=10.5, passage=2),
    ...        Operand(name="b", description="x 2021", value_text="10.5", value=10.5, passage=2)]
    >>> same_figure_twice(ops)
    ['a', 'b']
    """
    seen: dict[tuple[float | None, int | None], str] = {}
    twice: list[str] = []
    for o in operands:
        if o.value_text is None:
            continue
        key = (o.value, o.passage)
        if key in seen:
            twice.extend(n for n in (seen[key], o.name) if n not in twice)
        else:
            seen[key] = o.name
    return twice


# --- the model's two steps ---------------------------------------------------------------------

PLAN_SYSTEM = (
    "You write the formula that answers a question about a document. Do not answer the "
    "question and do not compute anything. Reply in exactly this form and nothing else:\n"
    "FORMULA: <an arithmetic expression over short snake_case names, using + - * / ( )>\n"
    "<name>: <the figure to look up in the document, with its year or period>\n"
    "(one line per name). If the question asks for a percentage, multiply by 100 in the "
    "formula. If the question needs no arithmetic, the formula is a single name."
)

_PLAN_EXAMPLE_Q = "What was Acme's operating margin in fiscal 2021, in percent?"
_PLAN_EXAMPLE_A = (
    "FORMULA: operating_income / revenue * 100\n"
    "operating_income: operating income, fiscal 2021\n"
    "revenue: total revenue, fiscal 2021"
)


def plan_messages(question: str) -> list[ChatMessage]:
    """The plan prompt: instructions, one worked example (a made-up company), the question."""
    return [
        ChatMessage(role="system", content=PLAN_SYSTEM),
        ChatMessage(role="user", content=f"Question: {_PLAN_EXAMPLE_Q}"),
        ChatMessage(role="assistant", content=_PLAN_EXAMPLE_A),
        ChatMessage(role="user", content=f"Question: {question.strip()}"),
    ]


_FORMULA = re.compile(r"^\s*[*_`]*formula[*_`]*\s*[:=]\s*[*_`]*\s*(.+?)\s*$", re.I | re.M)
_NAME_LINE = re.compile(r"^\s*[-*]?\s*`?([A-Za-z_][A-Za-z0-9_]*)`?\s*[:=]\s*(.+?)\s*$", re.M)


def parse_plan(text: str) -> tuple[str, dict[str, str]]:
    """(formula, {name: what to look up}) from the plan's reply; a name without a line of its
    own is described by itself ("net_income_2024" -> "net income 2024"). Raises `ComputeError`
    when the reply has no formula, the formula does not parse or has no name.

    >>> parse_plan("FORMULA: a / b * 100\\na: net income, 2023\\nb: revenue, 2023")
    ('a / b * 100', {'a': 'net income, 2023', 'b': 'revenue, 2023'})

    A formula that is a single name asks for no arithmetic: RAG answers lookups.

    >>> parse_plan("FORMULA: backlog_2022")
    Traceback (most recent call last):
    ...
    docqa.answer.formula.ComputeError: the plan needs no arithmetic (a single figure to look up)
    """
    m = _FORMULA.search(text)
    if m is None:
        raise ComputeError("the plan has no FORMULA line")
    formula = m.group(1).strip().strip("`").rstrip(".")
    formula = formula.replace("×", "*").replace("÷", "/").replace("−", "-")
    names = formula_names(formula)
    described: dict[str, str] = {}
    for name, what in _NAME_LINE.findall(text[m.end() :]):
        if name in names and name not in described:
            described[name] = what.strip()
    if not names:
        raise ComputeError("the formula has no operand to look up")
    if formula.strip("() ") in names:
        raise ComputeError("the plan needs no arithmetic (a single figure to look up)")
    # a name the plan does not describe is read as its own description ("net_income_2024")
    return formula, {n: described.get(n) or n.replace("_", " ").strip() for n in names}


EXTRACT_SYSTEM = (
    "You copy one figure from numbered passages. Reply with the number exactly as the passage "
    "writes it (with its sign, currency, unit or scale) followed by the passage number in "
    "square brackets, like: $1,234 [2]. Copy, do not compute. If the passages do not give "
    "the figure, reply: ?"
)


COPY_MARKER = "Copy this figure: "
"""Where the prompts of one question's figures part: everything before it is shared."""


def extract_messages(what: str, passages: Sequence[Passage]) -> list[ChatMessage]:
    """The prompt that copies one operand: the numbered passages (as in RAG) and the figure to
    find last, so that the prompts of a question's operands share everything before it
    (llama.cpp reuses that prefix's KV state). Not the question: "in percent" in it made the
    1.5B append % to every figure."""
    user = f"Passages:\n\n{numbered_passages(passages)}\n\n{COPY_MARKER}{what}"
    return [
        ChatMessage(role="system", content=EXTRACT_SYSTEM),
        ChatMessage(role="user", content=user),
    ]


_CITE = re.compile(r"\[\s*(\d+)\s*\]")


def parse_value(name: str, what: str, text: str) -> Operand:
    """The `Operand` a reply gives: its first number before the first `[n]`, read with sign and
    scale, and that passage (`value_text` None when it wrote `?` or no number).

    >>> o = parse_value("a", "net income", "net_income = $28.7 million [3].")
    >>> (o.value_text, o.value, o.scale, o.passage)
    ('$28.7 million', 28.7, 1000000.0, 3)
    >>> parse_value("b", "debt", "?").value_text is None
    True
    """
    line = next((ln for ln in text.strip().splitlines() if ln.strip()), "")
    cite = _CITE.search(line)
    value = line[: cite.start()] if cite else line
    value = re.sub(r"^\s*[-*`]*\s*[A-Za-z_][A-Za-z0-9_ ]*\s*[=:]", "", value)
    quantities = extract_quantities(value) if value.strip(" .`?") else []
    q = quantities[0] if quantities else None
    if q is None:
        return Operand(name=name, description=what)
    return Operand(
        name=name,
        description=what,
        value_text=q.text,
        value=-q.mantissa if q.negative else q.mantissa,
        scale=q.scale,
        passage=int(cite.group(1)) if cite else None,
    )


def check_operands(operands: Sequence[Operand], passages: Sequence[Passage]) -> list[Operand]:
    """The operands with `grounded` set: a value was read and a passage of the prompt states
    the number (`ground_numbers`: same value, compatible kind and scale). The passage the model
    named is tried first; when it does not state the number and another passage does, the
    operand cites that one instead (`named_passage` keeps the model's choice), as the citation
    checker repairs a sentence's citation."""
    by_n = {p.n: p for p in passages}
    out = []
    for o in operands:
        if o.value_text is None:
            out.append(o.model_copy(update={"grounded": False}))
            continue
        named = by_n.get(o.passage) if o.passage is not None else None
        order = ([named] if named else []) + [p for p in passages if p is not named]
        value_text = o.value_text
        home = next((p for p in order if ground_numbers(value_text, [p.text]).all_grounded), None)
        if home is None:
            out.append(o.model_copy(update={"grounded": False}))
        elif home is named:
            out.append(o.model_copy(update={"grounded": True}))
        else:
            update = {"grounded": True, "passage": home.n, "named_passage": o.passage}
            out.append(o.model_copy(update=update))
    return out


def operand_values(operands: Sequence[Operand]) -> dict[str, float]:
    """Each operand's value in one unit. Values written with a scale ("$1.2 billion") are read
    at it when some other operand is too; a formula over only bare numbers ("28.7", "455.1" in a
    table "in millions") uses them as written, which ratios and differences allow.

    >>> ops = [Operand(name="a", description="", value=1.2, scale=1e9),
    ...        Operand(name="b", description="", value=600.0, scale=1e6)]
    >>> operand_values(ops)
    {'a': 1200000000.0, 'b': 600000000.0}
    """
    scaled = [o for o in operands if o.scale is not None]
    if not scaled or (len({o.scale for o in scaled}) == 1 and len(scaled) == len(operands)):
        return {o.name: float(o.value or 0.0) for o in operands}
    return {o.name: float(o.value or 0.0) * (o.scale or 1.0) for o in operands}


# --- the evaluator -----------------------------------------------------------------------------

_BINARY: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[float], float]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
_FUNCTIONS: dict[str, Callable[..., float]] = {
    "abs": abs,
    "min": min,
    "max": max,
    "round": round,
    "sqrt": math.sqrt,
}
_MAX_EXPONENT = 100.0
_MAX_NODES = 200


def formula_names(formula: str) -> list[str]:
    """The operand names of `formula`, in order of first use (function names excluded); raises
    `ComputeError` when it is not an allowed expression."""
    tree = _parse(formula)
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in _FUNCTIONS and node.id not in names:
            names.append(node.id)
    # ast.walk is breadth-first: order by position in the text instead
    return sorted(names, key=lambda n: re.search(rf"\b{re.escape(n)}\b", formula).start())  # type: ignore[union-attr]


def _parse(formula: str) -> ast.Expression:
    try:
        tree = ast.parse(formula.strip(), mode="eval")
    except SyntaxError as e:
        raise ComputeError(f"the formula {formula!r} does not parse: {e.msg}") from None
    count = 0
    for node in ast.walk(tree):
        count += 1
        allowed = isinstance(
            node,
            ast.Expression
            | ast.BinOp
            | ast.UnaryOp
            | ast.Constant
            | ast.Name
            | ast.Load
            | ast.Call
            | ast.operator
            | ast.unaryop,
        )
        if not allowed:
            raise ComputeError(f"{type(node).__name__} is not allowed in a formula")
        if isinstance(node, ast.operator) and type(node) not in _BINARY:
            raise ComputeError(f"the operator {type(node).__name__} is not allowed")
        if isinstance(node, ast.unaryop) and type(node) not in _UNARY:
            raise ComputeError(f"the operator {type(node).__name__} is not allowed")
        if isinstance(node, ast.Constant) and (
            isinstance(node.value, bool) or not isinstance(node.value, int | float)
        ):
            raise ComputeError(f"the constant {node.value!r} is not a number")
        if isinstance(node, ast.Call) and (
            not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS or node.keywords
        ):
            raise ComputeError("only abs, min, max, round and sqrt may be called")
    if count > _MAX_NODES:
        raise ComputeError(f"the formula is too long ({count} nodes)")
    return tree


def safe_eval(formula: str, values: Mapping[str, float]) -> float:
    """Evaluate `formula` over `values` without Python's `eval`: only numbers, the names in
    `values`, + - * / **, unary signs, parentheses and abs/min/max/round/sqrt.

    >>> safe_eval("round(a / b, 3)", {"a": 1, "b": 3})
    0.333
    >>> safe_eval("__import__('os')", {})
    Traceback (most recent call last):
    ...
    docqa.answer.formula.ComputeError: only abs, min, max, round and sqrt may be called
    """
    tree = _parse(formula)

    def ev(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return float(node.value)
        if isinstance(node, ast.Name):
            if node.id not in values:
                raise ComputeError(f"{node.id} has no value")
            return float(values[node.id])
        if isinstance(node, ast.UnaryOp):
            return _UNARY[type(node.op)](ev(node.operand))
        if isinstance(node, ast.BinOp):
            left, right = ev(node.left), ev(node.right)
            if isinstance(node.op, ast.Div) and right == 0:
                raise ComputeError("the formula divides by zero")
            if isinstance(node.op, ast.Pow) and (
                abs(right) > _MAX_EXPONENT or (left < 0 and not float(right).is_integer())
            ):
                raise ComputeError(f"the power {left} ** {right} is not allowed")
            return _BINARY[type(node.op)](left, right)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            args = [ev(a) for a in node.args]
            fn = node.func.id
            if fn == "round":
                if not 1 <= len(args) <= 2:
                    raise ComputeError("round takes a number and a number of digits")
                return float(round(args[0], int(args[1])) if len(args) == 2 else round(args[0]))
            if fn == "sqrt" and (len(args) != 1 or args[0] < 0):
                raise ComputeError("sqrt takes one number that is not negative")
            if not args:
                raise ComputeError(f"{fn} needs an argument")
            return float(_FUNCTIONS[fn](*args))
        raise ComputeError(f"{type(node).__name__} is not allowed in a formula")

    try:
        result = ev(tree)
    except (OverflowError, ValueError) as e:
        if isinstance(e, ComputeError):
            raise
        raise ComputeError(f"the formula cannot be evaluated: {e}") from None
    if not math.isfinite(result):
        raise ComputeError("the formula's result is not a finite number")
    return result


# --- the answer --------------------------------------------------------------------------------

_DECIMALS = re.compile(
    r"\b(?:to|with)\s+(?:the\s+)?(\d+|one|two|three|four|five|six)\s+decimals?(?:\s+places?)?",
    re.I,
)
_WORD_DIGITS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
_PERCENT = re.compile(r"\bper\s?cent(?:age)?\b|%", re.I)


def format_result(value: float, question: str, formula: str) -> str:
    """The result as a reader wants it: the decimals the question asks for ("round to three
    decimal places"), else up to 2 (whole numbers from 1,000 up, with separators); a `%` when
    the question asks for a percentage and the formula scales by 100.

    >>> format_result(20.6794, "effective tax rate, in percentage, round to one decimal", "a/b*100")
    '20.7%'
    >>> format_result(13929.4, "invested capital in million", "a + b")
    '13,929'
    """
    m = _DECIMALS.search(question)
    if m is not None:
        raw = m.group(1).lower()
        decimals = int(raw) if raw.isdigit() else _WORD_DIGITS[raw]
        text = f"{value:,.{min(decimals, 10)}f}"
    elif abs(value) >= 1000:
        text = f"{value:,.0f}"
    else:
        text = f"{value:,.2f}".rstrip("0").rstrip(".") if value != int(value) else f"{value:.0f}"
    scaled = re.search(r"\*\s*100\b|\b100\s*\*", formula) is not None
    if scaled and _PERCENT.search(question):
        text += "%"
    return text


def _pretty(formula: str, values: Mapping[str, str]) -> str:
    out = formula
    for name, shown in values.items():
        out = re.sub(rf"\b{re.escape(name)}\b", shown, out)
    return out.replace("*", "×")


def compose_answer(computation: Computation) -> str:
    """The answer text of a computation whose operands are all grounded: the result and its
    formula, then one cited sentence per operand.

    >>> c = Computation(formula="a / b * 100", result=6.3, result_text="6.31%", operands=[
    ...     Operand(name="a", description="net income, 2023", value_text="$28.7", value=28.7,
    ...             passage=3, grounded=True),
    ...     Operand(name="b", description="revenue, 2023", value_text="$455.1", value=455.1,
    ...             passage=3, grounded=True)])
    >>> print(compose_answer(c))
    6.31%, computed as a / b × 100 = $28.7 / $455.1 × 100 [3].
    Net income, 2023 (a) is $28.7 [3].
    Revenue, 2023 (b) is $455.1 [3].
    """
    shown = {o.name: o.value_text or "?" for o in computation.operands}
    cites = "".join(
        f"[{n}]" for n in dict.fromkeys(o.passage for o in computation.operands if o.passage)
    )
    lines = [
        f"{computation.result_text}, computed as {_pretty(computation.formula, {})} = "
        f"{_pretty(computation.formula, shown)} {cites}."
    ]
    for o in computation.operands:
        what = o.description.rstrip(".") or o.name
        lines.append(f"{what[:1].upper()}{what[1:]} ({o.name}) is {o.value_text} [{o.passage}].")
    return "\n".join(lines)


def readings(formula: str, values: Mapping[str, float]) -> list[float]:
    """The values an answer may state for `formula` over `values` and mean the same thing: the
    result, as a fraction or as a percentage (x 100, / 100), and for every difference in the
    formula both its readings, absolute (a - b) and relative ((a - b) / b, as a fraction or a
    percentage): "how much did revenue grow" is answered as often with "$48.7 million" as with
    "10.7%". Raises `ComputeError` as `safe_eval` does.

    >>> [round(v, 4) for v in readings("a - b", {"a": 503.8, "b": 455.1})]
    [48.7, 4870.0, 0.487, 0.107, 10.7009]
    """
    tree = _parse(formula)
    result = safe_eval(formula, values)
    out = [result, result * 100, result / 100]
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub):
            left = safe_eval(ast.unparse(node.left), values)
            right = safe_eval(ast.unparse(node.right), values)
            out.append(left - right)
            if right != 0:
                out += [(left - right) / right, (left - right) / right * 100]
    return list(dict.fromkeys(out))


def confirming_figure(answer: str, computation: Computation) -> str | None:
    """The figure of a model's `answer` that states the computation's result in one of its
    `readings` (at the precision the answer writes it: "10.7%" states 10.70; sign ignored, as
    text gives it in words), or None when the answer states no such figure. Years and dates
    never count.

    >>> c = Computation(formula="a - b", result=48.7, operands=[
    ...     Operand(name="a", description="revenue 2024", value_text="$503.8", value=503.8),
    ...     Operand(name="b", description="revenue 2023", value_text="$455.1", value=455.1)])
    >>> confirming_figure("Revenue was $503.8 million in 2024, up 10.7% [1].", c)
    '10.7%'
    >>> confirming_figure("Net income grew by 9.2% [1].", c) is None
    True
    """
    if computation.result is None or not computation.operands:
        return None
    try:
        values = readings(computation.formula, operand_values(computation.operands))
    except ComputeError:
        return None
    targets = [abs(v) for v in values]
    for q in extract_quantities(strip_citations(answer)):
        if q.kind in (QuantityKind.year, QuantityKind.date):
            continue
        tol = 0.5 * 10.0 ** (-q.decimals)
        stated = [(q.mantissa, tol)]
        if q.scale is not None:
            stated.append((q.mantissa * q.scale, tol * q.scale))
        for v, t in stated:
            if any(abs(v - target) <= t + 1e-9 * max(target, 1.0) for target in targets):
                return q.text
    return None


_ORDER = {Verdict.supported: 2, Verdict.partial: 1, Verdict.unsupported: 0}


def apply_to_report(report: CitationReport, computation: Computation) -> CitationReport:
    """The citation report of a composed answer with its first sentence (the result, a number
    no passage states) judged by its operands: the weakest operand sentence's verdict and score.
    Citation recall and precision (ALCE) are recounted as the checker counts them."""
    if not report.sentences:
        return report
    first, rest = report.sentences[0], report.sentences[1:]
    if rest:
        weakest = min(rest, key=lambda s: (_ORDER[s.verdict], s.score))
        verdict, score = weakest.verdict, weakest.score
    else:
        verdict, score = Verdict.unsupported, 0.0
    patched: SentenceCheck = first.model_copy(
        update={
            "verdict": verdict,
            "score": score,
            "irrelevant_citations": [] if verdict == Verdict.supported else first.citations,
            "repaired_citations": None,
            "claim": True,
            "reasons": [
                f"computed by docqa: {computation.formula} over the operands cited below; "
                "its verdict is theirs"
            ],
        }
    )
    return citation_report([patched, *rest])


def describe_computation(c: Computation) -> str:
    """One line for front ends: what was computed from which figures, or why nothing was.

    >>> describe_computation(Computation(formula="a / b", error="no value found for b"))
    'computation dropped: no value found for b'
    """
    if c.agrees is not None:
        return f"checked by docqa: {c.formula} = {c.result_text} confirms the answer's {c.agrees}"
    if not c.used:
        return f"computation dropped: {c.error}"
    figures = ", ".join(
        f"{o.name} = {o.value_text} [{o.passage}]"
        + (f" (the model named [{o.named_passage}])" if o.named_passage is not None else "")
        for o in c.operands
    )
    line = f"computed by docqa: {c.formula} = {c.result_text}, from {figures}"
    if c.replaced is not None:
        said = " ".join(c.replaced.split())
        line += f"; the model had answered: {said[:120]}{'...' if len(said) > 120 else ''}"
    return line
