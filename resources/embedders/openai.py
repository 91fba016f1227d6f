"""OpenAI (or any OpenAI-compatible endpoint) embeddings through the official client.

Batches stay within the API's limits (2048 inputs, ~300k tokens per request); 429s and 5xx
are retried with exponential backoff that honours `Retry-After`. `concurrent_calls` says how
many `embed` calls indexing may have in flight at once (the client is thread-safe).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator, Sequence

import numpy as np

from pressrag.resources.errors import ConfigError
from pressrag.resources.openai_backoff import call_with_backoff
from pressrag.resources.settings import Settings
from pressrag.resources.tokenization import default_token_budget

log = logging.getLogger(__name__)

KNOWN_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
MAX_INPUTS_PER_REQUEST = 2048
MAX_TOKENS_PER_REQUEST = 250_000  # below the API's 300k, since our count is an estimate
MAX_TOKENS_PER_INPUT = 8191


class OpenAIEmbedder:
    def __init__(
        self,
        *,
        api_key: str,
        model: str = "text-embedding-3-small",
        dimensions: int | None = None,
        base_url: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 4,
        known_dimension: int | None = None,
        concurrent_calls: int = 4,
    ) -> None:
        """`known_dimension`: the model's dimension when another endpoint already told it
        (a failover endpoint of the same model), so nothing is probed at start."""
        import openai

        self._client = openai.OpenAI(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=0
        )
        self._openai = openai
        self.model = model
        self.requested_dimensions = dimensions
        self.max_retries = max_retries
        self.concurrent_calls = concurrent_calls
        self.dimension = (
            dimensions or KNOWN_DIMENSIONS.get(model) or known_dimension or self._probe_dimension()
        )
        self.model_id = f"openai:{model}:{self.dimension}"
        # OpenAI reads up to 8191 tokens, but chunks stay small for precise citations; the
        # MiniLM tokenizer is a close, offline estimate (tiktoken's files need a download).
        self.max_tokens, self.count_tokens = default_token_budget()

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAIEmbedder:
        if settings.openai_api_key is None:
            raise ConfigError("PRESSRAG_EMBEDDER=openai needs PRESSRAG_OPENAI_API_KEY")
        return cls(
            api_key=settings.openai_api_key.get_secret_value(),
            model=settings.openai_embed_model,
            dimensions=settings.openai_embed_dimensions,
            base_url=settings.openai_base_url,
            timeout=settings.openai_timeout,
            max_retries=settings.openai_max_retries,
            concurrent_calls=settings.openai_embed_concurrency,
        )

    def _probe_dimension(self) -> int:
        return len(self._request(["dimension probe"])[0])

    def _batches(self, texts: Sequence[str]) -> Iterator[list[str]]:
        batch: list[str] = []
        tokens = 0
        for text in texts:
            n = self.count_tokens(text)
            if batch and (
                len(batch) >= MAX_INPUTS_PER_REQUEST or tokens + n > MAX_TOKENS_PER_REQUEST
            ):
                yield batch
                batch, tokens = [], 0
            batch.append(text)
            tokens += n
        if batch:
            yield batch

    def _request(self, batch: list[str]) -> np.ndarray:
        """The batch's vectors, one row per text in order. The response body is read as JSON
        and its base64 vectors straight into numpy: the client's own parsing made a model
        object and a list of floats per vector (~0.15 ms each, most of a ~0-cost embedder's
        time), which `embed` then turned back into an array."""
        kwargs = {"model": self.model, "input": batch, "encoding_format": "base64"}
        if self.requested_dimensions:
            kwargs["dimensions"] = self.requested_dimensions

        def request() -> np.ndarray:
            response = self._client.embeddings.with_raw_response.create(**kwargs)
            return decoded_vectors(response.http_response.json(), len(batch))

        return call_with_backoff(request, max_retries=self.max_retries, what="embeddings request")

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = [self._request(batch) for batch in self._batches(texts)]
        if not out:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = np.concatenate(out)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1, norms)


def decoded_vectors(body: object, expected: int) -> np.ndarray:
    """An embeddings response's vectors in input order, float32, one row each. Each is base64
    (little-endian float32) as asked, or a list of floats from an endpoint that ignores
    `encoding_format`. A body that is not one vector per input, all of one size, raises
    `ValueError` naming what is wrong (never the texts)."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list) or len(data) != expected:
        got = len(data) if isinstance(data, list) else "no"
        raise ValueError(f"the embeddings endpoint returned {got} vectors for {expected} inputs")
    try:
        items = sorted(data, key=lambda item: item["index"])
        rows = [
            np.frombuffer(base64.b64decode(e), dtype="<f4")
            if isinstance(e, str)
            else np.asarray(e, dtype=np.float32)
            for e in (item["embedding"] for item in items)
        ]
        return np.stack(rows).astype(np.float32, copy=False)
    except (KeyError, TypeError, ValueError) as exc:  # binascii.Error is a ValueError
        raise ValueError(
            f"the embeddings endpoint returned malformed vectors ({type(exc).__name__})"
        ) from None
