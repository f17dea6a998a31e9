from __future__ import annotations

from pathlib import Path

import pytest

from docqa.config import Settings


def test_env_and_nested_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCQA_HOME", str(tmp_path / "h"))
    monkeypatch.setenv("DOCQA_STORE__KIND", "qdrant")
    monkeypatch.setenv("DOCQA_STORE__URL", "http://127.0.0.1:6333")
    monkeypatch.setenv("DOCQA_INGEST__OCR", "off")
    s = Settings()
    assert s.home == tmp_path / "h"
    assert s.store_dir == tmp_path / "h" / "store"
    assert (s.store.kind, s.store.url, s.ingest.ocr) == ("qdrant", "http://127.0.0.1:6333", "off")


def test_toml_file_below_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "docqa.toml").write_text('[embedding]\nmodel = "bge-small"\n[search]\nk = 3\n')
    monkeypatch.setenv("DOCQA_SEARCH__K", "5")
    s = Settings()
    assert s.embedding.model == "bge-small"
    assert s.search.k == 5


def test_invalid_value_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCQA_INGEST__TABLES", "magic")
    with pytest.raises(ValueError, match="tables"):
        Settings()


def test_a_share_outside_zero_to_one_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCQA_ANSWER__ABSTAIN_UNGROUNDED", "0.5")
    assert Settings().answer.abstain_ungrounded == 0.5
    for bad in ("0", "1.5"):
        monkeypatch.setenv("DOCQA_ANSWER__ABSTAIN_UNGROUNDED", bad)
        with pytest.raises(ValueError, match="abstain_ungrounded"):
            Settings()


def test_none_turns_an_optional_threshold_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCQA_ANSWER__ABSTAIN_UNGROUNDED", "none")
    monkeypatch.setenv("DOCQA_ANSWER__MIN_RERANK_SCORE", "-2")
    s = Settings()
    assert s.answer.abstain_ungrounded is None and s.answer.min_rerank_score == -2.0
