"""The one `Settings` object. Environment `DOCQA_*` (nested with `__`), optional `docqa.toml`.

No other module reads the environment: everything is passed a `Settings` (or a section of it).

Example:
    >>> s = Settings(home="/tmp/dq")
    >>> s.store.kind
    'edge'
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Annotated, Literal

import platformdirs
from pydantic import BaseModel, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from docqa.types import StatementUse, StrategyChoice


class StoreSettings(BaseModel):
    """Where vectors, pages and document records live."""

    kind: Literal["edge", "qdrant"] = "edge"
    """`edge`: the embedded Qdrant engine in `<home>/store` (one process per folder).
    `qdrant`: a Qdrant server or cluster at `url` (or `:memory:` / a path: qdrant-client local mode)."""
    url: str | None = None
    api_key: str | None = None
    prefix: str = "docqa"
    """Collection name prefix on a Qdrant server, so several deployments can share one cluster."""
    upsert_batch: int = 256


class EmbeddingSettings(BaseModel):
    model: str = "minilm"
    """`minilm` (all-MiniLM-L6-v2, offline default), `bge-small` (bge-small-en-v1.5 INT8 ONNX),
    or any local path / Hugging Face id of a sentence-transformers model."""
    batch_size: int = 32
    device: str = "cpu"
    threads: int | None = None
    """Threads the embedder computes with (torch's intra-op threads, set for each call; ONNX
    Runtime's for the BGE model). None: while ingesting with `ingest.share_cores` (the
    default), the cores no parser computes on, asked before each model batch; otherwise the
    cores the parser processes leave free (cores minus `ingest.parse_workers`, at least 1),
    since ingestion embeds while they parse. Measured
    2026-12-06 on 2 cores with one parser (`eval/results/embed-threads/`): one thread ingested
    the dev corpus in 132.4 s against 161.3 s with two, and the 1,000-page 10-K in 138.8 s
    against 159.7-170.2 s."""
    precision: Literal["auto", "float32", "bfloat16"] = "auto"
    """Arithmetic of the sentence-transformers embedder on the CPU: `bfloat16` runs it under
    torch's bfloat16 autocast; `auto` does so where the CPU computes bfloat16 natively (AMX or
    AVX512-BF16), float32 elsewhere. Measured 2026-12-06 on MiniLM with AMX: 2.5x the float32
    pace, cosine 0.9999 to the float32 vectors (`eval/results/bf16/`)."""


OcrGraphs = Literal["optimized", "stock"]
"""Which ONNX graphs OCR runs on (`IngestSettings.ocr_graphs`)."""


class IngestSettings(BaseModel):
    tables: Literal["lines", "layout", "off"] = "lines"
    """`lines`: PyMuPDF `find_tables(use_layout=False)` (fast); `layout`: its ONNX layout model
    (~5x slower); `off`: no table detection."""
    ocr: Literal["auto", "always", "off"] = "auto"
    """`auto`: OCR pages whose text layer has fewer than `ocr_min_chars` characters."""
    ocr_min_chars: int = 20
    ocr_dpi: int = 150
    """Measured 2026-12-06 (`eval/results/ocr-dpi/`): 120 and 100 dpi are 1.7-1.9x faster but
    read less (agreement with 150 dpi 0.954 and 0.927)."""
    ocr_angle_classifier: bool = False
    """Check each OCR'd text line for being upside down (scans fed in the wrong way round);
    measured 2026-12-06 on the dev corpus: 1.5x slower and less accurate on upright pages."""
    ocr_graphs: OcrGraphs = "optimized"
    """`optimized`: RapidOCR's detection and recognition graphs rewritten into equivalent ONNX
    graphs ONNX Runtime runs faster (`ingest/ocr_graph.py`; built once into the user's cache,
    checked against the stock graph; the stock graph is used if that fails); `stock`: the
    graphs as RapidOCR ships them. Measured 2026-12-07 (`eval/results/ocr-graph/`): the same
    text on every dev page, OCR 1.35x as fast on scans, ingestion of the dev corpus 14% faster."""
    drop_furniture: bool = False
    """Leave a document's running furniture out of its chunks: plain text lying in a margin
    band (the top or bottom tenth of the page, or a side's) that earlier pages carried too
    (a running header, a page number, a "Downloaded from ..." stamp, "Table of Contents"
    links; `ingest.furniture`). The pages' text keeps it. Measured 2026-12-08
    (`eval/results/furniture/`): 2,105 -> 2,043 chunks on the dev corpus, one evidence page
    gained and one lost (a download stamp's chunk) in the prompts; off."""
    ocr_spaces: bool = False
    """Put back the spaces OCR dropped between English words ("thelargestsmartphone" -> "the
    largest smartphone"; `ingest.spacing`), on pages identified as English. Measured
    2026-12-07 (`eval/results/ocr-spaces/`): OCR accuracy against the text layer 0.911 ->
    0.933 and one more evidence page in the prompt, but one held-out answer lost (51% -> 50%
    read off a chart); off by default, as the rule fixed before the run asked."""
    ocr_threads: int | None = Field(default=None, ge=1)
    """Threads each parser process OCRs with (ONNX Runtime's intra-op threads); None: with
    `share_cores` (the default), for each page the cores the embedder leaves at that moment;
    otherwise one per core (ONNX Runtime's default)."""
    ocr_figures: float | None = Field(default=None, gt=0.0, le=1.0)
    """On pages that have a text layer, OCR each image covering at least this share of the page
    (a chart or a scanned table pasted into a report), unless the layer already holds text
    inside it; the figure's text becomes an OCR block headed by its caption
    (`ingest.parse.figure_blocks`). None (the default): off, only textless pages are OCR'd."""
    page_images: bool = True
    image_dpi: int = 100
    image_format: Literal["png", "webp"] = "png"
    max_chunk_tokens: int | None = None
    """Chunk budget in embedder tokens; None: the embedder's full window (never above it)."""
    context_tokens: int = Field(default=0, ge=0)
    """Tokens of that budget kept for each chunk's context line (document title, outline
    section, heading; `ingest/context.py`), which embedding, BM25 and the reranker read before
    the chunk's text. 0 (default): chunks are indexed by their text alone; 32 was measured
    (eval/bench_retrieval.py, eval/BENCHMARKS.md) without a gain in evidence-page recall, so it stays off."""
    parse_workers: int = 1
    """Processes parsing PDFs while the main process embeds (a pipeline over both cores)."""
    share_cores: bool = True
    """Each side of the pipeline takes the cores the other leaves: the embedder computes each
    model batch on the cores no parser computes on (a parser waiting on its full outbox, or
    done, leaves its core), and a parser OCRs a page with the cores the embedder leaves
    (`ingest/cores.py`); `embedding.threads` and `ocr_threads`, when set, stay fixed. The ETA
    then models both stages (`ingest.eta.PipelineEta`). Off: one core each, as until
    2026-12-07. Measured that day on a 2-core AMD VM (`eval/results/core-share/`, three
    alternated runs each): with `queue_pages` 4096 the dev corpus ingested 11.6% faster than
    one core each (88.7 s against 100.4 s), two 1,000-page 10-Ks 18% faster, the ETA within
    12% between 10% and 90% of their pages."""
    queue_pages: int = 4096
    """Messages a parser may have unsent, a page costing two (its start, then its text): about
    half as many pages parsed ahead of the embedder, so the parser reaches a folder's scans
    while the embedder still works on its text files. Bounds the parser's memory on very long
    documents (a parsed page is ~8 KB: ~16 MB at most). 64 until 2026-12-07; 4096 with
    `share_cores` ingested the dev corpus 11.6% faster (`eval/results/core-share/`)."""
    page_timeout: float = Field(default=120.0, ge=0)
    """Seconds one page may take to parse (OCR and tables included) before its parser process
    is stopped and the page fails ("parsing took longer than ..."); the document goes on from
    the next page. 0: no limit."""

    def content_signature(self) -> str:
        """A digest of the settings that shape what a document's stored text, chunks and images
        are: the fields set away from their defaults, except those in `SPEED_ONLY`, which
        change how fast ingestion runs, not what it stores. A document stored under another
        signature is ingested again even when its bytes are the same (`ingest.pipeline`).
        Defaults do not count, so a release that adds a setting (off by default) does not
        re-read every store; a default that changes is a change of docqa, like a better
        parser, and does not re-read one either."""
        shaping = self.model_dump(mode="json", exclude=set(SPEED_ONLY), exclude_defaults=True)
        return hashlib.sha256(json.dumps(shaping, sort_keys=True).encode()).hexdigest()[:16]


SPEED_ONLY = (
    "ocr_graphs",
    "ocr_threads",
    "parse_workers",
    "share_cores",
    "queue_pages",
    "page_timeout",
)
"""`IngestSettings` fields that change the speed of ingestion, not what it stores: the
optimized OCR graphs read the same text as the stock ones, and a page's time limit only decides
whether a pathological page fails."""


class SearchSettings(BaseModel):
    k: int = 8
    prefetch: int = 50
    """Candidates each of dense and BM25 hands to RRF fusion."""


class AnswerSettings(BaseModel):
    """How questions are answered: strategy, passage budget, long context and its KV cache."""

    strategy: StrategyChoice = "auto"
    """`auto`: the router decides per question and says why (see `docqa.answer.router`)."""
    candidates: int = 20
    """Hybrid-search hits the cross-encoder reranks."""
    rerank: bool = True
    min_passages: int = 2
    """Passages a RAG prompt always gets (when the search finds that many)."""
    max_passages: int = 8
    min_rerank_score: float | None = None
    """Beyond `min_passages`, a passage is added only while its reranker logit is at least this
    (ms-marco MiniLM: relevant pairs score ~ +5..+10, unrelated ~ -10); None: no floor, the
    default since 2026-12-05 (it was -2): on the dev questions no floor put an evidence page in
    more prompts (0.545 -> 0.659 tune, 0.556 -> 0.611 held out, `make bench-budget`) and
    answered 12 of 63 answerable questions instead of 9 (6 / 6 tune / held-out instead of 4 / 5),
    for ~40% more prompt tokens (eval/BENCHMARKS.md)."""
    context_tokens: int = 2048
    """... and while the passages fit in this many prompt tokens: on a CPU every prompt token
    costs prefill time (~1/60 s for the 1.5B)."""
    abstain_below: float | None = None
    """RAG answers "not found" without generating when its best passage's reranker logit is
    below this: retrieval found nothing the cross-encoder calls relevant. None: the model alone
    decides. `make bench-budget` measures the separation on the dev questions (tune / held-out);
    off until a threshold is shown to help."""
    abstain_ungrounded: float | None = Field(default=1.0, gt=0.0, le=1.0)
    """RAG and long context answer "not found" instead of an answer when at least this share of
    the names and figures it adds to the question (`docqa.citations.terms`) are in no passage
    the model was given: it made them up. None: off. 1.0 (the default): only when all of them
    are; a derived figure (a ratio the model computed) is in no passage either, so lower values
    withdraw more right answers of models that compute. `python -m eval.abstain_signal`
    measures the rule on eval records (tune / held-out): on the dev questions (2026-12-05) it
    withdrew 3 wrong answers and no right one."""
    premise_check: bool = True
    """Every strategy but closed book answers "not found" at once, without searching or
    generating, when the question names a year, a page or a numbered figure or table that no
    document in scope mentions (`docqa.answer.premise`), and the answer says which
    (`Answer.caveats`). Replayed on the dev questions (2026-12-06, `eval/results/premise/`):
    3 more unanswerable questions abstained, no answerable one flagged."""
    abstain_probability: float | None = Field(default=None, gt=0.0, le=1.0)
    """Answer "not found" instead of an answer when the model gave at least this probability to
    starting with that reply (`Answer.abstain_probability`, its first token). None (the
    default): off. Measured 2026-12-05 (`eval.abstain_signal`): 0.2 lost no right answer on the
    76 dev questions (+1 right) nor on the 27 LaRA ones (+2 right, unanswerable abstained 1 -> 3
    of 7); 0.1 lost right answers on both. Not the default: the rule fixed before the dev run
    picked 0.1, which failed it."""
    form_hints: bool = False
    """Every prompt ends with a line on the form the answer should start with, read from the
    question's wording (`docqa.answer.forms`: a number with its unit, yes/no, the chosen
    option, the items of a list). Off by default until measured."""
    statements: StatementUse = "off"
    """RAG: `pool`: the chunks on the pages of a filing's primary financial statements (balance
    sheet, statements of earnings / operations / income / cash flows / equity:
    `docqa.statements`) join the reranker's candidates, so a question about a company's figures
    can find the statement that holds them; `lead`: as `pool`, and the best-ranked of them
    leads the passages. Measured 2026-12-06 (`eval/results/statements/`): `pool` put one more
    evidence page in the prompt (0.629 -> 0.645 of 62, held out) for 34% more reranking."""
    follow_references: bool = False
    """RAG: when the question names a figure, table, section or appendix ("Figure 3", "Table
    2", "Section 3.3"), the chunks holding its caption or heading join the reranked candidates
    (`docqa.references`), and the best of each leads the passages."""
    search_without_instructions: bool = False
    """RAG: the search and the reranker read the question without its answer-format
    instructions ("Write the answer in int format", "round to three decimal places", an
    example answer in brackets: `docqa.query.search_question`); the model still reads it as
    asked. Measured 2026-12-07 (`eval/results/bare-search/`): the reranked top 5 did not change
    for any dev question, and the prompt gained one evidence page held out and lost one on tune;
    not the default."""
    distinct_passages: float | None = Field(default=None, ge=0.0, lt=1.0)
    """RAG: a reranked passage whose text repeats a better-ranked one (word 3-gram resemblance
    above this: `retrieval.distinct`) is left out and the next one takes its place, so a
    filing's CEO and CFO certifications or a slide deck's repeated disclaimer take one prompt
    slot, not two. None: off. Measured 2026-12-08 at 0.7 (`eval/results/distinct/`): the
    evidence page reached the prompt for 3 more dev questions and left it for 1 (a download
    stamp's chunk), no answer gained; not the default."""
    passage_order: Literal["lost_in_the_middle", "best_last"] = "lost_in_the_middle"
    """RAG: the order of the passages in the prompt. `lost_in_the_middle`: rank 1 first, rank 2
    last, the weakest in the middle (`retrieval.lost_in_the_middle`); `best_last`: weakest
    first, the best right before the question. Measured 2026-12-07 (`eval/results/best-last/`):
    one held-out answer lost, and ALCE citation recall 39.5% -> 20.8%, as the 1.5B cites [1]
    whatever it holds; not the default."""
    question_first: bool = False
    """RAG: the question is also put before the passages, not only after them, so the model
    reads them knowing what it looks for (`prompts.rag_messages`). Off until measured."""
    table_view: Literal["parsed", "aligned", "captioned"] = "parsed"
    """How the prompt shows a passage's Markdown tables. `parsed`: as the parser wrote them (a
    currency sign is a column of its own, and a period's header sits over that sign column, not
    over its figures); `aligned`: each sign joined to its figure and the header moved onto it,
    empty columns dropped (`docqa.answer.tables`); `captioned`: aligned, and a retrieved piece
    of a table is shown under the short lines above the table on its page (its name, units and
    periods: `tables.table_lead`). Only the prompt changes: the stored text, search and the
    citation checker read the parsed tables."""
    passages: Literal["chunks", "pages"] = "chunks"
    """`chunks`: the reranked chunks themselves; `pages`: the reranked chunks grouped by page,
    each page given whole when it costs at most `max_page_tokens` (else its retrieved chunks
    joined), pages ranked by their best chunk (`budget.select_pages`)."""
    max_page_tokens: int = Field(default=1024, gt=0)
    long_context_reserve: int | None = None
    """Tokens kept free for the answer in a long-context prompt; None: the answer length
    (`generation.max_answer_tokens`)."""
    small_document_tokens: int = 3072
    """`auto`: a single document (the scope) whose long-context prompt is at most this long is
    read whole (as cheap as RAG's passages, and nothing can be missed)."""
    max_prefill_seconds: float = 600.0
    """`auto`: long context is tried (after RAG abstains) only when the document's KV state is
    cached or its estimated prefill takes at most this long."""
    whole_document_first: bool = False
    """`auto`: a question about the whole document (`router.question_scope`: summaries, counts,
    comparisons) that fits is read whole at once instead of retrieving first."""
    fallback_min_score: float | None = None
    """`auto`: after RAG abstains, long context is tried only when the best passage's reranker
    logit is at least this (None: no lower bound) ..."""
    fallback_max_score: float | None = None
    """... and below this (None: no upper bound). Both None: every abstention falls back
    (Self-Route). `python -m eval.fit_router` fits these on eval records."""
    fallback_abstain_probability: float | None = Field(default=None, gt=0.0, le=1.0)
    """`auto`: when long context answered after RAG abstained, keep RAG's "not found" if the
    long-context model gave at least this probability to answering so too (its answer's
    `abstain_probability`). None (the default): off.
    Fitted with the others by `python -m eval.fit_router`. Measured 2026-12-06 on the 34 dev
    questions long context can read: its probability hardly separates unanswerable questions
    (AUROC 0.49, median 0.004: with the whole document before it the 1.5B is sure there is an
    answer); 0.05-0.1 gained one tune question, short of the rule fixed before the run."""
    prefill_tokens_per_second: float = 60.0
    """For that estimate; measured for the 1.5B on 2 CPU cores (MODELS.md)."""
    drafter: Literal["ngram", "self", "model"] = "ngram"
    """`speculative`: who drafts for the long-context model. `ngram`: prompt lookup in the
    retrieved passages and the document (no model); `self`: the answering model in a second
    context reading only the retrieved passages; `model`: `drafter_model` on those passages."""
    drafter_model: str = "qwen2.5-0.5b"
    """A model with the answering model's tokenizer (registry name or GGUF path)."""
    draft_tokens: int = Field(default=10, ge=1)
    """Tokens drafted per step at first (RAPID: 10); then `draft_policy` decides."""
    draft_policy: Literal["grow", "cost"] = "grow"
    """`speculative`'s draft length after the first step. `grow`: +2 after a fully accepted
    draft (up to 16), one more than the accepted count after a rejection. `cost`
    (`docqa.generation.draft_planner`): the length with the most expected tokens per second
    from the target's measured pass times, the drafter's time and its acceptance so far,
    which drafts nothing where a pass over many tokens costs as much as decoding them."""
    recheck_margin: float = Field(default=0.0, ge=0.0)
    """Greedy `speculative`: a verification row whose top-1 minus top-2 logit is below this is
    not trusted; the last kept token is scored again alone, as plain long-context decoding
    scores it (`speculative.greedy_speculative`). On llama.cpp's default build a batch's
    logits differ from one token's, so a close call read from a batch can part the answer
    from long context's; a `make setup LLAMA_EXACT=1` build needs no recheck. 0: off."""
    rapid_eta: float = Field(default=0.0, ge=0.0)
    """`speculative`: RAPID's eta, how far the target's distribution leans towards the tokens
    the drafter (reading the retrieved passages) finds plausible (`speculative.rapid_target`).
    At `generation.temperature` > 0 the answer is sampled from that distribution; at 0 it is
    its greedy output (`speculative.rapid_greedy`), which needs a model drafter (`self` or
    `model`). 0: the long-context model's own answer."""
    compute: Literal["check", "replace", "off"] = "off"
    """RAG on a question that asks for arithmetic (`answer.formula.needs_computation`: ratios,
    margins, changes, sums): docqa computes the answer from figures the model copies from
    cited passages (`docqa.answer.compute`: a formula, each operand retrieved on its own and
    checked against its passage, the result evaluated by code).
    `check`: the model answers from the passages first (streamed as usual); the computation
    then checks it. An answer that states the computed result (or, for a change, the other
    reading of it: absolute or relative) is kept in the document's words; an answer that does
    not, or that abstained, is replaced by the computed one. `replace`: the computed answer is
    given whenever the computation holds, the model's own only when it fails. `off`: the model
    does the arithmetic itself, the default: on the dev corpus's arithmetic questions the
    1.5B model's formulas and copied figures were too often wrong for the computed answers to
    help (`make eval-compute`, eval/BENCHMARKS.md). (True / False read as `check` / `off`.)"""

    @field_validator("compute", mode="before")
    @classmethod
    def _compute_switch(cls, v: object) -> object:
        if isinstance(v, bool):
            return "check" if v else "off"
        if isinstance(v, str) and v.strip().lower() in {"true", "1", "yes", "on"}:
            return "check"
        if isinstance(v, str) and v.strip().lower() in {"false", "0", "no"}:
            return "off"
        return v

    kv_cache: bool = True
    """Keep each document's long-context KV state on disk (`<home>/cache/kv`) and reuse it."""
    kv_cache_max_gb: float = 8.0
    """Least recently used states are deleted beyond this size."""

    @property
    def align_tables(self) -> bool:
        """Prompts show tables aligned (`table_view` is `aligned` or `captioned`)."""
        return self.table_view != "parsed"


class GenerationSettings(BaseModel):
    """The answering model. docqa never falls back to another model or service: a configured
    server that cannot be reached is an error."""

    backend: Literal["llamacpp", "transformers", "openai"] = "llamacpp"
    """`llamacpp`: a GGUF on the CPU (default); `transformers`: a folder, `.gguf` or Hugging
    Face id, on `cuda` when available; `openai`: an OpenAI-compatible server at `base_url`."""
    model: str = "qwen2.5-1.5b"
    """Registry name (`qwen2.5-1.5b`, `qwen2.5-0.5b`, `smollm2`) or a local path / Hugging Face
    id; for `openai`, the model name the server serves."""
    n_ctx: int | None = None
    """Context allocated (prompt + answer); None: min(the model's window, `max_n_ctx`)."""
    max_n_ctx: int = 32768
    threads: int | None = None
    """CPU threads; None: every core this process may use."""
    threads_batch: int | None = Field(default=None, ge=1)
    """llama.cpp threads for a prompt's prefill (its batch threads); None: as `threads`. The
    speculative drafter decodes on one thread beside the target but prefills its passages on
    every core, when the target waits for it."""
    n_batch: int = 512
    """llama.cpp tokens per forward pass (prefill slices; `extend` scores up to this many
    tokens in one pass)."""
    flash_attn: bool = False
    """llama.cpp flash attention. Off by default: on the CPU it slowed decoding of the 1.5B by
    ~15% and did not make batched logits equal one-by-one logits for Q4_K models."""
    device: str | None = None
    """transformers device; None: `cuda` when available, else `cpu`."""
    seed: int = 0
    temperature: float = 0.0
    max_answer_tokens: int = 512
    base_url: str | None = None
    """`openai` backend: e.g. `http://127.0.0.1:8000/v1` (vLLM), `http://127.0.0.1:11434/v1`
    (Ollama), `http://127.0.0.1:8080/v1` (llama.cpp server)."""
    api_key: str | None = None
    context_window: int | None = None
    """`openai` backend: the served model's window. None: ask the server (vLLM and llama.cpp's
    server report it); an error when it does not."""
    timeout: float = 120.0
    """`openai` backend: seconds to wait for the server."""


class CitationSettings(BaseModel):
    """Citation checking (`docqa.citations.build_checker`): verifiers, verdict thresholds, and
    what the answer does with a sentence its citations do not support."""

    enabled: bool = True
    """Check the citations of every answer (`docqa check-citations` checks regardless)."""
    reranker: bool | None = None
    """The ms-marco cross-encoder as a tie-breaker: None: when its package is installed;
    True: required; False: not used."""
    nli_model: str | None = None
    """An NLI cross-encoder (local path or Hugging Face id in the user's own cache) as a
    member; none ships offline."""
    judge: bool = False
    """The LLM judge (P("yes") of the local model, `LLMJudgeVerifier`) as a member. Off by
    default: with Qwen2.5-1.5B on 2 shared CPU cores a check took ~20 s (it prefills ~400
    passage tokens) and a 4-sentence answer ~270 s, several times its generation, for no
    measured AUROC gain over grounding + reranker (eval/bench_citations.py)."""
    judge_model: str | None = None
    """None: the answering model (`generation.model`), sharing its weights when the caller
    passes its `LogitsModel`; else a registry name or GGUF path loaded for the judge."""
    judge_max_passage_tokens: int = Field(default=512, ge=16)
    """Passage tokens one judge prompt holds, the cited passages together (the cut rule is in
    `LLMJudgeVerifier`)."""
    supported_at: float = Field(default=0.5, ge=0.0, le=1.0)
    """Verdict `supported` at this combined score and above."""
    partial_at: float = Field(default=0.25, ge=0.0, le=1.0)
    """Verdict `partial` from this score up to `supported_at`; `unsupported` below."""
    on_unsupported: Literal["flag", "drop", "regenerate"] = "flag"
    """What the answering layer does with an unsupported sentence: `flag` it, `drop` it from
    the answer, or `regenerate` the answer once with the verdicts as feedback."""
    repair: bool = True
    """Look for another passage that supports an unsupported sentence (repaired citations)."""
    needed_only: bool = False
    """`Answer.citations` leaves out, in a supported sentence citing several passages, those
    the checker calls not needed (each does not support it alone, and the others support it
    without it). Replayed 2026-12-06 on the dev answers (`eval.citation_replay`,
    `eval/results/citation-prune/`): cited-page precision 0.245 -> 0.299 tune, 0.333 -> 0.422
    held out, but two evidence pages fewer cited on tune (recall 0.205 -> 0.183), so off."""
    repair_candidates: int | None = Field(default=5, ge=1)
    """Other passages scored per unsupported sentence when repairing: those sharing the most
    rare words with it; None scores every passage (every page, for a long-context answer)."""

    def model_post_init(self, context: object, /) -> None:
        if self.partial_at > self.supported_at:
            raise ValueError(
                f"citations.partial_at ({self.partial_at}) must not exceed "
                f"citations.supported_at ({self.supported_at})"
            )


class Settings(BaseSettings):
    """Everything docqa can be configured with."""

    model_config = SettingsConfigDict(
        env_prefix="DOCQA_",
        env_nested_delimiter="__",
        toml_file="docqa.toml",
        extra="ignore",
        # DOCQA_ANSWER__MIN_RERANK_SCORE=none: the settings whose None means "off"
        env_parse_none_str="none",
    )

    home: Path = Field(default_factory=lambda: Path(platformdirs.user_data_dir("docqa")))
    """Store, page images and model caches live here (`DOCQA_HOME`)."""
    store: StoreSettings = StoreSettings()
    embedding: EmbeddingSettings = EmbeddingSettings()
    ingest: IngestSettings = IngestSettings()
    search: SearchSettings = SearchSettings()
    generation: GenerationSettings = GenerationSettings()
    citations: CitationSettings = CitationSettings()
    answer: AnswerSettings = AnswerSettings()
    url: str | None = None
    """A docqa REST service to go through instead of opening the store (`DOCQA_URL`); without
    it, the CLI finds the local service that holds this home's store by itself."""
    api_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Bearer keys of the REST service (`DOCQA_API_KEYS`, comma-separated); required when it
    binds to anything but loopback."""
    ask_queue: int = Field(default=8, ge=0)
    """Questions the REST service keeps waiting for the one local model; beyond, 429."""
    ingest_roots: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    """Folders the REST service may ingest from (`DOCQA_INGEST_ROOTS`, separated by the OS path
    separator; symlinks are followed before the check). Empty: only its own upload folder."""
    upload_max_mb: float = Field(default=200.0, gt=0)
    """Largest PDF the REST service accepts as an upload (beyond: 413)."""
    job_lease_seconds: float = Field(default=15.0, gt=0)
    """An ingestion job whose worker has not reported for this long is taken up again (by
    this service after a restart, or by another replica sharing the job database)."""

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, v: object) -> object:
        if isinstance(v, str):
            return [k.strip() for k in v.split(",") if k.strip()]
        return v

    @field_validator("ingest_roots", mode="before")
    @classmethod
    def _split_roots(cls, v: object) -> object:
        if isinstance(v, str):
            return [p.strip() for p in v.split(os.pathsep) if p.strip()]
        return v

    @field_validator("home")
    @classmethod
    def _expand(cls, v: Path) -> Path:
        return v.expanduser()

    @property
    def store_dir(self) -> Path:
        return self.home / "store"

    @property
    def blob_dir(self) -> Path:
        return self.home / "blobs"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    @property
    def kv_cache_dir(self) -> Path:
        return self.cache_dir / "kv"

    @property
    def upload_dir(self) -> Path:
        """Where the REST service keeps uploaded PDFs (one folder per content hash)."""
        return self.home / "uploads"

    @property
    def jobs_db(self) -> Path:
        """The REST service's ingestion job records (SQLite)."""
        return self.home / "jobs.sqlite3"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))
