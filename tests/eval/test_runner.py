"""`docqa eval` end to end on the project's generated dataset with SmolLM2: the real ingestion,
Qdrant Edge store, reranker, citation checker, llama-index baseline and llama.cpp.

SmolLM2 answers badly; these tests check the run (records, resume, skips, errors, files), not
its accuracy. The 1.5B's accuracy on the dev corpus is the eval's own report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from docqa.config import AnswerSettings, GenerationSettings, Settings
from eval.datasets import QAItem, generated_dataset, load_qa_jsonl, read_jsonl
from eval.fit_router import cases_of, simulate
from eval.report import EvalRecord, error_record, read_records, skipped_record
from eval.runner import ANSWERS, EvalEta, load_done, parse_strategies, report_only, run_eval
from ui.cli import app

ALL = ["closed-book", "rag", "long-context", "auto", "speculative", "llama-index"]
PNG = b"\x89PNG\r\n\x1a\n"


def _settings(home: Path, n_ctx: int | None = None) -> Settings:
    return Settings(
        home=home,
        generation=GenerationSettings(
            model="smollm2", max_answer_tokens=48, threads=2, n_ctx=n_ctx
        ),
        # the generated documents are small: `auto` would read each whole; retrieving first
        # makes it take the Self-Route path (RAG, then long context when RAG abstains)
        answer=AnswerSettings(small_document_tokens=0),
    )


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return generated_dataset(tmp_path_factory.mktemp("generated"))


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def first_run(dataset: tuple[Path, Path], home: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("out")
    qa, docs = dataset
    run = run_eval(_settings(home), qa, docs, ALL, out, k=5)
    return run, out


def test_smoke_run_answers_every_question_with_every_strategy(
    dataset: tuple[Path, Path],
    first_run,  # type: ignore[no-untyped-def]
) -> None:
    run, out = first_run
    items = load_qa_jsonl(*dataset)
    records = read_records(out / ANSWERS)
    assert run.new == len(records) == len(items) * len(ALL) and run.kept == 0
    assert run.errors == 0 and run.skipped == 0
    assert {(r.item_id, r.strategy) for r in records} == {(i.id, s) for i in items for s in ALL}
    assert set(run.ingested.values()) == {"indexed"}
    by_id = {i.id: i for i in items}
    for r in records:
        item = by_id[r.item_id]
        assert r.gold == item.answer and r.answer_format == item.answer_format
        assert 0.0 <= r.score <= 1.0 and r.model == "smollm2"
        assert r.seconds is not None and r.seconds > 0 and r.prompt_tokens
        assert r.doc_pages is not None and r.doc_pages >= 3
        if r.unanswerable:  # an unanswerable question is right exactly when the system abstains
            assert r.correct == r.abstained
        if r.strategy == "closed-book":
            assert r.retrieved_pages == [] and r.page_recall_at_k is None
        elif r.strategy == "auto":  # RAG first, the router's signals and reasons recorded
            sig = r.route_signals
            assert sig is not None and sig.fits and sig.rag_abstained is not None
            assert r.route_reasons[0].startswith("RAG first (Self-Route)")
            assert r.route == ("long-context" if sig.rag_abstained else "rag")
        elif r.strategy in ("long-context", "speculative"):  # every page given: no recall
            assert r.retrieved_pages == list(range(1, r.doc_pages + 1))
            assert r.page_recall_at_k is None and r.route == r.strategy
            assert (r.speculative is not None) == (r.strategy == "speculative")
        else:  # rag and the llama-index baseline retrieve pages of the question's document
            assert r.retrieved_pages and set(r.retrieved_pages) <= set(range(1, r.doc_pages + 1))
            if r.evidence_pages:
                assert r.page_recall_at_k is not None
    # speculative is long context decoded from n-gram drafts: mostly the same answers
    lc = {r.item_id: r.answer for r in records if r.strategy == "long-context"}
    spec = [r for r in records if r.strategy == "speculative"]
    assert sum(r.answer == lc[r.item_id] for r in spec) >= len(spec) / 2
    summary = json.loads((out / "summary.json").read_text())["strategies"]["speculative"]
    assert summary["speculative"]["drafters"] == ["ngram"]
    assert summary["speculative"]["drafted"] == sum(
        r.speculative.drafted for r in spec if r.speculative
    )
    # the generated facts are easy to find: docqa's retrieval finds most evidence pages
    rag = [r for r in records if r.strategy == "rag" and r.page_recall_at_k is not None]
    assert sum(r.page_recall_at_k or 0 for r in rag) / len(rag) >= 0.6
    # llama-index gives no [n] citations, so it has no cited pages; docqa's RAG is checked
    assert all(r.cited_pages == [] for r in records if r.strategy == "llama-index")
    assert any(r.citation_recall is not None for r in records if r.strategy == "rag")
    # the checker's cost is recorded where it ran: never for closed book (nothing cited)
    assert any(r.check_seconds for r in records if r.strategy == "rag")
    assert all(r.check_seconds is None for r in records if r.strategy == "closed-book")


def test_the_router_fit_simulates_what_auto_did(first_run) -> None:  # type: ignore[no-untyped-def]
    """`eval.fit_router` scores settings by replaying the router on the rag and long-context
    records: on this run, its replay of today's settings is what `auto` really did."""
    _, out = first_run
    records = read_records(out / ANSWERS)
    cases, left = cases_of(records)
    assert left == [] and len(cases) == 8
    auto = {r.item_id: r for r in records if r.strategy == "auto"}
    cfg = _settings(Path("unused")).answer
    for case in cases:
        assert simulate(case, cfg)[0] == auto[case.item_id].route, case.item_id


def test_smoke_run_writes_summary_report_and_plots(first_run) -> None:  # type: ignore[no-untyped-def]
    run, out = first_run
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["strategies"]) == ALL
    assert summary["model"] == "smollm2" and summary["machine"]["cpu_count"]
    for m in summary["strategies"].values():
        assert m["n"] == 8 and m["errors"] == 0 and 0.0 <= m["accuracy"] <= 1.0
        assert m["unanswerable"]["n"] == 2
    assert summary["strategies"]["closed-book"]["citation_support"]["citation_recall"] == (
        "not measured"
    )
    assert summary["common"]["n"] == 8 and summary["skipped"] == {}
    report = (out / "report.md").read_text()
    assert "## Strategies" in report and "smollm2" in report and "| llama-index | 8 |" in report
    assert "Citation check cost: rag " in report
    assert set(run.report.plots) >= {"Accuracy vs document length", "Accuracy vs cost"}
    for png in run.report.plots.values():
        assert png.read_bytes().startswith(PNG) and png.name in report


def test_resume_keeps_done_answers_and_runs_errors_and_new_strategies_again(
    dataset: tuple[Path, Path],
    home: Path,
    first_run,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    _, first_out = first_run
    qa, docs = dataset
    out = tmp_path / "resumed"
    out.mkdir()
    lines = (first_out / ANSWERS).read_text().splitlines()
    rag = [ln for ln in lines if json.loads(ln)["strategy"] == "rag"]
    broken = json.loads(rag[0])
    broken["error"], broken["answer"] = "RuntimeError: killed", ""
    kept = rag[1:]
    # an earlier run: seven good rag answers, one error, and a line torn by a crash
    (out / ANSWERS).write_text("\n".join([*kept, json.dumps(broken), rag[0][:40]]) + "\n")
    assert len(load_done(out / ANSWERS)) == 7

    run = run_eval(_settings(home), qa, docs, ["rag", "closed-book"], out, k=5)
    assert run.kept == 7 and run.new == 1 + 8 and run.records == 16 and run.errors == 0
    records = {(r.item_id, r.strategy): r for r in read_records(out / ANSWERS)}
    assert len(records) == 16  # the torn line and the error are gone
    for line in kept:  # answers done before are kept as they were
        old = json.loads(line)
        assert records[(old["item_id"], "rag")].model_dump(mode="json") == old
    assert records[(broken["item_id"], "rag")].error is None


def test_report_only_rescores_what_is_there_and_answers_nothing(
    dataset: tuple[Path, Path],
    first_run,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    _, first_out = first_run
    qa, docs = dataset
    rows = [json.loads(ln) for ln in (first_out / ANSWERS).read_text().splitlines()]
    rag = [r for r in rows if r["strategy"] == "rag"]
    expected = json.loads((first_out / "summary.json").read_text())["strategies"]["rag"]
    tampered = {**rag[0], "correct": not rag[0]["correct"], "score": 1.0 - rag[0]["score"]}
    (tmp_path / ANSWERS).write_text("".join(json.dumps(r) + "\n" for r in [tampered, *rag[1:]]))
    # a model that does not exist: report_only must not load one
    run = report_only(qa, docs, ["rag", "long-context"], tmp_path, model="no-such-model")
    assert (run.records, run.new, run.kept) == (8, 0, 8)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["strategies"]["rag"]["accuracy"] == expected["accuracy"]  # rescored
    assert summary["strategies"]["rag"]["pages"] == expected["pages"]
    assert "long-context" not in summary["strategies"]  # nothing answered for it
    with pytest.raises(ValueError, match="nothing to report"):
        report_only(qa, docs, ["rag"], tmp_path / "empty", model="m")


def test_long_context_skips_documents_that_do_not_fit(
    dataset: tuple[Path, Path], home: Path, tmp_path: Path
) -> None:
    qa, docs = dataset
    # 800 tokens of context: the 10-page handbook (~890 prompt tokens) does not fit, the others do
    run = run_eval(_settings(home, n_ctx=800), qa, docs, ["long-context"], tmp_path, k=5)
    records = read_records(tmp_path / ANSWERS)
    skipped = [r for r in records if r.skipped]
    handbook = [i for i in load_qa_jsonl(qa, docs) if i.doc == "lindqvist_site_handbook.pdf"]
    assert {r.item_id for r in skipped} == {i.id for i in handbook} and run.skipped == len(handbook)
    assert all("800" in (r.skipped or "") and r.score == 0 for r in skipped)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["strategies"]["long-context"]["n"] == 8 - len(handbook)
    sk = summary["skipped"]["long-context"]
    assert sk["n"] == len(handbook) and list(sk["reasons"]) == ["lindqvist_site_handbook.pdf"]
    report = (tmp_path / "report.md").read_text()
    assert "## Skipped" in report and "lindqvist_site_handbook.pdf" in report


def test_missing_document_gives_error_records_and_the_rest_goes_on(
    dataset: tuple[Path, Path], home: Path, tmp_path: Path
) -> None:
    qa, docs = dataset
    rows = read_jsonl(qa)[:2]
    rows.append({**rows[0], "id": "ghost", "doc": "no_such_report.pdf"})
    bad_qa = tmp_path / "qa.jsonl"
    bad_qa.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run = run_eval(_settings(home), bad_qa, docs, ["closed-book"], tmp_path / "out")
    records = {r.item_id: r for r in read_records(tmp_path / "out" / ANSWERS)}
    assert run.errors == 1 and len(records) == 3
    assert "no_such_report.pdf" in (records["ghost"].error or "")
    assert all(records[r["id"]].error is None for r in rows[:2])
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["strategies"]["closed-book"]["errors"] == 1


def test_parse_strategies() -> None:
    assert parse_strategies("rag, long-context,rag") == ["rag", "long-context"]
    assert parse_strategies("speculative,auto") == ["speculative", "auto"]
    with pytest.raises(ValueError, match="unknown strategy 'rga'"):
        parse_strategies("rga")
    with pytest.raises(ValueError, match="no strategy"):
        parse_strategies(" , ")


def _timed(strategy: str, seconds: float | None, skipped: str | None = None) -> EvalRecord:
    item = QAItem(id="q", doc="d.pdf", question="?", answer="1", answer_format="Int", source="t")
    if skipped is not None:
        return skipped_record(item, strategy, skipped)
    return error_record(item, strategy, "timed out", seconds=seconds)


def test_eta_uses_each_strategys_own_pace_and_skips_cost_nothing() -> None:
    eta = EvalEta({"closed-book": 3, "long-context": 3, "llama-index": 2})
    assert eta.seconds_left() is None, "nothing timed yet"
    eta.done(_timed("closed-book", 1.0))
    # one pace known: the untimed strategies borrow it
    assert eta.seconds_left() == pytest.approx(2 * 1.0 + 3 * 1.0 + 2 * 1.0)
    eta.done(_timed("closed-book", 3.0))
    eta.done(_timed("closed-book", 2.0))
    eta.done(_timed("long-context", 200.0))
    eta.done(_timed("long-context", None, skipped="does not fit"))
    # long context at its own 200 s, not diluted by the skip nor by closed book's 2 s;
    # llama-index borrows the mean of all timed answers: (1 + 3 + 2 + 200) / 4
    assert eta.seconds_left() == pytest.approx(1 * 200.0 + 2 * 206.0 / 4)
    eta.done(_timed("long-context", 100.0))
    eta.done(_timed("llama-index", 40.0))
    eta.done(_timed("llama-index", 50.0))
    assert eta.seconds_left() == 0


def test_eta_text() -> None:
    from ui.cli import _eta_text

    assert _eta_text(None) == "?"
    assert _eta_text(42.4) == "42 s"
    assert _eta_text(1500) == "25 min"
    assert _eta_text(5400) == "1 h 30 min"
    assert _eta_text(3600 + 5 * 60) == "1 h 05 min"


def test_cli_eval_json(dataset: tuple[Path, Path], home: Path, tmp_path: Path) -> None:
    qa, docs = dataset
    env = {
        "DOCQA_HOME": str(home),
        "DOCQA_GENERATION__MAX_ANSWER_TOKENS": "32",
        "DOCQA_GENERATION__THREADS": "2",
    }
    args = ["eval", "--dataset", str(qa), "--docs", str(docs), "--strategies", "closed-book"]
    args += ["--model", "smollm2", "--limit", "2", "--out", str(tmp_path), "--json"]
    res = CliRunner().invoke(app, args, env=env)
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout)
    assert payload["records"] == 2 and payload["new"] == 2 and payload["errors"] == 0
    assert Path(payload["report"]).is_file() and Path(payload["summary"]).is_file()

    res = CliRunner().invoke(app, [*args, "--report-only"], env=env)
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["new"] == 0 and json.loads(res.stdout)["records"] == 2

    res = CliRunner().invoke(app, [*args[:5], "--strategies", "rapid"], env=env)
    assert res.exit_code == 1 and "unknown strategy 'rapid'" in res.output
    no_docs = ["eval", "--dataset", str(qa), "--out", str(tmp_path / "x")]
    res = CliRunner().invoke(app, no_docs, env=env)
    assert res.exit_code == 1 and "--docs" in res.output
