"""Answer scoring (MMLongBench-Doc style) and the page / abstention metrics: known right and wrong
answers for every scorer."""

from __future__ import annotations

import pytest

from docqa.types import Citation, Passage
from eval.scoring import (
    abstention_scores,
    anls,
    answer_numbers,
    citation_page_scores,
    clean_gold,
    infer_answer_format,
    is_not_answerable,
    levenshtein,
    mmlongbench_f1,
    normalize_text,
    page_recall_at_k,
    pages_of,
    parse_gold_list,
    score_answer,
    short_answer,
)


def correct(gold: str, answer: str, fmt: str, question: str | None = None) -> bool:
    return score_answer(gold, answer, fmt, abstained=False, question=question).correct


# --- numbers ------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["Int", "Float"])
@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("The revenue was 1.577 billion dollars [2].", True),
        ("Revenue was $1577.00 [1].", True),
        ("Revenue was 1,577 [1].", True),  # bare: a table "in millions"
        ("Revenue was $1,577 million [1][3].", True),
        ("Revenue was US$ 1,577 mn [1].", True),
        ("Revenue was 1,757 [1].", False),
        ("Revenue was €1,577 million [1].", False),  # another currency
        ("Revenue was $1,577 billion [1].", False),  # another scale
    ],
)
def test_amount_with_units_and_scale(fmt: str, answer: str, expected: bool) -> None:
    assert correct("$1,577 million", answer, fmt) is expected


def test_int_is_exact_float_has_one_percent_tolerance() -> None:
    assert not correct("$1,577 million", "It was $1,578 million [1].", "Int")
    assert correct("$1,577 million", "It was $1,578 million [1].", "Float")  # 0.06% off
    assert correct("6.31", "About 6.3 [2].", "Float")
    assert correct("51.286", "51.3 [1]", "Float")
    assert correct("0.488", "0.49", "Float")
    assert not correct("1.08%", "About 1.1% [2].", "Float")  # 1.9% off: the paper says wrong
    assert not correct("5", "There were 5.4 on average.", "Int")
    assert correct("1383", "A total of 1,383.0 stores.", "Int")


@pytest.mark.parametrize(
    ("gold", "answer", "expected"),
    [
        ("12%", "The share was 0.12 [1].", True),  # percent vs fraction, as upstream
        ("12%", "The share was 12 [1].", True),
        ("12%", "The share was 12 percent [1].", True),
        ("0.263", "The ratio is 26.3% [1].", True),
        ("72.3%", "It reached 72.3 [1].", True),
        ("12%", "It cost $12 [1].", False),  # currency is never a percentage
        ("12%", "The share was 13% [1].", False),
        ("-14.76%", "The rate was a negative 14.76% [1].", True),  # sign ignored
    ],
)
def test_percentages(gold: str, answer: str, expected: bool) -> None:
    assert correct(gold, answer, "Float") is expected


def test_number_words_and_question_echoes() -> None:
    q = "How many subfigures are in Figure 3?"
    assert correct("6", "Figure 3 has six subfigures [1].", "Int", question=q)
    assert correct("6", "Figure 3 has 6 subfigures [1].", "Int", question=q)
    # "3" is the question's own figure number, not the answer's count
    assert not correct("3", "Figure 3 has six subfigures [1].", "Int", question=q)
    assert not correct("5", "The table on p. 5 lists 7 items [2].", "Int")
    assert correct("21", "There are twenty-one of them.", "Int")


def test_strict_uses_the_first_number_of_the_short_answer() -> None:
    lead = score_answer("347", "The teams counted 347 pairs [1].", "Int", abstained=False)
    assert lead.correct and lead.strict and lead.extracted == "347"
    later = score_answer("347", "Of 1,200 birds, 347 were pairs [1].", "Int", abstained=False)
    assert later.correct and not later.strict


def test_citation_markers_are_not_numbers_of_the_answer() -> None:
    assert not correct("2", "The value is 7 [2].", "Int")
    assert not correct("3", "The value is 7 [1, 3][2-4].", "Int")
    # a bracketed list of large numbers is an answer, not a citation
    assert correct("[1500, 8000]", "[1500, 8000]", "List")


def test_answer_numbers_strip_markers_and_page_references() -> None:
    got = [q.text for q in answer_numbers("Sales were $5.2 billion [3] (p. 14) in 2023 [4, 5].")]
    assert got == ["$5.2 billion", "2023"]


# --- strings ------------------------------------------------------------------------------------


def test_levenshtein_and_anls() -> None:
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein("", "abc") == 3
    assert levenshtein("same", "same") == 0
    assert anls("kitten", "sitting") == pytest.approx(1 - 3 / 7)
    assert anls("abc", "xyz") == 0.0  # below the 0.5 threshold
    assert anls("abcd", "abxy") == 0.0  # exactly 0.5 is not above it
    assert anls("", "") == 1.0


@pytest.mark.parametrize(
    ("gold", "answer", "ok", "strict", "method"),
    [
        ("Appota", "Appota [3].", True, True, "anls"),
        ("Appota", "Apota [3].", True, True, "anls"),  # ANLS 0.83
        ("Appota", "The company is Appota [3].", True, False, "contains"),
        ("Appota", "Google [3].", False, False, "anls"),
        ("cat", "They concatenate the files [1].", False, False, "anls"),  # word-bounded
        ("UC Browser Tiếng Việt", "UC Browser Tieng Viet [2].", True, True, "anls"),
        ("Bluebird Award", "The Bluebird Awards [1].", True, True, "anls"),
        (
            "the lower of cost or net realizable value",
            "Inventories, counted in stores and warehouses, are stated at the lower of cost or net "
            "realizable value [4].",
            True,
            False,
            "contains",
        ),
        (
            '"humans supervise models are weaker than humans"',
            "Humans supervise models that are weaker than humans [1].",
            True,
            True,
            "anls",
        ),
        ("Yes", "Yes, it is [1].", True, True, "yes-no"),
        ("Yes", "No, it is not; yes is wrong [1].", False, False, "yes-no"),
        ("Section 4.1", "Section 4.2", False, False, "anls"),  # numbers must agree
        ("2023-05-01", "2023-05-02", False, False, "exact"),  # ANLS would pass 0.9
        ("2023-05-01", "2023-05-01 [1].", True, True, "exact"),
    ],
)
def test_strings(gold: str, answer: str, ok: bool, strict: bool, method: str) -> None:
    s = score_answer(gold, answer, "Str", abstained=False)
    assert (s.correct, s.strict, s.method) == (ok, strict, method)
    assert (s.score > 0) is ok
    if method == "contains":
        assert s.score == 1.0


def test_a_gold_the_question_names_is_not_found_by_containment() -> None:
    """A choice among options the question names: repeating the question contains every
    option, so only the short answer counts."""
    question = (
        "Among training-time correction, generation-time correction and post-hoc correction, "
        "which one has the most representative papers?"
    )
    echo = (
        "Among training-time correction, generation-time correction and post-hoc correction, "
        "training-time correction has the most papers [3]."
    )
    gold = "post-hoc correction"
    assert score_answer(gold, echo, "Str", abstained=False).correct  # without the question
    echoed = score_answer(gold, echo, "Str", abstained=False, question=question)
    assert not echoed.correct and echoed.method == "anls"
    right = score_answer(
        gold, "Post-hoc correction [5].", "Str", abstained=False, question=question
    )
    assert right.correct and right.strict
    # the same for a list element the question names
    store = "Which has more apps, Apple App store or Google Play store? How many million?"
    both = "Apple App store or Google Play store: 1.3 million apps [2]."
    gold_list = "['Google Play store', '1.3']"
    assert score_answer(gold_list, both, "List", abstained=False).correct
    assert not score_answer(gold_list, both, "List", abstained=False, question=store).correct
    named = score_answer(
        gold_list, "Google Play store, 1.3 million [2].", "List", abstained=False, question=store
    )
    assert named.correct
    # a gold the question does not name is still found anywhere in the answer
    other = score_answer("Appota", "It is Appota [3].", "Str", abstained=False, question=question)
    assert other.correct and other.method == "contains"


def test_anls_score_is_the_similarity() -> None:
    s = score_answer("Appota", "Apota", "Str", abstained=False)
    assert s.score == pytest.approx(1 - 1 / 6)


def test_normalisation_and_short_answer() -> None:
    assert normalize_text("The “Tiếng Việt” edition (2nd).") == "tieng viet edition"
    assert normalize_text("Appendix A") == "appendix a"
    assert short_answer("The answer is 42 [1]. It was on page 3.") == "42"
    assert short_answer("**Appota** [2]. Other text.") == "Appota"
    assert short_answer("") == ""


# --- lists --------------------------------------------------------------------------------------

SECTIONS = "['Section 4.1', 'Section 4.2', 'Section 4.3', 'Appendix A']"


def test_list_in_another_order_is_correct_and_a_missing_element_is_wrong() -> None:
    shuffled = "They are Appendix A, Section 4.3, Section 4.1 and Section 4.2 [1][2]."
    assert correct(SECTIONS, shuffled, "List")
    assert not correct(SECTIONS, "Section 4.1, Section 4.2 and Appendix A [1].", "List")
    assert not correct(SECTIONS, "Section 4.1, Section 4.2, Section 4.3 and Appendix B.", "List")


def test_list_elements_use_their_own_scorer() -> None:
    assert correct("['90%', '42%', '39%']", "39%, 90% and 42% [1].", "List")
    assert not correct("['90%', '42%', '39%']", "39%, 90% and 24% [1].", "List")
    assert correct("[1500, 8000]", "Between 1,500 and 8,000 [2].", "List")
    assert correct("['Google Play store', '1.3']", "The Google Play Store, with 1.3 [1].", "List")
    assert correct("['lower', '38']", "Lower, by 38 points [2].", "List")


def test_list_duplicates_need_as_many_matches() -> None:
    assert correct("['3', '2', '3']", "They are 3, 2 and 3 [1].", "List")
    assert not correct("['3', '2', '3']", "They are 3 and 2 [1].", "List")


def test_list_strict_needs_no_extra_items() -> None:
    s = score_answer("[1500, 8000]", "1,500, 8,000 and 9,000 [2].", "List", abstained=False)
    assert s.correct and not s.strict
    s = score_answer("[1500, 8000]", "1,500 and 8,000 [2].", "List", abstained=False)
    assert s.correct and s.strict and s.score == 1.0


def test_parse_gold_list_is_safe() -> None:
    assert parse_gold_list(SECTIONS) == ["Section 4.1", "Section 4.2", "Section 4.3", "Appendix A"]
    assert parse_gold_list("[1500, 8000]") == ["1500", "8000"]
    assert parse_gold_list("red; green") == ["red", "green"]
    # never evaluated as code
    assert parse_gold_list("[__import__('os').getcwd()]") == ["__import__('os').getcwd()"]


# --- unanswerable and abstention ---------------------------------------------------------------


@pytest.mark.parametrize(("abstained", "expected"), [(True, True), (False, False)])
def test_not_answerable_is_correct_exactly_when_abstaining(abstained: bool, expected: bool) -> None:
    s = score_answer("Not answerable", "I could not find this.", "None", abstained=abstained)
    assert s.correct is expected and s.score == float(expected) and s.method == "abstention"


def test_unanswerable_flag_wins_over_the_gold_text() -> None:
    gold = "The document does not provide information on the number of patents."  # LaRA hallu
    assert score_answer(gold, "", "None", abstained=True, unanswerable=True).correct
    assert not score_answer(
        gold, "It filed 12 [1].", "Free", abstained=False, unanswerable=True
    ).correct


def test_abstaining_on_an_answerable_question_is_wrong() -> None:
    s = score_answer("347", "I could not find this in the documents.", "Int", abstained=True)
    assert not s.correct and s.score == 0.0


def test_abstention_precision_recall() -> None:
    a = abstention_scores([True, True, False, False], [True, False, True, False])
    assert (a.precision, a.recall, a.f1) == (0.5, 0.5, 0.5)
    a = abstention_scores([True, False], [True, True])
    assert (a.precision, a.recall) == (1.0, 0.5)
    a = abstention_scores([False, False], [False, True])
    assert a.precision is None and a.recall == 0.0 and a.f1 is None
    a = abstention_scores([True], [False])
    assert a.precision == 0.0 and a.recall is None
    with pytest.raises(ValueError):
        abstention_scores([True], [])


def test_mmlongbench_f1() -> None:
    # answerable: scores 1, 0.5 (recall 0.75); answered: 3 (precision 1.5 / 3 = 0.5)
    f1 = mmlongbench_f1(
        [1.0, 0.5, 0.0, 1.0], [False, False, True, True], [False, False, False, True]
    )
    assert f1 == pytest.approx(2 * 0.75 * 0.5 / 1.25)
    assert mmlongbench_f1([1.0], [True], [True]) is None


# --- free-form golds and format inference ------------------------------------------------------


def test_free_form_golds() -> None:
    gold = "Effective tax rate in FY2022 was 0.62%, compared to  -14.76% in FY2021."
    assert correct(gold, "It was 0.62% in FY2022 versus -14.76% in FY2021 [3].", "Free")
    assert not correct(gold, "It was 0.62% in FY2022 [3].", "Free")
    yes = (
        "Yes, the margins have been consistent, a minor decline of 1.1% between FY2022 and FY2023."
    )
    assert correct(yes, "Yes. The gross margin fell by 1.1% [1].", "Free")
    assert not correct(yes, "No. The gross margin fell by 1.1% [1].", "Free")
    words = "Automotive and energy generation and storage segments."
    assert correct(
        words, "Tesla reports automotive, and energy generation and storage [2].", "Free"
    )
    assert not correct(words, "Tesla sells cars [2].", "Free")


def test_clean_gold_and_format_inference() -> None:
    note = "36%. The answer here assumes FY2023 refers to the 12 months ended on January 28, 2023."
    assert clean_gold(note) == "36%."
    assert clean_gold(' "finetune g.t." ') == "finetune g.t."
    assert is_not_answerable("Not answerable") and not is_not_answerable("Not available")
    cases = {
        "140,473.": "Int",
        "$78,509 million.": "Int",
        "$4.68 billion.": "Float",
        note: "Float",
        "PricewaterhouseCoopers LLP.": "Str",
        "['a', 'b']": "List",
        "Not answerable": "None",
        "The intra-day high was $299.29 per share and the low was $152.37 per share.": "Free",
    }
    assert {g: infer_answer_format(g) for g in cases} == cases
    assert infer_answer_format("Something long.", unanswerable=True) == "None"


# --- pages --------------------------------------------------------------------------------------


def test_page_recall_at_k() -> None:
    assert page_recall_at_k([5, 9, 2], [2, 7], k=3) == 0.5
    assert page_recall_at_k([5, 9, 2], [2, 7], k=2) == 0.0
    assert page_recall_at_k([5, 5, 5, 2], [2], k=2) == 1.0  # distinct pages, in rank order
    assert page_recall_at_k([1, 2, 7], [2, 7]) == 1.0  # k=None: all
    assert page_recall_at_k([1], []) is None


def test_citation_page_scores() -> None:
    assert citation_page_scores([3, 4], [4, 8]) == (0.5, 0.5)
    assert citation_page_scores([4, 4, 8], [4, 8]) == (1.0, 1.0)
    assert citation_page_scores([], [4]) == (None, 0.0)
    assert citation_page_scores([4], []) == (None, None)


def test_pages_of_citations_and_passages() -> None:
    cites = [
        Citation(n=1, path="/x/report.pdf", page=4, page_end=5),
        Citation(n=2, path="/x/other.pdf", page=9),
        Citation(n=3, page=4),
        Citation(n=4, path="report.pdf", page=None),
    ]
    assert pages_of(cites) == [4, 5, 9]
    assert pages_of(cites, doc="report.pdf") == [4, 5]
    assert pages_of([Passage(n=1, text="t", page=2, page_end=1)]) == [2]  # bad end ignored
