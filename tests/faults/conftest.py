"""Print the fault suite's table after the test summary (see tests/support/fault_report.py)."""

from __future__ import annotations

import pytest

from tests.support.fault_report import format_table, report_path, rows


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    table = rows()
    if table:
        terminalreporter.write_sep("=", "fault suite")
        terminalreporter.write_line(format_table(table))
        terminalreporter.write_line(f"(written to {report_path()})")
