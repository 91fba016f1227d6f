"""Dagster resources: how assets reach the store, the embedder and WordPress.

Each resource carries its configuration as fields, so the Dagster UI's resource tab shows
what a run uses. `resources/configured.py` builds them all in one place from the project's
settings (their defaults and `PRESSRAG_*` overrides); what is secret or names a database is an
`EnvVar` instead, so the UI shows the variable's name only and the value is read where the
step runs (a run worker, a Celery worker on another machine). Heavy objects (the pool, the
model) are created once per process and shared.
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
from typing import Literal

import dagster as dg
from pydantic import Field, PrivateAttr

from pressrag.resources.database import APP_DATABASE_URL_ENV, app_database_url
from pressrag.resources.embedders import Embedder
from pressrag.resources.errors import ConfigError
from pressrag.resources.gateway.metering import MeteredEmbedder
from pressrag.resources.secrets import SecretStore
from pressrag.resources.settings import Settings
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

# The I/O manager key of shards and shard results (assets/indexing/shards.py).
STEP_OUTPUTS = "step_outputs"
OPENAI_API_KEY_ENV = "PRESSRAG_OPENAI_API_KEY"
HOME_ENV = "PRESSRAG_HOME"  # the secret store's folder (`resources/secrets.py`)
HOME_DESCRIPTION = "PRESSRAG_HOME: site keys and application passwords are in its secret store"


def export_resource_variables(settings: Settings) -> None:
    """Set the variables the resources' `EnvVar`s name from this process's settings, which
    may come from `.env` or defaults: PRESSRAG_HOME, the OpenAI key, and the database URL.

    Called where the code location loads — its server, every run worker and Celery worker —
    so a process without a database fails there, at start, with the line naming DATABASE_URL.
    """
    os.environ[HOME_ENV] = str(settings.resolved_home)
    if settings.openai_api_key is not None:
        os.environ.setdefault(OPENAI_API_KEY_ENV, settings.openai_api_key.get_secret_value())
    # Inherited from a local-mode parent, else DATABASE_URL; else the one line naming it.
    os.environ[APP_DATABASE_URL_ENV] = app_database_url(settings)


@cache
def _store(url: str) -> Store:
    return Store(url, max_size=4, checked=True)


@cache
def _local_embedder(
    backend: Literal["onnx", "torch"], threads: int, batch_size: int, cache_dir: str | None
) -> Embedder:
    """One local model per process and configuration (the arguments are the cache key)."""
    from pressrag.resources.embedders.local import LocalEmbedder

    return LocalEmbedder(
        batch_size=batch_size,
        threads=threads or os.cpu_count() or 1,
        backend=backend,
        cache_dir=Path(cache_dir) if cache_dir else None,
    )


@cache
def _openai_embedder(
    api_key: str,
    model: str,
    dimensions: int | None,
    base_url: str | None,
    timeout: float,
    max_retries: int,
    concurrency: int,
) -> Embedder:
    from pressrag.resources.embedders.openai import OpenAIEmbedder

    return OpenAIEmbedder(
        api_key=api_key,
        model=model,
        dimensions=dimensions,
        base_url=base_url,
        timeout=timeout,
        max_retries=max_retries,
        concurrent_calls=concurrency,
    )


class StoreResource(dg.ConfigurableResource):
    """The Postgres + pgvector store."""

    database_url: str = Field(
        default=dg.EnvVar(APP_DATABASE_URL_ENV),
        description="The application database. Set DATABASE_URL: the code location copies it "
        f"into {APP_DATABASE_URL_ENV}, where the local mode (`pressrag`) puts the embedded "
        "server's URL.",
    )

    def get(self) -> Store:
        return _store(self.database_url)


class PostgresIOManager(dg.ConfigurableIOManager):
    """Step outputs, pickled, in our PostgreSQL (`step_outputs`, migration 0013).

    Only small values go through it — an indexing stage's shards (ranges of document ids)
    and each shard's counts; documents never do. Dagster's default keeps outputs in files
    under DAGSTER_HOME, which Celery workers on different machines would have to share.
    """

    store: StoreResource

    def handle_output(self, context: dg.OutputContext, obj: object) -> None:
        key = "/".join(context.get_identifier())
        with self.store.get().connection() as conn:
            conn.execute(
                "INSERT INTO step_outputs (key, run_id, value) VALUES (%s, %s, %s) "
                "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, created_at = now()",
                (key, context.run_id, pickle.dumps(obj)),
            )

    def load_input(self, context: dg.InputContext) -> object:
        key = "/".join(context.upstream_output.get_identifier())
        with self.store.get().connection() as conn:
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
    """The index's embedder (PRESSRAG_EMBEDDER=local|openai), loaded once per process.

    With `preload`, loading the local model (~5 s of imports on a quiet machine) starts in a
    background thread when the run starts, so it overlaps fetching and extraction instead of
    delaying the embeddings step: webhook-to-searchable latency is mostly run start-up. The
    run ends only when that thread has stopped (see `ModelPreload`).
    """

    kind: Literal["local", "openai"] = "local"
    # The local model: how it runs (same vectors either way), threads (0 = every core: the
    # `embeddings` pool runs one embedding step at a time), texts per batch, the ONNX cache.
    backend: Literal["onnx", "torch"] = "onnx"
    threads: int = 0
    batch_size: int = 16
    model_cache_dir: str | None = None
    # An OpenAI-compatible endpoint; its key is an EnvVar, set only when `kind` is openai.
    openai_model: str = "text-embedding-3-small"
    openai_dimensions: int | None = None
    openai_base_url: str | None = None
    openai_api_key: str | None = None
    openai_timeout: float = 30.0
    openai_max_retries: int = 4
    openai_concurrency: int = Field(default=4, ge=1, description="requests in flight at once")
    preload: bool = True
    _preload: ModelPreload | None = PrivateAttr(default=None)

    @classmethod
    def from_settings(cls, settings: Settings, *, preload: bool = True) -> EmbedderResource:
        openai = settings.embedder == "openai"
        return cls(
            preload=preload,
            kind=settings.embedder,
            backend=settings.index_embed_backend,
            threads=settings.index_torch_threads,
            batch_size=settings.embed_batch_size,
            model_cache_dir=str(settings.model_cache_dir) if settings.model_cache_dir else None,
            openai_model=settings.openai_embed_model,
            openai_dimensions=settings.openai_embed_dimensions,
            openai_base_url=settings.openai_base_url,
            openai_api_key=dg.EnvVar(OPENAI_API_KEY_ENV) if openai else None,
            openai_timeout=settings.openai_timeout,
            openai_max_retries=settings.openai_max_retries,
            openai_concurrency=settings.openai_embed_concurrency,
        )

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        if self.preload:
            self._preload = ModelPreload(self.get())

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._preload is not None:
            self._preload.stop()
            self._preload = None

    def get(self) -> Embedder:
        if self.kind == "local":
            return _local_embedder(
                self.backend, self.threads, self.batch_size, self.model_cache_dir
            )
        if not self.openai_api_key:
            raise ConfigError(f"PRESSRAG_EMBEDDER=openai needs {OPENAI_API_KEY_ENV}")
        return _openai_embedder(
            self.openai_api_key,
            self.openai_model,
            self.openai_dimensions,
            self.openai_base_url,
            self.openai_timeout,
            self.openai_max_retries,
            self.openai_concurrency,
        )

    def local_onnx(self) -> Embedder:
        """The local model through ONNX Runtime, whatever `kind` and `backend` say: on short
        texts (sentences, queries) several times faster than PyTorch, and quick to load."""
        return _local_embedder("onnx", self.threads, self.batch_size, self.model_cache_dir)

    def for_site(self, site_id: str) -> MeteredEmbedder:
        """The embedder, each call of it counted in the usage ledger as one of `site_id`."""
        return MeteredEmbedder(self.get(), site_id)


class WordPressResource(dg.ConfigurableResource):
    """Opens the right source for a site: its REST API, or its WXR export file.

    A WXR source reports to the run's log (progress every few seconds, unreadable items) and
    records each complete read of the export with the site (`wxr_exports`).
    """

    store: StoreResource
    home: str = Field(default=dg.EnvVar(HOME_ENV), description=HOME_DESCRIPTION)
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
                on_read=partial(
                    _record_export_read, self.store.get(), self._log, site.id, site.wxr_path
                ),
                on_progress=partial(_log_read_progress, self._log, Path(site.wxr_path).name),
            )
        username = site.settings.get("wp_username")
        password = None
        key_id = site.settings.get("app_password_key_id")
        if key_id:
            password = SecretStore(Path(self.home)).get(key_id)
        return WordPressRestClient(
            site.base_url,
            post_types=site.post_types,
            username=username if password else None,
            app_password=password,
            timeout=self.timeout_seconds,
            max_retries=self.max_retries,
        )


def _record_export_read(
    store: Store, run_log: logging.Logger, site_id: str, path: str, report: WxrReadReport
) -> None:
    """Every complete read of an export is recorded: when, its hash, the unreadable items."""
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
