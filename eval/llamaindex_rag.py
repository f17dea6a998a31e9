"""The baseline to beat: llama-index's default RAG pipeline, with docqa's embedder and LLM.

What "default" means here, as a llama-index user gets it without tuning:
`SimpleDirectoryReader` (llama-index-readers-file's PDF reader: pypdf text, one document per
page, no tables, no OCR) -> `VectorStoreIndex.from_documents` (default transformations: a
`SentenceSplitter` of 1,024 tokens with 200 overlap; the in-memory `SimpleVectorStore`) ->
`index.as_query_engine()` (top-2 similarity retrieval, "compact" response synthesis with
llama-index's own QA prompt). Only three things are set, because they must be for a fair
comparison: the embedder is docqa's (`HuggingFaceEmbedding` over the same local model files),
the LLM is docqa's `Generator` (same model, chat template and greedy decoding, through
`GeneratorLLM`), and retrieval is filtered to the question's file, as docqa's is.

The index is persisted under `persist_dir` with a manifest of the files it holds (name, size,
sha256), so a resumed evaluation does not embed the documents again.

A physical page number is added to each page's metadata (the reader's `page_label` is the
PDF's printed label, e.g. "iv"); it is excluded from the embedded and prompted text, so the
pipeline's behaviour is unchanged.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llama_index.core import (
    SimpleDirectoryReader,
    StorageContext,
    VectorStoreIndex,
    load_index_from_storage,
)
from llama_index.core.base.llms.types import (
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
)
from llama_index.core.base.response.schema import Response
from llama_index.core.llms import CustomLLM
from llama_index.core.llms.callbacks import llm_completion_callback
from llama_index.core.vector_stores import ExactMatchFilter, MetadataFilters
from pydantic import PrivateAttr

from docqa.answer.prompts import is_abstention
from docqa.config import Settings
from docqa.generation import Generator
from docqa.generation.base import ChatMessage, Generation, GenerationConfig
from docqa.models import ModelRegistry, sha256_file
from docqa.types import Answer, Passage, Route, Timings, TokenCounts

__all__ = ["STRATEGY", "GeneratorLLM", "LlamaIndexRag"]

STRATEGY = "llama-index"
PAGE_KEY = "page_number"
_MANIFEST = "docqa_manifest.json"


class GeneratorLLM(CustomLLM):
    """A llama-index LLM that answers with a docqa `Generator`: the prompt llama-index builds is
    sent as one user turn (the model's chat template applies), greedy, at most `max_tokens`.
    The last `Generation` (token counts, time to first token) is kept for the eval record."""

    max_tokens: int = 512
    model_name: str = "docqa"
    window: int = 4096
    _generator: Any = PrivateAttr()
    _last: Generation | None = PrivateAttr(default=None)
    _started: float | None = PrivateAttr(default=None)

    def __init__(self, generator: Generator, *, max_tokens: int, window: int) -> None:
        super().__init__(max_tokens=max_tokens, model_name=generator.name, window=window)
        self._generator = generator

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(
            context_window=self.window,
            num_output=self.max_tokens,
            model_name=self.model_name,
            is_chat_model=False,
        )

    @property
    def last(self) -> Generation | None:
        return self._last

    @property
    def started(self) -> float | None:
        """`time.perf_counter()` when the last generation began."""
        return self._started

    def reset(self) -> None:
        self._last = None
        self._started = None

    def _config(self) -> GenerationConfig:
        return GenerationConfig(max_tokens=self.max_tokens, temperature=0.0)

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        self._started = time.perf_counter()
        gen = self._generator.generate([ChatMessage(role="user", content=prompt)], self._config())
        self._last = gen
        return CompletionResponse(text=gen.text)

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        response = self.complete(prompt, formatted=formatted)
        yield response


def _manifest(files: Sequence[Path]) -> dict[str, str]:
    return {f.name: sha256_file(f) for f in sorted(files, key=lambda p: p.name)}


class LlamaIndexRag:
    """llama-index's default pipeline over `files`; `ask` answers one question about one file."""

    def __init__(
        self,
        settings: Settings,
        registry: ModelRegistry,
        generator: Generator,
        files: Sequence[Path],
        persist_dir: Path,
    ) -> None:
        from llama_index.embeddings.huggingface import HuggingFaceEmbedding

        names = [f.name for f in files]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"llama-index baseline: several files named {', '.join(dupes)}")
        self.embed = HuggingFaceEmbedding(
            model_name=str(registry.path(settings.embedding.model)), device="cpu"
        )
        n_ctx = settings.generation.n_ctx or settings.generation.max_n_ctx
        self.llm = GeneratorLLM(
            generator,
            max_tokens=settings.generation.max_answer_tokens,
            window=min(generator.context_window, n_ctx),
        )
        self.index_seconds = 0.0
        self.index = self._load_or_build(list(files), persist_dir)

    def _load_or_build(self, files: list[Path], persist_dir: Path) -> VectorStoreIndex:
        manifest = _manifest(files)
        stamp = persist_dir / _MANIFEST
        if stamp.is_file() and json.loads(stamp.read_text("utf-8")) == manifest:
            ctx = StorageContext.from_defaults(persist_dir=str(persist_dir))
            index = load_index_from_storage(ctx, embed_model=self.embed)
            assert isinstance(index, VectorStoreIndex)
            return index
        t0 = time.perf_counter()
        docs = SimpleDirectoryReader(input_files=[str(f) for f in files]).load_data()
        seen: dict[str, int] = {}
        for d in docs:  # one document per page, in page order within each file
            name = str(d.metadata.get("file_name", ""))
            seen[name] = seen.get(name, 0) + 1
            d.metadata[PAGE_KEY] = seen[name]
            d.excluded_embed_metadata_keys.append(PAGE_KEY)
            d.excluded_llm_metadata_keys.append(PAGE_KEY)
        index = VectorStoreIndex.from_documents(docs, embed_model=self.embed)
        persist_dir.mkdir(parents=True, exist_ok=True)
        index.storage_context.persist(persist_dir=str(persist_dir))
        stamp.write_text(json.dumps(manifest, indent=1), "utf-8")
        self.index_seconds = time.perf_counter() - t0
        return index

    def ask(self, question: str, file_name: str) -> Answer:
        """Answer with the default query engine, retrieval restricted to `file_name`."""
        start = time.perf_counter()
        self.llm.reset()
        engine = self.index.as_query_engine(
            llm=self.llm,
            filters=MetadataFilters(filters=[ExactMatchFilter(key="file_name", value=file_name)]),
        )
        response = engine.query(question)
        total = time.perf_counter() - start
        if not isinstance(response, Response):  # streaming was not asked for
            raise TypeError(f"llama-index returned {type(response).__name__}")
        text = str(response.response or "").strip()
        passages = [
            Passage(
                n=i,
                text=sn.node.get_content(),
                page=_int(sn.node.metadata.get(PAGE_KEY)),
                path=str(sn.node.metadata.get("file_path") or file_name),
                rank=i,
            )
            for i, sn in enumerate(response.source_nodes, 1)
        ]
        gen = self.llm.last
        started = self.llm.started
        ttft = None
        if gen is not None and started is not None and gen.time_to_first_token is not None:
            ttft = started - start + gen.time_to_first_token
        return Answer(
            question=question,
            answer=text,
            abstained=not text or is_abstention(text),
            passages=passages,
            # its top-k similarity hits all go into the prompt: the pool is the passages
            candidate_pages=list(dict.fromkeys(p.page for p in passages if p.page is not None)),
            route=Route(
                strategy="rag",
                requested="rag",
                reasons=[
                    "llama-index default: SentenceSplitter(1024, 200), VectorStoreIndex, "
                    f"top-{len(passages)} similarity, compact synthesis"
                ],
            ),
            timings=Timings(
                retrieval=(started - start) if started is not None else 0.0,
                time_to_first_token=ttft,
                generation=gen.seconds if gen else 0.0,
                total=total,
            ),
            tokens=TokenCounts(
                prompt=gen.prompt_tokens if gen else 0,
                completion=gen.completion_tokens if gen else 0,
            ),
            model=self.llm.model_name,
        )


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
