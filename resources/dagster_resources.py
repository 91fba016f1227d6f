"""Dagster resources: how assets reach the store, the embedder and WordPress.

Each resource is a `ConfigurableResource`; anything secret comes from the environment
(`EnvVar`) or the secret store, never from run config, so it never shows in the Dagster UI.
Heavy objects (the pool, the model) are created once per process and shared.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import pickle
import threading
from functools import cache, partial
from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr

from pressrag.resources.database import app_database_url
from pressrag.resources.embedders import Embedder, make_embedder
from pressrag.resources.errors import ConfigError
from pressrag.resources.gateway.metering import MeteredEmbedder
from pressrag.resources.secrets import SecretStore
from pressrag.resources.settings import get_settings
from pressrag.resources.store import Store
from pressrag.resources.store.exports import record_export_read
from pressrag.resources.store.sites import Site
from pressrag.resources.wordpress import (
    ContentSource,
    WordPressRestClient,
    WxrReadReport,
    WxrSource,
)
from pressrag.resources.wordpress.wxr import ReadProgress

log = logging.getLogger(__name__)


@cache
def _store(url: str) -> Store:
    return Store(url, max_size=4, checked=True)


@cache
def _embedder(kind: str, model: str, backend: str) -> Embedder:
    """One embedder per process and configuration (the arguments are the cache key)."""
    settings = get_settings()
    return make_embedder(
        settings,
        threads=settings.index_torch_threads or os.cpu_count() or 1,
        backend=settings.index_embed_backend,
    )


class StoreResource(dg.ConfigurableResource):
    """The Postgres + pgvector store (DATABASE_URL, or the embedded server)."""

    def get(self) -> Store:
        return _store(app_database_url(get_settings()))


class PostgresIOManager(dg.ConfigurableIOManager):
    """Step outputs, pickled, in our PostgreSQL (`step_outputs`, migration 0013).

    Only small values go through it — an indexing stage's shards (ranges of document ids)
    and each shard's counts; documents never do. Dagster's default keeps outputs in files
    under DAGSTER_HOME, which Celery workers on different machines would have to share.
    """

    def handle_output(self, context: dg.OutputContext, obj: object) -> None:
        key = "/".join(context.get_identifier())
        with StoreResource().get().connection() as conn:
            conn.execute(
                "INSERT INTO step_outputs (key, run_id, value) VALUES (%s, %s, %s) "
                "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, created_at = now()",
                (key, context.run_id, pickle.dumps(obj)),
            )

    def load_input(self, context: dg.InputContext) -> object:
        key = "/".join(context.upstream_output.get_identifier())
        with StoreResource().get().connection() as conn:
            row = conn.execute("SELECT value FROM step_outputs WHERE key = %s", (key,)).fetchone()
        if row is None:
            raise dg.Failure(f"no stored output {key!r} (its step did not finish)")
        return pickle.loads(row[0])


class ModelPreload:
    """Loads the local model in a background thread; `stop()` cancels and joins it.

    A process must not exit while that thread is still importing: imports that register
    `threading` exit hooks (joblib's, concurrent.futures.process) fail during interpreter
    shutdown with "can't register atexit after shutdown" and a traceback after a run that
    succeeded. So the model's heavy imports are taken one module at a time, and `stop()`
    skips those not yet begun and waits for the one under way. A run that needed the model
    has loaded it by then; a run with nothing to embed waits at most for one import.
    """

    # The imports `LocalEmbedder.load()` makes for the PyTorch backend, taken one at a time.
    STEPS = ("torch", "transformers", "sentence_transformers")

    def __init__(self, embedder: Embedder) -> None:
        self._cancelled = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(embedder,), name="embedder-preload", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._cancelled.set()
        self._thread.join()

    def _run(self, embedder: Embedder) -> None:
        load = getattr(embedder, "load", None)
        if not callable(load):
            return
        try:
            if getattr(embedder, "backend", None) == "torch":
                for module in self.STEPS:
                    if self._cancelled.is_set():
                        return
                    with contextlib.suppress(ImportError):
                        importlib.import_module(module)
            if not self._cancelled.is_set():
                load()
        except Exception:  # the embeddings step reports the real error if it happens again
            log.warning("preloading the embedder failed", exc_info=True)


class EmbedderResource(dg.ConfigurableResource):
    """The configured embedder (PRESSRAG_EMBEDDER=local|openai), loaded once per process.

    With `preload`, loading the local model (~5 s of imports on a quiet machine) starts in a
    background thread when the run starts, so it overlaps fetching and extraction instead of
    delaying the embeddings step: webhook-to-searchable latency is mostly run start-up. The
    run ends only when that thread has stopped (see `ModelPreload`).
    """

    preload: bool = True
    _preload: ModelPreload | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        if self.preload:
            self._preload = ModelPreload(self.get())

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._preload is not None:
            self._preload.stop()
            self._preload = None

    def get(self) -> Embedder:
        settings = get_settings()
        return _embedder(
            settings.embedder, settings.openai_embed_model, settings.index_embed_backend
        )

    def for_site(self, site_id: str) -> MeteredEmbedder:
        """The embedder, each call of it counted in the usage ledger as one of `site_id`."""
        return MeteredEmbedder(self.get(), site_id)


class WordPressResource(dg.ConfigurableResource):
    """Opens the right source for a site: its REST API, or its WXR export file.

    A WXR source reports to the run's log (progress every few seconds, unreadable items) and
    records each complete read of the export with the site (`wxr_exports`).
    """

    timeout_seconds: float = 20.0
    max_retries: int = 5
    _log: logging.Logger = PrivateAttr(default=log)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._log = context.log or log  # the run's log: its event log and console

    def source_for(self, site: Site) -> ContentSource:
        if site.source_kind == "wxr":
            if not site.wxr_path:
                raise ConfigError(f"site {site.id} is a WXR site without a file path")
            return WxrSource(
                Path(site.wxr_path),
                post_types=site.post_types,
                media=site.settings.get("wxr_media"),
                site_url=site.base_url,
                on_read=partial(_record_export_read, self._log, site.id, site.wxr_path),
                on_progress=partial(_log_read_progress, self._log, Path(site.wxr_path).name),
            )
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


def _record_export_read(
    run_log: logging.Logger, site_id: str, path: str, report: WxrReadReport
) -> None:
    """Every complete read of an export is recorded: when, its hash, the unreadable items."""
    store = _store(app_database_url(get_settings()))
    with store.connection() as conn:
        record_export_read(conn, site_id, path, report.as_dict())
    if report.not_well_formed:
        run_log.warning(f"{path} is malformed XML from {report.not_well_formed}: read item by item")
    if report.failure_count:
        run_log.warning(
            f"{report.failure_count} item(s) of {path} could not be read: "
            + "; ".join(str(f) for f in report.failures[:5])
        )


def _log_read_progress(run_log: logging.Logger, name: str, progress: ReadProgress) -> None:
    total = f" of {progress.total_bytes / 1e6:.1f} MB" if progress.total_bytes else ""
    run_log.info(
        f"reading {name}: {progress.bytes_read / 1e6:.1f} MB{total}, {progress.items} items"
        + (f", {progress.failures} unreadable" if progress.failures else "")
    )
