"""Process identity and process groups (Linux `/proc`), for the supervisor and the run check.

A pid alone names a process only until it is reused; a pid with the process's start time
(clock ticks since boot) names exactly one process of this boot.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def process_start_ticks(pid: int) -> int | None:
    """Start time of a process in clock ticks since boot, or None when it does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])  # field 22 of proc(5)


def boot_id() -> str | None:
    with contextlib.suppress(OSError):
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    return None


def group_alive(pgid: int) -> bool:
    """Whether any process of the group still exists (zombies included until reaped)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)
