"""`pressrag up` / `pressrag serve`: run Dagster (webserver + daemon) and the serving API.

Each child runs in its own process group with SIGINT restored (a background shell starts
children with SIGINT ignored, and `dagster dev` then never stops its own children). On
Ctrl-C or SIGTERM every group gets SIGTERM, then SIGKILL after a grace period; the embedded
Postgres stops when this process, its last user, exits.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from orchestration.environment import REPO_ROOT, prepare

GRACE_SECONDS = 15


def _restore_signals() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _spawn(args: list[str], name: str) -> subprocess.Popen:
    print(f"starting {name}: {' '.join(args)}", flush=True)
    return subprocess.Popen(
        args,
        cwd=REPO_ROOT,
        env=os.environ.copy(),
        start_new_session=True,  # its own process group, stopped as a whole
        preexec_fn=_restore_signals,
    )


def _stop(children: dict[str, subprocess.Popen]) -> None:
    for proc in children.values():
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    for name, proc in children.items():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"{name} did not stop in {GRACE_SECONDS}s; killing it", flush=True)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _supervise(children: dict[str, subprocess.Popen]) -> int:
    stopping = {"signal": None}

    def on_signal(signum: int, _frame: object) -> None:
        stopping["signal"] = signum

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        while stopping["signal"] is None:
            for name, proc in children.items():
                code = proc.poll()
                if code is not None:
                    print(f"{name} exited with code {code}; stopping the rest", flush=True)
                    return code or 1
            time.sleep(0.5)
        return 0
    finally:
        print("stopping…", flush=True)
        _stop(children)


def serving_command(port: int) -> list[str]:
    return [sys.executable, "-m", "serving", "--host", "127.0.0.1", "--port", str(port)]


def dagster_command(port: int) -> list[str]:
    dagster = Path(sys.executable).with_name("dagster")
    return [
        str(dagster),
        "dev",
        "-w",
        str(REPO_ROOT / "workspace.yaml"),
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]


def run_all(*, dagster_port: int = 3000, serve_port: int = 8000) -> int:
    prepare()
    children = {
        "dagster": _spawn(dagster_command(dagster_port), "Dagster (webserver + daemon)"),
        "serving": _spawn(serving_command(serve_port), "serving API"),
    }
    print(
        f"Dagster UI: http://127.0.0.1:{dagster_port}   serving API: http://127.0.0.1:{serve_port}"
        "   (Ctrl-C stops everything)",
        flush=True,
    )
    return _supervise(children)


def run_serving(*, port: int = 8000) -> int:
    prepare()
    return _supervise({"serving": _spawn(serving_command(port), "serving API")})
