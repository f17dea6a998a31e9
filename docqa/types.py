"""Domain types, all in one module (pydantic models).

Pages are 1-based physical page numbers (PyMuPDF index + 1) everywhere a user sees them.
Boxes are PDF points in PyMuPDF's coordinate system (origin top-left).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field


class Box(BaseModel):
    page: int
    x0: float
    y0: float
    x1: float
    y1: float


BlockKind = Literal["text", "table", "ocr"]


class Block(BaseModel):
    """A unit of a page in reading order: a text block, a table (as Markdown) or OCR text."""

    kind: BlockKind
    text: str
    box: Box
    heading: bool = False
    """A short line set larger or bolder than the body: starts a new section."""
    table_header: str | None = None
    """For tables: the Markdown header row + separator, repeated when the table is split."""


class Page(BaseModel):
    doc_id: str
    page: int
    text: str
    """The whole page's text in reading order (tables as Markdown): for long-context prompts."""
    width: float
    height: float
    ocr: bool = False
    image: str | None = None
    """Page image path relative to the blob folder."""


def with_context(context: str | None, text: str) -> str:
    """A chunk's text as search reads it: its context line (if any) and the text on their own
    lines."""
    return f"{context}\n{text}" if context else text


class Chunk(BaseModel):
    doc_id: str
    index: int
    """Position in the document (chunks sorted by index are in document order)."""
    text: str
    """What is embedded and shown: never longer than the embedder's window."""
    page_start: int
    page_end: int
    kind: BlockKind
    heading: str | None = None
    boxes: list[Box] = Field(default_factory=list)
    tokens: int = 0
    context: str | None = None
    """Where the chunk sits (document title, outline section, heading): put before `text` for
    embedding, BM25 and reranking (`search_text`), never shown as the chunk's text."""

    @property
    def search_text(self) -> str:
        """What search reads (embedding, BM25, the reranker): `with_context`."""
        return with_context(self.context, self.text)


class DocStatus(StrEnum):
    indexing = "indexing"
    ready = "ready"
    partial = "partial"
    """Visible and searchable like `ready`, but some pages could not be read: see
    `Document.failed_pages`."""
    failed = "failed"

    @property
    def visible(self) -> bool:
        """Its stored pages and chunks are what search and answers read."""
        return self in (DocStatus.ready, DocStatus.partial)


class PageError(BaseModel):
    """A page that could not be read, and why (it is neither stored nor searchable)."""

    page: int
    """1-based page number."""
    reason: str

    def __str__(self) -> str:
        return f"page {self.page}: {self.reason}"


class Document(BaseModel):
    """The record of one source file in the store."""

    doc_id: str
    """Stable id: derived from the file's path, so a changed file replaces its old version."""
    path: str
    filename: str
    sha256: str
    status: DocStatus
    title: str | None = None
    pages: int = 0
    chunks: int = 0
    ocr_pages: int = 0
    bytes: int = 0
    toc: list[tuple[int, str, int]] = Field(default_factory=list)
    """(level, title, page) from the PDF outline."""
    generation: str = ""
    """The ingestion run whose chunks are visible (ready) or being written (indexing)."""
    error: str | None = None
    warnings: list[str] = Field(default_factory=list)
    """Non-fatal problems, e.g. a page that failed to render."""
    failed_pages: list[PageError] = Field(default_factory=list)
    """Pages that could not be read (status `partial`): `pages` counts only the stored ones."""
    indexed_at: float | None = None
    settings_signature: str | None = None
    """`IngestSettings.content_signature` of the run that stored it; None for documents stored
    before it was recorded (taken as stored under today's settings)."""


class FileStatus(StrEnum):
    indexed = "indexed"
    partial = "partial"
    """Indexed without the pages in `IngestResult.failed_pages`."""
    unchanged = "unchanged"
    failed = "failed"
    removed = "removed"


class IngestResult(BaseModel):
    """What happened to one file in an ingest run (the `--json` contract)."""

    path: str
    doc_id: str | None = None
    status: FileStatus
    pages: int = 0
    chunks: int = 0
    error: str | None = None
    failed_pages: list[PageError] = Field(default_factory=list)
    seconds: float = 0.0


class IngestReport(BaseModel):
    documents: list[IngestResult]
    seconds: float
    stages: dict[str, float] = Field(default_factory=dict)
    """Seconds this process spent per stage: waiting for the parsers, chunking, embedding,
    storing. Much waiting means parsing (OCR, tables) is the bottleneck, little means embedding.
    `parse_*`: the parser processes' seconds per step over the pages they sent (text, ocr,
    tables, layout, figures, image), which run beside this process's stages."""


class SparseVector(BaseModel):
    indices: list[int]
    values: list[float]


class SearchHit(BaseModel):
    doc_id: str
    path: str
    page: int
    page_end: int
    score: float
    kind: BlockKind
    text: str
    chunk_index: int
    heading: str | None = None
    boxes: list[Box] = Field(default_factory=list)
    context: str | None = None
    """`Chunk.context` (None for chunks indexed before it existed)."""
    reference: str | None = None
    """The figure, table or section the question names that this chunk holds ("Figure 3":
    its caption or heading; `docqa.references`), when retrieval followed the question's
    references."""

    @property
    def search_text(self) -> str:
        """What the reranker reads: the same text as the chunk's `Chunk.search_text`."""
        return with_context(self.context, self.text)


class Passage(BaseModel):
    """A numbered source text an answer cites as `[n]` (a retrieved chunk or a whole page)."""

    n: int
    text: str
    page: int | None = None
    page_end: int | None = None
    doc_id: str | None = None
    path: str | None = None
    boxes: list[Box] = Field(default_factory=list)
    rank: int | None = None
    """Retrieval rank (1 = best) of a retrieved passage; None for whole pages."""
    score: float | None = None
    """The cross-encoder's logit for a reranked passage (how sure retrieval was); None when
    not reranked."""
    lead: str | None = None
    """For a piece of a table: the short lines above the table on its page (its name, units,
    periods), shown to the model above `text` (`answer.table_view = "captioned"`); not part of
    the text citations are checked against."""


class Verdict(StrEnum):
    supported = "supported"
    partial = "partial"
    unsupported = "unsupported"


class Quote(BaseModel):
    """The span of a passage that best supports a sentence: `passage.text[start:end] == text`."""

    passage: int
    """The passage's `n`."""
    start: int
    end: int
    text: str


class SentenceCheck(BaseModel):
    """One answer sentence, its citations and how well the cited passages support it."""

    text: str
    """The sentence without its `[n]` markers."""
    citations: list[int]
    verdict: Verdict
    score: float = Field(ge=0.0, le=1.0)
    """Probability that the cited passages (together) support the sentence."""
    quote: Quote | None = None
    repaired_citations: list[int] | None = None
    """The corrected citation list when the checker made a repair, else None."""
    reasons: list[str] = Field(default_factory=list)
    start: int = 0
    end: int = 0
    """Span of the sentence (markers included) in the answer text."""
    claim: bool = True
    """False for a sentence that asserts nothing citable ("I could not find this in the
    documents."): it is left out of citation recall."""
    missing_citations: list[int] = Field(default_factory=list)
    """Cited numbers with no passage of that number."""
    irrelevant_citations: list[int] = Field(default_factory=list)
    """Citations that count against citation precision (ALCE)."""
    scores: dict[str, float] = Field(default_factory=dict)
    """The verifier's score of the cited passages and its details (member scores of a
    combination)."""


class TermGrounding(BaseModel):
    """The names and figures an answer adds to its question (`docqa.citations.terms`), and those
    of them found in no passage the model was given."""

    terms: list[str] = Field(default_factory=list)
    ungrounded: list[str] = Field(default_factory=list)

    @property
    def ungrounded_share(self) -> float | None:
        """The share of key terms that are in no source; None for an answer without any."""
        return len(self.ungrounded) / len(self.terms) if self.terms else None


class CitationReport(BaseModel):
    sentences: list[SentenceCheck]
    citation_recall: float
    citation_precision: float


Strategy = Literal["rag", "long-context", "speculative", "closed-book"]
"""How an answer was produced: retrieved passages, the whole document, the whole document decoded
speculatively from drafts (the same answer as long context, sooner), or no context at all."""
StrategyChoice = Literal["auto", "rag", "long-context", "speculative", "closed-book"]

StatementUse = Literal["off", "pool", "lead"]
"""How RAG uses a filing's primary financial statements (`answer.statements`,
`docqa.retrieval.Retriever.run`)."""


class Citation(BaseModel):
    """A `[n]` of the answer resolved to where it points: document, page, boxes, quoted span."""

    n: int
    doc_id: str | None = None
    path: str | None = None
    page: int | None = None
    page_end: int | None = None
    bbox: Box | None = None
    """The box of the quoted span's block when known, else the union of the passage's boxes on
    its first page (for the UI to highlight)."""
    quote: str | None = None
    """The span of the passage that best supports the sentences citing it (checker's quote),
    else the passage's opening words."""
    text: str = ""
    """The whole cited passage."""


class AnswerSentence(BaseModel):
    text: str
    """The sentence as written, `[n]` markers removed."""
    citations: list[int] = Field(default_factory=list)
    verdict: Verdict | None = None
    """The citation checker's verdict; None when the checker did not run."""
    score: float | None = None
    repaired_citations: list[int] | None = None
    claim: bool = True
    extra_citations: list[int] = Field(default_factory=list)
    """Of `citations`, those the checker calls not needed: the sentence is supported and the
    other citations still support it without them (ALCE's irrelevant citation). Front ends show
    them as extras; `citations.needed_only` leaves them out of `Answer.citations`."""


QuestionScope = Literal["fact", "whole-document"]
"""A question about one fact (a figure, a name) or about the whole document (a summary, a count,
a comparison, "which sections")."""


class RouteSignals(BaseModel):
    """What the router knew when it chose (`docqa.answer.router`), recorded with every answer so
    that its thresholds can be fitted on eval records of the fixed strategies. None: not
    measured on this path."""

    documents: int = 0
    """Documents in scope."""
    window: int = 0
    """Tokens the model's allocated context holds."""
    scope: QuestionScope = "fact"
    document_tokens: int | None = None
    """The long-context prompt's tokens (None: not built, e.g. more than three documents)."""
    fits: bool | None = None
    """The long-context prompt and the answer fit `window`."""
    cached: bool | None = None
    """The documents' long-context KV state is on disk."""
    prefill_seconds: float | None = None
    """Estimated prefill of the long-context prompt (0 when cached)."""
    top_score: float | None = None
    """The best RAG passage's reranker logit."""
    margin: float | None = None
    """The best logit minus the second best."""
    passages_above: int | None = None
    """RAG passages whose logit clears `answer.min_rerank_score`."""
    rag_abstained: bool | None = None
    rag_unsure: bool | None = None
    """RAG abstained without generating (`answer.abstain_below`)."""
    fallback_abstain_probability: float | None = None
    """The probability the long-context fallback gave to answering "not found" (its first
    token), when it ran after RAG abstained."""


class Route(BaseModel):
    strategy: Strategy
    requested: StrategyChoice = "auto"
    reasons: list[str] = Field(default_factory=list)
    signals: RouteSignals | None = None


class Timings(BaseModel):
    """Seconds."""

    retrieval: float = 0.0
    prefill: float = 0.0
    """Building the document's KV state (0 when it came from the cache)."""
    time_to_first_token: float | None = None
    """From the question to the first answer text."""
    generation: float = 0.0
    check: float = 0.0
    total: float = 0.0


class TokenCounts(BaseModel):
    prompt: int = 0
    completion: int = 0
    context: int = 0
    """Tokens of the passages or document pages in the prompt."""
    cached: int = 0
    """Prompt tokens whose KV state was reused (document cache)."""


class SpeculativeReport(BaseModel):
    """How a speculative answer was decoded (`docqa.generation.speculative`)."""

    drafter: str
    drafted: int
    accepted: int
    acceptance_rate: float
    passes: int
    """Forward passes of the target after the prompt (plain decoding: one per token)."""
    decode_tokens_per_second: float
    draft_seconds: float
    """Drafting during decoding."""
    drafter_prefill_seconds: float = 0.0
    """A model drafter reading its passages before decoding starts (not in the decoding rate)."""
    rechecks: int = 0
    """Close calls of a verification pass scored again alone (`answer.recheck_margin`)."""
    exact: bool = False
    """The answer is the long-context answer token for token: greedy decoding on a target whose
    verification passes score each token as alone (`LogitsModel.max_exact_pass`: transformers,
    or llama.cpp built with `make setup LLAMA_EXACT=1`). False: it may part from the
    long-context answer where the model's top two choices are close."""
    eta: float = 0.0
    """RAPID's eta (`answer.rapid_eta`): above 0 the tokens come from the retrieval-augmented
    target, which leans towards the drafter's reading of the retrieved passages."""


class Operand(BaseModel):
    """One number of a computed answer (`docqa.answer.compute`)."""

    name: str
    """Its name in the formula."""
    description: str
    """What the plan said to look up ("net income, fiscal 2023")."""
    value_text: str | None = None
    """The number as the passage writes it; None when the model found none."""
    value: float | None = None
    """Its signed value without a written scale ("$1.2 billion" -> 1.2)."""
    scale: float | None = None
    """The written scale (1e3, 1e6, 1e9), None when none is written."""
    passage: int | None = None
    """The passage that states it (the answer cites this one)."""
    named_passage: int | None = None
    """The passage the model named, when that one does not state the number and `passage` does
    (the citation was moved); None when the model named `passage`."""
    grounded: bool = False
    """`passage` states this number."""


class Computation(BaseModel):
    """A computed answer: the formula, its operands and where each comes from, the result."""

    formula: str
    operands: list[Operand] = Field(default_factory=list)
    result: float | None = None
    result_text: str | None = None
    """The result as the answer states it (decimals and % as the question asks)."""
    error: str | None = None
    """Why no result was stated (the answer then comes from the ordinary prompt)."""
    used: bool = False
    """The answer is this computation's (False: it was tried and dropped, see `error`, or the
    model's answer already stated its result, see `agrees`)."""
    agrees: str | None = None
    """The figure of the model's own answer that the computation confirmed (`answer.compute =
    "check"`): that answer was kept, in the document's words."""
    replaced: str | None = None
    """The model's own answer that this computation replaced (`answer.compute = "check"`), for
    audit: what the model said before docqa computed."""
    plan: str = ""
    """The model's reply to the plan prompt (formula and what to look up), for audit."""
    extraction: str = ""
    """The model's replies to the extraction prompts (`name: value [n]`, one line each)."""


class Answer(BaseModel):
    """Everything needed to show, check and audit one answer (the `ask --json` contract)."""

    question: str
    answer: str
    """The model's text with its `[n]` markers."""
    abstained: bool
    sentences: list[AnswerSentence] = Field(default_factory=list)
    citations: list[Citation] = Field(default_factory=list)
    """The passages the answer cites (after repairs), by `n`."""
    passages: list[Passage] = Field(default_factory=list)
    """Every numbered passage (or page) the model was given."""
    candidate_pages: list[int] = Field(default_factory=list)
    """Pages of every candidate the retriever returned (the reranked pool the passage budget
    chose `passages` from), best first, each page once: an evidence page here but not in
    `passages` was found and then cut. Long context: the pages given; closed book: none. Pages
    of different documents are not told apart. Empty in answers recorded before this field."""
    route: Route
    timings: Timings = Field(default_factory=Timings)
    tokens: TokenCounts = Field(default_factory=TokenCounts)
    model: str = ""
    doc_ids: list[str] = Field(default_factory=list)
    """The documents the question was restricted to (empty: all)."""
    dropped_sentences: list[str] = Field(default_factory=list)
    """Sentences removed because their citations did not support them
    (`citations.on_unsupported = "drop"`), or the whole answer withdrawn because its names and
    figures are in no passage (`answer.abstain_ungrounded`) or the model nearly declined it
    (`answer.abstain_probability`)."""
    caveats: list[str] = Field(default_factory=list)
    """What the reader should know about the answer's limits, e.g. that the question is about
    what a picture shows, which docqa cannot see (`docqa.answer.visual`)."""
    citation_recall: float | None = None
    citation_precision: float | None = None
    finish_reason: str | None = None
    speculative: SpeculativeReport | None = None
    """The drafter's figures when the answer was decoded speculatively."""
    computation: Computation | None = None
    """The formula, operands and result when the question asked for arithmetic and docqa
    computed it (`answer.compute`), or why it did not."""
    terms: TermGrounding | None = None
    """The names and figures the answer adds to the question, and those in no passage
    (`docqa.citations.terms`); None for abstentions and answers without passages. When
    `answer.abstain_ungrounded` withdrew the answer, they are the withdrawn answer's."""
    abstain_probability: float | None = None
    """The probability the model gave to starting its answer with the abstention reply ("Not
    found in the documents.": its first token), whatever it then wrote; None when nothing was
    generated or the backend shows no logits. A confidence signal (`eval.abstain_signal`)."""
