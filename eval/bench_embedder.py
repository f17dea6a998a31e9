"""Embedder backends side by side: which one embeds docqa's chunks fastest, and how far its
vectors are from float32 torch's.

    python -m eval.bench_embedder [--home DIR] [--docs DIR] [--limit N] [--out F]

The texts are the chunks docqa embeds (`Chunk.search_text`) of the dev corpus, read from the
store at `--home` (ingested there first if it is empty, as `eval.bench_retrieval` does). Every
backend embeds the same texts, in one process, one after another; each is timed on its second
pass (the first one warms it up on a slice). Backends:

- `torch-float32`: sentence-transformers as docqa ran it until 2026-12-06 (batch 32);
- `torch-bfloat16`: the same under torch's bfloat16 autocast (`embedding.precision`), at
  batch 16, 32 and 64; fast only on a CPU with native bfloat16 (AMX, AVX512-BF16);
- `onnx-float32`, `onnx-optimized`, `onnx-int8`: the model exported to ONNX (torch's
  TorchScript exporter), then ONNX Runtime's BERT graph fusion (`onnxruntime.transformers`),
  then dynamic INT8 quantization of its weights (`onnxruntime.quantization`), run by ONNX
  Runtime with mean pooling, texts sorted by length as sentence-transformers does.

Reported per backend: seconds, texts/s, tokens/s, the speed-up over `torch-float32`, and the
cosine (min and mean) of its vectors to `torch-float32`'s. Whether retrieval keeps its recall
is `eval.bench_retrieval`'s question, asked on a store ingested with the backend.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from eval.bench_ingest import DEFAULT_DOCS, machine

Vectors = npt.NDArray[np.float32]
Encode = Callable[[Sequence[str]], Vectors]


def chunk_texts(home: Path, docs: Path) -> list[str]:
    """The search texts of every chunk in the store at `home` (ingesting `docs` there first
    when it lacks them)."""
    from docqa.config import Settings
    from docqa.runtime import Runtime
    from eval.bench_retrieval import ingest

    ingest(docs, home)
    rt = Runtime(Settings(home=home))
    try:
        return [
            c.search_text for d in rt.store.list_documents() for c in rt.store.get_chunks(d.doc_id)
        ]
    finally:
        rt.close()


def torch_backend(path: str, batch: int, bfloat16: bool, threads: int) -> Encode:
    from docqa.embedding import SentenceTransformerEmbedder

    emb = SentenceTransformerEmbedder(
        path,
        "bench",
        batch,
        threads=threads,
        precision="bfloat16" if bfloat16 else "float32",
    )
    return emb.embed_documents


def onnx_files(path: str, out: Path) -> dict[str, Path]:
    """The model exported to ONNX in `out`: plain, fused, fused + INT8 weights."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(path, device="cpu")
    bert: Any = st[0].auto_model
    bert.eval()
    config: Any = bert.config

    class Hidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, ids: Any, mask: Any, types: Any) -> Any:
            return self.bert(input_ids=ids, attention_mask=mask, token_type_ids=types)[0]

    files = {
        "onnx-float32": out / "model.onnx",
        "onnx-optimized": out / "model-fused.onnx",
        "onnx-int8": out / "model-fused-int8.onnx",
    }
    names = ["input_ids", "attention_mask", "token_type_ids"]
    sample = st.tokenizer(["a probe", "a longer probe text"], padding=True, return_tensors="pt")
    torch.onnx.export(
        Hidden(),
        tuple(sample[n] for n in names),
        str(files["onnx-float32"]),
        input_names=names,
        output_names=["hidden"],
        dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "hidden"]},
        opset_version=17,
        dynamo=False,
    )
    fused = optimize_model(
        str(files["onnx-float32"]),
        model_type="bert",
        num_heads=config.num_attention_heads,
        hidden_size=config.hidden_size,
    )
    fused.save_model_to_file(str(files["onnx-optimized"]))
    quantize_dynamic(
        str(files["onnx-optimized"]),
        str(files["onnx-int8"]),
        weight_type=QuantType.QInt8,
        extra_options={"DefaultTensorType": 1},  # float: fused ops carry no inferred type
    )
    return files


def onnx_backend(path: str, model: Path, batch: int, threads: int) -> Encode:
    import onnxruntime as ort
    from transformers import AutoTokenizer

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    session = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
    tok = AutoTokenizer.from_pretrained(path)
    window = 256

    def encode(texts: Sequence[str]) -> Vectors:
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.zeros((len(texts), 0), dtype=np.float32)
        for start in range(0, len(texts), batch):
            idx = order[start : start + batch]
            enc = tok(
                [texts[i] for i in idx],
                padding=True,
                truncation=True,
                max_length=window,
                return_tensors="np",
            )
            feeds = {
                k: np.asarray(enc[k], dtype=np.int64)
                for k in ("input_ids", "attention_mask", "token_type_ids")
            }
            hidden = session.run(None, feeds)[0]
            mask = feeds["attention_mask"][..., None].astype(np.float32)
            pooled = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
            if out.shape[1] == 0:
                out = np.zeros((len(texts), pooled.shape[1]), dtype=np.float32)
            out[idx] = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
        return out

    return encode


def timed(encode: Encode, texts: list[str]) -> tuple[float, Vectors]:
    encode(texts[:64])  # warm-up: allocations, oneDNN kernels, ONNX Runtime's arena
    t0 = time.perf_counter()
    vectors = encode(texts)
    return time.perf_counter() - t0, vectors


def run(texts: list[str], path: str, threads: int, workdir: Path) -> list[dict[str, Any]]:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    tokens = sum(len(ids) for ids in tok(texts, add_special_tokens=True)["input_ids"])
    backends: list[tuple[str, int, Callable[[], Encode]]] = [
        ("torch-float32", 32, partial(torch_backend, path, 32, False, threads)),
        *[
            ("torch-bfloat16", b, partial(torch_backend, path, b, True, threads))
            for b in (16, 32, 64)
        ],
    ]
    files = onnx_files(path, workdir)
    backends += [
        (name, 32, partial(onnx_backend, path, f, 32, threads)) for name, f in files.items()
    ]
    rows: list[dict[str, Any]] = []
    reference: Vectors | None = None
    for name, batch, make in backends:
        seconds, vectors = timed(make(), texts)
        if reference is None:
            reference = vectors
        cosine = (vectors * reference).sum(axis=1)
        rows.append(
            {
                "backend": name,
                "batch": batch,
                "seconds": round(seconds, 2),
                "texts_per_s": round(len(texts) / seconds, 1),
                "tokens_per_s": round(tokens / seconds),
                "speedup": round(rows[0]["seconds"] / seconds, 2) if rows else 1.0,
                "cosine_min": round(float(cosine.min()), 4),
                "cosine_mean": round(float(cosine.mean()), 5),
            }
        )
        print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| backend | batch | seconds | texts/s | tokens/s | speed-up | cosine to float32 (min / mean) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['backend']} | {r['batch']} | {r['seconds']} | {r['texts_per_s']} | "
        f"{r['tokens_per_s']:,} | {r['speedup']}x | {r['cosine_min']} / {r['cosine_mean']} |"
        for r in rows
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument("--docs", type=Path, default=DEFAULT_DOCS)
    ap.add_argument("--home", type=Path, default=None, help="DOCQA home holding the dev corpus")
    ap.add_argument("--limit", type=int, default=None, help="embed only the first N texts")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("eval/out/embedder.json"))
    a = ap.parse_args(argv)
    from docqa.config import Settings
    from docqa.embedding import native_bfloat16
    from docqa.models import ModelRegistry

    with tempfile.TemporaryDirectory() as tmp:
        home = a.home or Path(tmp) / "home"
        texts = chunk_texts(home, a.docs)[: a.limit]
        path = str(ModelRegistry(Settings(home=home).cache_dir).path("minilm"))
        rows = run(texts, path, a.threads, Path(tmp))
    summary = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": machine(),
        "native_bfloat16": native_bfloat16(),
        "texts": len(texts),
        "threads": a.threads,
        "rows": rows,
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(table(rows))


if __name__ == "__main__":
    main()
