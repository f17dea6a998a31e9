"""Ingestion benchmark: docqa vs the llama-index default pipeline vs the embed-only floor.

    python -m eval.bench_ingest [--docs DIR] [--out eval/out/ingest.json]

Each system runs in its own fresh process (so peak RSS is its own), on the valid PDFs of the
dev corpus:
  (a) docqa: `Ingestor` into a fresh Qdrant Edge store (parse, OCR, tables, chunk, embed,
      BM25, store);
  (b) llama-index default: SimpleDirectoryReader + SentenceSplitter + the same MiniLM
      embedder + QdrantVectorStore in qdrant-client local mode; tokens beyond MiniLM's window
      are silently truncated by the embedder: we count them;
  (c) the floor: docqa's own chunk texts (from run a) through the embedder alone.
Peak RSS is sampled over the process and its children (docqa's parse worker included).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DOCS = ROOT.parent / "shared" / "corpus" / "dev"
# Files of the dev corpus that are meant to fail (corrupt, encrypted): not part of the timing.
BAD = ("corrupt_", "encrypted_")


class PeakRss:
    """Samples the RSS of this process plus its children every 50 ms."""

    def __init__(self) -> None:
        self.peak = 0
        self.peak_at = 0.0
        """`time.perf_counter()` of the peak sample."""
        self.peak_main = 0
        """This process's share of the peak (the rest is its children's: the parser)."""
        self.peak_parts: dict[str, int] = {}
        """Each process's RSS in the peak sample, by `label`."""
        self.current = 0
        """The last sample."""
        self.trace: list[tuple[float, dict[str, int]]] = []
        """A sample a second: (`time.perf_counter()`, RSS by `label`)."""
        self._labels: dict[int, str] = {}
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def label(self, proc: psutil.Process) -> str:
        """`main`, `resource tracker` (multiprocessing's helper) or `child <pid>`."""
        if proc.pid not in self._labels:
            try:
                cmd = " ".join(proc.cmdline())
            except psutil.Error:
                cmd = ""
            self._labels[proc.pid] = (
                "resource tracker" if "resource_tracker" in cmd else f"child {proc.pid}"
            )
        return self._labels[proc.pid]

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            try:
                parts = {"main": me.memory_info().rss}
                for c in me.children(recursive=True):
                    parts[self.label(c)] = c.memory_info().rss
                self.current = sum(parts.values())
                now = time.perf_counter()
                if self.current > self.peak:
                    self.peak, self.peak_at = self.current, now
                    self.peak_main, self.peak_parts = parts["main"], parts
                if not self.trace or now - self.trace[-1][0] >= 1.0:
                    self.trace.append((now, parts))
            except psutil.Error:
                pass
            self._stop.wait(0.05)

    def parts_mb(self) -> dict[str, int]:
        """The peak sample's RSS per process, in MB."""
        return {k: round(v / 2**20) for k, v in self.peak_parts.items()}

    def trace_mb(self, t0: float) -> list[dict[str, float]]:
        """The once-a-second samples in MB, `t` in seconds from `t0`."""
        return [
            {"t": round(t - t0, 1), **{k: round(v / 2**20) for k, v in parts.items()}}
            for t, parts in self.trace
        ]

    def __enter__(self) -> PeakRss:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()


def cpu_model() -> str:
    """The CPU's model name (Linux's /proc/cpuinfo), else what `platform` knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def machine() -> str:
    """The machine a benchmark ran on, for its summary: the embedder's pace depends on whether
    the CPU computes bfloat16 (`embedding.precision = auto`)."""
    from docqa.embedding import native_bfloat16

    bf16 = "native bfloat16" if native_bfloat16() else "no native bfloat16"
    return (
        f"{platform.machine()} {cpu_model()} ({bf16}), {psutil.cpu_count()} cores, "
        f"{round(psutil.virtual_memory().total / 2**30)} GiB, Python {platform.python_version()}"
    )


def pdfs(docs: Path, only: str | None) -> list[Path]:
    files = sorted(p for p in docs.glob("*.pdf") if not p.name.startswith(BAD))
    return [p for p in files if only is None or p.name == only]


def run_docqa(files: list[Path], home: Path) -> dict[str, Any]:
    from docqa.config import Settings
    from docqa.runtime import Runtime
    from ingest.pipeline import Ingestor

    settings = Settings(home=home)
    with PeakRss() as rss:
        t0 = time.perf_counter()
        rt = Runtime(settings)
        emb = rt.embedder
        t_load = time.perf_counter() - t0
        t1 = time.perf_counter()
        report = Ingestor(settings, rt.store, emb, rt.bm25).run(files)
        seconds = time.perf_counter() - t1
        chunks = [c for d in rt.store.list_documents() for c in rt.store.get_chunks(d.doc_id)]
        rt.close()
    pages = sum(d.pages for d in report.documents)
    n_chunks = sum(d.chunks for d in report.documents)
    tokens = sum(c.tokens for c in chunks)
    texts_file = home / "chunk_texts.json"
    texts_file.write_text(json.dumps([c.text for c in chunks]))
    return {
        "system": "docqa",
        "seconds": round(seconds, 2),
        "model_load_s": round(t_load, 2),
        "embedding_precision": emb.precision,
        "pages": pages,
        "chunks": n_chunks,
        "tokens": tokens,
        "truncated_tokens": 0,
        "pages_per_s": round(pages / seconds, 2),
        "chunks_per_s": round(n_chunks / seconds, 2),
        "peak_rss_mb": round(rss.peak / 2**20),
        "peak_rss_parts_mb": rss.parts_mb(),
        "failed": [d.path for d in report.documents if d.status.value == "failed"],
        "stages": report.stages,
    }


def run_floor(home: Path) -> dict[str, Any]:
    from docqa.config import Settings
    from docqa.runtime import Runtime

    texts: list[str] = json.loads((home / "chunk_texts.json").read_text())
    with PeakRss() as rss:
        # the embedder alone has every core (in docqa's run the parser holds one)
        settings = Settings(home=home / "floor")
        settings.embedding.threads = psutil.cpu_count() or 1
        emb = Runtime(settings).embedder
        t0 = time.perf_counter()
        emb.embed_documents(texts)
        seconds = time.perf_counter() - t0
    return {
        "system": "embed-only floor",
        "seconds": round(seconds, 2),
        "chunks": len(texts),
        "chunks_per_s": round(len(texts) / seconds, 2),
        "peak_rss_mb": round(rss.peak / 2**20),
    }


def run_llamaindex(files: list[Path], home: Path) -> dict[str, Any]:
    from llama_index.core import SimpleDirectoryReader, StorageContext, VectorStoreIndex
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from llama_index.vector_stores.qdrant import QdrantVectorStore
    from qdrant_client import QdrantClient

    from docqa.models import ModelRegistry

    model_dir = ModelRegistry(home / "cache").path("minilm")
    with PeakRss() as rss:
        t0 = time.perf_counter()
        embed = HuggingFaceEmbedding(model_name=str(model_dir), device="cpu")
        t_load = time.perf_counter() - t0
        t1 = time.perf_counter()
        docs = SimpleDirectoryReader(input_files=[str(f) for f in files]).load_data()
        splitter = SentenceSplitter()
        nodes = splitter.get_nodes_from_documents(docs)
        client = QdrantClient(path=str(home / "qdrant"))
        store = QdrantVectorStore(client=client, collection_name="bench")
        ctx = StorageContext.from_defaults(vector_store=store)
        VectorStoreIndex(nodes, storage_context=ctx, embed_model=embed)
        seconds = time.perf_counter() - t1
        client.close()
    tok = embed._model.tokenizer
    window = int(embed._model.max_seq_length or 0) - 2
    counts = [len(tok(n.get_content(), add_special_tokens=False)["input_ids"]) for n in nodes]
    pages = len(docs)
    return {
        "system": "llama-index default",
        "seconds": round(seconds, 2),
        "model_load_s": round(t_load, 2),
        "embedding_precision": "float32",
        "pages": pages,
        "chunks": len(nodes),
        "tokens": sum(counts),
        "truncated_tokens": sum(max(0, c - window) for c in counts),
        "truncated_chunks": sum(c > window for c in counts),
        "pages_per_s": round(pages / seconds, 2),
        "chunks_per_s": round(len(nodes) / seconds, 2),
        "reader": "SimpleDirectoryReader default (llama-index-readers-file PDFReader, pypdf)",
        "peak_rss_mb": round(rss.peak / 2**20),
        "empty_pages": sum(not d.text.strip() for d in docs),
    }


def child(system: str, docs: Path, home: Path, only: str | None) -> None:
    files = pdfs(docs, only)
    if system == "docqa":
        result = run_docqa(files, home)
    elif system == "floor":
        result = run_floor(home)
    else:
        result = run_llamaindex(files, home / "li")
    print(json.dumps(result))


def stage_lines(stages: dict[str, float]) -> str:
    """docqa's seconds per stage: the main process's, then the parsers' (which run beside it).

    >>> print(stage_lines({"embed": 50.0, "waiting_for_parser": 15.2, "parse_ocr": 27.9}))
    docqa, main process: embed 50.0 s, waiting_for_parser 15.2 s
    docqa, parsers: ocr 27.9 s
    """
    main = {k: v for k, v in stages.items() if not k.startswith("parse_")}
    parse = {k.removeprefix("parse_"): v for k, v in stages.items() if k.startswith("parse_")}

    def line(part: dict[str, float]) -> str:
        ranked = sorted(part.items(), key=lambda kv: -kv[1])
        return ", ".join(f"{k} {v:.1f} s" for k, v in ranked) or "-"

    return f"docqa, main process: {line(main)}\ndocqa, parsers: {line(parse)}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--docs", type=Path, default=DEFAULT_DOCS)
    ap.add_argument("--only", help="one file name of the folder (e.g. BOEING_2022_10K.pdf)")
    ap.add_argument("--systems", default="docqa,floor,llamaindex")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a.child, a.docs, a.home, a.only)
        return
    if not a.docs.is_dir():
        sys.exit(f"no corpus folder at {a.docs} (pass --docs DIR)")
    rows = []
    with tempfile.TemporaryDirectory(prefix="docqa-bench-") as tmp:
        for system in a.systems.split(","):
            cmd = [
                sys.executable,
                "-m",
                "eval.bench_ingest",
                "--child",
                system,
                "--docs",
                str(a.docs),
                "--home",
                tmp,
            ]
            if a.only:
                cmd += ["--only", a.only]
            print(f"running {system} ...", file=sys.stderr, flush=True)
            res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
            if res.returncode != 0:
                sys.exit(f"{system} failed:\n{res.stderr[-3000:]}")
            rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
    by = {r["system"]: r for r in rows}
    summary: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": machine(),
        "files": [p.name for p in pdfs(a.docs, a.only)],
        "results": rows,
    }
    if "docqa" in by and "embed-only floor" in by:
        summary["docqa_over_floor"] = round(
            by["docqa"]["seconds"] / by["embed-only floor"]["seconds"], 2
        )
    print(
        f"{'system':22} {'s':>8} {'pages/s':>8} {'chunks/s':>9} {'tokens':>8} {'trunc':>7} {'RSS MB':>7}"
    )
    for r in rows:
        print(
            f"{r['system']:22} {r['seconds']:8.1f} {r.get('pages_per_s', ''):>8} "
            f"{r['chunks_per_s']:9} {r.get('tokens', ''):>8} {r.get('truncated_tokens', ''):>7} "
            f"{r['peak_rss_mb']:7}"
        )
    if "docqa_over_floor" in summary:
        print(f"docqa / floor = {summary['docqa_over_floor']}x")
    if "docqa" in by:
        print(stage_lines(by["docqa"].get("stages", {})))
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
