"""Real Dagster (`dagster dev` or `dagster-daemon run`) and the real serving app as processes.

Each process runs in its own process group (with SIGINT/SIGTERM restored: a background shell
starts children with SIGINT ignored, and `dagster dev` then never stops its own children),
against the test's instance (the exported DAGSTER_HOME / PRESSRAG_* environment). `stop()`
sends SIGTERM to the whole group, waits, then SIGKILLs whatever is left, so no run worker,
code server or webserver outlives the test.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from pressrag.orchestration.processes import group_alive
from tests.support.serving import empty_rate_limits

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _restore_signals() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


class ManagedProcess:
    """A child in its own process group, with its output in a temp file (shown on failure)."""

    name = "process"

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        self.args = args
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen | None = None
        self.log_path = Path(tempfile.mkstemp(prefix=f"{self.name}-", suffix=".log")[1])

    def start(self) -> ManagedProcess:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.args,
            cwd=REPO_ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_restore_signals,
        )
        log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def output(self, tail: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    def wait_until(self, ready: callable, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}):\n{self.output()}")
            with contextlib.suppress(Exception):
                if ready():
                    return
            time.sleep(0.3)
        raise TimeoutError(f"{self.name}: {what} not within {timeout}s:\n{self.output()}")

    def kill(self) -> None:
        """SIGKILL the whole group at once (a crash: no clean shutdown)."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self._reap_group()

    def stop(self, grace: float = 20.0) -> int | None:
        """SIGTERM the group, wait for it to exit, SIGKILL leftovers; returns the exit code."""
        if self.proc is None:
            return None
        pgid = self.proc.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            code = self.proc.wait()
        self._reap_group(grace=grace)
        return code

    def _reap_group(self, grace: float = 10.0) -> None:
        assert self.proc is not None
        pgid = self.proc.pid
        deadline = time.monotonic() + grace
        while group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if group_alive(pgid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)

    def __enter__(self) -> ManagedProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def forget_daemon_heartbeats() -> None:
    """What `pressrag up` does when it stops: a stopped daemon's heartbeats would read as a
    live daemon for a minute, and `pressrag index` would leave its run queued for it."""
    import dagster as dg

    # A test that stopped PostgreSQL first has nothing to clear: the beats age out.
    with contextlib.suppress(Exception), dg.DagsterInstance.get() as instance:
        instance.wipe_daemon_heartbeats()


class DagsterDaemon(ManagedProcess):
    """`dagster-daemon run` on the code location in workspace.yaml."""

    name = "dagster-daemon"

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__(
            [str(BIN / "dagster-daemon"), "run", "-w", str(REPO_ROOT / "workspace.yaml")], env
        )
        self.started_at = 0.0

    def start(self) -> DagsterDaemon:
        self.started_at = time.time()
        super().start()
        return self

    def wait_ready(self, timeout: float = 60.0) -> DagsterDaemon:
        import dagster as dg

        def beating() -> bool:
            with dg.DagsterInstance.get() as instance:
                beat = instance.get_daemon_heartbeats().get("SENSOR")
            return beat is not None and beat.timestamp >= self.started_at

        self.wait_until(beating, timeout, "sensor daemon heartbeat")
        return self

    def stop(self, grace: float = 20.0) -> int | None:
        code = super().stop(grace)
        forget_daemon_heartbeats()
        return code


class DagsterDev(ManagedProcess):
    """`dagster dev`: webserver (GraphQL at /graphql) + daemon, as `pressrag up` runs it."""

    name = "dagster-dev"

    def __init__(self, port: int | None = None, env: dict[str, str] | None = None) -> None:
        self.port = port or free_port()
        super().__init__(
            [
                str(BIN / "dagster"),
                "dev",
                "-w",
                str(REPO_ROOT / "workspace.yaml"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
            ],
            env,
        )
        self.started_at = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> DagsterDev:
        self.started_at = time.time()
        super().start()
        return self

    def wait_ready(self, timeout: float = 90.0) -> DagsterDev:
        import dagster as dg

        def ready() -> bool:
            if httpx.get(f"{self.url}/server_info", timeout=2).status_code != 200:
                return False
            with dg.DagsterInstance.get() as instance:
                beat = instance.get_daemon_heartbeats().get("SENSOR")
            return beat is not None and beat.timestamp >= self.started_at

        self.wait_until(ready, timeout, "webserver and sensor daemon")
        return self

    def stop(self, grace: float = 20.0) -> int | None:
        code = super().stop(grace)
        forget_daemon_heartbeats()
        return code

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        response = httpx.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables or {}}, timeout=30
        )
        response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            raise AssertionError(f"GraphQL errors: {body['errors']}")
        return body["data"]


class ServingProcess(ManagedProcess):
    """`python -m pressrag.serving` on 127.0.0.1 (webhook intake, search, status)."""

    name = "serving"

    def __init__(self, port: int | None = None, env: dict[str, str] | None = None) -> None:
        self.port = port or free_port()
        super().__init__(
            [
                sys.executable,
                "-m",
                "pressrag.serving",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            env,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServingProcess:
        empty_rate_limits(self.env)
        super().start()
        return self

    def wait_ready(self, timeout: float = 60.0) -> ServingProcess:
        self.wait_until(
            lambda: httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200,
            timeout,
            "/readyz",
        )
        return self


def listening_ports(pgid: int) -> list[int]:
    """TCP ports still listened on by any process of the group (via /proc)."""
    inodes: set[str] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) != pgid:
                continue
            for fd in (entry / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except (OSError, ProcessLookupError):
            continue
    ports = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                parts = line.split()
                if parts[3] == "0A" and parts[9] in inodes:  # 0A = LISTEN
                    ports.append(int(parts[1].rsplit(":", 1)[1], 16))
    return ports


ADMIN_KEY = "test-admin-key-0123456789abcdef"


def serving_fixture_env() -> dict[str, str]:
    """Environment for a test's serving process: the admin key (status, search as admin)."""
    return {"PRESSRAG_ADMIN_API_KEY": ADMIN_KEY, "PRESSRAG_SITE_CACHE_SECONDS": "0"}


class WebhookSender:
    """Signs and posts events to a serving process the way the WordPress plugin does."""

    def __init__(self, serving_url: str, site: str, secret: str) -> None:
        self.url = f"{serving_url}/v1/webhooks/wordpress"
        self.site = site
        self.secret = secret

    def body(self, event_type: str, data: dict, *, site: str | None = None) -> bytes:
        import json

        event = {
            "type": event_type,
            "site": site or self.site,
            "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "data": data,
        }
        return json.dumps(event, separators=(",", ":")).encode()

    def post(
        self,
        body: bytes,
        *,
        event_id: str | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
        site_header: str | None = None,
        signature: str | None = None,
        extra_headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        import uuid

        from pressrag.resources.secrets import secret_bytes
        from pressrag.resources.webhooks import sign

        event_id = event_id or f"msg_{uuid.uuid4()}"
        stamp = int(time.time()) if timestamp is None else timestamp
        key = secret_bytes(secret or self.secret)
        headers = {
            "content-type": "application/json",
            "webhook-id": event_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": signature or sign(key, event_id, stamp, body),
            "X-PressRAG-Site": site_header or self.site,
            **(extra_headers or {}),
        }
        return httpx.post(self.url, content=body, headers=headers, timeout=30)

    def send(self, event_type: str, data: dict, **kwargs: object) -> tuple[str, httpx.Response]:
        """Post one event; returns (event id, response)."""
        import uuid

        event_id = str(kwargs.pop("event_id", None) or f"msg_{uuid.uuid4()}")
        response = self.post(self.body(event_type, data), event_id=event_id, **kwargs)
        return event_id, response


# ---- the nightly schedule, driven through Dagster's GraphQL API ---------------------------

LOCATION = "pressrag"
REPOSITORY = "__repository__"

SCHEDULE_DRY_RUN = """
mutation($selector: ScheduleSelector!, $timestamp: Float) {
  scheduleDryRun(selectorData: $selector, timestamp: $timestamp) {
    __typename
    ... on DryRunInstigationTick {
      evaluationResult { runRequests { runKey runConfigYaml tags { key value } } error { message } }
    }
    ... on PythonError { message }
  }
}"""

LAUNCH_RUN = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}"""


def launch_nightly_reconcile(dagster: DagsterDev, site: str) -> tuple[str, dict]:
    """Evaluate the nightly schedule in the code server (dry run) and launch its request for
    `site` as the schedule would; returns (run id, run config)."""
    import yaml

    selector = {
        "repositoryLocationName": LOCATION,
        "repositoryName": REPOSITORY,
        "scheduleName": "nightly_reconcile",
    }
    result = dagster.graphql(SCHEDULE_DRY_RUN, {"selector": selector, "timestamp": time.time()})
    tick = result["scheduleDryRun"]
    assert tick["__typename"] == "DryRunInstigationTick", tick
    evaluation = tick["evaluationResult"]
    assert evaluation["error"] is None, evaluation
    ours = [r for r in evaluation["runRequests"] if r["runKey"].startswith(f"reconcile:{site}:")]
    assert len(ours) == 1, evaluation
    run_config = yaml.safe_load(ours[0]["runConfigYaml"])
    tags = [t for t in ours[0]["tags"] if not t["key"].startswith("dagster/")]
    tags.append({"key": "dagster/partition", "value": site})
    params = {
        "selector": {
            "repositoryLocationName": LOCATION,
            "repositoryName": REPOSITORY,
            "jobName": "index_site",
        },
        "runConfigData": run_config,
        "executionMetadata": {"tags": tags},
    }
    launched = dagster.graphql(LAUNCH_RUN, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return str(launched["run"]["runId"]), run_config
