"""Small serving parts: rate limiting, SSE framing, log redaction, snippets, caps."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from pressrag.resources.secrets import SecretStore, new_secret, secret_bytes
from pressrag.resources.store.sites import Site
from pressrag.serving.directory import SiteDirectory, SiteEntry
from pressrag.serving.logs import RedactingFilter, redact, register_secret
from pressrag.serving.ratelimit import Limit, RateLimiter, RateLimits, retry_after_header
from pressrag.serving.routers.search import snippet
from pressrag.serving.sse import sse_event, wants_event_stream


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_burst_then_refill() -> None:
    clock = Clock()
    limiter = RateLimiter(per_minute=60, burst=3, clock=clock)  # 1 token a second
    assert [limiter.acquire("k") for _ in range(3)] == [None, None, None]
    wait = limiter.acquire("k")
    assert wait is not None and 0.9 < wait <= 1.0
    assert retry_after_header(wait) == "1"
    assert limiter.acquire("other") is None  # keys are independent
    clock.now += 1.0
    assert limiter.acquire("k") is None
    assert limiter.acquire("k") is not None


def test_token_bucket_table_is_bounded() -> None:
    limiter = RateLimiter(per_minute=60, burst=1, max_keys=10, clock=Clock())
    for i in range(100):
        limiter.acquire(f"client-{i}")
    assert len(limiter._buckets) == 10


def test_limits_without_a_database_count_in_the_process() -> None:
    """Before start-up connects them (and while the database is down) the limits are the
    process's own, with the shared limits' order: a client refused leaves its site alone."""
    clock = Clock()
    client, site = Limit("client", 60, 2), Limit("site", 60, 3)
    limits = RateLimits(client, site, clock=clock)
    assert limits.acquire((client, "a"), (site, "s")) is None
    assert limits.acquire((client, "a"), (site, "s")) is None
    refused = limits.acquire((client, "a"), (site, "s"))
    assert refused is not None and refused.limit is client and 0.9 < refused.wait <= 1.0
    assert limits.acquire((client, "b"), (site, "s")) is None  # the site's third, not fourth
    refused = limits.acquire((client, "c"), (site, "s"))
    assert refused is not None and refused.limit is site
    assert limits.acquire((client, "s")) is None  # families keep their keys apart


def test_sse_event_framing() -> None:
    frame = sse_event("delta", {"text": "line one\nline two — ü"}).decode()
    assert frame.startswith("event: delta\ndata: ") and frame.endswith("\n\n")
    lines = frame.strip("\n").split("\n")
    assert len(lines) == 2  # the newline inside the text is escaped in the JSON
    assert json.loads(lines[1].removeprefix("data: ")) == {"text": "line one\nline two — ü"}
    assert wants_event_stream("text/event-stream")
    assert wants_event_stream("application/json, text/event-stream;q=0.9")
    assert not wants_event_stream("application/json")
    assert not wants_event_stream(None)


JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzaXRlIjoiZGVtbyJ9."
    "SK90QCAxLhmh7xxlG0Y8bQWDB1rDQ1793-sWv53jt3o"
)


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"Authorization: Bearer {JWT}", JWT),
        (f"token {JWT} refused", JWT),
        ("secret whsec_H2TQRbldSsasCL5urZLtKUrihfJPBF/nwAREfrui2bc= loaded", "H2TQRbld"),
        ("url postgresql://app:hunter2secret@db:5432/x", "hunter2secret"),
        ('{"api_key": "sk-abcdefghijklmnop"}', "abcdefghijklmnop"),
        ("OPENAI api_key=plainvalue123", "plainvalue123"),
    ],
)
def test_redaction_patterns(text: str, secret: str) -> None:
    """Each kind of secret that could reach a log line (bearer tokens, bare JWTs, webhook
    secrets, URL passwords, API keys) is masked."""
    assert secret not in redact(text)
    assert "[redacted]" in redact(text)


def test_redacting_filter_on_a_real_logger(caplog: pytest.LogCaptureFixture) -> None:
    register_secret("the-admin-key-value")
    logger = logging.getLogger("test.serving.redaction")
    logger.addFilter(RedactingFilter())
    try:
        with caplog.at_level(logging.INFO, logger="test.serving.redaction"):
            logger.info("called with %s and key %s", f"Bearer {JWT}", "the-admin-key-value")
            try:
                raise ValueError(f"bad token {JWT}")
            except ValueError:
                logger.exception("failed")
    finally:
        logger.filters.clear()
    text = caplog.text
    assert JWT not in text and "the-admin-key-value" not in text
    assert "Traceback" not in text and "(ValueError)" in text


def test_snippet_window() -> None:
    text = ("filler words here. " * 30) + "The decimal module gives exact arithmetic." + " x" * 50
    piece = snippet(text, "decimal arithmetic")
    assert "decimal" in piece and len(piece) <= 250
    assert snippet("short text", "q") == "short text"


def test_embedding_batcher_batches_concurrent_queries() -> None:
    """Queries arriving while the model is busy are embedded together, each caller gets the
    vector of its own text (and who made it), and an embedder failure reaches every waiting
    caller as `EmbeddingUnavailable`."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    from pressrag.resources.embedders import EmbeddingUnavailable
    from pressrag.serving.retrieval import EmbeddingBatcher

    batches: list[list[str]] = []
    fail = threading.Event()

    class SlowEmbedder:  # deterministic text → vector, slow enough for requests to queue up
        model_id, dimension, max_tokens, concurrent_calls = "test", 4, 256, 1

        def embed(self, texts: list[str]) -> np.ndarray:
            batches.append(list(texts))
            time.sleep(0.05)
            if fail.is_set():
                raise RuntimeError("model failed")
            return np.array([[len(t), ord(t[0]), 0, 1] for t in texts], dtype=np.float32)

    batcher = EmbeddingBatcher(SlowEmbedder(), max_batch=8)  # type: ignore[arg-type]
    texts = [f"{chr(97 + i)}{'x' * i}" for i in range(12)]
    with ThreadPoolExecutor(12) as pool:
        vectors = list(pool.map(batcher.embed, texts))
    for text, embedded in zip(texts, vectors, strict=True):
        assert embedded.vector[0] == len(text) and embedded.vector[1] == ord(text[0])
        assert embedded.provider == "test"
    assert len(batches) < len(texts) and max(len(b) for b in batches) <= 8
    fail.set()
    with pytest.raises(EmbeddingUnavailable):
        batcher.embed("boom")
    batcher.close()


def test_components_before_start_up_are_a_503_and_after_it_need_no_wait() -> None:
    """Routes depend on the components: before start-up opened them, a request waits (in a
    worker thread) up to ready_wait_seconds and gets 503 not_ready; once they are there, the
    dependency hands them out directly, without waiting or a thread."""
    import asyncio

    from fastapi.testclient import TestClient

    from pressrag.serving.app import create_app
    from pressrag.serving.deps import get_components
    from pressrag.serving.settings import ServingSettings

    app = create_app(ServingSettings(_env_file=None, ready_wait_seconds=0))
    client = TestClient(app)  # not entered: no lifespan, so start-up never runs
    response = client.post("/v1/search", json={"site": "demo", "query": "sundial"})
    assert response.status_code == 503
    assert response.json()["error"] == "not_ready" and response.headers["Retry-After"] == "5"

    services = app.state.services
    components = object()
    services.components = components
    services.ready.set()

    def must_not_wait() -> None:
        raise AssertionError("waited for start-up although it was done")

    services.require = must_not_wait
    assert asyncio.run(get_components(services)) is components


def test_a_malformed_webhook_secret_hides_none_of_the_others(tmp_path: Path) -> None:
    """Mid-rotation a site may name a key whose secret was pasted wrong or is gone: its other
    keys still verify webhooks, and an unknown site has no keys at all."""
    secrets = SecretStore(tmp_path)
    good = new_secret()
    secrets.put("s-webhook-bad", "whsec_not base64!")
    secrets.put("s-webhook-good", good)
    site = Site(
        id="s",
        source_kind="wxr",
        base_url="http://s.example",
        webhook_key_ids=["s-webhook-bad", "s-webhook-missing", "s-webhook-good"],
    )
    directory = SiteDirectory(store=None, secrets=secrets)  # type: ignore[arg-type]  # no reads
    assert directory.webhook_keys(SiteEntry(site, ())) == [secret_bytes(good)]
    assert directory.webhook_keys(None) == []
