"""Keep a set of child processes running: restart the one that dies, stop them all on request.

Each child runs in its own process group (a session of its own), with SIGINT, SIGTERM and
SIGHUP at their defaults: a background shell starts children with SIGINT ignored, and
Dagster's processes then never stop their own children. `run()` catches those signals before
it starts anything, and a caught signal is reset to its default by `exec`, so no code runs in
the child between fork and exec (a `preexec_fn` makes subprocess fork instead of vfork, and
gRPC's fork handlers — the supervisor asks the code server whether it is ready over gRPC —
can then hang the fork; once, a supervisor never restarted anything again). A group is the
unit of every kill, so a component's own children (a code server's run workers) go with it.

- A child that exits is logged; what is left of its group is killed, and it is started
  again after a back-off that doubles from `backoff_initial` to `backoff_max` with each
  consecutive quick death and resets once a child has stayed up for `stable_after` seconds.
- On SIGINT, SIGTERM or SIGHUP (a closed terminal) every group gets SIGTERM; a group still
  alive after `grace_seconds` (Dagster's gRPC server waits for its runs; some children ignore
  SIGTERM) gets SIGKILL. `run()` returns 0 when it was asked to stop.
- A state file records the supervisor and each component's leader (pid and start time). A
  second supervisor on the same file refuses to start while the first lives, and kills the
  groups a SIGKILLed one left behind (children run in their own sessions, so they outlive it).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pressrag.orchestration.processes import boot_id, group_alive, process_start_ticks, signal_group
from pressrag.resources.errors import ConfigError

log = logging.getLogger("pressrag.up")

POLL_SECONDS = 0.5
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _identity(pid: int) -> dict[str, int | None]:
    return {"pid": pid, "start": process_start_ticks(pid)}


def _is_alive(identity: dict) -> bool:
    return (
        identity.get("start") is not None
        and process_start_ticks(identity["pid"]) == identity["start"]
    )


@dataclass
class StateFile:
    """Who is running, for the next supervisor to find (see the module docstring)."""

    path: Path

    def take_over(self) -> None:
        try:
            previous = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return
        if previous.get("boot") != boot_id():
            return  # from before a reboot: its pids mean nothing now
        if _is_alive(previous.get("supervisor", {})):
            raise ConfigError(
                f"already running (pid {previous['supervisor']['pid']}); stop that one first"
            )
        for name, leader in previous.get("components", {}).items():
            if _is_alive(leader):
                log.warning(
                    "stopping %s (pid %d) left running by a supervisor that did not exit",
                    name,
                    leader["pid"],
                )
                signal_group(leader["pid"], signal.SIGKILL)
                deadline = time.monotonic() + 10
                while group_alive(leader["pid"]) and time.monotonic() < deadline:
                    time.sleep(0.1)  # its ports are free once it is gone

    def save(self, components: list[Component]) -> None:
        state = {
            "boot": boot_id(),
            "supervisor": _identity(os.getpid()),
            "components": {c.name: _identity(c.pgid) for c in components if c.pgid is not None},
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(state))
        temporary.replace(self.path)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


@dataclass
class Component:
    """One supervised command. When `ready` is given, the first start of the components that
    follow it waits (up to `ready_timeout` seconds) until it returns True; a component that
    `needs` another is restarted only once that one is ready again."""

    name: str
    args: list[str]
    cwd: Path
    env: dict[str, str] | None = None
    ready: Callable[[], bool] | None = None
    ready_timeout: float = 180.0
    needs: Component | None = None
    proc: subprocess.Popen | None = field(default=None, repr=False)
    started_at: float = 0.0
    restarts: int = 0
    quick_deaths: int = 0
    restart_at: float | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.args,
            cwd=self.cwd,
            env=self.env if self.env is not None else os.environ.copy(),
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.started_at = time.monotonic()
        self.restart_at = None
        log.info("%s started (pid %d): %s", self.name, self.proc.pid, " ".join(self.args))

    @property
    def pgid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None


@dataclass
class Supervisor:
    components: list[Component]
    backoff_initial: float = 1.0
    backoff_max: float = 30.0
    stable_after: float = 60.0
    grace_seconds: float = 15.0
    state: StateFile | None = None
    _stop_signal: int | None = None

    def run(self, on_started: Callable[[], None] | None = None) -> int:
        if self.state is not None:
            self.state.take_over()
        previous = {s: signal.signal(s, self._on_signal) for s in STOP_SIGNALS}
        try:
            for component in self.components:
                if self._stop_signal is None:
                    self._start(component)
                    self._wait_ready(component)
            if on_started is not None and self._stop_signal is None:
                on_started()
            while self._stop_signal is None:
                self._tick()
                time.sleep(POLL_SECONDS)
            log.info("received %s; stopping", signal.Signals(self._stop_signal).name)
            return 0
        finally:
            self.stop_all()
            if self.state is not None:
                self.state.remove()
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _start(self, component: Component) -> None:
        component.start()
        if self.state is not None:
            self.state.save(self.components)

    def _wait_ready(self, component: Component) -> None:
        if component.ready is None:
            return
        deadline = time.monotonic() + component.ready_timeout
        while self._stop_signal is None and time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                if component.ready():
                    log.info(
                        "%s ready after %.1f s",
                        component.name,
                        time.monotonic() - component.started_at,
                    )
                    return
            self._tick()
            time.sleep(POLL_SECONDS)
        if self._stop_signal is None:
            log.warning(
                "%s not ready after %.0f s; starting the rest anyway",
                component.name,
                component.ready_timeout,
            )

    @staticmethod
    def _needs_ready(component: Component) -> bool:
        needed = component.needs
        if needed is None or needed.ready is None:
            return True
        if needed.restart_at is not None:
            return False
        try:
            return bool(needed.ready())
        except Exception:
            return False

    def _on_signal(self, signum: int, _frame: object) -> None:
        self._stop_signal = signum

    def _tick(self) -> None:
        now = time.monotonic()
        for component in self.components:
            if component.restart_at is not None:
                if now >= component.restart_at and self._needs_ready(component):
                    component.restarts += 1
                    self._start(component)
                continue
            code = component.proc.poll() if component.proc is not None else None
            if code is not None:
                self._schedule_restart(component, code, now)

    def _schedule_restart(self, component: Component, code: int, now: float) -> None:
        # The leader is gone; whatever it started (run workers, its own children) goes too.
        signal_group(component.pgid, signal.SIGKILL)
        uptime = now - component.started_at
        component.quick_deaths = 0 if uptime >= self.stable_after else component.quick_deaths + 1
        delay = min(
            self.backoff_max, self.backoff_initial * 2 ** max(0, component.quick_deaths - 1)
        )
        how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
        log.warning(
            "%s %s after %.1f s; restarting in %.1f s (restart %d)",
            component.name,
            how,
            uptime,
            delay,
            component.restarts + 1,
        )
        component.restart_at = now + delay

    def stop_all(self) -> None:
        """Stop the components that need another first (the daemon and the webserver before
        the code server): a daemon outliving its code server logs launch errors for runs it
        was dequeuing while the server went away."""
        running = [c for c in self.components if c.proc is not None]
        dependents = [c for c in running if c.needs is not None]
        self._stop(dependents)
        self._stop([c for c in running if c not in dependents])
        log.info("all components stopped")

    def _stop(self, components: list[Component]) -> None:
        for component in components:
            signal_group(component.pgid, signal.SIGTERM)
        deadline = time.monotonic() + self.grace_seconds
        alive = components
        while alive and time.monotonic() < deadline:
            time.sleep(0.1)
            for component in alive:
                component.proc.poll()  # reap the leader, or its zombie keeps the group "alive"
            alive = [c for c in alive if group_alive(c.pgid)]
        for component in alive:
            log.warning(
                "%s did not stop within %.0f s of SIGTERM; killing its process group",
                component.name,
                self.grace_seconds,
            )
            signal_group(component.pgid, signal.SIGKILL)
        for component in components:
            component.proc.wait()
