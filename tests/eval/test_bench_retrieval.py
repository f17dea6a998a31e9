"""The summary and table of `eval.bench_retrieval` for a subset of its methods."""

from __future__ import annotations

from typing import Any

from eval.bench_retrieval import figures, split_of, summarize, table


def _row(qid: str, rerank: bool, prompt: bool, recall: float, tokens: int) -> dict[str, Any]:
    return {
        "id": qid,
        "doc": "d.pdf",
        "type": "paper",
        "split": split_of(qid),
        "rerank": rerank,
        "rerank_s": 2.0,
        "prompt": prompt,
        "prompt_s": 3.0,
        "prompt_recall": recall,
        "prompt_tokens": tokens,
    }


def test_split_is_fixed_by_the_id_and_holds_out_about_a_third() -> None:
    ids = [f"q{i}" for i in range(600)]
    held = [i for i in ids if split_of(i) == "held-out"]
    assert [split_of(i) for i in ids] == [split_of(i) for i in ids]
    assert 150 < len(held) < 250


def test_a_subset_of_methods_is_summarized_and_tabled_alone() -> None:
    rows = [
        _row("a", True, True, 1.0, 1000),
        _row("b", False, True, 0.5, 1200),
        _row("c", False, False, 0.0, 800),
        _row("d", True, False, 0.0, 1000),
    ]
    assert figures(("rerank", "prompt")) == ("rerank", "prompt", "prompt_recall", "prompt_tokens")
    s = summarize(rows)
    assert s["all"] == {
        "n": 4,
        "rerank": 0.5,
        "prompt": 0.5,
        "prompt_recall": 0.375,
        "prompt_tokens": 1000.0,
    }
    assert s["latency_ms"] == {"rerank": 2000.0, "prompt": 3000.0}
    out = table(s, 5)
    assert (
        out.splitlines()[0] == "| group | n | rerank @5 | prompt | prompt recall | prompt tokens |"
    )
    assert "| all | 4 | 0.500 | 0.500 | 0.375 | 1000 |" in out
    assert "dense" not in out


def test_the_hyde_passage_time_is_summarized_and_tabled_beside_the_methods() -> None:
    rows = [
        _row("a", True, True, 1.0, 1000) | {"hyde_gen_s": 4.0},
        _row("b", False, True, 0.5, 1200) | {"hyde_gen_s": 6.0},
    ]
    s = summarize(rows)
    assert s["hyde_generation_ms"] == 5000
    out = table(s, 5)
    assert out.splitlines()[-1] == "HyDE passage: 5000 ms per question"
    assert "| hyde_generation_ms" not in out  # not a group row
