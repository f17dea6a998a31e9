"""The generation layer: `Generator` (chat, streamed) and `LogitsModel` (token level).

Backends are imported only when chosen (llama-cpp-python, torch/transformers, httpx).

Example:
    >>> from docqa.config import Settings
    >>> s = Settings(home="/tmp/dq")
    >>> gen = load_generator(s.generation, ModelRegistry(s.cache_dir))  # doctest: +SKIP
    >>> gen.generate([ChatMessage(role="user", content="Hi")]).text  # doctest: +SKIP
    >>> lm = load_logits_model(s.generation, ModelRegistry(s.cache_dir), gen)  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

from docqa.config import GenerationSettings
from docqa.generation.base import (
    ChatMessage,
    FinishReason,
    Generation,
    GenerationConfig,
    GenerationError,
    Generator,
    Logits,
    LogitsModel,
    StopFilter,
)
from docqa.models import ModelRegistry

__all__ = [
    "ChatMessage",
    "FinishReason",
    "Generation",
    "GenerationConfig",
    "GenerationError",
    "Generator",
    "Logits",
    "LogitsModel",
    "StopFilter",
    "answer_config",
    "load_generator",
    "load_logits_model",
]


def answer_config(settings: GenerationSettings, **overrides: object) -> GenerationConfig:
    """The `GenerationConfig` the settings ask for (answer length, temperature, seed)."""
    cfg = GenerationConfig(
        max_tokens=settings.max_answer_tokens, temperature=settings.temperature, seed=settings.seed
    )
    return cfg.model_copy(update=overrides)


def _gguf(settings: GenerationSettings, registry: ModelRegistry) -> Path:
    path = registry.path(settings.model)
    if not isinstance(path, Path) or path.suffix != ".gguf" or not path.is_file():
        raise GenerationError(
            f"the llamacpp backend needs a GGUF file; generation.model '{settings.model}' is "
            f"not one (resolved to {path}). Use a registry name (qwen2.5-1.5b, qwen2.5-0.5b, "
            "smollm2), a .gguf path, or backend 'transformers' for a Hugging Face model"
        )
    return path


def load_generator(settings: GenerationSettings, registry: ModelRegistry) -> Generator:
    """The configured `Generator`. Never substitutes another backend or model on failure."""
    if settings.backend == "openai":
        from docqa.generation.openai_http import OpenAICompatibleGenerator

        if not settings.base_url:
            raise GenerationError(
                "generation.backend is 'openai' but generation.base_url is not set "
                "(e.g. http://127.0.0.1:8000/v1)"
            )
        return OpenAICompatibleGenerator(
            settings.base_url,
            settings.model,
            api_key=settings.api_key,
            timeout=settings.timeout,
            context_window=settings.context_window,
        )
    if settings.backend == "transformers":
        from docqa.generation.transformers_backend import TransformersGenerator, load_transformers

        model, tokenizer = load_transformers(
            registry.path(settings.model), device=settings.device, threads=settings.threads
        )
        return TransformersGenerator(model, tokenizer, name=settings.model)
    from docqa.generation.llamacpp import LlamaCppGenerator

    return LlamaCppGenerator(
        _gguf(settings, registry),
        name=settings.model,
        n_ctx=settings.n_ctx,
        max_n_ctx=settings.max_n_ctx,
        threads=settings.threads,
        threads_batch=settings.threads_batch,
        n_batch=settings.n_batch,
        seed=settings.seed,
        flash_attn=settings.flash_attn,
    )


def load_logits_model(
    settings: GenerationSettings, registry: ModelRegistry, generator: Generator | None = None
) -> LogitsModel:
    """The configured `LogitsModel`. Given a local `generator` of the same backend, it shares
    that generator's model (one copy of the weights, one KV cache)."""
    if settings.backend == "openai":
        raise GenerationError(
            "token-level access (LogitsModel) needs a local backend (llamacpp or transformers); "
            "an OpenAI-compatible server does not expose its KV cache"
        )
    if settings.backend == "transformers":
        from docqa.generation.transformers_backend import (
            TransformersGenerator,
            TransformersLogitsModel,
            load_transformers,
        )

        if isinstance(generator, TransformersGenerator):
            return TransformersLogitsModel(generator.model, generator.tokenizer)
        model, tokenizer = load_transformers(
            registry.path(settings.model), device=settings.device, threads=settings.threads
        )
        return TransformersLogitsModel(model, tokenizer)
    from docqa.generation.llamacpp import LlamaCppGenerator, LlamaCppLogitsModel, load_llama

    if isinstance(generator, LlamaCppGenerator):
        return LlamaCppLogitsModel(generator.llama)
    llama = load_llama(
        _gguf(settings, registry),
        n_ctx=settings.n_ctx,
        max_n_ctx=settings.max_n_ctx,
        threads=settings.threads,
        threads_batch=settings.threads_batch,
        n_batch=settings.n_batch,
        seed=settings.seed,
        flash_attn=settings.flash_attn,
    )
    return LlamaCppLogitsModel(llama)
