"""The spaces OCR dropped between English words, put back (`ingest.spacing`), and only there."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pymupdf

from docqa.config import IngestSettings
from ingest.demo import image_only_page
from ingest.parse import open_pdf, parse_page
from ingest.spacing import restore_spaces


def test_glued_english_words_are_split() -> None:
    lines = [
        "REPORTMETHODOLOGY",
        "Thisresearchisbasedondata from the second quarter.",
        "GooglePlayStore grew by more than 50%",
    ]
    assert restore_spaces(lines) == [
        "REPORT METHODOLOGY",
        "This research is based on data from the second quarter.",
        "Google Play Store grew by more than 50%",
    ]


def test_words_digits_and_punctuation_are_left_as_they_are() -> None:
    lines = [
        "Revenue rose 12.5% in Q3/2015 (iOS9, A320neo); see www.example.com.",
        "Counterintuitively, the smartphone market grew.",
    ]
    assert restore_spaces(lines) == lines


def test_a_run_is_split_only_into_common_words_written_as_english_writes_them() -> None:
    # the best split of the first run has the part "OSsa"; "Xqzvbnmrtk" has no English split
    lines = ["The iOSsawitsshareforthequarter fall and Xqzvbnmrtk rose in the market this year."]
    assert restore_spaces(lines) == lines


def test_a_page_in_another_language_is_left_as_read() -> None:
    german = [
        "Anhang: Verbindungen der Rohrleitung",
        "Die Anforderungen sind sicher erfullt, siehe Anlagen.",
    ]
    assert restore_spaces(german) == german
    # the same kind of words split on an English page ("Anhang" -> "An hang" would be wrong)
    assert restore_spaces(["Thepierisinspected every week."]) == [
        "The pier is inspected every week."
    ]


def _glued_scan(path: Path) -> Path:
    doc: Any = pymupdf.open()
    image_only_page(
        doc,
        [
            ("Harbourinspectionnotice", 20.0),
            ("The east pier crane failed its braketest on Tuesday.", 14.0),
        ],
        dpi=150,
    )
    doc.save(str(path))
    doc.close()
    return path


def test_a_scan_with_glued_words_is_respaced_when_asked(tmp_path: Path) -> None:
    """A real page image, read by the real OCR: the glued words come back glued, and with
    `ingest.ocr_spaces` the page's text and its blocks have them apart."""
    path = _glued_scan(tmp_path / "glued.pdf")
    texts = {}
    for spaces in (False, True):
        doc: Any = open_pdf(path)
        settings = IngestSettings(page_images=False, ocr_spaces=spaces)
        page = parse_page(doc, 0, settings, None, "doc")
        doc.close()
        assert page.page.ocr
        texts[spaces] = page.page.text.lower()
    assert "harbourinspectionnotice" in texts[False].replace(" ", "")
    assert "harbour inspection notice" not in texts[False]
    assert "harbour inspection notice" in texts[True]
    assert "brake test" in texts[True]
    assert "east pier crane" in texts[True]
