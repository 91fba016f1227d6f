"""Which local backend the indexing runs embed with (the vectors' equality to PyTorch is held
by tests/integration/test_onnx_embedder.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pressrag.resources.dagster_resources import EmbedderResource
from pressrag.resources.embedders.local import LocalEmbedder
from pressrag.resources.settings import get_settings


@pytest.fixture(autouse=True)
def fresh_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("PRESSRAG_EMBEDDER", raising=False)
    monkeypatch.delenv("PRESSRAG_INDEX_EMBED_BACKEND", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _configured() -> EmbedderResource:
    return EmbedderResource.from_settings(get_settings())


def test_indexing_embeds_with_the_exact_onnx_export_by_default() -> None:
    embedder = _configured().get()
    assert isinstance(embedder, LocalEmbedder)
    assert embedder.backend == "onnx"
    assert embedder.model_id == "local:sentence-transformers/all-MiniLM-L6-v2"


def test_pytorch_can_be_chosen_and_gets_its_own_embedder(monkeypatch: pytest.MonkeyPatch) -> None:
    onnx = _configured().get()
    monkeypatch.setenv("PRESSRAG_INDEX_EMBED_BACKEND", "torch")
    get_settings.cache_clear()
    torch = _configured().get()
    assert isinstance(torch, LocalEmbedder)
    assert torch.backend == "torch"
    assert torch is not onnx
    assert torch.model_id == onnx.model_id  # one model identity: the index is interchangeable


def test_an_unknown_backend_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRESSRAG_INDEX_EMBED_BACKEND", "onnx-int8")  # questions only
    get_settings.cache_clear()
    with pytest.raises(ValueError, match="index_embed_backend"):
        get_settings()
