"""The context line of a chunk: outline sections per page and the line's token budget."""

from __future__ import annotations

from ingest.context import chunk_context, outline_sections


def words(s: str) -> int:
    return len(s.split())


def test_outline_section_is_the_last_entry_at_or_before_the_page_with_its_parent() -> None:
    toc = [
        (1, "Part I", 3),
        (2, "Item 1. Business", 3),
        (2, "Item 1A. Risk Factors", 9),
        (1, "Part II", 20),
        (2, "Item 7. MD&A", 22),
        (3, "Results of Operations", 25),
    ]
    section = outline_sections(toc)
    assert section(1) is None
    assert section(3) == "Part I > Item 1. Business"
    assert section(12) == "Part I > Item 1A. Risk Factors"
    assert section(20) == "Part II"
    assert section(26) == "Item 7. MD&A > Results of Operations"


def test_outline_out_of_page_order_and_empty_titles_are_ignored() -> None:
    section = outline_sections([(1, "A", 5), (1, "  ", 6), (1, "Back", 2), (1, "C", 8)])
    assert section(6) == "A"
    assert section(9) == "C"
    assert outline_sections([])(4) is None


def test_context_skips_what_the_chunk_already_starts_with_and_repeats() -> None:
    line = chunk_context(
        "Acme 10-K", "Item 8", "Balance Sheets", "Balance Sheets\n\nCash 12", words, room=50
    )
    assert line == "Acme 10-K | Item 8"
    assert chunk_context("Item 8", "item 8", None, "text", words, room=50) == "Item 8"
    assert chunk_context(None, None, None, "text", words, room=50) is None


def test_context_keeps_heading_then_section_then_title_within_the_room() -> None:
    title, section, heading = "one two three", "four five", "six"
    assert chunk_context(title, section, heading, "x", words, room=20) == (
        "one two three | four five | six"
    )
    # the separators count: "four five | six" is 4 words
    assert chunk_context(title, section, heading, "x", words, room=4) == "four five | six"
    assert chunk_context(title, section, heading, "x", words, room=1) == "six"
    assert chunk_context(title, section, heading, "x", words, room=0) is None
