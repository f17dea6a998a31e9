"""A chat-completions server on loopback whose replies are scripted, for the tests that must
reach one branch of docqa for sure (a model that misquotes, abstains, writes a given formula).

It speaks the OpenAI-compatible protocol docqa's `openai` backend uses (`GET /v1/models`,
`POST /v1/chat/completions`, streamed as server-sent events or not) over a real socket, so the
backend, the Answerer, retrieval, the reranker and the citation checker all run as in use; only
the model's words are fixed. Importable as `scripted_chat`.

Example:
    >>> with scripted_chat([("You copy one figure", "$28.7 [1]")], default="Paris [1].") as chat:
    ...     url = chat.base_url  # generation.backend = "openai", generation.base_url = url
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "scripted"
WINDOW = 8192


@dataclass
class ScriptedChat:
    """Replies by rule: the first (needle, reply) whose needle occurs in the request's messages
    (system and user text joined) answers, else `default`. Every request is kept, in order.
    A test may change `rules` and `default` between questions (`script`)."""

    rules: Sequence[tuple[str, str]]
    default: str
    base_url: str = ""
    requests: list[list[dict[str, str]]] = field(default_factory=list)
    prompt_tokens: list[int] = field(default_factory=list)
    """The `usage.prompt_tokens` reported for each request (a quarter of its characters)."""

    def reply(self, messages: list[dict[str, str]]) -> str:
        self.requests.append(messages)
        text = "\n".join(m.get("content", "") for m in messages)
        return next((r for needle, r in self.rules if needle in text), self.default)

    def script(self, rules: Sequence[tuple[str, str]], default: str) -> None:
        """New replies, and a fresh request log."""
        self.rules, self.default = rules, default
        self.requests.clear()
        self.prompt_tokens.clear()

    def asked(self, needle: str) -> int:
        """How many requests contained `needle`."""
        return sum(1 for msgs in self.requests if any(needle in m["content"] for m in msgs))


def _handler(chat: ScriptedChat) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _json(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.rstrip("/") == "/v1/models":
                self._json(200, {"data": [{"id": MODEL, "max_model_len": WINDOW}]})
            else:
                self._json(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._json(404, {"error": {"message": f"no route {self.path}"}})
                return
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            text = chat.reply(body["messages"])
            prompt = sum(len(m["content"]) for m in body["messages"]) // 4
            chat.prompt_tokens.append(prompt)
            usage = {"prompt_tokens": prompt, "completion_tokens": max(1, len(text) // 4)}
            if not body.get("stream"):
                message = {"role": "assistant", "content": text}
                choice = {"index": 0, "message": message, "finish_reason": "stop"}
                self._json(200, {"choices": [choice], "usage": usage})
                return
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.end_headers()
            words = text.split(" ")
            pieces = [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]
            for piece in pieces:
                delta = {"choices": [{"index": 0, "delta": {"content": piece}}]}
                self.wfile.write(f"data: {json.dumps(delta)}\n\n".encode())
            end = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
            self.wfile.write(f"data: {json.dumps(end)}\n\n".encode())
            self.wfile.write(f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")

    return Handler


@contextmanager
def scripted_chat(rules: Sequence[tuple[str, str]], default: str) -> Iterator[ScriptedChat]:
    """A `ScriptedChat` served on a free loopback port while the block runs."""
    chat = ScriptedChat(rules, default)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(chat))
    chat.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield chat
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
