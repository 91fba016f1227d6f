"""Embedders: text → unit vectors. Local all-MiniLM-L6-v2 by default, OpenAI when configured.

Every embedder names its model (`model_id`, recorded with the vectors and used as the cache
key) and its dimension, and counts tokens the way the chunker must respect.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

import numpy as np

from pressrag.resources.errors import PressRAGError
from pressrag.resources.settings import Settings


class EmbeddingUnavailable(PressRAGError):
    """No provider could embed the texts in the index's space (every one failed, or its
    circuit breaker is open): callers that can do without vectors degrade instead of failing
    (serving searches keywords only; the extractive answerer ranks sentences by their words).
    """


class Embedder(Protocol):
    model_id: str
    dimension: int
    max_tokens: int
    # How many `embed` calls may run at once to good effect: a remote endpoint's requests
    # overlap; a local model already uses every core, so 1.
    concurrent_calls: int

    def count_tokens(self, text: str) -> int: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """float32 array (len(texts), dimension), rows L2-normalised."""
        ...


def make_embedder(
    settings: Settings,
    *,
    threads: int | None = None,
    backend: Literal["torch", "onnx", "onnx-int8"] = "torch",
) -> Embedder:
    """The configured embedder; `threads` overrides the local model's threads, `backend`
    chooses how the local model runs (same vectors either way)."""
    if settings.embedder == "openai":
        from pressrag.resources.embedders.openai import OpenAIEmbedder

        return OpenAIEmbedder.from_settings(settings)
    from pressrag.resources.embedders.local import LocalEmbedder

    return LocalEmbedder(
        batch_size=settings.embed_batch_size,
        threads=threads if threads is not None else settings.torch_threads,
        backend=backend,
        cache_dir=settings.model_cache_dir,
    )
