"""Report generation from hand-made records: summary numbers, Markdown tables, PNG plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from docqa.retrieval import lost_in_the_middle
from docqa.types import (
    Answer,
    Citation,
    Computation,
    Passage,
    Route,
    SearchHit,
    SpeculativeReport,
    Timings,
    TokenCounts,
)
from eval.datasets import QAItem
from eval.report import (
    FAILURE_CATEGORIES,
    ITEM_FIELDS,
    NOT_MEASURED,
    EvalRecord,
    candidate_pool,
    common_ids,
    error_record,
    failure_category,
    group_metrics,
    item_fields,
    machine_info,
    make_record,
    page_bin,
    plot_accuracy_vs_cost,
    plot_accuracy_vs_length,
    plot_failure_breakdown,
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
        "decode_tokens_per_second_mean": None,  # no generation seconds recorded
        "check_mean": None,
        "check_share_of_generation": None,
    }
    assert rag["speculative"] is None
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


def fail_rec(item_id: str, strategy: str, evidence: list[int] | None, **kw: Any) -> EvalRecord:
    """A record for the failure breakdown: an answerable Int question unless told otherwise."""
    base: dict[str, Any] = {
        "item_id": item_id,
        "strategy": strategy,
        "doc": f"{item_id}.pdf",
        "question": f"question {item_id}?",
        "gold": "5",
        "answer_format": "Int",
        "doc_type": "Financial report",
        "evidence_pages": evidence,
        "route": "rag" if strategy == "rag" else strategy,
    }
    return EvalRecord(**{**base, **kw})


def failure_records() -> list[EvalRecord]:
    unanswerable: dict[str, Any] = {
        "unanswerable": True,
        "gold": "Not answerable",
        "answer_format": "None",
        "evidence_pages": [],
    }
    return [
        # rag: every category
        fail_rec("nr", "rag", [4], candidate_pages=[1, 2, 3], retrieved_pages=[1, 2]),
        fail_rec("cut", "rag", [7], candidate_pages=[3, 7, 9], retrieved_pages=[3]),
        fail_rec("wrong", "rag", [5], candidate_pages=[5, 6], retrieved_pages=[5],
                 abstained=True),
        fail_rec("ok", "rag", [2], candidate_pages=[2, 8], retrieved_pages=[2], correct=True),
        # written before candidates were recorded: the prompt has pages, the pool is unknown
        fail_rec("old", "rag", [4], retrieved_pages=[1, 2], doc_type="Academic paper"),
        # the search found nothing: an empty pool, known
        fail_rec("none", "rag", [3], doc_type="Academic paper"),
        fail_rec("nogold", "rag", None, candidate_pages=[1], retrieved_pages=[1],
                 doc_type="Academic paper"),
        fail_rec("nogold2", "rag", [], correct=True, doc_type="Academic paper"),
        fail_rec("un", "rag", None, abstained=True, correct=True,
                 **unanswerable),
        fail_rec("un2", "rag", None, candidate_pages=[1], retrieved_pages=[1], **unanswerable),
        fail_rec("err", "rag", [1], error="timeout after 600 s", route=None),
        fail_rec("skip", "rag", [1], skipped="not run"),
        # long context: the pool is the pages read, never "retrieved, not in prompt"; records
        # without candidate pages (all of them before) are not "pool unknown"
        fail_rec("nr", "long-context", [4], retrieved_pages=[1, 2, 3, 4, 5]),
        fail_rec("cut", "long-context", [7], retrieved_pages=[1, 2, 3, 5, 6, 8]),  # 7 unread
        # closed book: nothing retrieved; a right answer is still right
        fail_rec("nr", "closed-book", [4]),
        fail_rec("ok", "closed-book", [2], correct=True),
    ]  # fmt: skip


def test_every_record_gets_one_failure_category() -> None:
    got = {(r.item_id, r.strategy): failure_category(r) for r in failure_records()}
    assert got == {
        ("nr", "rag"): "not retrieved",
        ("cut", "rag"): "retrieved, not in prompt",
        ("wrong", "rag"): "in prompt, wrong",
        ("ok", "rag"): "right",
        ("old", "rag"): "not in prompt (pool unknown)",
        ("none", "rag"): "not retrieved",
        ("nogold", "rag"): "wrong (no gold pages)",
        ("nogold2", "rag"): "right",
        ("un", "rag"): "abstained (right)",
        ("un2", "rag"): "answered (wrong)",
        ("err", "rag"): "error",
        ("skip", "rag"): "not retrieved",  # categorised, but left out of the breakdown
        ("nr", "long-context"): "in prompt, wrong",
        ("cut", "long-context"): "not retrieved",
        ("nr", "closed-book"): "not retrieved",
        ("ok", "closed-book"): "right",
    }
    assert set(got.values()) == set(FAILURE_CATEGORIES)
    by_key = {(r.item_id, r.strategy): r for r in failure_records()}
    assert candidate_pool(by_key[("old", "rag")]) is None
    assert candidate_pool(by_key[("none", "rag")]) == []
    assert candidate_pool(by_key[("nr", "long-context")]) == [1, 2, 3, 4, 5]
    assert candidate_pool(by_key[("nr", "closed-book")]) == []
    # the route decides, not the strategy's name: auto that read the document whole
    auto = by_key[("cut", "long-context")].model_copy(update={"strategy": "auto"})
    assert failure_category(auto) == "not retrieved" and candidate_pool(auto) is not None
    auto_rag = by_key[("old", "rag")].model_copy(update={"strategy": "auto"})
    assert failure_category(auto_rag) == "not in prompt (pool unknown)"


def test_old_records_without_candidate_pages_load_and_are_categorised(tmp_path: Path) -> None:
    new = fail_rec("cut", "rag", [7], candidate_pages=[3, 7, 9], retrieved_pages=[3])
    old = new.model_dump(mode="json")
    del old["candidate_pages"]
    path = tmp_path / "answers.jsonl"
    path.write_text(json.dumps(old) + "\n" + new.model_dump_json() + "\n", encoding="utf-8")
    loaded_old, loaded_new = read_records(path)
    assert loaded_old.candidate_pages == []
    assert failure_category(loaded_old) == "not in prompt (pool unknown)"
    assert failure_category(loaded_new) == "retrieved, not in prompt"
    # an old engine answer, without the field, loads too and makes an old-style record
    item = QAItem(id="cut", doc="cut.pdf", question="?", answer="5", evidence_pages=[7],
                  answer_format="Int", source="test")  # fmt: skip
    answer = Answer(
        question="?",
        answer="It is 6 [1].",
        abstained=False,
        passages=[Passage(n=1, text="...", page=3, path="/d/cut.pdf", rank=1)],
        candidate_pages=[3, 7],
        route=Route(strategy="rag"),
    )
    data = answer.model_dump(mode="json")
    del data["candidate_pages"]
    legacy = Answer.model_validate(data)
    assert legacy.candidate_pages == []
    assert failure_category(make_record(item, "rag", legacy)) == "not in prompt (pool unknown)"
    r = make_record(item, "rag", answer)
    assert r.candidate_pages == [3, 7] and failure_category(r) == "retrieved, not in prompt"


def test_failure_breakdown_in_the_summary(tmp_path: Path) -> None:
    s = summarize(failure_records(), date=DATE, machine=MACHINE)
    rag = s["strategies"]["rag"]["failures"]
    assert (rag["n"], rag["with_gold_pages"]) == (11, 7)  # the skipped record left out
    assert list(rag["counts"]) == list(FAILURE_CATEGORIES)
    assert rag["counts"] == {
        "not retrieved": 2,
        "retrieved, not in prompt": 1,
        "not in prompt (pool unknown)": 1,
        "in prompt, wrong": 1,
        "right": 2,
        "wrong (no gold pages)": 1,
        "abstained (right)": 1,
        "answered (wrong)": 1,
        "error": 1,
    }
    assert rag["shares"]["not retrieved"] == round(2 / 11, 4) and rag["shares"]["error"] == round(
        1 / 11, 4
    )
    assert sum(rag["shares"].values()) == pytest.approx(1.0, abs=1e-3)
    lc = s["strategies"]["long-context"]["failures"]
    assert {c: n for c, n in lc["counts"].items() if n} == {
        "not retrieved": 1,
        "in prompt, wrong": 1,
    }
    # per strategy x document type
    by_type = s["by_doc_type"]["rag"]
    academic = {c: n for c, n in by_type["Academic paper"]["failures"]["counts"].items() if n}
    assert academic == {
        "not in prompt (pool unknown)": 1,
        "not retrieved": 1,
        "wrong (no gold pages)": 1,
        "right": 1,
    }
    assert by_type["Financial report"]["failures"]["n"] == 7
    # without gold pages the summary still counts, with nothing to break down
    plain = summarize(records(), date=DATE, machine=MACHINE)["strategies"]["rag"]["failures"]
    assert plain["with_gold_pages"] == 0 and plain["counts"]["abstained (right)"] == 1


def test_failure_breakdown_in_the_report(tmp_path: Path) -> None:
    many = fail_rec("long", "rag", [13, 30], candidate_pages=list(range(1, 31)),
                    retrieved_pages=[1, 2])  # fmt: skip
    files = write_report([*failure_records(), many], tmp_path, date=DATE, machine=MACHINE)
    md = files.markdown.read_text()
    table = md.split("## Failure breakdown\n")[1].split("## ")[0]
    rows = {line.split(" | ")[0].lstrip("| "): line for line in table.splitlines()
            if line.startswith("| ")}  # fmt: skip
    assert rows["strategy"] == (
        "| strategy | n | not retrieved | retrieved, not in prompt | not in prompt (pool unknown) "
        "| in prompt, wrong | right | wrong (no gold pages) | abstained (right) | answered (wrong) "
        "| error |"
    )
    assert rows["rag"].startswith("| rag | 12 | 2 (16.7%) | 2 (16.7%) | 1 (8.3%) | 1 (8.3%) |")
    assert rows["long-context"] == (
        "| long-context | 2 | 1 (50.0%) | 0 (0.0%) | 0 (0.0%) | 1 (50.0%) | 0 (0.0%) "
        "| 0 (0.0%) | 0 (0.0%) | 0 (0.0%) | 0 (0.0%) |"
    )
    per_q = md.split("## Failure breakdown per question")[1]
    lines = [line for line in per_q.splitlines() if line.startswith("| ")]
    assert lines[0].startswith("| question | document | strategy | category | evidence pages")
    # questions in the order they came, each question's strategies in the tables' order
    assert [line.split(" | ")[2] for line in lines[1:4]] == ["closed-book", "rag", "long-context"]
    assert "| cut | cut.pdf | rag | retrieved, not in prompt | 7 | 3, **7**, 9 | 3 |" in per_q
    assert "| old | old.pdf | rag | not in prompt (pool unknown) | 4 | unknown | 1, 2 |" in per_q
    assert (
        "| nr | nr.pdf | long-context | in prompt, wrong | 4 | = prompt | 1, 2, 3, **4**, 5 |"
        in per_q
    )
    assert "| nr | nr.pdf | closed-book | not retrieved | 4 | none | – |" in per_q
    assert "| err | err.pdf | rag | error | 1 | – | – |" in per_q
    # at most 10 candidate pages shown; evidence pages further down are named
    assert "| 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 … +20 (incl. **13**, **30**) | 1, 2 |" in per_q
    assert "| skip |" not in per_q
    # the long per-question table comes last, after the plots
    assert md.index("## Failure breakdown\n") < md.index("## Plots") < md.index(per_q)

    png = files.plots["Failure breakdown"]
    assert png == tmp_path / "failure_breakdown.png" and "(failure_breakdown.png)" in md
    with Image.open(png) as img:
        colors = {c for _, c in img.convert("RGB").getcolors(1_000_000) or []}
    # the bars of the categories that occur, in their colours; none for the ones that do not
    assert (0xD6, 0x27, 0x28) in colors and (0xFF, 0x7F, 0x0E) in colors  # not retrieved, cut
    assert (0x2C, 0xA0, 0x2C) in colors  # right


def test_no_failure_breakdown_without_gold_pages(tmp_path: Path) -> None:
    rs = [r for r in failure_records() if r.strategy == "closed-book"]
    png = plot_failure_breakdown(rs, tmp_path / "f.png")
    assert png is not None
    with Image.open(png) as img:
        colors = {c for _, c in img.convert("RGB").getcolors(1_000_000) or []}
    assert (0xD6, 0x27, 0x28) in colors and (0x2C, 0xA0, 0x2C) in colors  # lost, right
    assert (0xFF, 0x7F, 0x0E) not in colors  # closed book has no candidates to cut
    bare = [r.model_copy(update={"evidence_pages": None}) for r in rs]
    assert plot_failure_breakdown(bare, tmp_path / "g.png") is None
    assert not (tmp_path / "g.png").exists()
    md = write_report(bare, tmp_path / "out", date=DATE, machine=MACHINE).markdown.read_text()
    assert "Failure breakdown" not in md


def test_decode_speed_and_the_speculative_figures() -> None:
    spec = SpeculativeReport(
        drafter="ngram",
        drafted=40,
        accepted=30,
        acceptance_rate=0.75,
        passes=12,
        decode_tokens_per_second=20.0,
        draft_seconds=0.1,
    )
    lc = rec("q1", "long-context", completion_tokens=50, generation_seconds=5.0)
    sp = rec("q1", "speculative", completion_tokens=50, generation_seconds=9.0, speculative=spec)
    assert group_metrics([lc])["latency"]["decode_tokens_per_second_mean"] == 10.0
    assert group_metrics([lc])["speculative"] is None
    m = group_metrics([sp, sp])
    assert m["latency"]["decode_tokens_per_second_mean"] == 20.0  # its own decode figure
    assert m["speculative"] == {
        "drafters": ["ngram"],
        "drafted": 80,
        "accepted": 60,
        "acceptance_rate": 0.75,
        "passes": 24,
    }


def test_the_computation_figures() -> None:
    used = Computation(formula="a / b", result=2.0, result_text="2", used=True)
    unfound = Computation(formula="a / b", error="no value found for b")
    stray = Computation(formula="a", error="a not stated in any passage of the prompt")
    rs = [
        rec("q1", "rag", correct=True, computation=used),
        rec("q2", "rag", correct=False, computation=used),
        rec("q3", "rag", correct=False, computation=unfound),
        rec("q4", "rag", correct=True, computation=stray),
        rec("q1", "long-context", correct=True),
    ]
    assert group_metrics(rs[4:])["computation"] is None  # nothing tried
    assert group_metrics(rs)["computation"] == {
        "tried": 4,
        "used": 2,
        "accuracy_used": 0.5,
        "accuracy_dropped": 0.5,
        "dropped_reasons": {"an operand not found": 1, "an operand stated in no passage": 1},
    }


def test_item_fields_are_what_a_record_takes_from_its_question() -> None:
    item = QAItem(id="q", doc="d.pdf", question="?", answer="1", answer_format="Int", source="t")
    failed = error_record(item, "rag", "boom", doc_pages=3)
    # an error record is its question's fields, the error and the time: nothing else is set
    assert set(failed.model_dump(exclude_unset=True)) == ITEM_FIELDS | {"error", "seconds"}
    assert item_fields(failed)["doc_pages"] == 3 and "error" not in item_fields(failed)
