"""Ingestion over real documents of the dev corpus (`../shared/corpus/dev`, read in place)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from docqa.config import EmbeddingSettings, Settings
from docqa.embedding import load_embedder
from docqa.models import ModelRegistry
from docqa.search import Searcher
from docqa.sparse import Bm25Encoder
from docqa.store.factory import open_store
from docqa.types import DocStatus, FileStatus
from ingest.pipeline import Ingestor, doc_id_for

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "dev"
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not CORPUS.is_dir(), reason="dev corpus not present beside the project"),
]


def test_real_filings_bad_files_and_an_encrypted_paper(tmp_path: Path) -> None:
    names = [
        "ULTABEAUTY_2023Q4_EARNINGS.pdf",
        "encrypted_2206.01062_pg3.pdf",
        "corrupt_poppler-67295-0.pdf",
        "corrupt_poppler-742-0-fuzzed.pdf",
    ]
    files = [CORPUS / n for n in names]
    settings = Settings(home=tmp_path)
    embedder = load_embedder(EmbeddingSettings(), ModelRegistry(settings.cache_dir))
    store = open_store(settings, dim=embedder.dim, embedding_model="minilm")
    try:
        ing = Ingestor(settings, store, embedder, Bm25Encoder())
        report = ing.run(files, passwords={"encrypted_2206.01062_pg3.pdf": "1234"})
        got = {Path(d.path).name: d for d in report.documents}
        assert got["ULTABEAUTY_2023Q4_EARNINGS.pdf"].status == FileStatus.indexed
        assert got["ULTABEAUTY_2023Q4_EARNINGS.pdf"].pages == 9
        assert got["encrypted_2206.01062_pg3.pdf"].status == FileStatus.indexed
        for bad in names[2:]:
            assert got[bad].status == FileStatus.failed
            assert (got[bad].error or "").startswith("corrupt:"), got[bad].error
        ulta = store.get_document(doc_id_for(files[0]))
        assert ulta is not None and ulta.status == DocStatus.ready
        assert {c.kind for c in store.get_chunks(ulta.doc_id)} >= {"text"}
        assert all(c.tokens <= embedder.max_tokens for c in store.get_chunks(ulta.doc_id))

        # FinanceBench questions on this filing: the evidence page is among the top 5 pages.
        rows = [json.loads(line) for line in (CORPUS / "qa.jsonl").read_text().splitlines()]
        qa = [r for r in rows if r["doc"] == names[0] and r["evidence_pages"]]
        searcher = Searcher(store, embedder, Bm25Encoder())
        hits = 0
        for r in qa:
            pages = {h.page for h in searcher.run(r["question"], k=5, doc_ids=[ulta.doc_id])}
            hits += bool(pages & set(r["evidence_pages"]))
        assert len(qa) >= 3 and hits >= len(qa) - 1, (hits, len(qa))
    finally:
        store.close()
