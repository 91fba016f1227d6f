"""`pressrag up` runs Dagster (webserver + daemon, with the inbox sensor and the nightly
schedule live) and the serving API, starts quietly, and SIGTERM stops all of them: no process
left, no port still listening."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import PressragEnv
from tests.support.dagster_daemon import ManagedProcess, free_port, group_alive, listening_ports

LOCATION = {
    "repositoryLocationName": "pressrag",
    "repositoryName": "__repository__",
}

_STATES = """
query($repo: RepositorySelector!) {
  sensorsOrError(repositorySelector: $repo) {
    ... on Sensors { results { name sensorState { status } } }
  }
  schedulesOrError(repositorySelector: $repo) {
    ... on Schedules { results { name scheduleState { status } } }
  }
}"""


class PressragUp(ManagedProcess):
    name = "pressrag-up"

    def __init__(self, dagster_port: int, serve_port: int) -> None:
        cli = Path(sys.executable).with_name("pressrag")
        super().__init__(
            [str(cli), "up", "--dagster-port", str(dagster_port), "--port", str(serve_port)]
        )


def _children_groups(pid: int) -> set[int]:
    """Process groups of the direct children of `pid` (each child runs in its own group)."""
    groups = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                groups.add(os.getpgid(int(entry.name)))
    return groups


def _sensor_daemon_beat_since(since: float) -> bool:
    """The sensor daemon has been through its loop (it heartbeats after each pass)."""
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        beat = instance.get_daemon_heartbeats().get("SENSOR")
    return beat is not None and beat.timestamp >= since


def _states(dagster_url: str) -> dict[str, str]:
    response = httpx.post(
        f"{dagster_url}/graphql",
        json={"query": _STATES, "variables": {"repo": LOCATION}},
        timeout=30,
    )
    data = response.json()["data"]
    found = {s["name"]: s["sensorState"]["status"] for s in data["sensorsOrError"]["results"]}
    found.update(
        {s["name"]: s["scheduleState"]["status"] for s in data["schedulesOrError"]["results"]}
    )
    return found


def test_up_serves_everything_and_stops_cleanly_on_sigterm(pressrag_env: PressragEnv) -> None:
    dagster_port, serve_port = free_port(), free_port()
    started = time.time()
    up = PressragUp(dagster_port, serve_port).start()
    groups: set[int] = set()
    try:
        dagster_url = f"http://127.0.0.1:{dagster_port}"
        up.wait_until(
            lambda: (
                httpx.get(f"{dagster_url}/server_info", timeout=2).status_code == 200
                and httpx.get(f"http://127.0.0.1:{serve_port}/healthz", timeout=2).status_code
                == 200
            ),
            timeout=180,
            what="Dagster webserver and serving API",
        )
        up.wait_until(
            lambda: _states(dagster_url).get("inbox_sensor") == "RUNNING",
            timeout=60,
            what="sensor state",
        )
        states = _states(dagster_url)
        for name in (
            "inbox_sensor",
            "inbox_batch_succeeded",
            "inbox_batch_failed",
            "nightly_reconcile",
        ):
            assert states.get(name) == "RUNNING", states
        groups = _children_groups(up.pid)
        assert len(groups) >= 2, "dagster and serving should each run in their own group"
        listening = {p for g in groups for p in listening_ports(g)}
        assert {dagster_port, serve_port} <= listening

        # A quiet start: our own lines, no warnings Dagster raises about our definitions
        # and no line per sensor tick (the sensor daemon has been through its loop by now).
        up.wait_until(
            lambda: _sensor_daemon_beat_since(started), timeout=120, what="a sensor daemon pass"
        )
        started_output = up.output(tail=200_000)
        assert "Dagster UI: http://127.0.0.1:" in started_output
        for noise in (
            "PreviewWarning",
            "BetaWarning",
            "Checking for new runs for sensor",
            "will not be used",
        ):
            assert noise not in started_output, started_output

        os.kill(up.pid, signal.SIGTERM)  # the parent only, as a service manager would
        code = up.proc.wait(timeout=60)
        assert code == 0, up.output()
        deadline = time.monotonic() + 10
        while any(group_alive(g) for g in groups) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [g for g in groups if group_alive(g)], "child processes outlived pressrag up"
        for port in (dagster_port, serve_port):
            with contextlib.suppress(httpx.TransportError):
                httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
                raise AssertionError(f"port {port} still answers after pressrag up stopped")
    finally:
        up.stop()
        for group in groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
