"""What the three stacks' worker processes share: the command loop, the clock, the counts.

Each stack runs in its own long-lived process (PressRAG in the project's virtualenv, the
peers in theirs), so the parent can alternate them phase by phase. The parent sends one JSON
command a line on stdin; the worker answers one JSON line on the stdout it had at start
(libraries' own prints are sent to stderr, the worker's log). Standard library only.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from typing import Any


def cpu_seconds() -> float:
    """User + system CPU of this process and of the children it has reaped."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


@contextmanager
def clock(out: dict[str, float], prefix: str = ""):  # type: ignore[no-untyped-def]
    """Puts the block's wall and CPU seconds in `out` as `<prefix>wall` / `<prefix>cpu`."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    try:
        yield
    finally:
        out[f"{prefix}wall"] = time.perf_counter() - wall
        out[f"{prefix}cpu"] = cpu_seconds() - cpu


class Recorder:
    """Wraps a model's batch-encode function and keeps every text it was given, so a phase
    reports exactly what the stack embedded and the baseline embeds those same texts."""

    def __init__(self, encode: Callable[..., Any]) -> None:
        self.original = encode
        self.texts: list[str] = []

    def __call__(self, texts: Any, *args: Any, **kwargs: Any) -> Any:
        self.texts.extend([texts] if isinstance(texts, str) else list(texts))
        return self.original(texts, *args, **kwargs)

    def take(self) -> list[str]:
        texts, self.texts = self.texts, []
        return texts


def changed_chunks(old: Iterable[str], new: Iterable[str]) -> int:
    """Chunks of the new version whose text the old version did not have (as a multiset):
    what an ideal pipeline must re-embed after an edit."""
    return sum((Counter(new) - Counter(old)).values())


def stale_chunks(stored: dict[str, int], current: dict[str, int], deleted: Iterable[str]) -> int:
    """Rows still stored that the current corpus does not have: every row of a deleted page,
    and the rows of an edited page beyond its current chunk count."""
    left = sum(stored.get(page, 0) for page in deleted)
    return left + sum(max(0, stored.get(page, 0) - n) for page, n in current.items())


def timings(samples_ms: list[float]) -> dict[str, float]:
    """p50 and p95 (nearest rank) of a list of milliseconds."""
    ordered = sorted(samples_ms)
    p95 = ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]
    return {"p50": statistics.median(ordered), "p95": p95}


def time_each(fn: Callable[[Any], Any], items: Iterable[Any]) -> list[float]:
    out = []
    for item in items:
        t0 = time.perf_counter()
        fn(item)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def serve(handlers: dict[str, Callable[[dict], dict]]) -> None:
    """The worker loop: one command in, one answer out, until stdin closes. A failing
    command answers {"error": traceback} and the loop goes on (the parent decides)."""
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    for line in sys.stdin:
        message = json.loads(line)
        try:
            answer = handlers[message["cmd"]](message)
        except Exception:
            answer = {"error": traceback.format_exc()}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()
