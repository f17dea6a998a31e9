"""The prompts of the three strategies, and how an abstention is recognised.

- RAG: numbered passages, each labelled with its document and page; the model cites `[n]`.
- Long context: the whole document, each page opened by a `[p. N]` marker; the model cites
  `[p. N]`, which `normalize_page_citations` turns into `[N]` (the page's passage number).
  Several documents: pages are numbered passages `[n]` labelled with document and page.
- Closed book: the question alone (a baseline for the eval suite).

Every prompt asks for the same abstention sentence when the context does not hold the answer,
so that abstaining is read from the text, not guessed.

The context comes first and the question last, so the long-context prefix (system message and
document) is identical for every question on a document: its KV state is reused.

Example:
    >>> msgs = rag_messages("Who won?", [Passage(n=1, text="Alice won.", page=3, path="a.pdf")])
    >>> "[1] (a.pdf, p. 3)" in msgs[1].content
    True
    >>> normalize_page_citations("Sales rose [p. 4] and fell [pp. 7-8].")
    'Sales rose [4] and fell [7-8].'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import PurePath

from docqa.answer.forms import form_hint
from docqa.answer.tables import aligned_tables
from docqa.citations.checker import is_claim
from docqa.citations.split import split_answer, strip_citations
from docqa.generation import ChatMessage
from docqa.types import Page, Passage

__all__ = [
    "ABSTAIN",
    "closed_book_messages",
    "is_abstention",
    "is_hollow",
    "long_context_messages",
    "normalize_page_citations",
    "rag_messages",
]

ABSTAIN = "Not found in the documents."

_RULES = (
    "Answer in one to four short sentences. Copy numbers, names and units exactly as the "
    "source writes them. Do not use knowledge from outside the source. If the source does not "
    f'contain the answer, reply exactly: "{ABSTAIN}"'
)

RAG_SYSTEM = (
    "You answer questions using only the numbered passages the user gives. After each sentence, "
    "cite the passages that support it by their numbers in square brackets, like [1] or [2][3]. "
    + _RULES
)

LONG_CONTEXT_SYSTEM = (
    "You answer questions using only the document the user gives. Each page starts with a "
    "marker such as [p. 4]. After each sentence, cite the pages that support it in the same "
    "form, like [p. 4] or [p. 4][p. 9]. " + _RULES
)

MULTI_DOC_SYSTEM = (
    "You answer questions using only the numbered pages of the documents the user gives. After "
    "each sentence, cite the pages that support it by their numbers in square brackets, like [1] "
    "or [2][3]. " + _RULES
)

CLOSED_BOOK_SYSTEM = (
    "Answer the question in one to four short sentences. If you do not know the answer, reply "
    f'exactly: "{ABSTAIN}"'
)


def _label(p: Passage) -> str:
    name = PurePath(p.path).name if p.path else (p.doc_id or "document")
    if p.page is None:
        return name
    if p.page_end is not None and p.page_end != p.page:
        return f"{name}, pp. {p.page}-{p.page_end}"
    return f"{name}, p. {p.page}"


_CITE_REMINDER = {
    "passages": "End each sentence with the number(s) of the passage(s) it comes from, like [1].",
    "pages": "End each sentence with the page(s) it comes from, like [p. 3].",
    "none": "",
}


def question_block(question: str, cite: str = "passages", *, form: bool = False) -> str:
    """The question, then a one-line reminder of the citation form: small models follow the
    last instruction they read (the 1.5B left out `[n]` when the rule was only in the system
    message). It comes after the document, so the long-context prefix stays shared. `form`:
    a line on the form the answer should start with, read from the question
    (`docqa.answer.forms`), goes between them."""
    lines = [f"Question: {question.strip()}"]
    if form and (hint := form_hint(question)):
        lines.append(hint)
    if reminder := _CITE_REMINDER[cite]:
        lines.append(reminder)
    return "\n".join(lines)


def _shown(text: str, align_tables: bool, lead: str | None = None) -> str:
    text = text.strip()
    text = aligned_tables(text) if align_tables else text
    return f"{lead.strip()}\n{text}" if lead and lead.strip() else text


def numbered_passages(passages: Sequence[Passage], *, align_tables: bool = False) -> str:
    """The passages as every passage prompt shows them: `[n] (file.pdf, p. 12)` above each text,
    a blank line between them. `align_tables`: Markdown tables with each figure under its own
    column header (`docqa.answer.tables`). A passage's `lead` (a table's name and units) goes
    above its text."""
    return "\n\n".join(
        f"[{p.n}] ({_label(p)})\n{_shown(p.text, align_tables, p.lead)}" for p in passages
    )


def rag_messages(
    question: str,
    passages: Sequence[Passage],
    *,
    form: bool = False,
    align_tables: bool = False,
    question_first: bool = False,
) -> list[ChatMessage]:
    """`question_first`: the question also opens the user message, so the model reads the
    passages knowing what it looks for (it still closes it, with the reminders). RAG only: a
    long-context prompt keeps its shared prefix."""
    block = question_block(question, form=form)
    body = f"Passages:\n\n{numbered_passages(passages, align_tables=align_tables)}\n\n{block}"
    user = f"Question: {question.strip()}\n\n{body}" if question_first else body
    return [
        ChatMessage(role="system", content=RAG_SYSTEM),
        ChatMessage(role="user", content=user),
    ]


def long_context_prefix(title: str, pages: Sequence[Page], *, align_tables: bool = False) -> str:
    """The user message up to the question: the same for every question on the document."""
    body = "\n\n".join(f"[p. {p.page}]\n{_shown(p.text, align_tables)}" for p in pages)
    return f"Document: {title}\n\n{body}\n\n"


def long_context_messages(
    question: str,
    title: str,
    pages: Sequence[Page],
    *,
    form: bool = False,
    align_tables: bool = False,
) -> list[ChatMessage]:
    user = long_context_prefix(title, pages, align_tables=align_tables) + question_block(
        question, "pages", form=form
    )
    return [
        ChatMessage(role="system", content=LONG_CONTEXT_SYSTEM),
        ChatMessage(role="user", content=user),
    ]


def multi_doc_prefix(passages: Sequence[Passage], *, align_tables: bool = False) -> str:
    return (
        f"Documents, page by page:\n\n{numbered_passages(passages, align_tables=align_tables)}\n\n"
    )


def multi_doc_messages(
    question: str, passages: Sequence[Passage], *, form: bool = False, align_tables: bool = False
) -> list[ChatMessage]:
    block = question_block(question, form=form)
    prefix = multi_doc_prefix(passages, align_tables=align_tables)
    return [
        ChatMessage(role="system", content=MULTI_DOC_SYSTEM),
        ChatMessage(role="user", content=prefix + block),
    ]


def closed_book_messages(question: str, *, form: bool = False) -> list[ChatMessage]:
    return [
        ChatMessage(role="system", content=CLOSED_BOOK_SYSTEM),
        ChatMessage(role="user", content=question_block(question, "none", form=form)),
    ]


_PAGE_CITE = re.compile(
    r"\[\s*(?:p{1,2}\.?|pages?)\s*(\d+(?:\s*(?:[-–,;]|and)\s*(?:p{1,2}\.?\s*)?\d+)*)\s*\]", re.I
)


def normalize_page_citations(text: str) -> str:
    """`[p. 4]`, `[pp. 7-8]`, `[page 3, p. 5]` -> `[4]`, `[7-8]`, `[3, 5]` (page = passage number
    in a single-document long-context prompt)."""

    def repl(m: re.Match[str]) -> str:
        inner = re.sub(r"p{1,2}\.?\s*", "", m.group(1), flags=re.I)
        inner = re.sub(r"\s*and\s*", ", ", inner)
        return f"[{inner}]"

    return _PAGE_CITE.sub(repl, text)


_ABSTAIN_NORM = re.sub(r"\W+", " ", ABSTAIN.lower()).strip()


def is_abstention(answer: str) -> bool:
    """True when the answer declines: it is (or starts with) the abstention sentence, or none of
    its sentences cites a passage or asserts anything (the citation checker's `is_claim`).

    >>> is_abstention("Not found in the documents."), is_abstention("Revenue was $5 [1].")
    (True, False)
    >>> is_abstention("The passages do not mention the CEO's age.")
    True
    """
    text = strip_citations(answer).strip()
    if not text:
        return True
    norm = re.sub(r"\W+", " ", text.lower()).strip()
    if norm.startswith(_ABSTAIN_NORM):
        return True
    # as in the citation checker, a sentence that cites a passage asserts something
    sentences = split_answer(answer)
    if not sentences:
        return not is_claim(text)
    return not any(s.citations or is_claim(s.text) for s in sentences)


# a sentence whose words stop where its content should be, before its citation markers
_DANGLING = re.compile(r"\b(?:is|are|was|were|be|of|to|as|by|in|include|includes)\s*:?$", re.I)

RESTATE = (
    "Your answer gave passage numbers where the answer itself should be. Write the answer in "
    "words and numbers taken from the sources, then cite where each sentence comes from, in the "
    "same form as before."
)
"""The follow-up message when an answer is hollow (`is_hollow`)."""


def is_hollow(answer: str) -> bool:
    """True when the answer puts citation markers where its content should be: nothing but
    markers ("[1][2][3]"), or a cited sentence whose words stop at a verb or preposition ("The
    template used is [1]."). Small models do this; asked once more, they usually state it.

    >>> is_hollow("[1][2]"), is_hollow("The prompt template is [1]."), is_hollow("It is $5 [1].")
    (True, True, False)
    >>> is_hollow("Not found in the documents.")
    False
    """
    if not strip_citations(answer).strip(" .\n"):
        return True
    for sentence in split_answer(answer):
        words = strip_citations(sentence.text).rstrip(" .")
        if sentence.citations and _DANGLING.search(words):
            return True
    return False
