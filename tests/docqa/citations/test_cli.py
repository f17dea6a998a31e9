from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from markers import needs_reranker

from docqa.citations.checker import CitationChecker
from docqa.citations.cli import CitationFileError, check_citations_file, default_checker
from docqa.citations.verifiers import GroundingVerifier
from docqa.config import Settings

GOOD: dict[str, Any] = {
    "answer": "Revenue was $46.3 billion in fiscal 2023 [2]. Stores numbered 978 [2].",
    "passages": [
        {"n": 1, "text": "Revenue: $46,298 million in fiscal 2023.", "page": 40},
        {"n": 2, "text": "Domestic stores: 978", "page": 19, "doc_id": "bby", "extra": "ignored"},
    ],
}


def _write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "answer.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_contract(tmp_path: Path) -> None:
    out = check_citations_file(_write(tmp_path, GOOD), checker=CitationChecker(GroundingVerifier()))
    assert list(out) == ["sentences", "citation_recall", "citation_precision", "verifiers"]
    first, second = out["sentences"]
    assert list(first)[:5] == ["text", "citations", "verdict", "score", "repaired_citations"]
    assert first["text"] == "Revenue was $46.3 billion in fiscal 2023."
    assert (first["citations"], first["verdict"], first["repaired_citations"]) == (
        [2],
        "unsupported",
        [1],
    )
    assert (second["verdict"], second["repaired_citations"]) == ("supported", None)
    assert isinstance(second["score"], float) and second["score"] > 0.5
    assert (out["citation_recall"], out["citation_precision"]) == (0.5, 0.5)
    assert out["verifiers"] == ["grounding"]
    json.dumps(out)  # serialisable as is


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("{not json", "not valid JSON (line 1, column 2"),
        ([1, 2], "expected an object with 'answer' and 'passages', got list"),
        ({"passages": []}, "field 'answer' is missing"),
        ({"answer": "x"}, "field 'passages' is missing"),
        ({"answer": 3, "passages": []}, "field 'answer' must be a string, not int"),
        ({"answer": "x", "passages": {"n": 1}}, "field 'passages' must be a list, not dict"),
        ({"answer": "x", "passages": [{"n": 1}]}, "field 'passages[0].text' is missing"),
        (
            {"answer": "x", "passages": [{"n": 1, "text": "a"}, {"n": "2", "text": "b"}]},
            "field 'passages[1].n' must be an integer, not str",
        ),
        (
            {"answer": "x", "passages": [{"n": 1, "text": "a", "page": 2.5}]},
            "field 'passages[0].page' must be an integer, not float",
        ),
        (
            {"answer": "x", "passages": [{"n": 1, "text": "a"}, {"n": 1, "text": "b"}]},
            "field 'passages[1].n': 1 is used twice",
        ),
    ],
)
def test_malformed_files(tmp_path: Path, data: Any, message: str) -> None:
    path = _write(tmp_path, data)
    with pytest.raises(CitationFileError) as err:
        check_citations_file(path, checker=CitationChecker(GroundingVerifier()))
    assert str(err.value).startswith(f"{path}: ")
    assert message in str(err.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CitationFileError, match="no such file"):
        check_citations_file(tmp_path / "nope.json")


@needs_reranker
def test_default_checker_uses_the_reranker(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    out = check_citations_file(_write(tmp_path, GOOD), settings=settings)
    assert out["verifiers"] == ["grounding", "reranker"]
    assert out["sentences"][1]["verdict"] == "supported"
    assert out["sentences"][0]["repaired_citations"] == [1]
    checker = default_checker(settings, reranker=False)
    assert check_citations_file(_write(tmp_path, GOOD), checker=checker)["verifiers"] == [
        "grounding"
    ]
