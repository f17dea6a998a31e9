"""`ingest.ocr_graph`: the rewrites on small hand-built graphs (run by ONNX Runtime before and
after), their guards, the cache, and the real PP-OCRv4 graphs reading what the stock ones read."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pdfs
import pymupdf
import pytest
from onnx import TensorProto, helper, numpy_helper

from ingest import ocr, ocr_graph
from ingest.ocr_graph import Rewrites, optimize, optimized_model, stock_model


@pytest.fixture(autouse=True)
def _paths_found_anew() -> Iterator[None]:
    """`ingest.ocr` finds the rewritten graphs once per process: each test finds them in its
    own cache, and leaves none of its paths behind."""
    ocr._optimized_paths.cache_clear()
    yield
    ocr._optimized_paths.cache_clear()


RNG = np.random.default_rng(7)


def _const(name: str, value: np.ndarray | float) -> onnx.NodeProto:
    array = np.asarray(value, dtype=np.float32)
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(array, name))


def _net(
    *,
    clip_max: float = 6.0,
    scale: np.ndarray | float = 1.5,
    extra_output: bool = False,
    next_pads: int = 0,
) -> onnx.ModelProto:
    """x -> Conv (Constant weights) -> Mul(scale) -> Add(0.25) -> hard-swish as paddle2onnx
    spells it -> Mul(0.8) -> Add(-0.1) -> 1x1 Conv (padded by `next_pads`), in opset 12 like
    RapidOCR's graphs."""
    nodes = [
        _const("w", RNG.normal(size=(4, 3, 3, 3))),
        _const("b", RNG.normal(size=4)),
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        _const("s", scale),
        helper.make_node("Mul", ["c", "s"], ["m"]),
        _const("t", 0.25),
        helper.make_node("Add", ["m", "t"], ["a"]),
        _const("three", 3.0),
        helper.make_node("Add", ["a", "three"], ["a3"]),
        _const("lo", 0.0),
        _const("hi", clip_max),
        helper.make_node("Clip", ["a3", "lo", "hi"], ["cl"]),
        helper.make_node("Mul", ["a", "cl"], ["xm"]),
        _const("six", 6.0),
        helper.make_node("Div", ["xm", "six"], ["hs"]),
        _const("s2", 0.8),
        helper.make_node("Mul", ["hs", "s2"], ["hm"]),
        _const("t2", -0.1),
        helper.make_node("Add", ["hm", "t2"], ["ha"]),
        _const("w2", RNG.normal(size=(2, 4, 1, 1))),
        helper.make_node("Conv", ["ha", "w2"], ["y"], pads=[next_pads] * 4),
    ]
    side = 8 + 2 * next_pads
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, side, side])]
    if extra_output:
        outputs.append(helper.make_tensor_value_info("c", TensorProto.FLOAT, [1, 4, 8, 8]))
    graph = helper.make_graph(
        nodes, "net", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])], outputs
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 12)])


def _run(model: onnx.ModelProto, x: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return [np.asarray(v) for v in session.run(None, {"x": x})]


def _ops(model: onnx.ModelProto) -> list[str]:
    return [n.op_type for n in model.graph.node]


X = RNG.normal(scale=2.0, size=(1, 3, 8, 8)).astype(np.float32)


def test_the_three_rewrites_compute_the_same_function() -> None:
    model = _net()
    before = _run(model, X)
    assert optimize(model) == Rewrites(
        constants=11, hard_swish=1, folded_affine=1, folded_into_next=1
    )
    assert _ops(model) == ["Conv", "HardSwish", "Conv"]  # both affines in the convs
    assert model.opset_import[0].version >= 14  # HardSwish needs opset 14
    np.testing.assert_allclose(_run(model, X)[0], before[0], rtol=1e-5, atol=1e-5)


def test_lookalikes_are_left_alone() -> None:
    other_bound = _net(clip_max=5.0)  # relu5, not hard-swish
    before = _run(other_bound, X)
    assert optimize(other_bound).hard_swish == 0
    assert "Clip" in _ops(other_bound)
    np.testing.assert_allclose(_run(other_bound, X)[0], before[0], rtol=1e-5, atol=1e-5)

    per_channel = _net(scale=np.full((1, 4, 1, 1), 1.5))  # not a scalar: not folded here
    assert optimize(per_channel).folded_affine == 0

    padded = _net(next_pads=1)  # the border would see the shift where the input pads with 0
    before = _run(padded, X)
    assert optimize(padded).folded_into_next == 0
    np.testing.assert_allclose(_run(padded, X)[0], before[0], rtol=1e-5, atol=1e-5)

    shared = _net(extra_output=True)  # the conv's own output is used too: it must stay
    before = _run(shared, X)
    assert optimize(shared).folded_affine == 0
    after = _run(shared, X)
    for a, b in zip(after, before, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_a_rewritten_graph_is_checked_and_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = stock_model("det")
    stale = tmp_path / f"{source.stem}.0123456789abcdef-v0.onnx"  # an older rewrite's
    stale.write_bytes(b"old")
    path = optimized_model(source, "det", tmp_path)
    assert not stale.exists()  # replaced
    assert path.parent == tmp_path and ocr_graph.REWRITE_VERSION and path.is_file()
    built = path.stat().st_mtime_ns
    assert optimized_model(source, "det", tmp_path) == path
    assert path.stat().st_mtime_ns == built  # read from the cache, not built again
    assert not list(tmp_path.glob(".*.tmp"))

    def broken(model: onnx.ModelProto) -> Rewrites:  # a rewrite that changes the function
        rewrites = ocr_graph.constants_to_initializers(model)
        weight = next(t for t in model.graph.initializer if len(t.dims) == 4)
        weight.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(weight) * 2, weight.name))
        return Rewrites(rewrites, 0, 0, 0)

    monkeypatch.setattr(ocr_graph, "optimize", broken)
    with pytest.raises(ValueError, match="differs from the stock graph"):
        optimized_model(source, "det", tmp_path / "other")
    assert not (tmp_path / "other").exists()  # nothing cached


def _scan(tmp_path: Path) -> pymupdf.Page:
    doc = pymupdf.open(pdfs.image_only_pdf(tmp_path / "scan.pdf"))
    return doc[0]


def test_the_real_graphs_read_the_same_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ocr_graph, "cache_dir", lambda: tmp_path / "cache")  # not the user's
    ocr._engines.clear()
    page = _scan(tmp_path)
    stock = ocr.ocr_page(page, graphs="stock")
    optimized = ocr.ocr_page(page, graphs="optimized")
    assert [line.text for line in optimized] == [line.text for line in stock]
    assert len(stock) >= 3
    names = sorted(p.name.split(".")[0] for p in (tmp_path / "cache").rglob("*.onnx"))
    assert names == ["ch_PP-OCRv4_det_infer", "ch_PP-OCRv4_rec_infer"]
    ocr._engines.clear()


def test_a_damaged_cached_graph_falls_back_to_the_stock_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(ocr_graph, "cache_dir", lambda: tmp_path / "cache")  # not the user's
    for kind in ("det", "rec"):
        path = optimized_model(stock_model(kind), kind)
        path.write_bytes(b"not an onnx graph")  # as a full disk or a crash might leave it
    ocr._engines.clear()
    with caplog.at_level(logging.WARNING, logger="ingest.ocr"):
        lines = ocr.ocr_page(_scan(tmp_path), graphs="optimized")
    assert "stock graphs" in caplog.text
    assert len(lines) >= 3  # the page is still read
    ocr._engines.clear()
