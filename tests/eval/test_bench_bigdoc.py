"""`eval.bench_bigdoc`: the two PDFs it makes, the ETA error, and one real measured ingest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pdfs
import pymupdf
import pytest

from eval.bench_bigdoc import Timeline, eta_errors, make_pdfs, mean_pace, replay_work, run_one


def page_texts(path: Path) -> list[str]:
    doc: Any = pymupdf.open(path)  # type: ignore[no-untyped-call]
    texts = [page.get_text() for page in doc]
    doc.close()
    return texts


def test_the_big_pdf_repeats_the_source_and_the_small_one_samples_it(tmp_path: Path) -> None:
    source = pdfs.text_pdf(tmp_path / "source.pdf", pages=3)
    big, small = make_pdfs(source, pages=10, small=4, folder=tmp_path)
    src, b, s = page_texts(source), page_texts(big), page_texts(small)
    assert b == [src[i % 3] for i in range(10)]  # in order, the last copy cut short
    assert s == [b[0], b[2], b[5], b[7]]  # evenly: every 2.5th page
    with pytest.raises(ValueError, match="--small"):
        make_pdfs(source, pages=10, small=11, folder=tmp_path)


def test_eta_errors_are_shares_of_the_time_that_was_left() -> None:
    # 100 pages at one page a second; the bar shows an ETA 50% too long until page 60
    events: list[tuple[float, int, float | None, int]] = [
        (float(i), i, (100 - i) * (1.5 if i < 60 else 1.0), 0) for i in range(1, 101)
    ]
    errors = eta_errors(Timeline(total=100, events=events, end=100.0))
    assert errors == {"at_10%": 0.5, "at_50%": 0.5, "worst_10-90%": 0.5}
    late = [(t, done, None if done < 95 else eta, r) for t, done, eta, r in events]
    assert eta_errors(Timeline(total=100, events=late, end=100.0)) == {
        "at_10%": 0.0,  # the first page past 10% that had an ETA: page 95, exact
        "at_50%": 0.0,
        "worst_10-90%": None,
    }


def test_the_mean_pace_estimate_is_right_when_the_pace_is_steady() -> None:
    # one page a second after a 10 s start: the mean pace since the start over-estimates early
    events: list[tuple[float, int, float | None, int]] = [
        (10.0 + i, i, None, 0) for i in range(1, 101)
    ]
    errors = eta_errors(mean_pace(Timeline(total=100, events=events, end=110.0)))
    assert errors["at_10%"] == 1.0  # (90 pages at 2 s a page) / 90 s left
    assert errors["at_50%"] == 0.2 and errors["worst_10-90%"] == 1.0


def test_a_replay_is_exact_with_the_true_weights_and_off_with_others() -> None:
    # pages alternate 1 s and 3 s of work: a weight that knows it is exact, an even one is not
    work = [1.0 if i % 2 == 0 else 3.0 for i in range(40)]
    t, events = 0.0, []
    for done in range(1, 41):
        t += work[done - 1]
        events.append((t, done, None, 0))
    tl = Timeline(total=40, events=events, end=t)
    exact = eta_errors(replay_work(tl, work))
    assert exact == {"at_10%": 0.0, "at_50%": 0.0, "worst_10-90%": 0.0}
    even = eta_errors(replay_work(tl, [1.0] * 40))
    assert even["worst_10-90%"] is not None and even["worst_10-90%"] > 0.1


def test_one_real_ingest_is_measured(tmp_path: Path) -> None:
    pdf = pdfs.text_pdf(tmp_path / "doc.pdf", pages=12)
    row = run_one(pdf, tmp_path / "home")
    assert row["status"] == "indexed" and row["pages"] == 12 and row["chunks"] >= 12
    assert row["seconds"] > 0 and row["pages_per_s"] == pytest.approx(12 / row["seconds"], rel=0.02)
    assert row["peak_rss_mb"] >= row["rss_mb_at_100%"] > 100  # the embedder is loaded
    assert set(row["eta_error"]) == {"docqa", "window", "mean", "replay_text", "replay_content"}
    assert len(row["timeline"]) == 12 and row["timeline"][-1][1] == 12
    assert 0 < row["peak_rss_at_s"] <= row["seconds"] + 1
    assert 100 < row["peak_rss_main_mb"] < row["peak_rss_mb"]  # the parser's share is the rest
    assert all(set(e) == {"at_10%", "at_50%", "worst_10-90%"} for e in row["eta_error"].values())
