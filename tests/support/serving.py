"""Run the real serving app (`python -m pressrag.serving`) in a subprocess on 127.0.0.1 for tests.

The process inherits `os.environ` (so the `pressrag_env` fixture's PRESSRAG_HOME and
PRESSRAG_APP_DB_URL reach it) plus per-server overrides; its output goes to a log file the
tests read to check that nothing secret was logged. `stop()` ends its process group.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import psycopg

REPO_ROOT = Path(__file__).resolve().parents[2]
ADMIN_KEY = "test-admin-key-4f9c1e27b8"


def empty_rate_limits(env: dict[str, str]) -> None:
    """Start a test server with empty rate-limit buckets, as every serving process did before
    the limits were counted in the database: the session's earlier servers (other modules,
    other tests) share that database, and their requests would count against this one's."""
    url = env.get("PRESSRAG_APP_DB_URL")
    if not url:
        return
    with psycopg.connect(url, autocommit=True) as conn:
        if conn.execute("SELECT to_regclass('rate_limits')").fetchone()[0] is not None:
            conn.execute("DELETE FROM rate_limits")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mint_token(
    secret: str,
    site: str,
    origin: str,
    *,
    lifetime: int = 300,
    now: int | None = None,
    **extra: Any,
) -> str:
    """A browser token as the WordPress plugin mints it (docs/contracts.md)."""
    issued = int(time.time()) if now is None else now
    claims = {"site": site, "origin": origin, "iat": issued, "exp": issued + lifetime}
    claims |= {"aud": "pressrag", **extra}
    key = base64.b64decode(secret.removeprefix("whsec_"))
    return jwt.encode(claims, key, algorithm="HS256")


class ServingServer:
    def __init__(self, log_path: Path, **settings: str) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.env = {**os.environ, "PRESSRAG_ADMIN_API_KEY": ADMIN_KEY, **settings}
        self.process: subprocess.Popen[bytes] | None = None

    def launch(self) -> ServingServer:
        """Start the process without waiting for it to be ready (tests of start-up errors)."""
        empty_rate_limits(self.env)
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pressrag.serving", "--port", str(self.port)],
            cwd=REPO_ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        return self

    def start(self, timeout: float = 120.0) -> ServingServer:
        self.launch()
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"serving exited early:\n{self.log_text()[-3000:]}")
            try:
                if httpx.get(self.base_url + "/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"serving not ready in {timeout} s:\n{self.log_text()[-3000:]}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=60, **kwargs)

    def __enter__(self) -> ServingServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def parse_sse(body: str) -> list[tuple[str, dict]]:
    """(event, data) pairs of a text/event-stream body, strictly framed."""
    events = []
    for frame in body.split("\n\n"):
        if not frame.strip():
            continue
        fields = dict(line.split(": ", 1) for line in frame.split("\n"))
        events.append((fields["event"], json.loads(fields["data"])))
    return events
