"""A small fake OpenAI API for tests: real HTTP on 127.0.0.1, OpenAI-shaped JSON and SSE.

It speaks what the official `openai` client sends and parses:

- `POST /v1/chat/completions` — a JSON `chat.completion`, or with `"stream": true` server-sent
  `chat.completion.chunk` events (content split into small pieces, so a `[n]` marker is cut
  across chunks), an optional usage chunk (`stream_options.include_usage`) and `data: [DONE]`.
  The answer is made from the prompt: the first sentence of passage `[1]` (as our answerer
  numbers them), cited `[1]`.
- `POST /v1/embeddings` — deterministic unit vectors seeded by a hash of each input, of the
  requested `dimensions` (default `default_dimension`), so equal texts get equal vectors
  (or whatever the `vectors` function given makes of the inputs; a `ValueError` from it is
  a 400, as the API answers a dimension the model does not have);
  as float lists, or base64 float32 with `encoding_format: base64` (the client's default). A
  request with an input containing `refuse_inputs_containing` gets the 400 the API gives an
  input it will not embed (the whole request fails, as with OpenAI). Each waits
  `embeddings_latency` seconds first, as a remote endpoint's round trip does;
  `max_embeddings_in_flight` is the most such requests that were ever being answered at once.

Misbehaviour on cue: `enqueue(*cues)` queues behaviours consumed one per request (embeddings
requests honour `"rate_limit"`, `"error"` and `"slow"`):
`"ok"`, `"rate_limit"` (429 with `Retry-After`), `"error"` (500), `"slow"` (sleeps
`slow_seconds` before answering, to trip a client timeout), `"bad_citation"` (cites `[9]`,
which was never provided, and `[1]`), `"not_found"` (the not-found sentence), `"empty"`
(no content) and `"break"` (a stream sends its first pieces of content, then the connection
drops; a JSON answer is cut off half-way through its body). `enqueue_reply(text)` makes the
next chat completion answer exactly `text`.
`requests` logs every request (path, headers, JSON body).

Usage::

    with FakeOpenAI() as fake:
        fake.enqueue("rate_limit", "ok")
        client = openai.OpenAI(base_url=fake.base_url, api_key="test")
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

NOT_FOUND_TEXT = "I could not find this on the site."
CUES = ("ok", "rate_limit", "error", "slow", "bad_citation", "not_found", "empty", "break")
_PASSAGE = re.compile(r"^\[(\d+)\][^\n]*\n(.+?)(?=\n\n\[\d+\]|\n\nQuestion:|\Z)", re.S | re.M)


@dataclass
class LoggedRequest:
    path: str
    headers: dict[str, str]  # names lower-cased
    body: dict[str, Any]


def first_sentence(text: str) -> str:
    flat = " ".join(text.split())
    match = re.match(r"(.{20,300}?[.!?])(\s|$)", flat)
    return match.group(1) if match else flat[:200]


def answer_from_prompt(messages: list[dict[str, Any]], cue: str) -> str:
    """What a well-behaved (or, on cue, badly behaved) model would answer."""
    if cue == "not_found":
        return NOT_FOUND_TEXT
    if cue == "empty":
        return ""
    user = next((m.get("content", "") for m in messages if m.get("role") == "user"), "")
    passages = {int(n): text for n, text in _PASSAGE.findall(str(user))}
    if not passages:
        return NOT_FOUND_TEXT
    first = min(passages)
    answer = f"{first_sentence(passages[first])} [{first}]"
    if cue == "bad_citation":
        answer = f"{first_sentence(passages[first])} [9] It also says more [{first}, 9]."
    return answer


Vectors = Callable[[list[str], int], np.ndarray]
"""How the fake embeds: texts and a dimension → one unit vector per text (rows)."""


def seeded_unit_vector(text: str, dimension: int) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")
    vector = np.random.default_rng(seed).standard_normal(dimension)
    return (vector / np.linalg.norm(vector)).round(7)


def seeded_unit_vectors(texts: list[str], dimension: int) -> np.ndarray:
    return np.asarray([seeded_unit_vector(t, dimension) for t in texts]).reshape(-1, dimension)


def embedding(text: str, dimension: int) -> list[float]:
    return seeded_unit_vector(text, dimension).tolist()


def embedding_base64(text: str, dimension: int) -> str:
    """`embedding` as the API sends it when asked for `encoding_format: base64` (the same
    float32 bytes, without a list of floats in between)."""
    return _base64(seeded_unit_vector(text, dimension))


def _base64(vector: np.ndarray) -> str:
    return base64.b64encode(vector.astype("<f4").tobytes()).decode()


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that timed out and hung up is expected here, not news


class FakeOpenAI:
    def __init__(
        self,
        *,
        default_dimension: int = 1536,
        slow_seconds: float = 3.0,
        retry_after: int = 1,
        refuse_inputs_containing: str | None = None,
        floats_only: bool = False,
        vectors: Vectors = seeded_unit_vectors,
        embeddings_latency: float = 0.0,
    ) -> None:
        """`floats_only`: answer with lists of floats even when asked for base64, as some
        OpenAI-compatible servers do. `vectors`: how inputs become vectors (default: seeded
        by a hash of each input, so unrelated to its words)."""
        self.default_dimension = default_dimension
        self.floats_only = floats_only
        self.vectors = vectors
        self.refuse_inputs_containing = refuse_inputs_containing
        self.slow_seconds = slow_seconds
        self.retry_after = retry_after
        self.embeddings_latency = embeddings_latency
        self.max_embeddings_in_flight = 0
        self._embeddings_in_flight = 0
        self.requests: list[LoggedRequest] = []
        self._cues: deque[str] = deque()
        self._replies: deque[str] = deque()
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), self._handler_class())
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def enqueue(self, *cues: str) -> None:
        unknown = [c for c in cues if c not in CUES]
        if unknown:
            raise ValueError(f"unknown cues {unknown}; known: {CUES}")
        with self._lock:
            self._cues.extend(cues)

    def enqueue_reply(self, text: str) -> None:
        with self._lock:
            self._replies.append(text)
            self._cues.append("reply")

    def next_reply(self) -> str:
        with self._lock:
            return self._replies.popleft()

    def next_cue(self) -> str:
        with self._lock:
            return self._cues.popleft() if self._cues else "ok"

    @contextmanager
    def embedding_in_flight(self) -> Iterator[None]:
        with self._lock:
            self._embeddings_in_flight += 1
            self.max_embeddings_in_flight = max(
                self.max_embeddings_in_flight, self._embeddings_in_flight
            )
        try:
            yield
        finally:
            with self._lock:
                self._embeddings_in_flight -= 1

    def chat_requests(self) -> list[LoggedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def start(self) -> FakeOpenAI:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ HTTP
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    self._json(400, {"error": {"message": "invalid JSON", "type": "invalid"}})
                    return
                headers = {k.lower(): v for k, v in self.headers.items()}
                fake.requests.append(LoggedRequest(self.path, headers, body))
                if not self.headers.get("authorization", "").startswith("Bearer "):
                    self._json(401, {"error": {"message": "no key", "type": "auth"}})
                elif self.path.endswith("/chat/completions"):
                    self._chat(body, fake.next_cue())
                elif self.path.endswith("/embeddings"):
                    self._embedding_request(body)
                else:
                    self._json(404, {"error": {"message": "not found", "type": "invalid"}})

            def _embedding_request(self, body: dict) -> None:
                # Counted while it is being worked on, not while the answer is written: the
                # client sends its next request the moment it has read this one's answer,
                # which can be before this thread runs again.
                with fake.embedding_in_flight():
                    time.sleep(fake.embeddings_latency)
                    cue = fake.next_cue()
                    if cue == "slow":
                        time.sleep(fake.slow_seconds)
                if cue == "rate_limit":
                    self._json(
                        429,
                        {"error": {"message": "slow down", "type": "rate_limit"}},
                        {"retry-after": str(fake.retry_after)},
                    )
                elif cue == "error":
                    self._json(500, {"error": {"message": "boom", "type": "server"}})
                else:
                    self._embeddings(body)

            def _json(self, status: int, payload: dict, headers: dict | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def _chat(self, body: dict, cue: str) -> None:
                if cue == "rate_limit":
                    error = {"message": "Rate limit reached", "type": "requests"}
                    self._json(429, {"error": error}, {"retry-after": str(fake.retry_after)})
                    return
                if cue == "error":
                    self._json(500, {"error": {"message": "boom", "type": "server_error"}})
                    return
                if cue == "slow":
                    time.sleep(fake.slow_seconds)
                if cue == "reply":
                    text = fake.next_reply()
                else:
                    text = answer_from_prompt(body.get("messages", []), cue)
                usage = {
                    "prompt_tokens": sum(
                        len(str(m.get("content", ""))) // 4 for m in body.get("messages", [])
                    ),
                    "completion_tokens": max(1, len(text) // 4),
                }
                usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
                if body.get("stream"):
                    self._stream(body, text, usage, broken=cue == "break")
                    return
                if cue == "break":
                    self._cut_json()
                    return
                self._json(
                    200,
                    {
                        "id": "chatcmpl-fake",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": body.get("model", "fake"),
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": text},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": usage,
                    },
                )

            def _cut_json(self) -> None:
                """Headers promising a body, half of it, then the connection drops."""
                data = b'{"id": "chatcmpl-fake", "object": "chat.completion", "choices": ['
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data) * 4))
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)

            def _stream(self, body: dict, text: str, usage: dict, broken: bool = False) -> None:
                base = {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion.chunk",
                    "created": int(time.time()),
                    "model": body.get("model", "fake"),
                }
                pieces = [text[i : i + 5] for i in range(0, len(text), 5)]
                deltas = [{"role": "assistant", "content": ""}] + [{"content": p} for p in pieces]
                frames = [
                    {**base, "choices": [{"index": 0, "delta": d, "finish_reason": None}]}
                    for d in deltas
                ]
                frames.append(
                    {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
                )
                if (body.get("stream_options") or {}).get("include_usage"):
                    frames.append({**base, "choices": [], "usage": usage})
                events = [f"data: {json.dumps(f)}\n\n".encode() for f in frames]
                events.append(b"data: [DONE]\n\n")
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("cache-control", "no-cache")
                if broken:  # a declared length the body never reaches: a broken stream
                    self.send_header("content-length", str(sum(map(len, events))))
                self.end_headers()
                for i, event in enumerate(events):
                    self.wfile.write(event)
                    self.wfile.flush()
                    if broken and i == 3:  # some content reached the client, then it drops
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return

            def _embeddings(self, body: dict) -> None:
                inputs = body.get("input", [])
                if isinstance(inputs, str):
                    inputs = [inputs]
                refused = fake.refuse_inputs_containing
                if refused and any(refused in str(t) for t in inputs):
                    self._json(
                        400,
                        {"error": {"message": "input rejected", "type": "invalid_request_error"}},
                    )
                    return
                dimension = int(body.get("dimensions") or fake.default_dimension)
                # The official client asks for base64 (little-endian float32) unless told
                # otherwise, as the API then answers; a list of floats would cost it ~2 ms a
                # vector of parsing that the real API never makes it pay.
                base64_asked = body.get("encoding_format") == "base64" and not fake.floats_only
                encode = _base64 if base64_asked else np.ndarray.tolist
                try:
                    vectors = fake.vectors([str(t) for t in inputs], dimension)
                except ValueError as exc:  # e.g. a dimension these vectors do not have
                    error = {"message": str(exc), "type": "invalid_request_error"}
                    self._json(400, {"error": error})
                    return
                data = [
                    {"object": "embedding", "index": i, "embedding": encode(vector)}
                    for i, vector in enumerate(vectors)
                ]
                tokens = sum(len(str(t).split()) for t in inputs)
                self._json(
                    200,
                    {
                        "object": "list",
                        "data": data,
                        "model": body.get("model", "fake"),
                        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
                    },
                )

        return Handler
