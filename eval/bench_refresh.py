"""Re-ingesting a big folder: unchanged files cost a hash, a changed file is the only one embedded.

    python -m eval.bench_refresh [--files 1000] [--out eval/out/refresh.json]

A folder of `--files` one-page PDFs (each its own short report with distinct figures, made
here) is ingested by docqa's `Ingestor` into a fresh store three times in one process:

1. the whole folder (every file parsed, chunked, embedded, stored);
2. the folder again, unchanged;
3. the folder with one file rewritten (new figures, same name).

For each run: seconds, files per status, and the texts the embedder was given (counted by a
wrapper around the real embedder). Goals (issue: ingest speed): run 2 in seconds with nothing
embedded; run 3 embeds the changed file's chunks and nothing else.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from docqa.embedding import Embedder, Threads, Vectors
from eval.bench_ingest import machine


class CountingEmbedder:
    """The real embedder, counting the passages it embeds (queries are not counted)."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name, self.dim, self.max_tokens = inner.name, inner.dim, inner.max_tokens
        self.precision = inner.precision
        self.texts = 0

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def embed_documents(self, texts: Sequence[str], threads: Threads = None) -> Vectors:
        self.texts += len(texts)
        return self.inner.embed_documents(texts, threads)

    def embed_query(self, text: str) -> Vectors:
        return self.inner.embed_query(text)


def write_report(path: Path, n: int, revision: int = 0) -> Path:
    """A one-page PDF: report `n`, its figures depending on `revision`."""
    import pymupdf as _pymupdf

    from ingest.demo import PageWriter

    pymupdf: Any = _pymupdf  # untyped: its calls go through Any
    doc = pymupdf.open()
    writer = PageWriter(doc)
    writer.heading(f"Branch report {n:04d}, revision {revision}", 14)
    writer.paragraph(
        f"Branch {n:04d} sold {1000 + 37 * n + 11 * revision:,} units in the quarter. "
        f"Its staff of {12 + n % 40} handled {300 + 7 * n + revision:,} service requests. "
        f"Energy use fell {(n % 9) + revision / 10:.1f}% against the previous quarter."
    )
    doc.save(path)
    doc.close()
    return path


def run(files: int, folder: Path, home: Path) -> list[dict[str, Any]]:
    from docqa.config import Settings
    from docqa.runtime import Runtime
    from ingest.pipeline import Ingestor

    folder.mkdir(parents=True, exist_ok=True)
    for n in range(files):
        write_report(folder / f"branch-{n:04d}.pdf", n)
    settings = Settings(home=home)
    rt = Runtime(settings)
    embedder = CountingEmbedder(rt.embedder)
    rows: list[dict[str, Any]] = []
    try:
        for name in ("whole folder", "unchanged", "one file changed"):
            if name == "one file changed":
                write_report(folder / f"branch-{files // 2:04d}.pdf", files // 2, revision=1)
            before = embedder.texts
            t0 = time.perf_counter()
            report = Ingestor(settings, rt.store, embedder, rt.bm25).run([folder])
            seconds = time.perf_counter() - t0
            statuses = Counter(d.status.value for d in report.documents)
            rows.append(
                {
                    "run": name,
                    "seconds": round(seconds, 2),
                    "files": dict(sorted(statuses.items())),
                    "embedded_texts": embedder.texts - before,
                    "chunks_of_indexed_files": sum(
                        d.chunks for d in report.documents if d.status.value == "indexed"
                    ),
                }
            )
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    finally:
        rt.close()
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="docqa-refresh-") as tmp:
        rows = run(a.files, Path(tmp) / "folder", Path(tmp) / "home")
    print("| run | seconds | files | texts embedded |")
    print("|---|---:|---|---:|")
    for r in rows:
        files = ", ".join(f"{v} {k}" for k, v in r["files"].items())
        print(f"| {r['run']} | {r['seconds']} | {files} | {r['embedded_texts']} |")
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        summary = {
            "date": datetime.now(UTC).strftime("%Y-%m-%d"),
            "machine": machine(),
            "files": a.files,
            "runs": rows,
        }
        a.out.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
