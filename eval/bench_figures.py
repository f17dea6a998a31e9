"""What reading figures costs: the dev corpus parsed with and without `ingest.ocr_figures`.

    python -m eval.bench_figures [--docs DIR] [--share 0.05] [--out eval/out/figures.json]

Every page of the valid PDFs is parsed twice in this process (`ingest.parse.parse_page`, no page
images), once as today and once with figures read (images covering at least `--share` of a page
that has a text layer: `ingest.parse.figure_blocks`), the two in alternating order from page to
page so that load on the machine falls on both alike. Per document: pages, parse seconds of
each, figures read, and the characters the figures add. The OCR engine is warmed on the first
page before timing. The adoption rule is in `eval/results/figures/RULE.md`; what the figures do
for retrieval is measured by `eval.bench_retrieval` on a store ingested with the setting.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from docqa.config import IngestSettings
from eval.bench_ingest import BAD, DEFAULT_DOCS, machine


def measure(pdf: Path, share: float) -> dict[str, Any]:
    """Parse seconds with and without figures, figures read and characters added, for `pdf`."""
    from ingest.parse import ParseError, open_pdf, parse_page

    arms = {
        "without": IngestSettings(page_images=False),
        "with": IngestSettings(page_images=False, ocr_figures=share),
    }
    seconds = dict.fromkeys(arms, 0.0)
    figures = added = failed = 0
    doc: Any = open_pdf(pdf)
    try:
        for i in range(doc.page_count):
            order = list(arms) if i % 2 == 0 else list(reversed(arms))
            texts: dict[str, str] = {}
            try:
                for arm in order:
                    start = time.perf_counter()
                    parsed = parse_page(doc, i, arms[arm], None, "bench")
                    seconds[arm] += time.perf_counter() - start
                    texts[arm] = parsed.page.text
                    if arm == "with" and not parsed.page.ocr:
                        figures += sum(1 for b in parsed.blocks if b.kind == "ocr")
            except ParseError:
                failed += 1
                continue
            added += len(texts["with"]) - len(texts["without"])
        pages = doc.page_count
    finally:
        doc.close()
    return {
        "file": pdf.name,
        "pages": pages,
        "failed_pages": failed,
        "seconds_without": round(seconds["without"], 4),
        "seconds_with": round(seconds["with"], 4),
        "figures_read": figures,
        "chars_added": added,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=Path, default=DEFAULT_DOCS)
    ap.add_argument("--share", type=float, default=0.05)
    ap.add_argument("--out", type=Path, default=Path("eval/out/figures.json"))
    a = ap.parse_args()
    from ingest.ocr import get_engine

    settings = IngestSettings()
    get_engine(settings.ocr_threads, settings.ocr_graphs)  # load the OCR models before timing
    files = sorted(p for p in a.docs.glob("*.pdf") if not p.name.startswith(BAD))
    rows = []
    for pdf in files:
        rows.append(measure(pdf, a.share))
        r = rows[-1]
        print(
            f"{r['file']}: {r['pages']} pages, {r['seconds_without']:.1f} s -> "
            f"{r['seconds_with']:.1f} s, {r['figures_read']} figures, +{r['chars_added']} chars",
            flush=True,
        )
    without = sum(r["seconds_without"] for r in rows)
    with_ = sum(r["seconds_with"] for r in rows)
    summary = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "share": a.share,
        "seconds_without": round(without, 2),
        "seconds_with": round(with_, 2),
        "ratio": round(with_ / without, 3) if without else None,
        "figures_read": sum(r["figures_read"] for r in rows),
        "chars_added": sum(r["chars_added"] for r in rows),
        "documents": rows,
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(summary, indent=1) + "\n")
    print(
        f"all: {without:.1f} s -> {with_:.1f} s ({summary['ratio']}x), "
        f"{summary['figures_read']} figures, +{summary['chars_added']} chars"
    )


if __name__ == "__main__":
    main()
