"""Generation speed on this machine: prefill and decode tokens/s, time to first token for a
~1,000-token prompt (cold, and with the prompt's prefix already in the KV cache), and the
LogitsModel state save/load time and size (the document KV cache).

    python -m eval.bench_generation --model smollm2
    python -m eval.bench_generation --model qwen2.5-1.5b --threads 2 --out eval/out/gen.json

The prompt is synthetic (a made-up annual report), built here to the requested token count.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from docqa.config import Settings
from docqa.generation import ChatMessage, GenerationConfig
from docqa.generation.llamacpp import LlamaCppGenerator, LlamaCppLogitsModel, default_threads
from docqa.models import ModelRegistry

_SENTENCES = [
    "In fiscal {y} the {unit} division reported revenue of ${a} million, up {p}% on the year.",
    "Operating margin in the {unit} segment was {p}.{a}% after freight and energy costs.",
    "The board approved {a} new distribution centers for the {unit} business in {y}.",
    "Headcount in {unit} reached {a}0 employees at the end of {y}, see page {p}.",
]
_UNITS = ["retail", "wholesale", "logistics", "services", "online", "industrial"]


def synthetic_report(gen: LlamaCppGenerator, tokens: int) -> str:
    parts: list[str] = []
    i = 0
    while True:
        s = _SENTENCES[i % len(_SENTENCES)]
        parts.append(
            s.format(y=2000 + i % 25, unit=_UNITS[i % len(_UNITS)], a=100 + 7 * i, p=i % 40)
        )
        i += 1
        if i % 8 == 0 and gen.count_tokens(" ".join(parts)) >= tokens:
            break
    text = " ".join(parts)
    while gen.count_tokens(text) > tokens:  # trim to the target, sentence by sentence
        text = text.rsplit(". ", 1)[0] + "."
    return text


def run(
    model: str, threads: int, prompt_tokens: int, decode_tokens: int, cache: Path
) -> dict[str, Any]:
    path = ModelRegistry(cache).path(model)
    assert isinstance(path, Path), f"{model} is not a local GGUF"
    t = time.perf_counter()
    gen = LlamaCppGenerator(
        path, name=model, n_ctx=prompt_tokens + decode_tokens + 256, threads=threads
    )
    load_s = time.perf_counter() - t
    lm = LlamaCppLogitsModel(gen.llama)
    report = synthetic_report(gen, prompt_tokens)
    messages = [
        ChatMessage(role="system", content="You are a careful analyst."),
        ChatMessage(role="user", content=f"{report}\n\nSummarize this report in detail."),
    ]
    ids = gen.chat_tokens(messages)

    # prefill: the whole prompt in one go, nothing cached
    lm.truncate(0)
    t = time.perf_counter()
    lm.prefill(ids)
    prefill_s = time.perf_counter() - t

    # cold generate: time to first token includes the full prefill
    lm.truncate(0)
    cfg = GenerationConfig(max_tokens=decode_tokens)
    cold = gen.generate(messages, cfg)
    assert cold.time_to_first_token is not None
    decode_s = cold.seconds - cold.time_to_first_token
    # warm: the same prompt again; llama.cpp reuses the cached prefix (the KV-cache case)
    warm = gen.generate(messages, GenerationConfig(max_tokens=1))

    # document KV state of the prompt: save and load, to a file and as bytes
    lm.prefill(ids)
    with tempfile.TemporaryDirectory() as tmp:
        state_path = Path(tmp) / "prompt.kv"
        t = time.perf_counter()
        size = lm.save_state_file(state_path)
        save_file_s = time.perf_counter() - t
        lm.truncate(0)
        t = time.perf_counter()
        lm.load_state_file(state_path)
        load_file_s = time.perf_counter() - t
    t = time.perf_counter()
    data = lm.save_state()
    save_bytes_s = time.perf_counter() - t
    lm.truncate(0)
    t = time.perf_counter()
    lm.load_state(data)
    load_bytes_s = time.perf_counter() - t
    assert lm.n_past == len(ids)
    after_load = gen.generate(messages, GenerationConfig(max_tokens=1))
    gen.close()
    return {
        "model": model,
        "threads": threads,
        "load_s": round(load_s, 2),
        "prompt_tokens": len(ids),
        "prefill_tok_s": round(len(ids) / prefill_s, 1),
        "ttft_cold_s": round(cold.time_to_first_token, 2),
        "completion_tokens": cold.completion_tokens,
        "decode_tok_s": round((cold.completion_tokens - 1) / decode_s, 1) if decode_s > 0 else None,
        "ttft_prefix_cached_s": round(warm.time_to_first_token or warm.seconds, 3),
        "ttft_after_state_load_s": round(after_load.time_to_first_token or after_load.seconds, 3),
        "state_bytes": size,
        "state_kib_per_token": round(size / len(ids) / 1024, 1),
        "state_save_file_s": round(save_file_s, 3),
        "state_load_file_s": round(load_file_s, 3),
        "state_save_bytes_s": round(save_bytes_s, 3),
        "state_load_bytes_s": round(load_bytes_s, 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--model", default="smollm2", help="smollm2 | qwen2.5-1.5b | qwen2.5-0.5b | a .gguf path"
    )
    ap.add_argument("--threads", type=int, default=default_threads())
    ap.add_argument("--prompt-tokens", type=int, default=1000)
    ap.add_argument("--decode-tokens", type=int, default=64)
    ap.add_argument("--cache-dir", type=Path, default=None, help="model cache (default: docqa's)")
    ap.add_argument("--out", type=Path, default=None, help="append the result as a JSON line")
    args = ap.parse_args()
    cache = args.cache_dir or Settings().cache_dir
    result = run(args.model, args.threads, args.prompt_tokens, args.decode_tokens, cache)
    width = max(len(k) for k in result)
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("a") as f:
            f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
