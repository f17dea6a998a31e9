"""`docqa.answer.premise`: the premises a question names and what a document mentions."""

from __future__ import annotations

from docqa.answer.premise import Mentions, absent_premises, premise_caveat, premises

FILLER = "The survey asked adults about their use of the internet at home."


def _doc(*pages: str) -> Mentions:
    return Mentions.of_pages(list(pages))


def test_a_question_names_years_pages_figures_and_tables_in_its_own_words() -> None:
    found = premises("In Figure 3 and Fig. 4, and Table 2 on pages 100-120, what changed in 2022?")
    assert [(p.kind, p.value, p.text) for p in found] == [
        ("figure", 3, "Figure 3"),
        ("figure", 4, "Fig. 4"),
        ("table", 2, "Table 2"),
        ("page", 100, "pages 100-120"),
        ("year", 2022, "2022"),
    ]
    assert [p.text for p in premises("What does p. 7 say about FY2023 revenue?")] == [
        "p. 7",
        "2023",
    ]


def test_amounts_sections_and_unnumbered_figures_are_not_premises() -> None:
    assert premises("Did revenue pass $2,022 million or 2022.5 units?") == []
    assert premises("Does Section 3.3 cite more papers than Section 3.1?") == []
    assert premises("How many figures are in the paper?") == []
    assert premises("What is 12020 plus 3?") == []


def test_a_year_is_mentioned_by_itself_its_short_forms_or_a_range_that_spans_it() -> None:
    doc = _doc(
        f"{FILLER} Results for fiscal 2019 and FY21, and the Q3 '22 outlook.",
        f"{FILLER} The 2023-24 budget and the 2025/26 plan; a trend from 2000 to 2010.",
    )
    for year in (2019, 2021, 2022, 2023, 2024, 2025, 2026, 2000, 2005, 2010):
        assert absent_premises(f"What happened in {year}?", [doc]) == [], year
    for year in (2020, 2027, 1999, 2011):
        assert [p.value for p in absent_premises(f"What happened in {year}?", [doc])] == [year]


def test_a_page_is_mentioned_by_the_page_count_or_a_printed_folio() -> None:
    three = _doc(f"{FILLER}\n1", f"{FILLER}\n2", f"{FILLER}\n3")
    assert absent_premises("What is on page 3?", [three]) == []
    assert [p.text for p in absent_premises("What is on page 5?", [three])] == ["page 5"]
    # an excerpt of a book: its pages carry the folios 100 to 102
    excerpt = _doc(f"100\n{FILLER}", f"101\n{FILLER}", f"{FILLER}\nPage 102")
    assert absent_premises("What is on pages 101-102?", [excerpt]) == []
    assert [p.value for p in absent_premises("What is on page 140?", [excerpt])] == [140]


def test_a_lone_number_counts_as_a_folio_only_where_pages_agree_on_its_offset() -> None:
    # a paper numbered 1-8 whose page 5 ends on a chart's axis tick "100" (mmlongbench_882)
    pages = [f"{FILLER}\n{n}" for n in range(1, 9)]
    pages[4] = f"{FILLER}\nAccuracy (%)\n100"
    paper = _doc(*pages)
    assert [p.text for p in absent_premises("How many figures are on pages 100-120?", [paper])] == [
        "pages 100-120"
    ]
    assert absent_premises("What is on page 8?", [paper]) == []
    # an excerpt printed from page 100 on: pages without a folio line are in its range too
    excerpt = _doc(*(f"{n}\n{FILLER}" if n % 2 else FILLER for n in range(100, 110)))
    assert absent_premises("What is on pages 100-101?", [excerpt]) == []
    assert absent_premises("What does page 109 say?", [excerpt]) == []
    assert [p.value for p in absent_premises("What does page 110 say?", [excerpt])] == [110]
    # a journal's pages 484-491, each number above a download watermark (the TACL survey)
    mark = "Downloaded from the publisher's site on 7 December 2026"
    journal = _doc(*(f"{FILLER}\n{n}\n{mark}" for n in range(484, 492)))
    assert absent_premises("What is on page 490?", [journal]) == []
    assert [p.value for p in absent_premises("What is on page 480?", [journal])] == [480]
    # one page alone is its own agreement
    assert absent_premises("What is on page 57?", [_doc(f"{FILLER}\n57")]) == []


def test_figures_and_tables_are_mentioned_by_their_numbers() -> None:
    doc = _doc(f"{FILLER} Figure 1 shows the trend; see Fig. 2 and TABLE 3 below.")
    assert absent_premises("What does Figure 2 show, and Table 3?", [doc]) == []
    absent = absent_premises("What does Figure 5 show, and Table 1?", [doc])
    assert [p.text for p in absent] == ["Figure 5", "Table 1"]


def test_one_document_mentioning_a_premise_is_enough() -> None:
    old, new = _doc(f"{FILLER} Fieldwork ran in 2013."), _doc(f"{FILLER} Fieldwork ran in 2022.")
    question = "How many people went online in 2022?"
    assert [p.value for p in absent_premises(question, [old])] == [2022]
    assert absent_premises(question, [old, new]) == []
    assert absent_premises(question, []) == []


def test_a_document_mostly_without_text_mentions_everything() -> None:
    scanned = _doc(f"{FILLER} 2013", "", "", "")
    assert not scanned.readable
    assert absent_premises("What changed in 2022, in Figure 9?", [scanned]) == []


def test_the_caveat_names_the_premises_and_where_they_are_missing() -> None:
    absent = absent_premises("What changed in 2022 in Table 4?", [_doc(f"{FILLER} 2013")])
    one = premise_caveat(absent[:1], 1)
    assert "'2022'" in one and "the document never mentions it" in one
    both = premise_caveat(absent, 3)
    assert "'2022', 'Table 4'" in both and "none of the documents mentions them" in both
