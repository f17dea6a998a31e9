"""Running furniture left out of the chunks (`ingest.furniture`, `ingest.drop_furniture`)."""

from __future__ import annotations

from pathlib import Path

import pdfs
import pytest

from docqa.config import Settings
from docqa.embedding import Embedder
from docqa.sparse import Bm25Encoder
from docqa.store.factory import open_store
from docqa.types import Block, BlockKind, Box, Page
from ingest.furniture import Furniture, furniture_key
from ingest.parse import ParsedPage
from ingest.pipeline import Ingestor, doc_id_for

W, H = 612.0, 792.0


def block(
    text: str,
    x0: float,
    y0: float,
    x1: float,
    y1: float,
    kind: BlockKind = "text",
    heading: bool = False,
) -> Block:
    box = Box(page=1, x0=x0, y0=y0, x1=x1, y1=y1)
    return Block(kind=kind, text=text, box=box, heading=heading)


def page(n: int, blocks: list[Block]) -> ParsedPage:
    return ParsedPage(
        page=Page(doc_id="d", page=n, text=f"page {n}", width=W, height=H), blocks=blocks
    )


def test_only_plain_text_wholly_in_a_margin_band_can_be_furniture() -> None:
    def key(b: Block) -> str | None:
        return furniture_key(b, W, H, 0.1)

    assert key(block("Table of  Contents", 20, 20, 120, 30)) == "table of contents"  # top
    assert key(block("Page 12 of 190", 280, 760, 340, 770)) == "page # of #"  # bottom
    assert key(block("Downloaded by guest", 590, 200, 600, 600)) == "downloaded by guest"  # side
    assert key(block("Body text", 72, 300, 540, 320)) is None  # the middle of the page
    assert key(block("Straddles", 72, 60, 540, 100)) is None  # starts in, ends out of the band
    assert key(block("Risk Factors", 20, 20, 120, 30, heading=True)) is None
    assert key(block("| a | b |", 20, 20, 120, 30, kind="table")) is None
    assert key(block("scanned", 20, 20, 120, 30, kind="ocr")) is None
    assert key(block("   ", 20, 20, 120, 30)) is None


def test_margin_text_repeated_on_earlier_pages_is_dropped_body_text_never() -> None:
    furniture = Furniture(margin=0.1, after=2)
    kept = []
    for n in range(1, 6):
        blocks = [
            block("ACME CORP 10-K", 72, 20, 300, 30),
            block("chart axis 0 10 20", 72, 400, 300, 410),  # repeated, but not in a margin
            block(f"Body of page {n}", 72, 300, 540, 320),
            block(f"{n}", 300, 770, 310, 780),
        ]
        if n == 4:
            blocks.append(block("Only once in a margin", 72, 760, 200, 770))
        parsed = page(n, blocks)
        out = furniture.strip(parsed)
        assert out.page == parsed.page  # the page's own text keeps everything
        kept.append([b.text for b in out.blocks])
    assert kept[:2] == [
        ["ACME CORP 10-K", "chart axis 0 10 20", "Body of page 1", "1"],
        ["ACME CORP 10-K", "chart axis 0 10 20", "Body of page 2", "2"],
    ]
    assert kept[2] == ["chart axis 0 10 20", "Body of page 3"]
    assert kept[3] == ["chart axis 0 10 20", "Body of page 4", "Only once in a margin"]
    assert kept[4] == ["chart axis 0 10 20", "Body of page 5"]
    assert furniture.dropped == 6
    # a page's copies count once: two on one page do not make furniture of the next
    fresh = Furniture(after=2)
    twice = [block("Note", 20, 20, 60, 30), block("Note", 20, 760, 60, 770)]
    assert fresh.strip(page(1, twice)).blocks == twice
    assert fresh.strip(page(2, twice[:1])).blocks == twice[:1]


@pytest.mark.parametrize("drop", [False, True])
def test_a_real_pdf_loses_its_header_footer_and_stamp_from_the_chunks_only(
    drop: bool, embedder: Embedder, tmp_path: Path
) -> None:
    pdf = pdfs.furniture_pdf(tmp_path / "report.pdf", pages=5)
    settings = Settings(home=tmp_path / "home")
    settings = settings.model_copy(
        update={"ingest": settings.ingest.model_copy(update={"drop_furniture": drop})}
    )
    store = open_store(settings, dim=384)
    try:
        Ingestor(settings, store, embedder, Bm25Encoder()).run([pdf])
        doc = doc_id_for(pdf)
        chunks = store.get_chunks(doc)
        pages = {p.page: p.text for p in store.get_pages(doc)}
    finally:
        store.close()
    assert sorted(pages) == [1, 2, 3, 4, 5]

    def on_page(n: int) -> str:
        return " ".join(c.text for c in chunks if c.page_start <= n <= c.page_end)

    for n in range(1, 6):
        # long context and the citation checker read the page whole
        assert pdfs.RUNNING_HEADER in pages[n] and f"Page {n} of 5" in pages[n]
        assert pdfs.SENTENCES[0] in on_page(n)  # the body is always chunked
        repeated = drop and n > 2
        assert (pdfs.RUNNING_HEADER in on_page(n)) is not repeated
        assert (f"Page {n} of 5" in on_page(n)) is not repeated
        assert ("archive.example.org" in on_page(n)) is not repeated
