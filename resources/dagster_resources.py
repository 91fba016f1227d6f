"""Dagster resources: how assets reach the store, the embedder and WordPress.

Each resource is a `ConfigurableResource`; anything secret comes from the environment
(`EnvVar`) or the secret store, never from run config, so it never shows in the Dagster UI.
Heavy objects (the pool, the model) are created once per process and shared.
"""

from __future__ import annotations

import logging
import os
import threading
from functools import cache
from pathlib import Path

import dagster as dg

from resources.database import app_database_url
from resources.embedders import Embedder, make_embedder
from resources.errors import ConfigError
from resources.secrets import SecretStore
from resources.settings import get_settings
from resources.store import Store
from resources.store.sites import Site
from resources.wordpress import ContentSource, WordPressRestClient, WxrSource

log = logging.getLogger(__name__)


@cache
def _store(url: str) -> Store:
    return Store(url, max_size=4)


@cache
def _embedder(kind: str, model: str) -> Embedder:
    """One embedder per process and configuration (the arguments are the cache key)."""
    settings = get_settings()
    return make_embedder(settings, threads=settings.index_torch_threads or os.cpu_count() or 1)


class StoreResource(dg.ConfigurableResource):
    """The Postgres + pgvector store (DATABASE_URL, or the embedded server)."""

    def get(self) -> Store:
        return _store(app_database_url(get_settings()))


class EmbedderResource(dg.ConfigurableResource):
    """The configured embedder (PRESSRAG_EMBEDDER=local|openai), loaded once per process.

    With `preload`, loading the local model (~5 s of torch imports) starts in a background
    thread when the run starts, so it overlaps fetching and extraction instead of delaying
    the embeddings step: webhook-to-searchable latency is mostly run start-up.
    """

    preload: bool = True

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        if self.preload:
            threading.Thread(target=self._preload, name="embedder-preload", daemon=True).start()

    def _preload(self) -> None:
        try:
            load = getattr(self.get(), "load", None)
            if callable(load):
                load()
        except Exception:  # the embeddings step reports the real error if it happens again
            log.warning("preloading the embedder failed", exc_info=True)

    def get(self) -> Embedder:
        settings = get_settings()
        return _embedder(settings.embedder, settings.openai_embed_model)


class WordPressResource(dg.ConfigurableResource):
    """Opens the right source for a site: its REST API, or its WXR export file."""

    timeout_seconds: float = 20.0
    max_retries: int = 5

    def source_for(self, site: Site) -> ContentSource:
        if site.source_kind == "wxr":
            if not site.wxr_path:
                raise ConfigError(f"site {site.id} is a WXR site without a file path")
            return WxrSource(Path(site.wxr_path), post_types=site.post_types)
        username = site.settings.get("wp_username")
        password = None
        key_id = site.settings.get("app_password_key_id")
        if key_id:
            password = SecretStore(get_settings().resolved_home).get(key_id)
        return WordPressRestClient(
            site.base_url,
            post_types=site.post_types,
            username=username if password else None,
            app_password=password,
            timeout=self.timeout_seconds,
            max_retries=self.max_retries,
        )
