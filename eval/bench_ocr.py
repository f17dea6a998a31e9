"""OCR resolution and engine settings: what each costs per page and what it reads.

    python -m eval.bench_ocr [--docs DIR] [--every 25] [--configs default,optimized]
                             [--out eval/out/ocr.json]

RapidOCR as docqa runs it (`ingest.ocr.ocr_page`: the page rendered at a dpi, read by the
PP-OCRv4 models), under several configurations, on two sets of pages of the dev corpus:

- `scanned`: every page without a text layer (what docqa OCRs): seconds per page, and how
  closely the text agrees with the text read by the first configuration run;
- `text-layer`: every `--every`-th page with over 200 characters of text layer, rendered and
  OCR'd like a scan: seconds per page, and accuracy against the page's own text layer.

Agreement and accuracy are difflib ratios of the whitespace-normalised, lower-cased texts (1.0:
the same characters in the same order). Configurations run one after another in this process,
each with a fresh engine; the adoption rules are in `eval/results/ocr-dpi/RULE.md` and
`eval/results/ocr-graph/RULE.md`.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eval.bench_ingest import BAD, DEFAULT_DOCS, machine

CONFIGS: dict[str, tuple[str, int, bool, dict[str, Any]]] = {
    # name: (label, dpi, angle classifier, RapidOCR options; "graphs": ingest.ocr's graphs)
    "classifier": ("150 dpi, angle classifier (docqa's until 2026-12-06)", 150, True, {}),
    "120": ("120 dpi, angle classifier", 120, True, {}),
    "100": ("100 dpi, angle classifier", 100, True, {}),
    "batch16": (
        "150 dpi, angle classifier, recognition batch 16",
        150,
        True,
        {"rec_batch_num": 16},
    ),
    "default": ("150 dpi, no angle classifier, stock graphs", 150, False, {}),
    "optimized": (
        "150 dpi, no angle classifier, optimized graphs",
        150,
        False,
        {"graphs": "optimized"},
    ),
    "spaces": (
        "150 dpi, optimized graphs, the spaces OCR dropped restored (ingest.spacing)",
        150,
        False,
        {"graphs": "optimized", "spaces": True},
    ),
    "det1280": (
        "150 dpi, optimized graphs, text detection on the page shrunk to 1280 px",
        150,
        False,
        {"graphs": "optimized", "detect_side": 1280},
    ),
    "det960": (
        "150 dpi, optimized graphs, text detection on the page shrunk to 960 px",
        150,
        False,
        {"graphs": "optimized", "detect_side": 960},
    ),
}
"""Each configuration's text is compared with the first one run (`--configs` picks them)."""


def _norm(text: str) -> str:
    return " ".join(text.split()).lower()


def similarity(a: str, b: str) -> float:
    """difflib's ratio of the normalised texts.

    >>> similarity("Net  Revenue 12%", "net revenue 12%")
    1.0
    """
    return difflib.SequenceMatcher(None, _norm(a), _norm(b), autojunk=False).ratio()


def pages(docs: Path, every: int) -> tuple[list[tuple[Path, int]], list[tuple[Path, int]]]:
    """(scanned pages, text-layer sample) of the valid PDFs in `docs`, as (file, page index)."""
    import pymupdf as _pymupdf

    pymupdf: Any = _pymupdf
    scanned: list[tuple[Path, int]] = []
    sample: list[tuple[Path, int]] = []
    for f in sorted(docs.glob("*.pdf")):
        if f.name.startswith(BAD):
            continue
        with pymupdf.open(f) as doc:
            for i, page in enumerate(doc):
                chars = len(page.get_text().strip())
                if chars < 20:
                    scanned.append((f, i))
                elif i % every == 0 and chars > 200:
                    sample.append((f, i))
    return scanned, sample


def detect_at(engine: Any, side: int) -> None:
    """Make `engine` (a RapidOCR) find text lines on the page image shrunk to a longest side of
    `side` pixels, while it still recognises each line on a crop of the full image. RapidOCR
    1.4 (pinned) picks the detector's size from the image (`limit_type: max` ignores the
    configured side), so its detector's `get_preprocess` is replaced."""
    from rapidocr_onnxruntime.ch_ppocr_det.utils import DetPreProcess

    detector = engine.text_det
    mean, std = detector.mean, detector.std

    def preprocess(max_wh: int) -> Any:
        return DetPreProcess(min(side, max_wh), "max", mean, std)

    detector.get_preprocess = preprocess


@contextmanager
def engine(options: dict[str, Any]) -> Iterator[None]:
    """docqa's process-wide OCR engine replaced by one built with `options` (RapidOCR's)."""
    from rapidocr_onnxruntime import RapidOCR

    from ingest import ocr

    options = dict(options)
    paths = ocr._graph_paths(options.pop("graphs", "stock"))
    side = options.pop("detect_side", None)
    saved = dict(ocr._engines)
    ocr._engines.clear()
    built = RapidOCR(**options, **paths)
    if side:
        detect_at(built, side)
    ocr._engines[None, "stock"] = built  # the one `read` asks for
    try:
        yield
    finally:
        ocr._engines.clear()
        ocr._engines.update(saved)


def read(
    page_ref: tuple[Path, int], dpi: int, classify: bool, spaces: bool = False
) -> tuple[str, str, float]:
    """(OCR text, text layer, seconds of OCR) of one page; `spaces`: with the spaces OCR dropped
    put back (`ingest.spacing`, its time included)."""
    import pymupdf as _pymupdf

    from ingest.ocr import ocr_page
    from ingest.parse import render_dpi
    from ingest.spacing import restore_spaces

    pymupdf: Any = _pymupdf
    path, index = page_ref
    with pymupdf.open(path) as doc:
        page = doc[index]
        rect = page.rect
        t0 = time.perf_counter()
        lines = ocr_page(page, render_dpi(float(rect.width), float(rect.height), dpi), classify)
        texts = [line.text for line in lines]
        if spaces:
            texts = restore_spaces(texts)
        seconds = time.perf_counter() - t0
        return " ".join(texts), page.get_text(), seconds


def run(
    scanned: list[tuple[Path, int]], sample: list[tuple[Path, int]], names: list[str]
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    today: dict[tuple[Path, int], str] = {}
    for name in names:
        label, dpi, classify, options = CONFIGS[name]
        spaces = bool(options.get("spaces"))
        with engine({k: v for k, v in options.items() if k != "spaces"}):
            read(scanned[0] if scanned else sample[0], dpi, classify, spaces)  # warm-up
            scan_s, agree = 0.0, []
            for ref in scanned:
                text, _, seconds = read(ref, dpi, classify, spaces)
                scan_s += seconds
                today.setdefault(ref, text)
                agree.append(similarity(text, today[ref]))
            text_s, accuracy = 0.0, []
            for ref in sample:
                text, layer, seconds = read(ref, dpi, classify, spaces)
                text_s += seconds
                accuracy.append(similarity(text, layer))
        row = {
            "config": label,
            "dpi": dpi,
            "angle_classifier": classify,
            "options": options,
            "scanned_s_per_page": round(scan_s / max(1, len(scanned)), 3),
            "agreement_with_today": round(sum(agree) / max(1, len(agree)), 4),
            "text_layer_s_per_page": round(text_s / max(1, len(sample)), 3),
            "accuracy_vs_text_layer": round(sum(accuracy) / max(1, len(accuracy)), 4),
        }
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument("--docs", type=Path, default=DEFAULT_DOCS)
    ap.add_argument("--every", type=int, default=25, help="text-layer pages: every n-th page")
    ap.add_argument("--out", type=Path, default=Path("eval/out/ocr.json"))
    ap.add_argument(
        "--configs",
        default=",".join(CONFIGS),
        help=f"comma-separated, the first is what the others are compared with: {', '.join(CONFIGS)}",
    )
    a = ap.parse_args(argv)
    names = [n.strip() for n in a.configs.split(",") if n.strip()]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown or not names:
        ap.error(f"unknown configuration {', '.join(unknown)}; known: {', '.join(CONFIGS)}")
    scanned, sample = pages(a.docs, a.every)
    rows = run(scanned, sample, names)
    summary = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": machine(),
        "scanned_pages": len(scanned),
        "text_layer_pages": len(sample),
        "rows": rows,
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(
        "| configuration | s / scanned page | agreement with the first | s / text page | accuracy |"
    )
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['config']} | {r['scanned_s_per_page']} | {r['agreement_with_today']} | "
            f"{r['text_layer_s_per_page']} | {r['accuracy_vs_text_layer']} |"
        )


if __name__ == "__main__":
    main()
