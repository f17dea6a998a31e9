"""The drafter's prompt of `speculative`: the retrieved passages in the long-context form."""

from __future__ import annotations

from docqa.answer.prompts import LONG_CONTEXT_SYSTEM, MULTI_DOC_SYSTEM, normalize_page_citations
from docqa.answer.strategies import Prompt, drafting_messages
from docqa.types import Document, Passage

QUESTION = "What did the furnace save?"


def _doc(doc_id: str, name: str) -> Document:
    return Document(doc_id=doc_id, path=f"/x/{name}", filename=name, sha256="0", status="ready")


def _whole(docs: list[Document], pages: int) -> Prompt:
    """A long-context prompt's passages: every page, numbered as `long_context_prompt` does."""
    single = len(docs) == 1
    passages = [
        Passage(
            n=page if single else i * pages + page, text=f"page {page}", page=page, doc_id=d.doc_id
        )
        for i, d in enumerate(docs)
        for page in range(1, pages + 1)
    ]
    return Prompt(
        strategy="long-context", messages=[], passages=passages, page_citations=single, docs=docs
    )


def _retrieved(*found: tuple[str, int, str]) -> Prompt:
    passages = [
        Passage(n=i, text=text, page=page, doc_id=doc_id, path=f"/x/{doc_id}.pdf")
        for i, (doc_id, page, text) in enumerate(found, start=1)
    ]
    return Prompt(strategy="rag", messages=[], passages=passages)


def test_one_document_drafts_read_its_pages_as_long_context_does() -> None:
    doc = _doc("d1", "plant.pdf")
    retrieved = _retrieved(
        ("d1", 7, "Energy use fell by 6 percent."),
        ("d1", 3, "The plant produced 4,210 tonnes."),
        ("d1", 7, "Overtime dropped to 310 hours."),
    )
    system, user = drafting_messages(QUESTION, _whole([doc], 9), retrieved)
    assert system.content == LONG_CONTEXT_SYSTEM
    text = user.content
    assert text.startswith("Document: plant.pdf")
    # page markers the target cites by, in page order, the passages of one page together
    assert text.index("[p. 3]\nThe plant produced") < text.index("[p. 7]\nEnergy use")
    assert "Energy use fell by 6 percent.\n\nOvertime dropped" in text
    assert text.count("[p. 7]") == 1 and "[1]" not in text and QUESTION in text
    assert normalize_page_citations("[p. 7]") == "[7]"  # what the answer's [p. 7] becomes


def test_several_documents_number_the_passages_as_their_pages_are_numbered() -> None:
    docs = [_doc("d1", "d1.pdf"), _doc("d2", "d2.pdf")]
    whole = _whole(docs, 5)  # d1's pages are [1]-[5], d2's [6]-[10]
    retrieved = _retrieved(("d2", 2, "second doc, page 2"), ("d1", 4, "first doc, page 4"))
    system, user = drafting_messages(QUESTION, whole, retrieved)
    assert system.content == MULTI_DOC_SYSTEM
    text = user.content
    assert text.index("[4] (d1.pdf, p. 4)") < text.index("[7] (d2.pdf, p. 2)")
    assert "first doc, page 4" in text and "second doc, page 2" in text
    assert "[1] (" not in text and "[2] (" not in text  # not the retrieval's own numbers
