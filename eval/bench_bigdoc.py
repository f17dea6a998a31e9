"""A 1,000-page PDF: is docqa's memory flat, its pace kept, and its progress bar's ETA true?

    python -m eval.bench_bigdoc [--source ../shared/corpus/dev/BOEING_2022_10K.pdf]
                                [--pages 1000] [--small 100] [--out eval/out/bigdoc.json]

Two PDFs are made from one real filing, with the same mix of pages: `--pages` pages (the
filing's pages repeated in order) and `--small` pages (every n-th page of the big one). Each is
ingested by docqa's `Ingestor` into a fresh store, in a fresh process, one after the other, and
measured:

- seconds, pages/s and peak RSS (the process and its parser process, sampled every 50 ms), and
  the RSS at 10%, 50% and 100% of the pages: flat memory means the big file's peak is close to
  the small one's;
- the ETA at every report, against the time the run actually still took, by three estimators:
  `docqa`, the ingestor's own (`ingest.eta.WorkEta`: each page weighted by the text its
  content stream shows, paced from the first report; what the CLI bar, the REST job's
  `seconds_left` and the web UI show since 2026-12-06), `window`, rich's `TimeRemainingColumn` over the pages task (the pace
  of the last 30 s, the CLI bar's until then), and `mean`, the pages left at the mean pace since
  the start (the REST job's `pages_per_second`, the web UI's until then). Reported: the error at 10% and 50% of the pages and the worst error
  between 10% and 90% (past 90% a second of difference is already a large share of what is
  left). docqa's reports are also replayed with two page weights on the same timeline
  (`replay_work`): `text`, the bytes of the strings each page shows (today's), and `content`,
  the raw size of its content stream (until 2026-12-07).

Goals (issue: ingest speed): peak RSS under 2 GB on the big file, pages/s no worse than on the
small one, the ETA within 20% of the truth after the first 10% of pages.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eval.bench_ingest import PeakRss, machine

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = ROOT.parent / "shared" / "corpus" / "dev" / "BOEING_2022_10K.pdf"
CHECKPOINTS = (0.1, 0.5)
WORST_BETWEEN = (0.1, 0.9)


def make_pdfs(source: Path, pages: int, small: int, folder: Path) -> tuple[Path, Path]:
    """(big, small) PDFs in `folder`: `pages` pages of `source` repeated in order, and `small`
    pages taken evenly from the big one (the same mix of text, tables and blank pages)."""
    import pymupdf as _pymupdf

    pymupdf: Any = _pymupdf  # untyped: its calls go through Any
    if not 0 < small <= pages:
        raise ValueError(f"--small ({small}) must be between 1 and --pages ({pages})")
    src = pymupdf.open(source)
    try:
        n = src.page_count
        big = pymupdf.open()
        while big.page_count < pages:
            last = min(n, pages - big.page_count) - 1
            big.insert_pdf(src, from_page=0, to_page=last)
        big_path = folder / f"big-{pages}.pdf"
        big.save(big_path, garbage=1)
        step = pages / small
        keep = [int(i * step) for i in range(small)]
        big.select(keep)
        small_path = folder / f"small-{small}.pdf"
        big.save(small_path, garbage=3)
        big.close()
    finally:
        src.close()
    return big_path, small_path


@dataclass
class Timeline:
    """What the progress bar saw: per page done, (seconds since the start, pages done, the ETA
    it showed, the RSS then); `end` is when the run returned."""

    total: int = 0
    events: list[tuple[float, int, float | None, int]] = field(default_factory=list)
    end: float = 0.0


def mean_pace(tl: Timeline) -> Timeline:
    """`tl` with the ETA of the mean pace since the start in place of the bar's.

    >>> mean_pace(Timeline(total=10, events=[(2.0, 4, None, 0)], end=5.0)).events
    [(2.0, 4, 3.0, 0)]
    """
    events: list[tuple[float, int, float | None, int]] = [
        (t, done, (tl.total - done) * t / done, rss) for t, done, _, rss in tl.events
    ]
    return Timeline(total=tl.total, events=events, end=tl.end)


def replay_work(tl: Timeline, work: list[float]) -> Timeline:
    """`tl` (docqa's reports on one file) with the ETA `WorkEta` gives when the pages weigh
    `work`: at each report the work of the first `done` pages is done, paced from the first
    report. So two page weights are compared on one run's timeline.

    >>> tl = Timeline(total=3, events=[(1.0, 1, None, 0), (2.0, 2, None, 0)], end=4.0)
    >>> [e[2] for e in replay_work(tl, [1.0, 1.0, 2.0]).events]
    [None, 2.0]
    """
    from ingest.eta import WorkEta

    clock_now = [0.0]
    eta = WorkEta(lambda: clock_now[0])
    eta.found(sum(work))
    events: list[tuple[float, int, float | None, int]] = []
    reported = 0
    for t, done, _, rss in tl.events:
        clock_now[0] = t
        events.append((t, done, eta.done(sum(work[reported:done])), rss))
        reported = max(reported, done)
    return Timeline(total=tl.total, events=events, end=tl.end)


def eta_errors(tl: Timeline) -> dict[str, float | None]:
    """Relative ETA errors |shown - true| / true at the checkpoints, and the worst between
    `WORST_BETWEEN` of the pages (None: no event there with an ETA).

    >>> tl = Timeline(total=10, events=[(i, i, 10 - i, 0) for i in range(1, 11)], end=10)
    >>> eta_errors(tl)
    {'at_10%': 0.0, 'at_50%': 0.0, 'worst_10-90%': 0.0}
    """
    out: dict[str, float | None] = {}

    def error(t: float, eta: float) -> float:
        truth = tl.end - t
        return abs(eta - truth) / truth if truth > 0 else 0.0

    for share in CHECKPOINTS:
        first = next((e for e in tl.events if e[1] >= share * tl.total and e[2] is not None), None)
        out[f"at_{share:.0%}"] = (
            None if first is None or first[2] is None else round(error(first[0], first[2]), 3)
        )
    lo, hi = WORST_BETWEEN
    window = [
        error(t, eta)
        for t, done, eta, _ in tl.events
        if eta is not None and lo * tl.total <= done <= hi * tl.total
    ]
    out[f"worst_{lo:.0%}-{hi:.0%}".replace("%-", "-")] = round(max(window), 3) if window else None
    return out


class _Recorder:
    """An ingest `Progress` that keeps the pages task the CLI's bar keeps (rich, not shown)."""

    def __init__(self, rss: PeakRss) -> None:
        from rich.console import Console
        from rich.progress import Progress

        self.bar = Progress(console=Console(file=io.StringIO()), auto_refresh=False)
        self.task = self.bar.add_task("pages", total=0)
        self.t0 = time.perf_counter()
        self.timeline = Timeline()
        self.docqa = Timeline()
        """The ETA docqa's own estimator gives (`ingest.eta`), at each report."""
        self.rss = rss

    def files(self, total: int) -> None: ...

    def pages_found(self, n: int) -> None:
        self.timeline.total += n
        self.docqa.total += n
        self.bar.update(self.task, total=self.timeline.total)

    def pages_done(self, n: int) -> None:
        self.bar.update(self.task, advance=n)
        task = self.bar.tasks[self.task]
        done, eta = int(task.completed), task.time_remaining
        # the sampler's last RSS (at most 50 ms old): no process scan in the ingest loop
        self.timeline.events.append((time.perf_counter() - self.t0, done, eta, self.rss.current))

    def eta(self, seconds_left: float | None) -> None:
        # its own time and count: a flush may report before the page that filled it is done
        done = int(self.bar.tasks[self.task].completed)
        t = time.perf_counter() - self.t0
        self.docqa.events.append((t, done, seconds_left, self.rss.current))

    def file_done(self, result: Any) -> None: ...


def _page_weights(pdf: Path) -> dict[str, list[float]]:
    """Each page's work by the weight docqa uses (`text`: the text it shows) and by the one it
    used until 2026-12-07 (`content`: the whole content stream)."""
    import pymupdf as _pymupdf

    from ingest.eta import content_bytes, page_work, shown_text_bytes

    pymupdf: Any = _pymupdf
    doc = pymupdf.open(pdf)
    try:
        return {
            "text": page_work(doc, shown_text_bytes),
            "content": page_work(doc, content_bytes),
        }
    finally:
        doc.close()


def run_one(pdf: Path, home: Path) -> dict[str, Any]:
    """Ingest `pdf` into a fresh store at `home` (this process) and measure it."""
    from docqa.config import Settings
    from docqa.runtime import Runtime
    from ingest.pipeline import Ingestor

    settings = Settings(home=home)
    with PeakRss() as rss:
        rt = Runtime(settings)
        rt.embedder  # noqa: B018 - load the model before the clock starts
        recorder = _Recorder(rss)
        report = Ingestor(settings, rt.store, rt.embedder, rt.bm25, recorder).run([pdf])
        recorder.timeline.end = recorder.docqa.end = time.perf_counter() - recorder.t0
        rt.close()
    (doc,) = report.documents
    tl = recorder.timeline
    weights = _page_weights(pdf)
    at = {
        f"rss_mb_at_{share:.0%}": round(
            next(e[3] for e in tl.events if e[1] >= share * tl.total) / 2**20
        )
        for share in (0.1, 0.5, 1.0)
        if tl.events
    }
    return {
        "file": pdf.name,
        "status": doc.status.value,
        "pages": doc.pages,
        "chunks": doc.chunks,
        "seconds": round(tl.end, 2),
        "pages_per_s": round(doc.pages / tl.end, 2),
        "peak_rss_mb": round(rss.peak / 2**20),
        "peak_rss_at_s": round(rss.peak_at - recorder.t0, 2),
        "peak_rss_main_mb": round(rss.peak_main / 2**20),
        "peak_rss_parts_mb": rss.parts_mb(),
        "rss_trace_mb": rss.trace_mb(recorder.t0),
        **at,
        "eta_error": {
            "docqa": eta_errors(recorder.docqa),
            "window": eta_errors(tl),
            "mean": eta_errors(mean_pace(tl)),
            **{
                f"replay_{name}": eta_errors(replay_work(recorder.docqa, work))
                for name, work in weights.items()
            },
        },
        "stages": report.stages,
        "timeline": [[round(t, 3), done] for t, done, _, _ in tl.events],
    }


def _percentages(errors: dict[str, float | None]) -> str:
    """`eta_errors` as the tables show them: "12% / 5% / -"."""
    return " / ".join("-" if v is None else f"{100 * v:.0f}%" for v in errors.values())


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    ap.add_argument("--pages", type=int, default=1000)
    ap.add_argument("--small", type=int, default=100)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        print(json.dumps(run_one(a.child, a.home)))
        return
    if not a.source.is_file():
        sys.exit(f"no PDF at {a.source} (pass --source FILE)")
    rows = []
    with tempfile.TemporaryDirectory(prefix="docqa-bigdoc-") as tmp:
        big, small = make_pdfs(a.source, a.pages, a.small, Path(tmp))
        for pdf in (small, big):
            home = Path(tmp) / f"home-{pdf.stem}"
            cmd = [sys.executable, "-m", "eval.bench_bigdoc", "--child", str(pdf)]
            print(f"ingesting {pdf.name} ...", file=sys.stderr, flush=True)
            res = subprocess.run(
                [*cmd, "--home", str(home)], capture_output=True, text=True, cwd=ROOT
            )
            if res.returncode != 0:
                sys.exit(f"{pdf.name} failed:\n{res.stderr[-3000:]}")
            rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
    small_row, big_row = rows
    summary: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": machine(),
        "source": a.source.name,
        "results": rows,
        "pace_big_over_small": round(big_row["pages_per_s"] / small_row["pages_per_s"], 2),
    }
    print(
        "| file | pages | seconds | pages/s | peak RSS MB | RSS at 10% / 50% / 100% | "
        "ETA error at 10% / 50% / worst 10-90%: docqa | window | mean pace |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        errs = [_percentages(r["eta_error"][name]) for name in ("docqa", "window", "mean")]
        print(
            f"| {r['file']} | {r['pages']} | {r['seconds']} | {r['pages_per_s']} | "
            f"{r['peak_rss_mb']} (at {r['peak_rss_at_s']} s) | {r.get('rss_mb_at_10%')} / {r.get('rss_mb_at_50%')} / "
            f"{r.get('rss_mb_at_100%')} | {errs[0]} | {errs[1]} | {errs[2]} |"
        )
    print(
        "ETA error at 10% / 50% / worst 10-90%, docqa's reports replayed with each page weight"
        " (WorkEta's single pace: with share_cores the live ETA also reads the parsers' progress,"
        " which is not replayed):"
    )
    for r in rows:
        shown = {k: _percentages(r["eta_error"][f"replay_{k}"]) for k in ("text", "content")}
        print(f"{r['file']}: shown text {shown['text']}; whole content stream {shown['content']}")
    for r in rows:
        parts = ", ".join(f"{k} {v}" for k, v in r["peak_rss_parts_mb"].items())
        print(f"{r['file']}: RSS at the peak by process (MB): {parts}")
    print(f"pages/s, big over small: {summary['pace_big_over_small']}")
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
