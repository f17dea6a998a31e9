"""Report generation from hand-made records: summary numbers, Markdown tables, PNG plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from docqa.retrieval import lost_in_the_middle
from docqa.types import Answer, Citation, Passage, Route, SearchHit, Timings, TokenCounts
from eval.datasets import QAItem
from eval.report import (
    NOT_MEASURED,
    EvalRecord,
    common_ids,
    error_record,
    machine_info,
    make_record,
    page_bin,
    plot_accuracy_vs_cost,
    plot_accuracy_vs_length,
    plot_router_choices,
    rank_order,
    read_records,
    skipped_record,
    summarize,
    write_records,
    write_report,
)

MACHINE = {
    "platform": "Linux-test",
    "machine": "x86_64",
    "processor": None,
    "python": "3.11.0",
    "cpu_count": 2,
    "ram_gib": 7.5,
}
DATE = "2025-01-02T03:04:05+00:00"

# question -> (format, doc type, pages, unanswerable)
QUESTIONS: dict[str, tuple[str, str, int, bool]] = {
    "q1": ("Int", "Academic paper", 5, False),
    "q2": ("Str", "Financial report", 60, False),
    "q3": ("None", "Financial report", 60, True),
    "q4": ("Int", "Academic paper", 250, False),
}


def rec(item_id: str, strategy: str, **kw: Any) -> EvalRecord:
    fmt, doc_type, pages, unanswerable = QUESTIONS[item_id]
    base: dict[str, Any] = {
        "item_id": item_id,
        "strategy": strategy,
        "doc": f"{item_id}.pdf",
        "question": f"question {item_id}?",
        "gold": "Not answerable" if unanswerable else "5",
        "answer_format": fmt,
        "doc_type": doc_type,
        "doc_pages": pages,
        "unanswerable": unanswerable,
    }
    return EvalRecord(**{**base, **kw})


def records() -> list[EvalRecord]:
    return [
        # rag
        rec("q1", "rag", correct=True, correct_strict=True, score=1.0, prompt_tokens=1000,
            completion_tokens=50, seconds=2.0, ttft=0.5, page_recall_at_k=1.0, k=5,
            citation_page_precision=1.0, citation_page_recall=1.0, route="rag",
            citation_recall=0.8, citation_precision=0.6),
        rec("q2", "rag", correct=True, correct_strict=False, score=0.8, prompt_tokens=1200,
            completion_tokens=30, seconds=4.0, page_recall_at_k=0.0, k=5,
            citation_page_precision=0.0, citation_page_recall=0.0, route="rag",
            citation_recall=0.4, citation_precision=1.0),
        rec("q3", "rag", abstained=True, correct=True, correct_strict=True, score=1.0,
            prompt_tokens=800, completion_tokens=10, seconds=3.0, route="rag"),
        rec("q4", "rag", abstained=True, correct=False, correct_strict=False, score=0.0,
            prompt_tokens=1000, completion_tokens=10, seconds=3.0, page_recall_at_k=0.5, k=5,
            route="rag"),
        # long context: citations not checked
        rec("q1", "long-context", correct=True, correct_strict=True, score=1.0,
            prompt_tokens=20000, completion_tokens=40, seconds=30.0, route="long-context"),
        rec("q2", "long-context", correct=True, correct_strict=True, score=1.0,
            prompt_tokens=20000, completion_tokens=40, seconds=30.0, route="long-context"),
        rec("q3", "long-context", correct=False, correct_strict=False, score=0.0,
            prompt_tokens=20000, completion_tokens=40, seconds=30.0, route="long-context"),
        rec("q4", "long-context", correct=True, correct_strict=True, score=1.0,
            prompt_tokens=20000, completion_tokens=40, seconds=30.0, route="long-context"),
        # router: two routes and one error
        rec("q1", "router", correct=True, correct_strict=True, score=1.0, prompt_tokens=1000,
            seconds=2.0, route="rag", route_reasons=["fits no window"]),
        rec("q2", "router", correct=True, correct_strict=True, score=1.0, prompt_tokens=20000,
            seconds=30.0, route="long-context"),
        rec("q3", "router", abstained=True, correct=True, correct_strict=True, score=1.0,
            prompt_tokens=900, seconds=3.0, route="rag"),
        rec("q4", "router", error="timeout after 600 s"),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    out = tmp_path_factory.mktemp("report")
    files = write_report(
        records(), out, model="qwen2.5-1.5b-instruct-q4", date=DATE, machine=MACHINE
    )
    return out, files


def test_files_exist_and_pngs_are_valid(report: tuple[Path, Any]) -> None:
    out, files = report
    assert files.summary == out / "summary.json" and files.summary.is_file()
    assert files.markdown == out / "report.md" and files.markdown.is_file()
    assert set(files.plots) == {"Accuracy vs document length", "Accuracy vs cost", "Router choices"}
    for png in files.plots.values():
        assert png.parent == out and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(png) as img:
            img.verify()
        with Image.open(png) as img:
            assert img.format == "PNG" and img.size[0] > 300 and img.size[1] > 100


def test_summary_numbers(report: tuple[Path, Any]) -> None:
    out, _ = report
    s = json.loads((out / "summary.json").read_text())
    assert s["date"] == DATE and s["model"] == "qwen2.5-1.5b-instruct-q4"
    assert s["machine"] == MACHINE
    assert (s["n_records"], s["n_questions"]) == (12, 4)
    assert list(s["strategies"]) == ["rag", "long-context", "router"]

    rag = s["strategies"]["rag"]
    assert (rag["n"], rag["errors"], rag["answered"], rag["abstained"]) == (4, 0, 2, 2)
    assert rag["accuracy"] == 0.75
    assert rag["accuracy_strict"] == 0.5
    assert rag["score"] == pytest.approx(0.7)
    # answerable scores 1 + 0.8 + 0 over 3 (recall 0.6) and over 2 answered (precision 0.9)
    assert rag["f1"] == pytest.approx(0.72)
    assert rag["answerable"] == {"n": 3, "accuracy": pytest.approx(2 / 3, abs=1e-4)}
    assert rag["unanswerable"] == {"n": 1, "accuracy": 1.0}
    assert rag["abstention"] == {
        "precision": 0.5,
        "recall": 1.0,
        "f1": pytest.approx(2 / 3, abs=1e-4),
    }
    assert rag["pages"] == {
        "recall_at_k": 0.5,
        "n": 3,
        "k": [5],
        "citation_precision": 0.5,
        "citation_recall": 0.5,
    }
    assert rag["tokens"] == {
        "prompt_mean": 1000.0,
        "completion_mean": 25.0,
        "prompt_total": 4000,
        "completion_total": 100,
    }
    assert rag["latency"] == {
        "seconds_mean": 3.0,
        "seconds_p50": 3.0,
        "seconds_p90": pytest.approx(3.7),
        "ttft_mean": 0.5,
        "check_mean": None,
        "check_share_of_generation": None,
    }
    assert rag["citation_support"] == {"citation_recall": 0.6, "citation_precision": 0.8}
    assert rag["routes"] == {"rag": 1.0}

    lc = s["strategies"]["long-context"]
    # recall 3/3, precision 3/4 (the wrong answer to q3 counts as answered)
    assert lc["accuracy"] == 0.75 and lc["f1"] == pytest.approx(6 / 7, abs=1e-4)
    assert lc["abstention"] == {"precision": None, "recall": 0.0, "f1": None}
    assert lc["citation_support"] == {
        "citation_recall": NOT_MEASURED,
        "citation_precision": NOT_MEASURED,
    }
    assert lc["pages"]["recall_at_k"] is None

    router = s["strategies"]["router"]
    assert (router["n"], router["errors"], router["accuracy"]) == (4, 1, 0.75)
    assert router["routes"] == {
        "long-context": pytest.approx(1 / 3, abs=1e-4),
        "rag": pytest.approx(2 / 3, abs=1e-4),
    }
    assert router["tokens"]["prompt_mean"] == pytest.approx(21900 / 3, abs=0.1)  # errors left out

    by_type = s["by_doc_type"]["rag"]
    assert {t: (m["n"], m["accuracy"]) for t, m in by_type.items()} == {
        "Academic paper": (2, 0.5),
        "Financial report": (2, 1.0),
    }
    by_format = s["by_answer_format"]["rag"]
    assert {f: (m["n"], m["accuracy"]) for f, m in by_format.items()} == {
        "Int": (2, 0.5),
        "None": (1, 1.0),
        "Str": (1, 1.0),
    }
    assert s["by_doc_length"]["rag"] == {
        "1-10": {"n": 1, "accuracy": 1.0, "score": 1.0},
        "51-100": {"n": 2, "accuracy": 1.0, "score": 0.9},
        ">200": {"n": 1, "accuracy": 0.0, "score": 0.0},
    }


def test_markdown_tables(report: tuple[Path, Any]) -> None:
    out, _ = report
    md = (out / "report.md").read_text()
    assert f"- Date: {DATE}" in md
    assert "- Model: qwen2.5-1.5b-instruct-q4" in md
    assert "- Machine: Linux-test (x86_64), 2 CPUs, 7.5 GiB RAM, Python 3.11.0" in md
    table = md.split("## Strategies")[1].split("## ")[0]
    rows = {
        line.split(" | ")[0].lstrip("| "): line
        for line in table.splitlines()
        if line.startswith("| ")
    }
    assert "| 75.0% | 50.0% | 70.0% | 72.0% |" in rows["rag"]
    assert "| 50.0% (k=5) |" in rows["rag"]
    assert rows["long-context"].count(NOT_MEASURED) == 2
    assert rows["router"].endswith("| 1 |")  # errors
    assert "## Accuracy by document type" in md and "| Academic paper | 50.0% (2) |" in md
    assert "## Accuracy by answer format" in md
    # length bins in numeric order
    length = md.split("## Accuracy by document length (pages)")[1]
    assert length.index("| 1-10 |") < length.index("| 51-100 |") < length.index("| >200 |")
    assert "## Routes taken" in md
    for name in ("accuracy_vs_length.png", "accuracy_vs_cost.png", "router_choices.png"):
        assert f"({name})" in md


def test_plots_without_data_are_skipped(tmp_path: Path) -> None:
    bare = [EvalRecord(item_id="q", strategy="rag", doc="d.pdf", question="?", gold="1",
                       answer_format="Int")]  # fmt: skip
    assert plot_accuracy_vs_length(bare, tmp_path / "a.png") is None
    assert plot_accuracy_vs_cost(bare, tmp_path / "b.png") is None
    assert plot_router_choices(bare, tmp_path / "c.png") is None
    assert not list(tmp_path.iterdir())
    files = write_report(bare, tmp_path / "out", date=DATE, machine=MACHINE)
    assert files.plots == {} and "## Plots" not in files.markdown.read_text()
    assert "## Routes taken" not in files.markdown.read_text()


def test_page_bins() -> None:
    assert [page_bin(p) for p in (1, 10, 11, 50, 51, 200, 201)] == [
        "1-10", "1-10", "11-50", "11-50", "51-100", "101-200", ">200",
    ]  # fmt: skip
    assert page_bin(None) is None
    assert page_bin(7, bins=(5,)) == ">5"


@pytest.mark.parametrize("n", range(8))
def test_rank_order_undoes_lost_in_the_middle(n: int) -> None:
    hits = [
        SearchHit(doc_id="d", path="p", page=i, page_end=i, score=0.0, kind="text", text="",
                  chunk_index=i)
        for i in range(1, n + 1)
    ]  # fmt: skip
    assert rank_order(lost_in_the_middle(hits)) == hits


def test_summary_without_machine_uses_this_one() -> None:
    s = summarize(records()[:1])
    info = machine_info()
    assert s["machine"]["cpu_count"] == info["cpu_count"] and info["ram_gib"]
    assert s["model"] == "" and s["date"]


def test_make_record_scores_an_engine_answer(tmp_path: Path) -> None:
    item = QAItem(
        id="gen_int_warblers",
        doc="survey.pdf",
        question="How many breeding pairs of reed warblers did the field teams count?",
        answer="347",
        evidence_pages=[2],
        answer_format="Int",
        source="docqa generated",
        doc_type="Research report / Introduction",
    )
    answer = Answer(
        question=item.question,
        answer="The teams counted 347 breeding pairs [1].",
        abstained=False,
        citations=[Citation(n=1, path="/data/survey.pdf", page=2)],
        passages=[
            Passage(n=1, text="... 347 breeding pairs ...", page=2, path="/data/survey.pdf"),
            Passage(n=2, text="...", page=5, path="/data/survey.pdf"),
            Passage(n=3, text="...", page=1, path="/data/other.pdf"),
            Passage(n=4, text="...", page=3, page_end=4, path="/data/survey.pdf"),
        ],
        route=Route(strategy="rag", requested="auto", reasons=["question names a figure"]),
        timings=Timings(time_to_first_token=0.7, generation=2.0, check=0.5, total=3.5),
        tokens=TokenCounts(prompt=900, completion=12),
        model="tiny",
        citation_recall=1.0,
        citation_precision=1.0,
    )
    r = make_record(item, "router", answer, doc_pages=4, k=1)
    assert (r.correct, r.correct_strict, r.score, r.score_method) == (True, True, 1.0, "number")
    # a RAG prompt's passages are in "lost in the middle" order (ranks 1, 3, 4, 2): back in rank
    # order, without the other document's page
    assert r.retrieved_pages == [2, 3, 4, 5] and r.cited_pages == [2]
    assert r.page_recall_at_k == 1.0 and r.k == 1
    assert (r.citation_page_precision, r.citation_page_recall) == (1.0, 1.0)
    assert (r.prompt_tokens, r.completion_tokens, r.ttft, r.seconds) == (900, 12, 0.7, 3.5)
    assert r.route == "rag" and r.route_reasons == ["question names a figure"]
    assert r.model == "tiny" and r.citation_recall == 1.0
    assert (r.generation_seconds, r.check_seconds) == (2.0, 0.5)
    latency = summarize([r], date=DATE, machine=MACHINE)["strategies"]["router"]["latency"]
    assert latency["check_mean"] == 0.5 and latency["check_share_of_generation"] == 0.25

    wrong = answer.model_copy(update={"answer": "They counted 374 pairs [1].", "citations": []})
    w = make_record(item, "rag", wrong, retrieved_pages=[3, 2], k=1)
    assert not w.correct and w.page_recall_at_k == 0.0 and w.citation_page_precision is None
    long = answer.model_copy(update={"route": Route(strategy="long-context")})
    lc = make_record(item, "long-context", long)
    assert lc.retrieved_pages == [2, 5, 3, 4]  # as given
    assert lc.page_recall_at_k is None  # every page was in the prompt: nothing to measure

    err = error_record(item, "rag", "model crashed", seconds=1.0)
    assert not err.correct and err.error == "model crashed" and err.score == 0.0

    path = write_records([r, w, err], tmp_path / "records.jsonl")
    assert read_records(path) == [r, w, err]


def test_skipped_records_are_counted_with_reasons_and_not_scored(tmp_path: Path) -> None:
    rs = [
        rec("q1", "rag", correct=True, score=1.0, seconds=2.0),
        rec("q2", "rag", correct=False, score=0.0, seconds=2.0),
        rec("q4", "rag", correct=True, score=1.0, seconds=2.0),
        rec("q1", "long-context", correct=True, score=1.0, seconds=9.0),
        rec("q2", "long-context", correct=True, score=1.0, seconds=9.0),
        rec("q4", "long-context", skipped="q4.pdf: 90,000 tokens do not fit 32,768"),
    ]
    item = QAItem(
        id="q4", doc="q4.pdf", question="?", answer="5", answer_format="Int", source="test"
    )
    sk = skipped_record(item, "long-context", "too long", doc_pages=250)
    assert sk.skipped == "too long" and sk.error is None and sk.doc_pages == 250
    summary = summarize(rs, model="m", date=DATE, machine=MACHINE)
    lc = summary["strategies"]["long-context"]
    assert lc["n"] == 2 and lc["accuracy"] == 1.0 and lc["errors"] == 0  # q4 not counted
    assert summary["strategies"]["rag"]["accuracy"] == 0.6667  # rounded to 4 digits
    assert summary["skipped"] == {
        "long-context": {
            "n": 1,
            "documents": 1,
            "reasons": {"q4.pdf": "q4.pdf: 90,000 tokens do not fit 32,768"},
        }
    }
    # like for like: q1 and q2, which both strategies answered
    assert summary["common"] == {
        "n": 2,
        "accuracy": {"rag": 0.5, "long-context": 1.0},
        "score": {"rag": 0.5, "long-context": 1.0},
    }
    assert common_ids(rs, ["rag", "long-context"]) == ["q1", "q2"]
    assert common_ids(rs, ["rag"]) == ["q1", "q2", "q4"]
    # columns in docqa's order however the records were appended (a resumed run)
    assert list(summarize(rs[::-1], date=DATE, machine=MACHINE)["strategies"]) == [
        "rag",
        "long-context",
    ]
    assert "250" not in json.dumps(summary["by_doc_length"]["long-context"])
    files = write_report(rs, tmp_path, model="m", date=DATE, machine=MACHINE)
    md = files.markdown.read_text()
    assert "## Skipped" in md and "- long-context: 1 questions on 1 documents" in md
    assert "90,000 tokens" in md and "## Like for like: the 2 questions" in md
    assert "| accuracy | 50.0% | 100.0% |" in md
    assert "Accuracy vs cost" in files.plots  # with the like-for-like points (hollow)
