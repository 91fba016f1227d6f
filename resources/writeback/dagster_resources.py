"""Dagster resources of the write-back: generators and the signed callback client.

Which generator runs follows the same setting as answers (`PRESSRAG_ANSWERER=openai` with
`PRESSRAG_OPENAI_*`): one chat model per deployment. Every model call is reported to
`resources.usage.usage_recorder()`, the usage ledger's seam. Secrets (the webhook secrets that
sign callbacks, the OpenAI key) come from the secret store and the environment, never from run
config.
"""

from __future__ import annotations

import os
from functools import cache

import dagster as dg

from pressrag.resources.embedders import Embedder, make_embedder
from pressrag.resources.embedders.local import LocalEmbedder
from pressrag.resources.errors import ConfigError
from pressrag.resources.secrets import SecretStore
from pressrag.resources.settings import get_settings
from pressrag.resources.store.sites import Site
from pressrag.resources.usage import usage_recorder
from pressrag.resources.writeback.callbacks import WordPressCallbacks
from pressrag.resources.writeback.drafts import DraftWriter, make_draft_writer
from pressrag.resources.writeback.summarisers import Summariser, make_summariser


@cache
def _short_text_embedder(threads: int) -> Embedder:
    """The local model through ONNX Runtime (the export serving uses): on short texts such as
    sentences and queries it is several times faster than PyTorch (per-operator overhead) and
    loads in a fraction of the time; its vectors are the same model's (`model_id`)."""
    return LocalEmbedder(backend="onnx", threads=threads, cache_dir=get_settings().model_cache_dir)


def _threads() -> int:
    return get_settings().index_torch_threads or os.cpu_count() or 1


class SummariserResource(dg.ConfigurableResource):
    """The chat model when configured, else the extractive summariser on the local model."""

    def get(self) -> Summariser:
        """The extractive summariser always uses the local model: it never calls a paid
        endpoint, whatever embeds the index."""
        threads = _threads()
        return make_summariser(
            get_settings(), lambda: _short_text_embedder(threads), usage_recorder()
        )


class DraftWriterResource(dg.ConfigurableResource):
    """Prose from the chat model when configured, else a research brief; and the embedder
    for its retrieval queries (the index's model)."""

    def get(self) -> DraftWriter:
        return make_draft_writer(get_settings(), usage_recorder())

    def query_embedder(self) -> Embedder:
        settings = get_settings()
        if settings.embedder == "local":
            return _short_text_embedder(_threads())
        return make_embedder(settings)


class WordPressCallbackResource(dg.ConfigurableResource):
    """Signed callbacks to a site's plugin (`…/?rest_route=/pressrag/v1/callback`)."""

    timeout_seconds: float = 30.0

    def client_for(self, site: Site) -> WordPressCallbacks:
        if site.source_kind != "rest":
            raise ConfigError(
                f"site {site.id} is read from a WXR file: there is no WordPress to call"
            )
        secrets = SecretStore(get_settings().resolved_home).get_many(site.webhook_key_ids)
        if not secrets:
            raise ConfigError(
                f"site {site.id} has no webhook secret to sign callbacks with "
                f"(`pressrag sites add {site.id} --url …` makes one)"
            )
        return WordPressCallbacks(
            site_id=site.id,
            base_url=site.base_url,
            secrets=tuple(secrets),
            timeout=self.timeout_seconds,
        )
