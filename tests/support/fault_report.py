"""The fault suite's table: one row per scenario, printed at the end of the session and
written to `test-output/fault-suite.txt` (a file per pytest-xdist worker when parallel)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPORT_DIR = Path(__file__).resolve().parents[2] / "test-output"
_ROWS: list[ScenarioRow] = []
HEADER = ("scenario", "sent", "accepted", "applied", "lost", "recovered in", "note")


@dataclass(frozen=True)
class ScenarioRow:
    scenario: str
    sent: int
    accepted: int
    applied: int
    lost: int
    recover_seconds: float
    note: str = ""

    def cells(self) -> tuple[str, ...]:
        return (
            self.scenario,
            str(self.sent),
            str(self.accepted),
            str(self.applied),
            str(self.lost),
            f"{self.recover_seconds:.0f} s",
            self.note,
        )


def record_row(row: ScenarioRow) -> None:
    _ROWS.append(row)
    report_path().parent.mkdir(parents=True, exist_ok=True)
    report_path().write_text(format_table(_ROWS) + "\n")


def rows() -> list[ScenarioRow]:
    return list(_ROWS)


def report_path() -> Path:
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    return REPORT_DIR / (f"fault-suite-{worker}.txt" if worker else "fault-suite.txt")


def format_table(table: list[ScenarioRow]) -> str:
    lines = [HEADER, *(r.cells() for r in table)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER) - 1)]
    out = []
    for line in lines:
        cells = [c.ljust(w) for c, w in zip(line, widths, strict=False)]
        out.append("  ".join([*cells, line[-1]]).rstrip())
    out.insert(1, "-" * len(out[0]))
    return "\n".join(out)
