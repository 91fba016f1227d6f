"""A pytest plugin: at the end of a run, each test file's total time (set-up, call and
tear-down of its tests), longest first.

With `--dist loadfile` a file runs on one worker from start to end, so the longest files
bound the whole run; CI's time budget is kept by looking here first.
"""

from __future__ import annotations

from collections import defaultdict

import pytest

SHOWN = 15
_seconds: defaultdict[str, float] = defaultdict(float)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _seconds[report.nodeid.split("::", 1)[0]] += report.duration


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _seconds:
        return
    total = sum(_seconds.values())
    terminalreporter.section(f"test files by time ({total:.0f} s in all)")
    for path, seconds in sorted(_seconds.items(), key=lambda item: -item[1])[:SHOWN]:
        terminalreporter.write_line(f"{seconds:8.1f} s  {path}")
