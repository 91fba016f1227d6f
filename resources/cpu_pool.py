"""A large indexing stage's pure-Python work, spread over the machine's cores.

Turning post HTML into text and chunking text are pure Python: in the step's own process
they use one core while the other waits (bench/scale.py, 5,000 documents: ~12 s of a ~55 s
run). `map_each` hands such per-document work to worker processes instead and gives the
results back in order, so the step saves each group while the workers go on with the next.

- Workers are started through the **forkserver**, never forked from a run worker, which
  holds threads and database connections. They are started on first use and kept for the
  process's life, so a run of ten shards pays their start (~0.2 s) once.
- A stage of fewer than `MIN_ITEMS` documents and `MIN_CHARACTERS` of input (a webhook's
  run) stays in its own process: starting workers would cost more than their share of the
  work. The characters count because documents differ: 100 pages of the Python reference
  (6.1 M characters of HTML) are ~3.4 s of HTML → text, the ×5 sample's 190 posts (0.66 M)
  under a second.
- What `fn` raises for one item comes back as `Failed(error)` for that item, so the caller
  records it on its document as it would in process.
- A worker that dies (killed, out of memory) breaks the pool: the items not yet returned are
  done in process, and the next stage starts new workers. Workers end with the process
  that started them, also when it is killed.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import multiprocessing.util
import os
import pickle
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:  # workers import this module: not pydantic's ~0.4 s
    from pressrag.resources.settings import Settings

T = TypeVar("T")
R = TypeVar("R")

# Below this many items the work stays in process (bench/scale.py's post HTML: ~0.6 ms a
# document, so 200 are ~0.12 s of work; the workers' start is ~0.2 s)...
MIN_ITEMS = 200
# ...unless the items are this many characters: 40 pages of the Python reference (3.1 M of
# HTML) were 2.9 → 2.0 s of HTML → text on two workers; the ×5 sample's 0.66 M broke even.
MIN_CHARACTERS = 1_000_000
# Items sent to a worker at once: fewer round trips, and still many tasks per worker.
ITEMS_PER_TASK = 16


@dataclass(frozen=True)
class Failed:
    """What `fn` raised for one item (sent back instead of ending the map)."""

    error: Exception


def processes_for(settings: Settings) -> int:
    """Worker processes for a large stage: `PRESSRAG_INDEX_PROCESSES`, or with 0 the cores this
    process may use."""
    return settings.index_processes or len(os.sched_getaffinity(0))


def map_each(
    fn: Callable[[T], R], items: Sequence[T], *, processes: int, characters: int = 0
) -> Outcomes[R]:
    """`fn(item)` for each item, in order: on `processes` workers when there are enough items
    or `characters` of input in them (and `fn` can be sent to them), else here. An item whose
    call raised gives `Failed`."""
    return Outcomes(fn, items, processes, characters)


class Outcomes(Iterator[R | Failed], Generic[R]):
    """`map_each`'s results as they come; `on_workers` counts those a worker made (all of
    them, or fewer when a worker died and the rest were done here)."""

    def __init__(
        self, fn: Callable[[T], R], items: Sequence[T], processes: int, characters: int
    ) -> None:
        self.on_workers = 0
        enough = len(items) >= MIN_ITEMS or (len(items) >= 2 and characters >= MIN_CHARACTERS)
        use_workers = processes >= 2 and enough and _sendable(fn)
        self._outcomes = (
            self._from_workers(fn, items, processes)
            if use_workers
            else (_outcome(fn, item) for item in items)
        )

    def __next__(self) -> R | Failed:
        return next(self._outcomes)

    def _from_workers(
        self, fn: Callable[[T], R], items: Sequence[T], processes: int
    ) -> Iterator[R | Failed]:
        pool = _workers.get(processes)
        try:
            # Fewer items a task when there are few: each worker then gets several tasks, and
            # neither waits long on the other's last one.
            per_task = max(1, min(ITEMS_PER_TASK, len(items) // (4 * processes)))
            for outcome in pool.map(partial(_outcome, fn), items, chunksize=per_task):
                self.on_workers += 1
                yield outcome
        except BrokenProcessPool:
            _workers.forget(pool)
            yield from (_outcome(fn, item) for item in items[self.on_workers :])


def _outcome(fn: Callable[[T], R], item: T) -> R | Failed:
    try:
        return fn(item)
    except Exception as exc:
        return Failed(exc if _sendable(exc) else RuntimeError(f"{type(exc).__name__}: {exc}"))


def _sendable(value: object) -> bool:
    """Whether `value` pickles (a worker could receive it, or send it back)."""
    try:
        pickle.dumps(value)
    except Exception:
        return False
    return True


class _Workers:
    """The process's one pool, started on first use and replaced when it breaks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._size = 0

    def get(self, processes: int) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None or self._size != processes:
                if self._pool is not None:
                    self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = ProcessPoolExecutor(
                    processes,
                    mp_context=multiprocessing.get_context("forkserver"),
                    initializer=_exit_with_parent,
                )
                # A run worker is itself a multiprocessing child: at its end multiprocessing
                # joins its children *before* the threading shutdown that stops executors, and
                # waited on these workers forever. Its exit finalizers run first, highest
                # priority first: above the queues' own (10), whose feeder threads must still
                # carry the workers' stop signals.
                multiprocessing.util.Finalize(self._pool, self._pool.shutdown, exitpriority=100)
                self._size = processes
            return self._pool

    def forget(self, pool: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        pool.shutdown(wait=False, cancel_futures=True)


def _exit_with_parent() -> None:
    """In each worker: end when the process that started it dies (a run worker killed
    mid-step), instead of waiting forever for work that will not come."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


_workers = _Workers()
