"""One thread per serving process keeps the answer cache to its bound (every replica runs it;
the deletes are idempotent) and publishes its size as a metric."""

from __future__ import annotations

import logging
import threading

from pressrag.resources.gateway import answer_cache
from pressrag.resources.store import Store
from pressrag.serving.metrics import Metrics
from pressrag.serving.settings import ServingSettings

log = logging.getLogger("serving.housekeeping")


class Housekeeper:
    def __init__(self, settings: ServingSettings, store: Store, metrics: Metrics) -> None:
        self.settings = settings
        self.store = store
        self.metrics = metrics
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="housekeeping", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.settings.housekeeping_seconds):
            try:
                self.run_once()
            except Exception as exc:  # the database may be down: try again next time
                log.warning("housekeeping failed (%s)", type(exc).__name__)

    def run_once(self) -> int:
        with self.store.connection() as conn:
            pruned = answer_cache.prune(
                conn,
                max_entries=self.settings.answer_cache_max_entries,
                ttl_seconds=self.settings.answer_cache_ttl_seconds,
            )
            self.metrics.answer_cache_entries.set(answer_cache.size(conn))
        return pruned
