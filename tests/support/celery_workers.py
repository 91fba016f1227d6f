"""`pressrag celery-worker` processes for tests and bench/scale.py: started together, each in
a session of its own (so the worker and its pool processes are stopped together), ready when
Celery says so."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def celery_workers(
    names: tuple[str, ...], env: dict[str, str], logs: Path
) -> Iterator[dict[str, int]]:
    """`pressrag celery-worker` processes (one pool process each), started together and
    ready to take steps; their pids by name."""
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name in names:
            cli = [sys.executable, "-m", "pressrag.orchestration.cli"]
            with (logs / f"{name}.log").open("wb") as log:
                processes[name] = subprocess.Popen(
                    [*cli, "celery-worker", "--name", f"{name}@%h"],
                    env=env,
                    cwd=REPO_ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        deadline = time.monotonic() + 90
        for name, process in processes.items():
            log_path = logs / f"{name}.log"
            while b" ready." not in log_path.read_bytes():
                tail = log_path.read_text(errors="replace")[-3000:]
                assert process.poll() is None and time.monotonic() < deadline, tail
                time.sleep(0.2)
        yield {name: p.pid for name, p in processes.items()}
    finally:
        for process in processes.values():
            os.killpg(process.pid, signal.SIGTERM)  # its own session: worker and pool
        for process in processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
