"""OpenAI (or any OpenAI-compatible endpoint) embeddings through the official client.

Batches stay within the API's limits (2048 inputs, ~300k tokens per request); 429s and 5xx
are retried with exponential backoff that honours `Retry-After`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

import numpy as np

from pressrag.resources.errors import ConfigError
from pressrag.resources.openai_backoff import call_with_backoff
from pressrag.resources.settings import Settings
from pressrag.resources.tokenization import default_counter

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
        self.dimension = (
            dimensions or KNOWN_DIMENSIONS.get(model) or known_dimension or self._probe_dimension()
        )
        self.model_id = f"openai:{model}:{self.dimension}"
        # OpenAI reads up to 8191 tokens, but chunks stay small for precise citations; the
        # MiniLM tokenizer is a close, offline estimate (tiktoken's files need a download).
        self._counter = default_counter()
        self.max_tokens = self._counter.max_tokens

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
        )

    def count_tokens(self, text: str) -> int:
        return self._counter.count(text)

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

    def _request(self, batch: list[str]) -> list[list[float]]:
        kwargs = {"model": self.model, "input": batch}
        if self.requested_dimensions:
            kwargs["dimensions"] = self.requested_dimensions

        def request() -> list[list[float]]:
            response = self._client.embeddings.create(**kwargs)
            return [item.embedding for item in sorted(response.data, key=lambda d: d.index)]

        return call_with_backoff(request, max_retries=self.max_retries, what="embeddings request")

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out: list[list[float]] = []
        for batch in self._batches(texts):
            out.extend(self._request(batch))
        if not out:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = np.asarray(out, dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1, norms)
