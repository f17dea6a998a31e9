"""Dataset loaders on the real dev corpus (`../shared/corpus/dev`, read in place; skipped when
absent), the LaRA text-to-PDF rendering, and the generated dataset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pymupdf
import pytest

from docqa.config import IngestSettings
from eval.datasets import (
    GENERATED_SOURCE,
    QAItem,
    generated_dataset,
    load_items,
    load_lara_text,
    load_qa_jsonl,
    read_jsonl,
    render_text_pdf,
)
from eval.scoring import ANSWER_FORMATS, parse_gold_list, score_answer
from ingest.parse import open_pdf, parse_page

_pymupdf: Any = pymupdf

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "dev"
needs_corpus = pytest.mark.skipif(
    not CORPUS.is_dir(), reason="dev corpus not present beside the project"
)


def _page_texts(path: Path) -> list[str]:
    doc = _pymupdf.open(str(path))
    try:
        return [" ".join(page.get_text().split()) for page in doc]
    finally:
        doc.close()


def _self_scored(item: QAItem) -> bool:
    """The gold, given back as an answer sentence with a citation, scores as correct."""
    answer = f"{item.answer} [1]"
    return score_answer(
        item.answer,
        answer,
        item.answer_format,
        abstained=item.unanswerable,
        unanswerable=item.unanswerable,
        question=item.question,
    ).correct


# --- qa.jsonl -----------------------------------------------------------------------------------


@pytest.mark.integration
@needs_corpus
def test_load_dev_qa_jsonl() -> None:
    items = load_qa_jsonl(CORPUS / "qa.jsonl", CORPUS)
    rows = read_jsonl(CORPUS / "qa.jsonl")
    assert len(items) == len(rows) > 0
    assert len({i.id for i in items}) == len(items)
    manifest = {m["file"]: m for m in json.loads((CORPUS / "manifest.json").read_text())}
    for item in items:
        assert item.doc_path is not None and item.doc_path.is_file(), item.doc
        assert item.answer_format in ANSWER_FORMATS
        assert item.evidence_pages is not None
        assert all(1 <= p <= manifest[item.doc]["pages"] for p in item.evidence_pages), item.id
        assert (item.answer_format == "None") is item.unanswerable
        assert _self_scored(item), item.id
    by_source = {i.source for i in items}
    assert by_source == {"MMLongBench-Doc", "FinanceBench"}
    for item in items:
        if item.source == "MMLongBench-Doc":
            assert not item.format_inferred and item.doc_type
            assert item.unanswerable is (item.answer == "Not answerable")
            assert item.unanswerable is (item.evidence_pages == [] and item.id != "mmlongbench_189")
        else:
            assert item.format_inferred and item.doc_type == "Financial report"
            assert not item.unanswerable
    byid = {i.id: i for i in items}
    assert byid["mmlongbench_884"].answer_format == "List"
    assert len(parse_gold_list(byid["mmlongbench_884"].answer)) == 4
    assert byid["financebench_id_00605"].answer_format == "Float"  # "36%. The answer here ..."
    assert byid["mmlongbench_880"].unanswerable


@pytest.mark.integration
@needs_corpus
def test_missing_documents_are_kept_without_a_path(tmp_path: Path) -> None:
    items = load_qa_jsonl(CORPUS / "qa.jsonl", docs_dir=tmp_path)
    assert items and all(i.doc_path is None for i in items)


# --- LaRA ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lara(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[QAItem], Path]:
    if not CORPUS.is_dir():
        pytest.skip("dev corpus not present beside the project")
    cache = tmp_path_factory.mktemp("lara-pdfs")
    return load_lara_text(CORPUS / "qa_lara_text.jsonl", cache), cache


@pytest.mark.integration
def test_load_lara_text_renders_ingestible_pdfs(lara: tuple[list[QAItem], Path]) -> None:
    items, cache = lara
    rows = read_jsonl(CORPUS / "qa_lara_text.jsonl")
    assert len(items) == len(rows) > 0
    for item, row in zip(items, rows, strict=True):
        assert item.source == "LaRA" and item.evidence_pages is None
        assert item.extra["text_doc"] == row["doc"]
        assert item.doc_path is not None and item.doc_path.is_file()
        assert item.doc_path.is_relative_to(cache) and item.doc == item.doc_path.name
        assert item.unanswerable is (item.task == "hallu") is (item.answer_format == "None")
        assert item.doc_type == "Financial report"  # lara_128k_financial_*
        assert _self_scored(item), item.id
    pdf = items[0].doc_path
    assert pdf is not None
    pages = _page_texts(pdf)
    assert len(pages) > 50
    text = " ".join(pages)
    # the rendered PDF holds the text: whitespace and typographic punctuation aside, all of it
    source = Path(CORPUS / items[0].extra["text_doc"]).read_text(encoding="utf-8")
    assert len(text) == len(" ".join(source.split()))
    for fact in ("140,473", "PricewaterhouseCoopers LLP", "$4.68 billion", "78,509"):
        assert fact in text
    # the project's own parser reads it as text pages (no OCR needed)
    doc: Any = open_pdf(pdf)
    try:
        parsed = parse_page(doc, 5, IngestSettings(page_images=False), None, "lara")
    finally:
        doc.close()
    assert not parsed.page.ocr and parsed.blocks and parsed.blocks[0].kind == "text"


@pytest.mark.integration
def test_lara_rendering_is_cached(lara: tuple[list[QAItem], Path]) -> None:
    items, cache = lara
    pdf = items[0].doc_path
    assert pdf is not None
    before = pdf.stat().st_mtime_ns
    again = load_lara_text(CORPUS / "qa_lara_text.jsonl", cache)
    assert again[0].doc_path == pdf and pdf.stat().st_mtime_ns == before
    with pytest.raises(ValueError, match="cache_dir"):
        load_items(CORPUS / "qa_lara_text.jsonl")
    assert load_items(CORPUS / "qa_lara_text.jsonl", cache_dir=cache)[0].doc_path == pdf


def test_render_text_pdf(tmp_path: Path) -> None:
    txt = tmp_path / "notes.txt"
    paragraph = "The quarterly figure was 1,234 units and the “adjusted” margin 5.5%. "
    body = "Heading — one\n\n" + "\n".join(paragraph * 3 for _ in range(120)) + "\nThe End\n"
    txt.write_text(body, encoding="utf-8")
    pdf = render_text_pdf(txt, tmp_path / "cache")
    assert pdf.name == "notes.pdf" and pdf.parent.parent == tmp_path / "cache"
    pages = _page_texts(pdf)
    assert len(pages) > 1
    assert pages[0].startswith(
        'Heading - one The quarterly figure was 1,234 units and the "adjusted"'
    )
    assert pages[-1].endswith("The End")
    # a changed text gets a new file, the old one stays valid
    txt.write_text(body + "More.\n", encoding="utf-8")
    assert render_text_pdf(txt, tmp_path / "cache") != pdf and pdf.is_file()


# --- generated dataset --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[QAItem]]:
    qa, docs = generated_dataset(tmp_path_factory.mktemp("gen"))
    return qa, docs, load_qa_jsonl(qa, docs)


def test_generated_dataset_has_every_kind_of_question(
    generated: tuple[Path, Path, list[QAItem]],
) -> None:
    qa, docs, items = generated
    assert qa.name == "qa.jsonl" and docs.is_dir()
    assert len({i.doc for i in items}) == 3
    assert {i.answer_format for i in items} >= {"Int", "Float", "Str", "List", "None"}
    assert any("Table" in i.extra["evidence_sources"] for i in items)
    assert all(i.source == GENERATED_SOURCE and not i.format_inferred for i in items)
    # the same format as the dev corpus: the same keys on every row
    for row in read_jsonl(qa):
        assert set(row) == {"id", "doc", "question", "answer", "evidence_pages", "source", "extra"}
        assert {"answer_format", "doc_type", "unanswerable", "evidence_sources"} <= set(
            row["extra"]
        )
    for item in items:
        assert _self_scored(item), item.id


def test_generated_pdfs_open_and_hold_the_facts_on_the_stated_pages(
    generated: tuple[Path, Path, list[QAItem]],
) -> None:
    _, _, items = generated
    page_counts = {}
    for item in items:
        assert item.doc_path is not None
        pages = _page_texts(item.doc_path)
        page_counts[item.doc] = len(pages)
        if item.unanswerable:
            assert item.evidence_pages == [] and not item.extra["evidence_text"]
            continue
        assert item.evidence_pages and item.extra["evidence_text"]
        for fact in item.extra["evidence_text"]:
            found = [n for n, text in enumerate(pages, 1) if fact in text]
            assert found == item.evidence_pages, (item.id, fact, found)
    assert sorted(page_counts.values()) == [3, 4, 10]


def test_generated_facts_and_gaps(generated: tuple[Path, Path, list[QAItem]]) -> None:
    _, docs, items = generated
    byid = {i.id: i for i in items}
    table = byid["gen_table_power_tools"]
    assert score_answer(
        table.answer,
        "Power tools revenue was 18,362 thousand dollars [2].",
        "Float",
        abstained=False,
    ).correct
    assert not score_answer(
        table.answer,
        "Power tools revenue was 16,770 thousand dollars [2].",
        "Float",
        abstained=False,
    ).correct
    # the table is a table for the project's parser
    assert table.doc_path is not None
    doc: Any = open_pdf(table.doc_path)
    try:
        parsed = parse_page(doc, 1, IngestSettings(page_images=False), None, "gen")
    finally:
        doc.close()
    tables = [b for b in parsed.blocks if b.kind == "table"]
    assert len(tables) == 1 and "| Power tools | 18,362 |" in tables[0].text
    # unanswerable questions really have no answer in their documents
    for item_id, words in {
        "gen_none_budget": ("budget",),
        "gen_none_dividend": ("dividend",),
    }.items():
        item = byid[item_id]
        assert item.doc_path is not None
        text = " ".join(_page_texts(item.doc_path)).lower()
        assert not any(w in text for w in words)
    assert byid["gen_str_assembly"].evidence_pages == [9]
    assert {p.name for p in docs.iterdir()} == {i.doc for i in items}
