"""OpenAI-compatible HTTP backend: vLLM, Ollama, llama.cpp's server, llama-cpp-python's server.

Speaks `POST {base_url}/chat/completions` (streaming as server-sent events) with httpx. The
base URL is the one an OpenAI client takes, usually ending in `/v1`. Nothing falls back to any
other service: an unreachable server is an error naming the URL.

Token counts: the server's tokenizer when it has a tokenize endpoint (llama.cpp server and vLLM
`/tokenize`, llama-cpp-python `/extras/tokenize/count`), else an over-estimate of 1 token per
3 UTF-8 bytes, flagged by `counts_exact = False`.

Example:
    >>> gen = OpenAICompatibleGenerator("http://127.0.0.1:8080/v1", "qwen",
    ...                                 context_window=32768)  # doctest: +SKIP
    >>> gen.generate([ChatMessage(role="user", content="Hi")]).text  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from docqa.generation.base import (
    ChatMessage,
    FinishReason,
    Generation,
    GenerationConfig,
    GenerationError,
    drain,
    resolve_config,
)

log = logging.getLogger(__name__)

# Chat-template overhead when the server cannot count a chat for us: generous, so budgets
# computed from it err on the safe side. ChatML spends 4-5 tokens per message, and templates
# such as SmolLM2's and Qwen2.5's insert a default system prompt of ~15-25 tokens.
_APPROX_PER_MESSAGE = 8
_APPROX_TEMPLATE = 40


@dataclass
class _Usage:
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: FinishReason = "stop"
    first_piece_at: float | None = None


class OpenAICompatibleGenerator:
    """`Generator` on an OpenAI-compatible chat-completions server."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout: float = 120.0,
        context_window: int | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        root = self.base_url[: -len("/v1")] if self.base_url.endswith("/v1") else self.base_url
        self.server_root = root
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            headers=headers, timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0))
        )
        self.timeout = timeout
        self._window = context_window
        self._tokenize: str | None = None
        """Which tokenize endpoint the server answered: 'tokenize', 'extras', or '' (none)."""

    @property
    def name(self) -> str:
        return self.model

    @property
    def context_window(self) -> int:
        if self._window is None:
            self._window = self._probe_window()
        return self._window

    @property
    def counts_exact(self) -> bool:
        """Whether `count_tokens` uses the server's own tokenizer (probes the server once)."""
        self._probe_tokenize()
        return self._tokenize != ""

    def close(self) -> None:
        self._client.close()

    # -- HTTP plumbing ------------------------------------------------------------------

    @contextmanager
    def _errors(self, url: str) -> Iterator[None]:
        """Turn transport failures into messages a user can act on."""
        try:
            yield
        except httpx.ConnectError as e:
            raise GenerationError(
                f"cannot connect to the generation server at {url}: it is not running or not "
                f"reachable ({e}). Start it, or change generation.base_url"
            ) from e
        except httpx.TimeoutException as e:
            raise GenerationError(
                f"the generation server at {url} did not answer within {self.timeout:g} s "
                "(generation.timeout)"
            ) from e
        except httpx.HTTPError as e:
            raise GenerationError(f"HTTP error talking to {url}: {e}") from e

    @staticmethod
    def _server_message(response: httpx.Response) -> str:
        try:
            body = json.loads(response.read())
        except (ValueError, httpx.HTTPError):
            return response.text[:500]
        if isinstance(body, dict):
            err = body.get("error", body.get("detail", body.get("message")))
            if isinstance(err, dict):
                return str(err.get("message", err))
            if err is not None:
                return str(err)
        return json.dumps(body)[:500]

    def _raise_for_status(self, response: httpx.Response, url: str) -> None:
        if response.status_code >= 400:
            raise GenerationError(
                f"the generation server at {url} answered HTTP {response.status_code}: "
                f"{self._server_message(response)}"
            )

    def _post_json(self, url: str, payload: dict[str, Any], fresh: bool = False) -> Any:
        """POST; `fresh`: on a new connection (the pooled one may be the one a server has just
        dropped)."""
        with self._errors(url):
            if fresh:
                with httpx.Client(headers=self._client.headers, timeout=self._client.timeout) as c:
                    response = c.post(url, json=payload)
            else:
                response = self._client.post(url, json=payload)
        self._raise_for_status(response, url)
        return response.json()

    # -- context window and token counts ------------------------------------------------

    def _probe_window(self) -> int:
        url = f"{self.base_url}/models"
        with self._errors(url):
            response = self._client.get(url)
        if response.status_code < 400:
            entries = [e for e in response.json().get("data", []) if isinstance(e, dict)]
            mine = [e for e in entries if e.get("id") == self.model] or entries[:1]
            for entry in mine:
                # vLLM reports max_model_len; llama.cpp's server meta.n_ctx_train
                meta = entry.get("meta") or {}
                for value in (entry.get("max_model_len"), meta.get("n_ctx_train")):
                    if isinstance(value, int) and value > 0:
                        return value
        raise GenerationError(
            f"the server at {self.base_url} does not report the context window of "
            f"'{self.model}'; set generation.context_window"
        )

    def _probe_tokenize(self) -> None:
        if self._tokenize is not None:
            return
        for kind in ("tokenize", "extras"):
            try:
                self._server_count(kind, "probe")
            except GenerationError as e:
                if "cannot connect" in str(e) or "did not answer" in str(e):
                    raise
                continue
            self._tokenize = kind
            return
        self._tokenize = ""
        log.warning(
            "the server at %s has no tokenize endpoint: token counts are approximate "
            "(1 token per 3 bytes, an over-estimate)",
            self.server_root,
        )

    def _server_count(self, kind: str, text: str) -> int:
        if kind == "tokenize":
            # llama.cpp's server reads `content`, vLLM `prompt`; each ignores the other field
            url = f"{self.server_root}/tokenize"
            body = self._post_json(
                url, {"model": self.model, "content": text, "prompt": text, "add_special": False}
            )
        else:
            url = f"{self.server_root}/extras/tokenize/count"
            body = self._post_json(url, {"model": self.model, "input": text})
        if isinstance(body, dict):
            if isinstance(body.get("count"), int):
                return int(body["count"])
            if isinstance(body.get("tokens"), list):
                return len(body["tokens"])
        raise GenerationError(f"unexpected answer from {url}: {str(body)[:200]}")

    def count_tokens(self, text: str) -> int:
        self._probe_tokenize()
        if self._tokenize:
            return self._server_count(self._tokenize, text)
        return math.ceil(len(text.encode("utf-8")) / 3)

    def count_chat_tokens(self, messages: Sequence[ChatMessage]) -> int:
        """An upper estimate: content tokens plus a generous template overhead (servers have no
        common endpoint that renders a chat template). `Generation.prompt_tokens` is exact
        whenever the server reports usage."""
        content = sum(self.count_tokens(m.content) for m in messages)
        return content + _APPROX_PER_MESSAGE * len(messages) + _APPROX_TEMPLATE

    # -- generation ---------------------------------------------------------------------

    def _payload(
        self, messages: Sequence[ChatMessage], config: GenerationConfig, stream: bool
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": [m.model_dump() for m in messages],
            "max_tokens": config.max_tokens,
            "temperature": config.temperature,
            "top_p": config.top_p,
            "stream": stream,
        }
        if config.stop:
            payload["stop"] = list(config.stop)
        if config.seed is not None:
            payload["seed"] = config.seed
        if stream:
            payload["stream_options"] = {"include_usage": True}
        return payload

    def _events(
        self, messages: Sequence[ChatMessage], config: GenerationConfig, usage: _Usage, start: float
    ) -> Iterator[str]:
        url = f"{self.base_url}/chat/completions"
        done = shown = False
        with (
            self._errors(url),
            self._client.stream(
                "POST", url, json=self._payload(messages, config, stream=True)
            ) as response,
        ):
            self._raise_for_status(response, url)
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue  # SSE comments (pings), event names, blank separators
                data = line[len("data:") :].strip()
                if data == "[DONE]":
                    done = True
                    break
                chunk = json.loads(data)
                if "error" in chunk:
                    raise GenerationError(
                        f"the generation server at {url} failed mid-stream: "
                        f"{chunk['error'].get('message', chunk['error'])}"
                    )
                if chunk.get("usage"):
                    usage.prompt_tokens = chunk["usage"].get("prompt_tokens")
                    usage.completion_tokens = chunk["usage"].get("completion_tokens")
                for choice in chunk.get("choices") or []:
                    piece = (choice.get("delta") or {}).get("content") or ""
                    if choice.get("finish_reason") in ("stop", "length"):
                        usage.finish_reason = choice["finish_reason"]
                        done = True  # some servers end here and never send [DONE]
                    if piece:
                        if usage.first_piece_at is None:
                            usage.first_piece_at = time.perf_counter()
                        shown = True
                        yield piece
        if done:
            return
        if shown:
            raise GenerationError(f"the generation server at {url} broke off the answer")
        # Servers may accept a stream and then fail before the first event, dropping the
        # reason (llama-cpp-python does so for a prompt over its context). Nothing was shown
        # yet: ask again without streaming, which returns the server's own error (or answer).
        body = self._post_json(url, self._payload(messages, config, stream=False), fresh=True)
        choice = (body.get("choices") or [{}])[0]
        if isinstance(body.get("usage"), dict):
            usage.prompt_tokens = body["usage"].get("prompt_tokens")
            usage.completion_tokens = body["usage"].get("completion_tokens")
        if choice.get("finish_reason") in ("stop", "length"):
            usage.finish_reason = choice["finish_reason"]
        text = (choice.get("message") or {}).get("content") or ""
        if text:
            usage.first_piece_at = time.perf_counter()
            yield text

    def stream(
        self, messages: Sequence[ChatMessage], config: GenerationConfig | None = None
    ) -> Iterator[str]:
        return self._events(messages, resolve_config(config), _Usage(), time.perf_counter())

    def generate(
        self,
        messages: Sequence[ChatMessage],
        config: GenerationConfig | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> Generation:
        usage = _Usage()
        start = time.perf_counter()
        text = drain(self._events(messages, resolve_config(config), usage, start), on_text)
        seconds = time.perf_counter() - start
        exact = usage.prompt_tokens is not None and usage.completion_tokens is not None
        return Generation(
            text=text,
            prompt_tokens=(
                usage.prompt_tokens
                if usage.prompt_tokens is not None
                else self.count_chat_tokens(messages)
            ),
            completion_tokens=(
                usage.completion_tokens
                if usage.completion_tokens is not None
                else self.count_tokens(text)
            ),
            finish_reason=usage.finish_reason,
            seconds=seconds,
            time_to_first_token=(
                None if usage.first_piece_at is None else usage.first_piece_at - start
            ),
            counts_exact=exact,
        )
