"""Run workers forked from a preloaded process instead of started as new interpreters.

A code server starts each run's worker with multiprocessing's `spawn`: a new Python that
imports Dagster and this code location again before the run's first step, ~3–4 s of CPU and
~2–3 s of a webhook's wait, for every run (measured: a run of a handful of documents cost
4–8 s of CPU in all). With the `forkserver` start method, one process per code server imports
the code location once (its `preload`) and every run worker is forked from it, already
loaded. The forkserver holds no connection and runs no thread but OpenBLAS's (numpy's,
which re-creates its pool in a forked child), so forking it is safe, unlike forking the code
server itself, which runs gRPC threads.

Dagster's code server has no setting for its start method (`DagsterApiServer` takes the
`spawn` context), so the code server's `spawn` context is told to make forkserver processes:
its queue and event are the same named semaphores and pipes either way. Only a code server
process (`dagster api grpc`) is changed; `PRESSRAG_RUN_WORKER_START=spawn` keeps Dagster's own
behaviour. The fault suite (tests/faults, scenario a) checks that a run worker's parent is
the code server's forkserver, so a Dagster upgrade that changes how runs start is noticed.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import sys

# What each run worker needs loaded: the code location (and with it Dagster), and what opening
# the instance imports (dagster.yaml's storage and run launcher: ~1.3 s of CPU more). Not
# ONNX Runtime: importing it starts a thread, which a fork would not carry.
PRELOAD = [
    "pressrag.orchestration.definitions",
    "pressrag.orchestration.storage",
    "pressrag.orchestration.run_launcher",
    "dagster._core.storage.legacy_storage",
    "dagster._grpc.impl",
]


def in_code_server() -> bool:
    """Whether this process is a Dagster code server (`dagster api grpc`, also the child of
    `dagster code-server start`)."""
    return sys.argv[1:3] == ["api", "grpc"]


def fork_run_workers() -> None:
    """Make this code server's run workers forkserver children (see the module docstring)."""
    forkserver = multiprocessing.get_context("forkserver")
    forkserver.set_forkserver_preload(PRELOAD)
    # An attribute of the spawn context object, which is the one DagsterApiServer holds.
    multiprocessing.get_context("spawn").Process = forkserver.Process  # type: ignore[attr-defined]
    # Started now, so the first run does not wait for its imports.
    multiprocessing.forkserver.ensure_running()
