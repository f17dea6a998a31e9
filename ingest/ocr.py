"""OCR of page images with rapidocr-onnxruntime (PP-OCRv4 ONNX models shipped in the wheel).

One engine per process, created on first use: loading the three ONNX sessions costs time and
memory, and a parse worker process OCRs many pages.

Example:
    >>> import pymupdf
    >>> page = pymupdf.open("scan.pdf")[0]  # doctest: +SKIP
    >>> [line.text for line in ocr_page(page, dpi=150)]  # doctest: +SKIP
    ['QUARTERLY REPORT', 'Revenue grew 12%']
"""

from __future__ import annotations

import logging
import threading
from functools import cache
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import pymupdf

from docqa.config import OcrGraphs as Graphs

_pymupdf: Any = pymupdf  # partly annotated: its untyped calls go through Any
_engines: dict[tuple[int | None, Graphs], Any] = {}
_engine_lock = threading.Lock()
_log = logging.getLogger(__name__)


class OcrLine(NamedTuple):
    """One recognised text line; the box is in PDF points of the displayed (rotated) page."""

    text: str
    x0: float
    y0: float
    x1: float
    y1: float
    score: float


def _graph_paths(graphs: Graphs) -> dict[str, str]:
    """RapidOCR's model-path options for `graphs`: none for the stock graphs; for `optimized`
    the rewritten ones (`ingest.ocr_graph`), or none with a warning when they cannot be made."""
    return _optimized_paths() if graphs == "optimized" else {}


@cache
def _optimized_paths() -> dict[str, str]:
    """The rewritten graphs' paths, found (or built) once per process: each engine (one per
    thread count) would otherwise read and hash the 15 MB of stock graphs again."""
    try:
        from ingest.ocr_graph import optimized_model, stock_model

        return {
            f"{kind}_model_path": str(optimized_model(stock_model(kind), kind))
            for kind in ("det", "rec")
        }
    except Exception as exc:  # any failure costs speed, never the OCR itself
        _log.warning("OCR runs on RapidOCR's stock graphs: the optimized ones failed (%s)", exc)
        return {}


def get_engine(threads: int | None = None, graphs: Graphs = "stock") -> Any:
    """The process-wide RapidOCR engine computing with `threads` (ONNX Runtime's intra-op
    threads, fixed when its sessions are made; None: its default, one per core) on `graphs`,
    created lazily and thread-safely, one per (thread count, graphs) asked for. A second engine
    costs little: on a 150-dpi page two took no more memory than one (380 against 401 MB,
    2026-12-07); a page's activations, not the models, are what weighs."""
    key = (threads, graphs)
    engine = _engines.get(key)
    if engine is None:
        with _engine_lock:
            engine = _engines.get(key)
            if engine is None:
                from rapidocr_onnxruntime import RapidOCR

                options: dict[str, Any] = {"intra_op_num_threads": threads} if threads else {}
                paths = _graph_paths(graphs)
                try:
                    engine = RapidOCR(**options, **paths)
                except Exception as exc:
                    if not paths:
                        raise
                    # a damaged cached graph: read with the stock ones rather than not at all
                    _log.warning("OCR runs on RapidOCR's stock graphs: %s", exc)
                    engine = RapidOCR(**options)
                _engines[key] = engine
    return engine


def ocr_image(
    image: npt.NDArray[np.uint8],
    scale: float = 1.0,
    angle_classifier: bool = False,
    threads: int | None = None,
    graphs: Graphs = "stock",
) -> list[OcrLine]:
    """OCR an RGB image (height x width x 3); boxes are multiplied by `scale`.

    `angle_classifier`: check each text line for being upside down (RapidOCR's classifier).
    Off by default: on the dev corpus (`eval/results/ocr-dpi/`) it made OCR 1.5x slower and
    less accurate (0.862 against 0.911 of the text layer, as it turns some upright lines).
    """
    bgr = np.ascontiguousarray(image[:, :, 2::-1])  # the engine expects OpenCV's BGR order
    result, _elapsed = get_engine(threads, graphs)(bgr, use_cls=angle_classifier)
    lines: list[OcrLine] = []
    for item in result or []:
        points, text, score = item[0], str(item[1]), float(item[2])
        if not text.strip():
            continue
        xs = [float(p[0]) for p in points]
        ys = [float(p[1]) for p in points]
        lines.append(
            OcrLine(
                text=text.strip(),
                x0=min(xs) * scale,
                y0=min(ys) * scale,
                x1=max(xs) * scale,
                y1=max(ys) * scale,
                score=score,
            )
        )
    return lines


def ocr_page(
    page: pymupdf.Page,
    dpi: int = 150,
    angle_classifier: bool = False,
    threads: int | None = None,
    clip: tuple[float, float, float, float] | None = None,
    graphs: Graphs = "stock",
) -> list[OcrLine]:
    """Render `page` at `dpi` and OCR it (`ocr_image`); boxes are scaled back to PDF points.

    The rendering shows the page as displayed (with its /Rotate applied), so boxes are in the
    coordinate system of `page.rect`, the same one `ingest.parse` uses for text blocks.
    `clip`: render and read only this rect of an unrotated page (a figure); the boxes are still
    the page's.
    """
    if clip is not None and page.rotation:
        raise ValueError("a clip is read on unrotated pages only")
    area: Any = _pymupdf.Rect(clip) & page.rect if clip is not None else page.rect
    if area.is_empty:
        return []
    # without a clip, a rotated page renders as displayed
    pix = page.get_pixmap(
        dpi=dpi, colorspace=pymupdf.csRGB, alpha=False, clip=None if clip is None else area
    )
    height, width, channels = int(pix.h), int(pix.w), int(pix.n)
    image = np.frombuffer(pix.samples, dtype=np.uint8).reshape(height, width, channels)
    # pixel -> point; derived from the actual pixmap size (dpi rounding) rather than 72 / dpi
    scale = float(area.width) / width if width else 72.0 / dpi
    lines = ocr_image(image[:, :, :3], scale, angle_classifier, threads, graphs)
    dx, dy = float(area.x0), float(area.y0)
    right, bottom = float(area.x1), float(area.y1)
    return [
        line._replace(
            x0=max(dx, line.x0 + dx),
            y0=max(dy, line.y0 + dy),
            x1=min(right, line.x1 + dx),
            y1=min(bottom, line.y1 + dy),
        )
        for line in lines
    ]
