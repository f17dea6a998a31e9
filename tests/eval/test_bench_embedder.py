"""`eval.bench_embedder` on a few texts: every backend runs the real MiniLM, and the ONNX export
computes what torch computes."""

from __future__ import annotations

from pathlib import Path

from docqa.models import ModelRegistry
from eval.bench_embedder import run, table

TEXTS = [
    "Total revenues were $66,608 million in 2022, up 7% from 2021.",
    "The reactor vessel is cooled by a closed loop of molten salt.",
    "Operating cash flow | 3,512 | 2,879 | (3,416)",
    "Employees may carry over five days of unused vacation.",
] * 5


def test_every_backend_embeds_the_same_texts_and_is_compared_to_float32(tmp_path: Path) -> None:
    path = str(ModelRegistry(tmp_path / "cache").path("minilm"))
    rows = run(TEXTS, path, threads=2, workdir=tmp_path)
    by = {(r["backend"], r["batch"]): r for r in rows}
    assert list(by) == [
        ("torch-float32", 32),
        ("torch-bfloat16", 16),
        ("torch-bfloat16", 32),
        ("torch-bfloat16", 64),
        ("onnx-float32", 32),
        ("onnx-optimized", 32),
        ("onnx-int8", 32),
    ]
    assert by[("torch-float32", 32)]["speedup"] == 1.0
    assert by[("torch-float32", 32)]["cosine_min"] == 1.0
    # the export and the graph fusion compute the same vectors; bfloat16 nearly so
    assert by[("onnx-float32", 32)]["cosine_min"] >= 0.9999
    assert by[("onnx-optimized", 32)]["cosine_min"] >= 0.9999
    assert by[("torch-bfloat16", 32)]["cosine_min"] >= 0.999
    # INT8 weights move the vectors, and the report says so
    assert by[("onnx-int8", 32)]["cosine_mean"] < 1.0
    assert all(r["texts_per_s"] > 0 and r["tokens_per_s"] > 0 for r in rows)
    assert table(rows).count("\n") == len(rows) + 1
