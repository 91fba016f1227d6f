"""The supervisor behind `pressrag up`, with real processes: a dead component is restarted
with back-off and logged; on SIGTERM every process group goes, SIGTERM-proof ones included."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

# Each component appends its pid to <dir>/<name>.pids when it starts.
_RECORD = "import os,sys; open(sys.argv[1],'a').write(f'{os.getpid()}\\n')"
_STEADY = _RECORD + "; import time; time.sleep(600)"
_FLAKY = _RECORD + "; import time; time.sleep(0.2); raise SystemExit(3)"
# Ignores SIGTERM, and so does the child it starts in its own process group.
_STUBBORN = (
    _RECORD
    + "; import signal,subprocess,time; signal.signal(signal.SIGTERM, signal.SIG_IGN)"
    + "; subprocess.Popen([sys.executable, '-c', "
    + "'import os,signal,sys,time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    + 'open(sys.argv[1],"a").write(f"{os.getpid()}\\\\n"); time.sleep(600)\', sys.argv[2]])'
    + "; time.sleep(600)"
)

# Ready 1.5 s after it starts: it writes its pid to argv[2].
_SLOW_TO_READY = (
    _RECORD
    + "; import time; time.sleep(1.5); open(sys.argv[2] + '.tmp','w').write(str(os.getpid()))"
    + "; os.replace(sys.argv[2] + '.tmp', sys.argv[2]); time.sleep(600)"
)
# Records when it started.
_TIMED = "import os,sys,time; open(sys.argv[1],'a').write(f'{os.getpid()} {time.time()}\\n')" + (
    "; time.sleep(600)"
)

_DRIVER = """
import json, logging, sys
from pathlib import Path
from pressrag.orchestration.supervisor import Component, StateFile, Supervisor
logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
spec = json.loads(sys.argv[1])
components = [Component(name, args, Path(spec["cwd"])) for name, args in spec["components"]]
by_name = {c.name: c for c in components}
for name, path in spec.get("ready_files", {}).items():  # ready once it wrote its own pid there
    component = by_name[name]
    component.ready = lambda c=component, p=Path(path): p.read_text() == str(c.proc.pid)
for name, needed in spec.get("needs", {}).items():
    by_name[name].needs = by_name[needed]
state = StateFile(Path(spec["state"])) if spec.get("state") else None
sys.exit(Supervisor(components, backoff_initial=0.2, backoff_max=0.8, stable_after=5,
                    grace_seconds=2, state=state).run())
"""


def _start_driver(
    folder: Path,
    components: list,
    log_name: str,
    state: Path | None = None,
    ignoring: tuple[int, ...] = (),
    **extra: dict,
):
    spec = json.dumps(
        {
            "cwd": str(folder),
            "components": components,
            "state": str(state) if state else None,
            **extra,
        }
    )
    log = (folder / log_name).open("wb")
    try:
        return subprocess.Popen(
            [sys.executable, "-c", _DRIVER, spec],
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # As a background shell starts it: these signals ignored (inherited through exec).
            preexec_fn=(lambda: [signal.signal(s, signal.SIG_IGN) for s in ignoring])
            if ignoring
            else None,
        )
    finally:
        log.close()


def _pids(path: Path) -> list[int]:
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def _wait(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} not within {timeout}s")


@pytest.fixture
def supervised(tmp_path: Path) -> Iterator[tuple[subprocess.Popen, Path]]:
    py = sys.executable
    components = [
        ("steady", [py, "-c", _STEADY, str(tmp_path / "steady.pids")]),
        ("flaky", [py, "-c", _FLAKY, str(tmp_path / "flaky.pids")]),
        (
            "stubborn",
            [
                py,
                "-c",
                _STUBBORN,
                str(tmp_path / "stubborn.pids"),
                str(tmp_path / "grandchild.pids"),
            ],
        ),
    ]
    driver = _start_driver(tmp_path, components, "supervisor.log")
    try:
        yield driver, tmp_path
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(driver.pid, signal.SIGKILL)
        for name in ("steady", "flaky", "stubborn", "grandchild"):
            for pid in _pids(tmp_path / f"{name}.pids"):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def test_dead_components_restart_with_backoff_and_sigterm_stops_everything(supervised) -> None:
    driver, folder = supervised
    log = folder / "supervisor.log"
    steady = _wait(lambda: _pids(folder / "steady.pids"), 30, "steady started")[0]
    grandchild = _wait(lambda: _pids(folder / "grandchild.pids"), 30, "grandchild started")[0]
    stubborn = _pids(folder / "stubborn.pids")[0]

    os.kill(steady, signal.SIGKILL)  # a crash
    restarted = _wait(lambda: _pids(folder / "steady.pids")[1:], 30, "steady restarted")[0]
    assert restarted != steady
    _wait(lambda: len(_pids(folder / "flaky.pids")) >= 5, 30, "flaky restarted four times")

    text = log.read_text()
    assert "steady killed by SIGKILL" in text and "restarting in 0.2 s (restart 1)" in text
    # Quick deaths in a row double the wait, up to the cap.
    delays = [
        float(d) for d in re.findall(r"flaky exited with code 3 .*?restarting in ([\d.]+) s", text)
    ]
    assert delays[:4] == [0.2, 0.4, 0.8, 0.8], text

    os.kill(driver.pid, signal.SIGTERM)  # the parent only, as a service manager would
    assert driver.wait(timeout=30) == 0
    text = log.read_text()
    assert "stubborn did not stop within 2 s of SIGTERM; killing its process group" in text
    assert "steady did not stop" not in text and "flaky did not stop" not in text, text
    # Its child (same process group) ignored SIGTERM too, and is gone with it.
    for pid in (restarted, stubborn, grandchild, *_pids(folder / "flaky.pids")):
        _wait(lambda pid=pid: not _alive(pid), 10, f"process {pid} gone")


# Records its pid (argv[1]), then writes the mask of the signals it ignores (/proc/self/status,
# SigIgn) to argv[2].
_IGNORED = (
    _RECORD
    + "; line = next(l for l in open('/proc/self/status') if l.startswith('SigIgn'))"
    + "; open(sys.argv[2] + '.tmp','w').write(line.split()[1])"
    + "; os.replace(sys.argv[2] + '.tmp', sys.argv[2]); import time; time.sleep(600)"
)


def test_components_do_not_inherit_ignored_stop_signals(tmp_path: Path) -> None:
    """Started from a shell that ignores SIGINT, SIGTERM and SIGHUP, the supervisor still
    gives its components the default actions (so they stop, and stop their children)."""
    stops = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    pids, mask_file = tmp_path / "probe.pids", tmp_path / "ignored.mask"
    components = [("probe", [sys.executable, "-c", _IGNORED, str(pids), str(mask_file)])]
    driver = _start_driver(tmp_path, components, "supervisor.log", ignoring=stops)
    try:
        mask = int(_wait(lambda: mask_file.exists() and mask_file.read_text(), 30, "mask"), 16)
        assert not [s.name for s in stops if mask & (1 << (s - 1))], hex(mask)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(driver.pid, signal.SIGKILL)
        for pid in _pids(pids):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_a_killed_supervisor_leaves_nothing_behind_for_the_next_one(tmp_path: Path) -> None:
    state = tmp_path / "run" / "up.json"
    steady = [("steady", [sys.executable, "-c", _STEADY, str(tmp_path / "steady.pids")])]
    first = _start_driver(tmp_path, steady, "first.log", state)
    drivers = [first]
    try:
        orphan = _wait(lambda: _pids(tmp_path / "steady.pids"), 30, "steady started")[0]
        _wait(state.exists, 10, "state file written")

        second = _start_driver(tmp_path, steady, "second.log", state)
        drivers.append(second)
        assert second.wait(timeout=30) != 0
        assert f"already running (pid {first.pid})" in (tmp_path / "second.log").read_text()

        os.kill(first.pid, signal.SIGKILL)  # its components live on in their own sessions
        first.wait()
        assert _alive(orphan)

        third = _start_driver(tmp_path, steady, "third.log", state)
        drivers.append(third)
        _wait(lambda: len(_pids(tmp_path / "steady.pids")) == 2, 30, "steady started again")
        assert not _alive(orphan)
        assert (
            "left running by a supervisor that did not exit" in (tmp_path / "third.log").read_text()
        )
        os.kill(third.pid, signal.SIGTERM)
        assert third.wait(timeout=30) == 0
        assert not state.exists()
    finally:
        for driver in drivers:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(driver.pid, signal.SIGKILL)
        for pid in _pids(tmp_path / "steady.pids"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_a_dependent_waits_for_what_it_needs_to_be_ready(tmp_path: Path) -> None:
    py, ready = sys.executable, tmp_path / "base.ready"
    components = [
        ("base", [py, "-c", _SLOW_TO_READY, str(tmp_path / "base.pids"), str(ready)]),
        ("dependent", [py, "-c", _TIMED, str(tmp_path / "dependent.starts")]),
    ]
    driver = _start_driver(
        tmp_path,
        components,
        "supervisor.log",
        ready_files={"base": str(ready)},
        needs={"dependent": "base"},
    )

    def starts() -> list[tuple[int, float]]:
        path = tmp_path / "dependent.starts"
        lines = path.read_text().split("\n") if path.exists() else []
        return [(int(p), float(t)) for p, t in (line.split() for line in lines if line)]

    try:
        first = _wait(starts, 30, "dependent started")[0]
        assert first[1] >= ready.stat().st_mtime  # its first start waited for base
        base = _pids(tmp_path / "base.pids")[0]
        os.kill(base, signal.SIGKILL)  # both die at once
        os.kill(first[0], signal.SIGKILL)
        second = _wait(lambda: starts()[1:], 30, "dependent restarted")[0]
        restarted_base = _pids(tmp_path / "base.pids")[1]
        assert ready.read_text() == str(restarted_base)
        # Restarted only once the new base was ready, not after its own 0.2 s back-off.
        assert second[1] >= ready.stat().st_mtime
        os.kill(driver.pid, signal.SIGTERM)
        assert driver.wait(timeout=30) == 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(driver.pid, signal.SIGKILL)
        for pid in [*_pids(tmp_path / "base.pids"), *(p for p, _ in starts())]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


# On SIGTERM, waits argv[2] seconds, then records when it stopped.
_RECORDS_STOP = (
    _RECORD
    + "; import signal,time"
    + "; signal.signal(signal.SIGTERM, lambda *_: (time.sleep(float(sys.argv[2])),"
    + " open(sys.argv[1] + '.stop','w').write(str(time.time())), sys.exit(0)))"
    + "; time.sleep(600)"
)


def test_dependents_stop_before_what_they_need(tmp_path: Path) -> None:
    """The daemon and the webserver stop before the code server: stopped together, a daemon
    dequeuing a run while the code server went away logged a launch failure."""
    py = sys.executable
    components = [
        ("base", [py, "-c", _RECORDS_STOP, str(tmp_path / "base.pids"), "0"]),
        # Slow to stop: stopped together with base, base would be gone first.
        ("dependent", [py, "-c", _RECORDS_STOP, str(tmp_path / "dependent.pids"), "0.5"]),
    ]
    driver = _start_driver(tmp_path, components, "supervisor.log", needs={"dependent": "base"})
    try:
        for name in ("base", "dependent"):
            _wait(lambda name=name: _pids(tmp_path / f"{name}.pids"), 30, f"{name} started")
        os.kill(driver.pid, signal.SIGTERM)
        assert driver.wait(timeout=30) == 0
        stopped = {
            name: float((tmp_path / f"{name}.pids.stop").read_text())
            for name in ("base", "dependent")
        }
        assert stopped["dependent"] <= stopped["base"], stopped
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(driver.pid, signal.SIGKILL)
        for pid in [*_pids(tmp_path / "base.pids"), *_pids(tmp_path / "dependent.pids")]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
