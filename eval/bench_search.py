"""Search benchmark of the store layer: Qdrant Edge vs qdrant-client local mode.

    python -m eval.bench_search --n 100000 --out eval/out/search.json

A synthetic corpus of `n` chunks over `docs` documents: random normalized dense vectors and
BM25 vectors (`Bm25Encoder`) of texts of ~100 words drawn with a Zipf distribution from a
vocabulary of invented words. Measured per engine, each in its own process (so its peak RSS is
its own): ingestion through the `Store` API, reopen time, and search latency p50/p95 for dense,
sparse and hybrid (RRF) search, each over the whole store and restricted to one document.

Edge ingests with the real protocol (put_document, add_chunks, publish per document).
qdrant-client local mode evaluates every filter in Python, one pass over all points, so 1000
per-document publishes would take the better part of an hour: it gets the same put_document
and add_chunks, then one store-wide visibility flip (noted in the output), and fewer queries.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from docqa.sparse import Bm25Encoder
from docqa.store.base import SearchMode, Store
from docqa.types import Chunk, DocStatus, Document, SparseVector

ENGINES = ("edge", "client")
MODES: tuple[SearchMode, ...] = ("dense", "sparse", "hybrid")
_CONSONANTS = "bdfgklmnprstvz"
_VOWELS = "aeiou"


class Corpus:
    """The synthetic data set, the same for every engine (fixed seed)."""

    def __init__(self, n: int, docs: int, dim: int, vocab: int, words: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.vocabulary = _vocabulary(vocab, rng)
        ranks = np.arange(1, vocab + 1, dtype=np.float64)
        self.p = 1.0 / ranks**1.07
        self.p /= self.p.sum()
        lengths = np.clip(rng.normal(words, words / 4, size=n).astype(int), words // 3, 3 * words)
        draws = rng.choice(vocab, size=int(lengths.sum()), p=self.p)
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        vocabulary = self.vocabulary
        self.texts = [
            " ".join(vocabulary[i] for i in draws[bounds[j] : bounds[j + 1]]) for j in range(n)
        ]
        self.dense = rng.standard_normal((n, dim), dtype=np.float32)
        self.dense /= np.linalg.norm(self.dense, axis=1, keepdims=True)
        self.doc_of = np.sort(rng.integers(0, docs, size=n))
        self.docs = docs
        self.mean_words = float(lengths.mean())

    def doc_id(self, d: int) -> str:
        return f"doc{d:05d}"

    def query_words(self, rng: np.random.Generator, count: int) -> str:
        # Questions use middle-frequency words: neither the commonest nor unseen ones.
        ranks = rng.integers(20, min(2000, len(self.vocabulary)), size=count)
        return " ".join(self.vocabulary[r] for r in ranks)


def _vocabulary(size: int, rng: np.random.Generator) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        syllables = int(rng.integers(2, 5))
        words.add(
            "".join(
                _CONSONANTS[int(rng.integers(len(_CONSONANTS)))] + _VOWELS[int(rng.integers(5))]
                for _ in range(syllables)
            )
        )
    return sorted(words, key=lambda w: (len(w), w))


def open_engine(engine: str, folder: Path, dim: int) -> Store:
    if engine == "edge":
        from docqa.store.edge import EdgeStore

        return EdgeStore(folder, dim=dim)
    from docqa.store.client import ClientStore

    return ClientStore(str(folder), dim=dim)


def ingest(store: Store, corpus: Corpus, sparse: list[SparseVector], engine: str) -> dict[str, Any]:
    timings = {"put_document_s": 0.0, "add_chunks_s": 0.0, "publish_s": 0.0}
    starts = np.searchsorted(corpus.doc_of, np.arange(corpus.docs + 1))
    records: list[Document] = []
    for d in range(corpus.docs):
        lo, hi = int(starts[d]), int(starts[d + 1])
        doc_id = corpus.doc_id(d)
        doc = Document(
            doc_id=doc_id,
            path=f"bench/{doc_id}.pdf",
            filename=f"{doc_id}.pdf",
            sha256="0" * 64,
            status=DocStatus.indexing,
            generation="g1",
            chunks=hi - lo,
        )
        t = time.perf_counter()
        store.put_document(doc)
        timings["put_document_s"] += time.perf_counter() - t
        chunks = [
            Chunk(
                doc_id=doc_id,
                index=i - lo,
                text=corpus.texts[i],
                page_start=1 + (i - lo) // 4,
                page_end=1 + (i - lo) // 4,
                kind="text",
            )
            for i in range(lo, hi)
        ]
        t = time.perf_counter()
        dense: Any = corpus.dense[lo:hi]  # the store takes an array as it is
        store.add_chunks(chunks, dense, sparse[lo:hi], doc.generation)
        timings["add_chunks_s"] += time.perf_counter() - t
        records.append(doc)
    t = time.perf_counter()
    if engine == "edge":
        for doc in records:
            store.publish(doc)
    else:
        from docqa.store.qdrant import QdrantStore

        assert isinstance(store, QdrantStore)
        store._backend.set_payload("chunks", {}, {"visible": True})
        store._backend.flush()
    timings["publish_s"] = time.perf_counter() - t
    timings["total_s"] = sum(timings.values())
    timings["chunks_per_s"] = len(corpus.texts) / timings["total_s"]
    return {k: round(v, 3) for k, v in timings.items()}


def measure(
    store: Store,
    corpus: Corpus,
    encoder: Bm25Encoder,
    queries: int,
    k: int,
    prefetch: int,
    seed: int,
) -> dict[str, Any]:
    rng = np.random.default_rng(seed + 1)
    dim = corpus.dense.shape[1]
    dense_q = rng.standard_normal((queries, dim)).astype(np.float32)
    dense_q /= np.linalg.norm(dense_q, axis=1, keepdims=True)
    sparse_q = [
        encoder.query(corpus.query_words(rng, int(rng.integers(2, 6)))) for _ in range(queries)
    ]
    one_doc = [[corpus.doc_id(int(d))] for d in rng.integers(0, corpus.docs, size=queries)]
    for i in range(min(3, queries)):  # warm caches and lazily loaded files
        store.search(dense_q[i], sparse_q[i], k=k, prefetch=prefetch)
    results: dict[str, Any] = {}
    for mode in MODES:
        for filtered in (False, True):
            latencies, hits, wrong_doc = [], 0, 0
            for i in range(queries):
                doc_ids = one_doc[i] if filtered else None
                t = time.perf_counter()
                found = store.search(
                    dense_q[i], sparse_q[i], k=k, doc_ids=doc_ids, mode=mode, prefetch=prefetch
                )
                latencies.append((time.perf_counter() - t) * 1000)
                hits += len(found)
                wrong_doc += sum(1 for h in found if doc_ids and h.doc_id not in doc_ids)
            ms = np.array(latencies)
            results[f"{mode}{'+1doc' if filtered else ''}"] = {
                "queries": queries,
                "p50_ms": round(float(np.percentile(ms, 50)), 2),
                "p95_ms": round(float(np.percentile(ms, 95)), 2),
                "mean_ms": round(float(ms.mean()), 2),
                "mean_hits": round(hits / queries, 2),
                "hits_outside_filter": wrong_doc,
            }
    # Exactness check: a stored vector must find its own chunk first.
    probe = rng.integers(0, len(corpus.texts), size=min(20, queries))
    self_hits = sum(
        1
        for i in probe
        if (found := store.search(corpus.dense[i], None, k=1, mode="dense"))
        and found[0].text == corpus.texts[i]
    )
    results["dense_self_recall@1"] = round(self_hits / len(probe), 3)
    return results


def run_engine(args: argparse.Namespace) -> dict[str, Any]:
    engine = args.engine
    n = args.client_n if engine == "client" and args.client_n else args.n
    queries = args.client_queries if engine == "client" else args.queries
    t = time.perf_counter()
    corpus = Corpus(n, args.docs, args.dim, args.vocab, args.words, args.seed)
    encoder = Bm25Encoder()
    sparse = encoder.documents(corpus.texts)
    prepare_s = time.perf_counter() - t
    folder = Path(tempfile.mkdtemp(prefix=f"bench-{engine}-", dir=args.workdir))
    notes: list[str] = []
    if engine == "client":
        notes.append(
            "qdrant-client local mode: one store-wide visibility flip instead of a publish "
            "per document (each filtered operation is a Python pass over all points)"
        )
        if queries < args.queries:
            notes.append(f"{queries} queries per configuration instead of {args.queries}")
    try:
        store = open_engine(engine, folder, args.dim)
        ingest_timings = ingest(store, corpus, sparse, engine)
        t = time.perf_counter()
        store.close()
        close_s = time.perf_counter() - t
        t = time.perf_counter()
        store = open_engine(engine, folder, args.dim)
        reopen_s = time.perf_counter() - t
        assert store.count_chunks() == n, store.count_chunks()
        search = measure(store, corpus, encoder, queries, args.k, args.prefetch, args.seed)
        store.close()
        # Allocated blocks: the engines preallocate sparse files much larger than their data.
        disk_mb = sum(f.stat().st_blocks * 512 for f in folder.rglob("*") if f.is_file()) / 2**20
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "engine": "qdrant-edge" if engine == "edge" else "qdrant-client local (path)",
        "n": n,
        "prepare_data_s": round(prepare_s, 2),
        "ingest": ingest_timings,
        "close_s": round(close_s, 3),
        "reopen_s": round(reopen_s, 3),
        "disk_mb": round(disk_mb, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "search": search,
        "notes": notes,
    }


def print_table(report: dict[str, Any]) -> None:
    print(f"\n{'engine':<28}{'search':<16}{'p50 ms':>9}{'p95 ms':>9}{'queries':>9}")
    for result in report["engines"].values():
        if "error" in result:
            print(f"{result['engine']:<28}error: {result['error']}")
            continue
        for name, row in result["search"].items():
            if isinstance(row, dict):
                print(
                    f"{result['engine']:<28}{name:<16}{row['p50_ms']:>9.2f}"
                    f"{row['p95_ms']:>9.2f}{row['queries']:>9}"
                )
    print()
    for result in report["engines"].values():
        if "ingest" in result:
            ing = result["ingest"]
            print(
                f"{result['engine']}: {result['n']} chunks ingested in {ing['total_s']:.1f} s "
                f"(add_chunks {ing['add_chunks_s']:.1f} s, publish {ing['publish_s']:.1f} s), "
                f"reopen {result['reopen_s']:.2f} s, disk {result['disk_mb']:.0f} MB, "
                f"peak RSS {result['peak_rss_mb']:.0f} MB, "
                f"dense self-recall@1 {result['search']['dense_self_recall@1']}"
            )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=100_000, help="chunks in the store")
    parser.add_argument("--docs", type=int, default=1000, help="documents the chunks spread over")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--vocab", type=int, default=5000, help="distinct words in the texts")
    parser.add_argument("--words", type=int, default=100, help="mean words per chunk")
    parser.add_argument("--queries", type=int, default=200, help="queries per configuration")
    parser.add_argument("--client-queries", type=int, default=20, help="the same, local mode")
    parser.add_argument("--client-n", type=int, default=None, help="chunks for local mode")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--prefetch", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--engines", default=",".join(ENGINES), help="comma-separated")
    parser.add_argument("--workdir", default=None, help="where the stores are built (temp)")
    parser.add_argument("--out", type=Path, default=Path("eval/out/search.json"))
    parser.add_argument("--engine", choices=ENGINES, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.engine:  # child process: one engine
        args.result.write_text(json.dumps(run_engine(args)))
        return
    report: dict[str, Any] = {
        "benchmark": "store search latency",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "params": {
            k: getattr(args, k)
            for k in ("n", "docs", "dim", "vocab", "words", "queries", "client_queries", "k")
        }
        | {"prefetch": args.prefetch, "client_n": args.client_n or args.n},
        "engines": {},
    }
    passthrough = list(argv if argv is not None else sys.argv[1:])
    for engine in args.engines.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            result_file = Path(tmp) / "result.json"
            cmd = [sys.executable, "-m", "eval.bench_search", *passthrough]
            cmd += ["--engine", engine, "--result", str(result_file)]
            print(f"running {engine} ...", flush=True)
            proc = subprocess.run(cmd, check=False, cwd=Path(__file__).resolve().parents[1])
            if proc.returncode == 0 and result_file.exists():
                report["engines"][engine] = json.loads(result_file.read_text())
            else:
                report["engines"][engine] = {"engine": engine, "error": f"exit {proc.returncode}"}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print_table(report)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
