"""`pressrag up` / `pressrag serve`: the local stack as separately supervised components.

`pressrag up` runs four components under `orchestration/supervisor.py`:

- **code server** — `dagster api grpc` serving the code location on a loopback port. Run
  workers are its children: a run survives the death of the daemon or the webserver. (Not
  `dagster code-server start`: that proxy answers "is this run still executing?" from its
  current child, which after a code reload would not know the runs of the previous one, and
  the worker check of `orchestration/run_launcher.py` would fail them.)
- **daemon** — `dagster-daemon run`: sensors, schedules, the run queue, run monitoring, retries.
- **webserver** — `dagster-webserver`: the UI and GraphQL.
- **serving** — the FastAPI app (webhook intake keeps answering while Dagster is down).

The daemon and the webserver reach the code server through a generated workspace file and
reconnect by themselves when it comes back. The embedded PostgreSQL belongs to this process
(`prepare()`), so it outlives any component; it stops when `pressrag up` exits.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from pathlib import Path

import yaml

from pressrag.orchestration.environment import prepare
from pressrag.orchestration.supervisor import Component, StateFile, Supervisor

LOCATION_NAME = "pressrag"
LOCATION_MODULE = "pressrag.orchestration.definitions"
# In DAGSTER_HOME; `pressrag index` reaches the running code server through it.
WORKSPACE_FILE = "workspace-up.yaml"
BIN = Path(sys.executable).parent
# The daemon logs three lines per sensor tick at INFO (every few seconds, for ever); what a
# run or a tick did is in the UI. The terminal keeps warnings and errors.
DAGSTER_LOG_LEVEL = "warning"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_workspace(dagster_home: Path, code_port: int) -> Path:
    """A workspace that points the daemon and the webserver at the supervised code server."""
    path = dagster_home / WORKSPACE_FILE
    server = {"host": "127.0.0.1", "port": code_port, "location_name": LOCATION_NAME}
    path.write_text(yaml.safe_dump({"load_from": [{"grpc_server": server}]}))
    return path


def code_server_ready(port: int) -> bool:
    """Whether the code server answers (within seconds: the supervisor waits on this)."""
    from dagster._grpc.client import DagsterGrpcClient

    return bool(DagsterGrpcClient(port=port, host="127.0.0.1").get_server_id(timeout=5))


def code_server_command(port: int) -> list[str]:
    return [
        str(BIN / "dagster"),
        "api",
        "grpc",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--module-name",
        LOCATION_MODULE,
        "--location-name",
        LOCATION_NAME,
    ]


def daemon_command(workspace: Path, log_level: str) -> list[str]:
    return [
        str(BIN / "dagster-daemon"),
        "run",
        "--workspace",
        str(workspace),
        "--log-level",
        log_level,
    ]


def webserver_command(workspace: Path, port: int, log_level: str) -> list[str]:
    return [
        str(BIN / "dagster-webserver"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workspace",
        str(workspace),
        "--dagster-log-level",
        log_level,
    ]


def serving_command(port: int) -> list[str]:
    return [sys.executable, "-m", "pressrag.serving", "--host", "127.0.0.1", "--port", str(port)]


def stack_components(
    dagster_home: Path,
    *,
    dagster_port: int,
    serve_port: int,
    code_port: int,
    dagster_log_level: str = DAGSTER_LOG_LEVEL,
) -> list[Component]:
    workspace = write_workspace(dagster_home, code_port)
    # Where `pressrag up` was started, so every component reads the same `.env`.
    here = Path.cwd()
    code_server = Component(
        "code server",
        code_server_command(code_port),
        here,
        ready=lambda: code_server_ready(code_port),
    )
    return [
        code_server,
        Component("daemon", daemon_command(workspace, dagster_log_level), here, needs=code_server),
        Component(
            "webserver",
            webserver_command(workspace, dagster_port, dagster_log_level),
            here,
            needs=code_server,
        ),
        Component("serving", serving_command(serve_port), here),
    ]


def _state_file(command: str) -> StateFile:
    return StateFile(Path(os.environ["PRESSRAG_HOME"]) / "run" / f"{command}.json")


def _configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s pressrag up: %(message)s",
        stream=sys.stdout,
        force=True,
    )


def run_all(
    *,
    dagster_port: int = 3000,
    serve_port: int = 8000,
    dagster_log_level: str = DAGSTER_LOG_LEVEL,
) -> int:
    _configure_logging()
    prepare()
    components = stack_components(
        Path(os.environ["DAGSTER_HOME"]),
        dagster_port=dagster_port,
        serve_port=serve_port,
        code_port=free_port(),
        dagster_log_level=dagster_log_level,
    )

    def announce() -> None:
        logging.getLogger("pressrag.up").info(
            "Dagster UI: http://127.0.0.1:%d   serving API: http://127.0.0.1:%d   "
            "(Ctrl-C stops everything)",
            dagster_port,
            serve_port,
        )

    try:
        return Supervisor(components, state=_state_file("up")).run(on_started=announce)
    finally:
        _forget_daemon()


def _forget_daemon() -> None:
    """Clear the stopped daemon's heartbeats: for a minute they would still read as a live
    daemon, and `pressrag index` would leave its run on the queue for it."""
    import dagster as dg

    try:
        with dg.DagsterInstance.get() as instance:
            instance.wipe_daemon_heartbeats()
    except Exception as exc:  # e.g. the database went first: the beats just age out
        logging.getLogger("pressrag.up").warning("daemon heartbeats not cleared: %s", exc)


def run_serving(*, port: int = 8000) -> int:
    _configure_logging()
    prepare()
    serving = Component("serving", serving_command(port), Path.cwd())
    return Supervisor([serving], state=_state_file("serve")).run()
