"""The web UI's pages with Streamlit's AppTest against a real service on loopback (uvicorn,
real store, MiniLM, reranker, SmolLM2): ask with a streamed, checked answer and a citation that
opens its page; the library's upload job, table, page viewer and delete; a plain message when
the service is unreachable or refuses the key."""

from __future__ import annotations

from pathlib import Path

import pdfs
import pytest
from services import free_port
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[3] / "ui" / "web" / "app.py")
KEY = "web-key"  # the service fixture's (conftest.py)


def _app(monkeypatch: pytest.MonkeyPatch, url: str, key: str = KEY) -> AppTest:
    monkeypatch.setenv("DOCQA_URL", url)
    monkeypatch.setenv("DOCQA_API_KEYS", key)
    return AppTest.from_file(APP, default_timeout=600)


def test_ask_streams_a_checked_answer_whose_citation_opens_its_page(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _app(monkeypatch, service).run()
    assert not at.exception and not at.error
    assert at.header[0].value == "Ask"
    at.selectbox(key="ask_strategy").set_value("rag")
    at.chat_input[0].set_value("What was Northwind's revenue in 2024?").run()
    assert not at.exception, at.exception
    turns = at.session_state["turns"]
    assert len(turns) == 1 and turns[0].route.strategy == "rag" and turns[0].citations
    html = " ".join(m.value for m in at.markdown)
    assert "docqa-" in html, "sentences are marked by their verdicts"
    chip = next(b for b in at.button if b.key and b.key.startswith("chip-0-"))
    assert chip.label.startswith("[") and "p. " in chip.label
    chip.click().run()
    assert not at.exception and len(at.image) == 2, "the cited region zoomed, and the whole page"
    assert any(m.value.startswith("> ") for m in at.markdown), "the quote beside it"
    assert at.get("download_button"), "the conversation can be exported"


def test_library_uploads_shows_pages_and_deletes(
    service: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    at = _app(monkeypatch, service).run()
    at.switch_page("library_page.py").run()
    assert not at.exception and at.header[0].value == "Library"
    pdf = pdfs.text_pdf(tmp_path / "brightwater.pdf", pages=2)
    at.file_uploader(key="uploads").upload(pdf.name, pdf.read_bytes(), "application/pdf").run()
    at.button[0].click().run()  # ingest the uploaded files
    assert not at.exception, at.exception
    assert any("1 file(s) ingested" in s.value for s in at.success), [e.value for e in at.error]
    files = list(at.dataframe[0].value["file"])
    assert "brightwater.pdf" in files and "northwind_annual_report_2024.pdf" in files
    box = at.selectbox(key="lib_doc")
    box.set_value(next(o for o in box.options if o.startswith("brightwater.pdf"))).run()
    assert len(at.image) == 1, "the page viewer shows page 1"
    at.button(key="delete").click().run()
    assert "brightwater.pdf" not in list(at.dataframe[0].value["file"])


def test_a_partly_readable_upload_is_indexed_and_its_lost_page_named(
    service: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    at = _app(monkeypatch, service).run()
    at.switch_page("library_page.py").run()
    pdf = pdfs.cyclic_tree_pdf(tmp_path / "cyclic_minutes.pdf")
    at.file_uploader(key="uploads").upload(pdf.name, pdf.read_bytes(), "application/pdf").run()
    at.button[0].click().run()
    assert not at.exception, at.exception
    warning = next(w.value for w in at.warning if "cyclic_minutes.pdf" in w.value)
    assert "indexed without 1 page(s)" in warning and "page 2:" in warning
    table = at.dataframe[0].value
    row = table[table["file"] == "cyclic_minutes.pdf"].iloc[0]
    assert row["status"] == "partial" and row["pages"] == 2 and "page 2" in row["errors"]


def test_an_unreachable_service_or_a_wrong_key_is_said_plainly(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _app(monkeypatch, f"http://127.0.0.1:{free_port()}").run()
    assert "Cannot reach the docqa service" in at.error[0].value and not at.exception
    at = _app(monkeypatch, service, key="wrong").run()
    assert "refused the API key" in at.error[0].value


def test_eval_dashboard_shows_the_strategy_table_plots_and_each_question(
    service: str, eval_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _app(monkeypatch, service).run()
    at.switch_page("evals_page.py").run()
    assert not at.exception and at.header[0].value == "Eval runs"
    at.text_input[0].set_value(str(eval_run))
    at.button[0].click().run()  # Open
    assert not at.exception and not at.error, [e.value for e in at.error]
    table = at.dataframe[0].value
    assert list(table.columns) == ["closed-book", "rag"]
    assert table.loc["questions", "rag"] == "8" and table.loc["questions", "closed-book"] == "8"
    assert table.loc["evidence page in the prompt", "rag"].endswith("%")
    assert table.loc["evidence page in the prompt", "closed-book"] == "–", "no pages, no figure"
    assert at.tabs and "Accuracy vs cost" in [t.label for t in at.tabs]
    assert len(at.image) >= 2, "the plots, then the first question's evidence page"
    question = at.selectbox(key="eval_question")
    assert len(question.options) == 8
    cards = " ".join(m.value for m in at.markdown)
    assert "**closed-book**" in cards and "**rag**" in cards and "Gold (" in cards
    at.selectbox(key="eval_filter").set_value("unanswerable").run()
    assert not at.exception
    assert len(at.selectbox(key="eval_question").options) == 2, "the dataset's unanswerables"
    assert any("not answerable" in m.value for m in at.markdown)


def test_eval_dashboard_refuses_a_folder_outside_the_roots(
    service: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    at = _app(monkeypatch, service).run()
    at.switch_page("evals_page.py").run()
    at.text_input[0].set_value(str(tmp_path))
    at.button[0].click().run()
    assert "outside the folders this service may read" in at.error[0].value
