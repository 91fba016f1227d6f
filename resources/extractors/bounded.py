"""Media extraction in a child process, within a wall-time and a memory limit.

Parsers of PDF, DOCX and PPTX run on files anyone with upload rights can craft: a small DOCX
can inflate to gigabytes, a PDF can keep a parser busy for minutes. `BoundedExtractor` runs
`extract_media` in one long-lived worker process (a `pebble.ProcessPool` of one):

- started on first use, so a run with no media pays nothing; it loads the parsers the run's
  files need before taking any (so a file's time limit measures its parsing), and is reused
  across files, so the parsers load once per run, not once per file;
- started through the **forkserver**, never forked from the run worker, which holds torch's
  threads and database connections;
- limited by `RLIMIT_AS` (set in the worker before any file is read), by a wall-time limit
  per file (the pool kills the worker and starts a fresh one), and by the ZIP checks of
  `extract_media`;
- replaced after `files_per_worker` files, so slow leaks stay bounded.

Every exceeded bound comes back as `ExtractionLimitExceeded`, a failure of that one file.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import resource
import signal
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field

import pebble

from pressrag.resources.extractors.media import (
    MIB,
    ExtractionLimitExceeded,
    ZipLimits,
    extract_media,
    warm_up,
)
from pressrag.resources.settings import Settings


@dataclass(frozen=True)
class ExtractionLimits:
    seconds: float = 120.0
    memory_bytes: int = 2048 * MIB  # 0: no memory limit
    zip: ZipLimits = field(default_factory=ZipLimits)
    files_per_worker: int = 200

    @classmethod
    def from_settings(cls, settings: Settings) -> ExtractionLimits:
        return cls(
            seconds=settings.extract_timeout_seconds,
            memory_bytes=settings.extract_memory_mb * MIB,
            zip=ZipLimits(
                max_bytes=settings.extract_zip_max_mb * MIB,
                max_ratio=settings.extract_zip_max_ratio,
            ),
            files_per_worker=settings.extract_files_per_worker,
        )


class BoundedExtractor:
    """`extract(data, mime_type, filename)` in a bounded child; use as a context manager.

    `kinds` (pdf, docx, ...) are the parsers to load in the worker before its first file.
    """

    def __init__(self, limits: ExtractionLimits, kinds: frozenset[str] = frozenset()) -> None:
        self.limits = limits
        self.kinds = kinds
        self._pool: pebble.ProcessPool | None = None

    def start(self) -> None:
        """Start the worker now, so it loads its parsers while the caller does other work."""
        self._workers().schedule(_started)

    def extract(self, data: bytes, mime_type: str | None, filename: str) -> str:
        future = self._workers().schedule(
            _extract_in_worker,
            args=(data, mime_type, filename, self.limits),
            timeout=self.limits.seconds,
        )
        try:
            return future.result()
        except FutureTimeout:
            raise ExtractionLimitExceeded(
                f"{filename}: extraction stopped after {self.limits.seconds:g} s (wall-time limit)"
            ) from None
        except pebble.ProcessExpired as exc:
            raise ExtractionLimitExceeded(
                f"{filename}: the extraction process died ({_exit_reason(exc.exitcode)}; "
                f"memory limit {_memory_label(self.limits.memory_bytes)})"
            ) from None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.stop()
            self._pool.join()
            self._pool = None

    def __enter__(self) -> BoundedExtractor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _workers(self) -> pebble.ProcessPool:
        if self._pool is None:
            self._pool = pebble.ProcessPool(
                max_workers=1,
                max_tasks=self.limits.files_per_worker,
                initializer=_prepare_worker,
                initargs=(self.kinds, self.limits.memory_bytes),
                context=multiprocessing.get_context("forkserver"),
            )
        return self._pool


def _started() -> None:
    """A first task: makes the pool start its worker (and run `_prepare_worker`)."""


def _prepare_worker(kinds: frozenset[str], memory_bytes: int) -> None:
    """Runs in each new worker before any file (pebble starts a task's clock after it): load
    the parsers, then cap the address space."""
    # An initializer that raises would make the pool restart the worker forever; the same
    # error comes back with the first file instead, recorded on its document.
    with contextlib.suppress(Exception):
        warm_up(kinds)
    if memory_bytes > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))


def _extract_in_worker(
    data: bytes, mime_type: str | None, filename: str, limits: ExtractionLimits
) -> str:
    try:
        return extract_media(data, mime_type, filename, limits.zip)
    except MemoryError:
        raise ExtractionLimitExceeded(
            f"{filename}: extraction exceeded the memory limit "
            f"({_memory_label(limits.memory_bytes)} of address space)"
        ) from None


def _memory_label(memory_bytes: int) -> str:
    return f"{memory_bytes // MIB} MiB" if memory_bytes else "none"


def _exit_reason(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"signal {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"signal {-exitcode}"
    return f"exit code {exitcode}"
