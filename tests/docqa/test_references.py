"""Figures, tables and sections a question names: reading the names, recognising the chunk
that holds one, and retrieval that follows them (a real Edge store, MiniLM, BM25, reranker)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from markers import needs_reranker
from one_document import one_document_retriever

from docqa.answer.strategies import rag_prompt
from docqa.config import AnswerSettings
from docqa.references import Reference, anchors, find_references
from docqa.retrieval import Retriever, named_first


@pytest.mark.parametrize(
    ("question", "names"),
    [
        ("In Figure 3, which method is best?", ["Figure 3"]),
        ("See Fig. 2b and Tables 1 and 2.", ["Figure 2", "Table 1", "Table 2"]),
        ("Does Section 3.3 cite more papers than Section 3.1?", ["Section 3.3", "Section 3.1"]),
        ("What does § 4 say? And Appendix B?", ["Section 4", "Appendix B"]),
        ("Figure 12 and 13 show what?", ["Figure 12", "Figure 13"]),
        ("How many figures are in this paper from page 3 to page 10?", []),
        ("Who owns a tablet computer?", []),
        ("What is in table A.1?", ["Table A.1"]),
        ("Revenue in fiscal 2023 and the sections on risk", []),
    ],
)
def test_find_references(question: str, names: list[str]) -> None:
    assert [r.text for r in find_references(question)] == names


@pytest.mark.parametrize(
    ("ref", "text", "held"),
    [
        (Reference(kind="figure", label="3"), "Figure 3: Accuracy by method.", True),
        (Reference(kind="figure", label="3"), "56\nF1 score\nFigure 3: LLMs' performance", True),
        (Reference(kind="figure", label="3"), "Fig. 3. Results", True),
        (Reference(kind="figure", label="3"), "As Figure 3 shows, accuracy rises.", False),
        (Reference(kind="figure", label="3"), "Figure 31: Another figure.", False),
        (Reference(kind="table", label="2"), "Table 2: Representative work.", True),
        (Reference(kind="table", label="2"), "TABLE 2 | Results", True),
        (Reference(kind="table", label="2"), "Table 2 lists the work.", False),
        (Reference(kind="section", label="3.3"), "3.3 Post-hoc Correction\nText", True),
        (Reference(kind="section", label="3.3"), "in 3.3 percent of cases", False),
        (Reference(kind="section", label="3"), "3.3 Post-hoc Correction", False),
        (Reference(kind="appendix", label="A"), "A.2 CHESS PUZZLES", False),
        (Reference(kind="appendix", label="A"), "Appendix A Details of the setup", True),
    ],
)
def test_anchors_hold_the_caption_or_heading_not_a_mention(
    ref: Reference, text: str, held: bool
) -> None:
    assert anchors(ref, text) is held


def test_a_heading_field_anchors_a_section() -> None:
    ref = Reference(kind="section", label="3.3")
    assert anchors(ref, "Methods such as Self-Refine iterate.", heading="3.3 Post-hoc Correction")


pytestmark_reranker = needs_reranker

QUESTION = "In Figure 3, which method gives the best accuracy?"
MENTIONS = [
    "As Figure 3 shows, accuracy depends on the method; we discuss which method gives the best "
    "accuracy and why the method matters for accuracy.",
    "Which method gives the best accuracy? We compare accuracy of each method in Figure 3 and "
    "Figure 4 against the baseline method.",
    "The method with the best accuracy in earlier work was prompting, whose accuracy we revisit.",
]
CAPTION = "Figure 3: Results of the six approaches. Finetuning on ground-truth labels wins."
TEXTS = [*MENTIONS, "Related work covers distillation and self-training.", CAPTION]
DOC = "paper"


@pytest.fixture(scope="module")
def retriever(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Retriever]:
    yield from one_document_retriever(tmp_path_factory.mktemp("home"), DOC, "paper.pdf", TEXTS)


@pytestmark_reranker
def test_retrieval_follows_the_named_figure_to_its_caption(retriever: Retriever) -> None:
    # the question's words are the mentions' words: a small pool holds no caption
    plain = retriever.run(QUESTION, k=2, doc_ids=[DOC], candidates=3)
    assert CAPTION not in [h.text for h in plain]
    assert all(h.reference is None for h in plain)
    followed = retriever.run(QUESTION, k=2, doc_ids=[DOC], candidates=3, references=True)
    caption = [h for h in followed if h.text == CAPTION]
    assert len(caption) == 1 and caption[0].reference == "Figure 3" and caption[0].page == 5
    assert len(followed) <= 3  # the top 2, and the caption when it ranks below them
    assert named_first(followed) == caption
    # a mention is not the figure; a question naming nothing changes nothing
    assert [h.reference for h in followed if h.text != CAPTION] == [None] * (len(followed) - 1)
    assert retriever.run("Which method is best?", k=2, doc_ids=[DOC], references=True) == (
        retriever.run("Which method is best?", k=2, doc_ids=[DOC])
    )
    unranked = retriever.run(QUESTION, k=2, doc_ids=[DOC], rerank=False, references=True)
    assert CAPTION in [h.text for h in unranked]


@pytestmark_reranker
def test_the_prompt_leads_with_the_named_figure(retriever: Retriever) -> None:
    settings = AnswerSettings(candidates=3, min_passages=2, max_passages=2)

    def words(text: str) -> int:
        return len(text.split())

    plain = rag_prompt(QUESTION, retriever, words, settings, doc_ids=[DOC])
    assert CAPTION not in [p.text for p in plain.passages]
    follow = settings.model_copy(update={"follow_references": True})
    prompt = rag_prompt(QUESTION, retriever, words, follow, doc_ids=[DOC])
    assert prompt.passages[0].text == CAPTION and prompt.passages[0].page == 5
    assert len(prompt.passages) == 2
    assert any("Figure 3 is on p. 5" in n for n in prompt.notes)
