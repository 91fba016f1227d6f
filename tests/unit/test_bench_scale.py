"""bench/scale.py's accounting: SQL time as wall time, and the CPU of worker processes."""

from __future__ import annotations

import multiprocessing
import os
import time

from bench.scale import SqlClock, descendants_cpu


def test_sql_waits_of_several_connections_count_once() -> None:
    clock = SqlClock()
    clock.calls += [(10.0, 2.0), (11.0, 2.0), (11.5, 0.5), (20.0, 1.0), (30.0, 5.0)]
    # 10–13 (three overlapping waits) and 20–21; the call at 30 is outside the window.
    assert clock.within(10.0, 25.0) == (4.0, 4)
    assert clock.within(0.0, 5.0) == (0.0, 0)


def _spin(seconds: float, done: multiprocessing.synchronize.Event) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass
    done.set()
    time.sleep(30)  # alive, and not reaped, when its CPU is read


def test_the_cpu_of_a_live_worker_process_is_counted() -> None:
    context = multiprocessing.get_context("forkserver")
    done = context.Event()
    worker = context.Process(target=_spin, args=(0.5, done), daemon=True)
    before = descendants_cpu(os.getpid(), set())
    worker.start()
    try:
        assert done.wait(30)
        spent = descendants_cpu(os.getpid(), set()) - before
        assert spent >= 0.4
        left_out = descendants_cpu(os.getpid(), {worker.pid}) - before
        assert spent - left_out >= 0.4
    finally:
        worker.kill()
        worker.join()
