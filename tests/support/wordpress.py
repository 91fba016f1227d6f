"""A real WordPress (Debian's package) for end-to-end tests and for humans.

One instance = a private MariaDB (unix socket only), a private ``wp-content``, an
``/etc/wordpress/config-<name>.php`` that Debian's ``wp-config.php`` picks through
``WORDPRESS_CONFIG`` (set by the router, so parallel instances on 127.0.0.1 never share a
config) and ``php -S`` with four workers in its own process group. Everything lives in
``workdir``; a second ``start()`` on the same workdir is a warm start (no install).

Use it as a context manager::

    with WordPress(tmp_path / "wp") as wp:
        wp.rest("POST", "/wp/v2/posts", json={"title": "Hi", "status": "publish"})

or from a shell: ``python -m tests.support.wordpress up --workdir /tmp/wp``.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

WORDPRESS_ROOT = Path("/usr/share/wordpress")
ETC_WORDPRESS = Path("/etc/wordpress")
SCRIPTS_DIR = Path(__file__).resolve().parents[2] / "scripts" / "wordpress"
THEME = "twentytwentyone"
DEFAULT_THEME_DIR = WORDPRESS_ROOT / "wp-content" / "themes" / THEME
# /usr/sbin is missing from PATH in some non-login shells; MariaDB's daemon lives there.
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/bin", "/sbin"])
# Unix socket paths are limited to ~107 bytes; deeper work folders get a socket in /tmp.
MAX_SOCKET_PATH = 100
SALT_NAMES = (
    "AUTH_KEY",
    "SECURE_AUTH_KEY",
    "LOGGED_IN_KEY",
    "NONCE_KEY",
    "AUTH_SALT",
    "SECURE_AUTH_SALT",
    "LOGGED_IN_SALT",
    "NONCE_SALT",
)


class WordPressError(RuntimeError):
    """The harness could not bring up, drive or stop WordPress."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_is_listening(port: int) -> bool:
    """True when something accepts TCP connections on 127.0.0.1:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def log_tail(path: Path, lines: int = 30) -> str:
    """The last lines of a log file, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:]) or f"(empty log {path})"


def find_program(name: str) -> str:
    """Absolute path of a required program, or a clear error naming its package."""
    found = shutil.which(name, path=SEARCH_PATH)
    if found is None:
        raise WordPressError(
            f"{name} not found: install Debian's wordpress, php-cli, php-mysql and "
            "mariadb-server (see /work/shared/notes/wordpress-e2e.md)"
        )
    return found


def stop_process_group(process: subprocess.Popen[bytes], grace_seconds: float) -> None:
    """Stop a process started with its own session, children included."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    # The php -S workers share the group; make sure none outlives its parent.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def owned_pid(pid_file: Path, proof: str) -> int | None:
    """The live pid recorded in ``pid_file`` if its command line contains ``proof``."""
    try:
        pid = int(pid_file.read_text().split()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if proof.encode() in cmdline else None


def stop_pid_group(pid: int, grace_seconds: float) -> None:
    """SIGTERM a process group we did not start in this Python, then SIGKILL if needed."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


class WordPress:
    """A real WordPress served by ``php -S`` on 127.0.0.1 from a private work folder."""

    admin_user: str
    admin_password: str
    app_password: str

    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        *,
        site_url: str | None = None,
        title: str = "PressRAG test site",
        timeout: float = 60.0,
    ) -> None:
        """Describe an instance; nothing runs until ``start()``.

        ``site_url`` is the URL WordPress believes it lives at (its links, GUIDs and
        attachment URLs); it defaults to the served ``base_url``. A fixed one makes exports
        reproducible across runs on different ports.
        """
        self.workdir = Path(workdir).resolve()
        self.requested_port = port
        self.port = port or 0
        self.title = title
        self.timeout = timeout
        self._site_url_override = site_url.rstrip("/") if site_url else None
        self._mariadb: subprocess.Popen[bytes] | None = None
        self._mariadb_ready = False
        self._server: subprocess.Popen[bytes] | None = None
        self._client: httpx.Client | None = None
        self._socket_tmpdir: Path | None = None
        self._config_file: Path | None = None
        self.admin_user = "admin"
        self.admin_password = ""
        self.app_password = ""

    # ----------------------------------------------------------------- paths and settings
    @property
    def base_url(self) -> str:
        """Where the instance is served: ``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def site_url(self) -> str:
        """The URL WordPress uses in its own links (``base_url`` unless overridden)."""
        return self._site_url_override or self.base_url

    @property
    def content_dir(self) -> Path:
        """This instance's private ``WP_CONTENT_DIR``."""
        return self.workdir / "content"

    @property
    def uploads_dir(self) -> Path:
        """Where WordPress stores media of this instance."""
        return self.content_dir / "uploads"

    @property
    def running(self) -> bool:
        """True while both the database and the PHP server processes are alive."""
        return bool(
            self._server
            and self._server.poll() is None
            and self._mariadb
            and self._mariadb.poll() is None
        )

    def _path(self, name: str) -> Path:
        return self.workdir / name

    @property
    def _datadir(self) -> Path:
        return self._path("mariadb")

    @property
    def _socket(self) -> Path:
        preferred = self._path("mysqld.sock")
        if len(str(preferred)) <= MAX_SOCKET_PATH:
            return preferred
        if self._socket_tmpdir is None:
            self._socket_tmpdir = Path(tempfile.mkdtemp(prefix="pressrag-wpdb-"))
        return self._socket_tmpdir / "mysqld.sock"

    @property
    def _workdir_digest(self) -> str:
        return hashlib.sha256(str(self.workdir).encode()).hexdigest()[:10]

    @property
    def _config_name(self) -> str:
        # WORDPRESS_CONFIG must match ^[a-zA-Z0-9-]+$ in Debian's wp-config.php.
        return f"pressrag-{self.port}-{self._workdir_digest}"

    def _php_env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PRESSRAG_WP_HOST": f"127.0.0.1:{self.port}",
            "PRESSRAG_WP_CONFIG": self._config_name,
            "PRESSRAG_WP_CONTENT_DIR": str(self.content_dir),
        }

    # ----------------------------------------------------------------------- lifecycle
    def start(self) -> WordPress:
        """Bring the instance up (installing on first use); returns once REST answers."""
        if self.running:
            return self
        for required in (WORDPRESS_ROOT / "wp-load.php", DEFAULT_THEME_DIR):
            if not required.exists():
                raise WordPressError(f"{required} missing: install wordpress and its theme")
        if not os.access(ETC_WORDPRESS, os.W_OK):
            raise WordPressError(f"{ETC_WORDPRESS} is not writable: run as root")
        if self.requested_port and port_is_listening(self.requested_port):
            raise WordPressError(f"port {self.requested_port} is already in use on 127.0.0.1")
        self.workdir.mkdir(parents=True, exist_ok=True)
        atexit.unregister(self.stop)
        atexit.register(self.stop)
        self.stop_leftovers()
        try:
            self._start_database()
            self._prepare_content_dir()
            self.port = self.requested_port or free_port()
            self._write_config()
            if not self._path("credentials.json").exists():
                self._install()
            self._load_credentials()
            self._start_server()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the PHP server and MariaDB, remove the config file. Safe to call twice."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._server is not None:
            stop_process_group(self._server, grace_seconds=5)
            self._server = None
            self._path("php-server.pid").unlink(missing_ok=True)
        if self._mariadb is not None:
            # SIGTERM is MariaDB's clean shutdown; give InnoDB time to flush. A server still
            # starting up ignores it until ready, so do not wait for one that never was.
            stop_process_group(self._mariadb, grace_seconds=30 if self._mariadb_ready else 2)
            self._mariadb = None
            self._mariadb_ready = False
        if self._config_file is not None:
            self._config_file.unlink(missing_ok=True)
            self._config_file = None
        if self._socket_tmpdir is not None:
            shutil.rmtree(self._socket_tmpdir, ignore_errors=True)
            self._socket_tmpdir = None

    def stop_leftovers(self) -> list[str]:
        """Stop processes and configs a killed earlier run on this workdir left behind.

        The harness's processes run in their own sessions (so a test's Ctrl-C does not
        half-kill them); when the owning Python dies without ``stop()`` they survive and
        MariaDB keeps the datadir locked. Only processes whose command line proves they
        belong to this workdir are touched. Returns what was stopped or removed.
        """
        stopped = []
        server_record = self._path("php-server.pid")
        server_port = server_record.read_text().split()[-1] if server_record.exists() else "?"
        leftovers = (
            (server_record, f"127.0.0.1:{server_port}"),
            (self._path("mariadb.pid"), str(self._datadir)),
        )
        for pid_file, proof in leftovers:
            pid = owned_pid(pid_file, proof)
            if pid is not None and pid not in self._own_pids():
                stop_pid_group(pid, grace_seconds=30)
                stopped.append(f"{pid_file.stem} (pid {pid})")
        for config in ETC_WORDPRESS.glob(f"config-pressrag-*-{self._workdir_digest}.php"):
            if config != self._config_file:
                config.unlink(missing_ok=True)
                stopped.append(str(config))
        return stopped

    def _own_pids(self) -> set[int]:
        return {p.pid for p in (self._server, self._mariadb) if p is not None}

    def __enter__(self) -> WordPress:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------------ database
    def _start_database(self) -> None:
        log = self._path("mariadb.log")
        as_root = ["--user=root"] if os.geteuid() == 0 else []
        # Without credentials the last install never finished: start over from nothing.
        fresh = not self._path("credentials.json").exists()
        # A private temporary folder: instances running at once (pytest-xdist) collided over
        # MariaDB's temporary tables in /tmp ("Error on delete of '/tmp/#sql-temptable-...'").
        tmpdir = self._path("mariadb-tmp")
        tmpdir.mkdir(parents=True, exist_ok=True)
        if fresh:
            shutil.rmtree(self._datadir, ignore_errors=True)
            self._run(
                [
                    find_program("mariadb-install-db"),
                    "--no-defaults",
                    f"--datadir={self._datadir}",
                    f"--tmpdir={tmpdir}",
                    "--skip-test-db",
                    *as_root,
                ],
                what="mariadb-install-db",
                timeout=120,
            )
        self._socket.unlink(missing_ok=True)
        with log.open("ab") as sink:
            self._mariadb = subprocess.Popen(
                [
                    find_program("mariadbd"),
                    "--no-defaults",
                    f"--datadir={self._datadir}",
                    f"--socket={self._socket}",
                    f"--tmpdir={tmpdir}",
                    f"--pid-file={self._path('mariadb.pid')}",
                    "--skip-networking",
                    # Test data: durability across power loss is not worth the fsyncs.
                    "--innodb-flush-log-at-trx-commit=0",
                    "--innodb-buffer-pool-size=64M",
                    *as_root,
                ],
                stdout=sink,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self._wait_for(self._database_answers, "MariaDB", self._mariadb, log)
        self._mariadb_ready = True
        if fresh:
            self._create_database()

    def _database_answers(self) -> bool:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(1)
            try:
                probe.connect(str(self._socket))
                return bool(probe.recv(1))  # the server greets first
            except OSError:
                return False

    def _create_database(self) -> None:
        settings = self._settings()
        password = settings["db_password"].replace("'", "''")
        sql = (
            f"CREATE DATABASE `{settings['db_name']}` CHARACTER SET utf8mb4;\n"
            f"CREATE USER '{settings['db_user']}'@'localhost' IDENTIFIED BY '{password}';\n"
            f"GRANT ALL ON `{settings['db_name']}`.* TO '{settings['db_user']}'@'localhost';\n"
        )
        # SQL goes through stdin so the password never shows in a process listing.
        self._run(
            [find_program("mariadb"), "--no-defaults", f"--socket={self._socket}", "-uroot"],
            what="creating the WordPress database",
            input_bytes=sql.encode(),
            timeout=60,
        )

    # ------------------------------------------------------------------ config + install
    def _settings(self) -> dict[str, Any]:
        """Per-workdir secrets, created once so warm starts reuse them."""
        path = self._path("secrets.json")
        if path.exists():
            return dict(json.loads(path.read_text()))
        settings = {
            "db_name": "wordpress",
            "db_user": "wordpress",
            "db_password": secrets.token_urlsafe(18),
            "salts": {name: secrets.token_urlsafe(48) for name in SALT_NAMES},
        }
        self._write_private(path, json.dumps(settings, indent=2))
        return settings

    def _write_config(self) -> None:
        instance = {
            **self._settings(),
            "db_socket": str(self._socket),
            "site_url": self.site_url,
            "content_dir": str(self.content_dir),
        }
        instance_file = self._path("instance.json")
        self._write_private(instance_file, json.dumps(instance, indent=2))
        config = ETC_WORDPRESS / f"config-{self._config_name}.php"
        config.write_text(
            "<?php\n"
            "// Written by tests/support/wordpress.py for one instance; removed by stop().\n"
            f"define('PRESSRAG_INSTANCE_SETTINGS', {php_string(str(instance_file))});\n"
            f"require {php_string(str(SCRIPTS_DIR / 'instance-config.php'))};\n"
        )
        config.chmod(0o640)
        self._config_file = config

    def _prepare_content_dir(self) -> None:
        for sub in ("plugins", "themes", "mu-plugins", "uploads"):
            (self.content_dir / sub).mkdir(parents=True, exist_ok=True)
        links = {
            self.content_dir / "themes" / THEME: DEFAULT_THEME_DIR,
            self.content_dir / "mu-plugins" / "pressrag-silence-mail.php": SCRIPTS_DIR
            / "mu-plugins"
            / "pressrag-silence-mail.php",
        }
        for link, target in links.items():
            if not link.is_symlink():
                link.symlink_to(target)

    def _install(self) -> None:
        admin_password = secrets.token_urlsafe(16)
        env = {
            **self._php_env(),
            "PRESSRAG_SITE_TITLE": self.title,
            "PRESSRAG_ADMIN_USER": self.admin_user,
            "PRESSRAG_ADMIN_PASSWORD": admin_password,
            "PRESSRAG_ADMIN_EMAIL": "admin@example.invalid",
        }
        output = self._run(
            [find_program("php"), "-d", "display_errors=stderr", str(SCRIPTS_DIR / "install.php")],
            what="the headless WordPress install",
            env=env,
            timeout=120,
        )
        try:
            installed = json.loads(output.decode().strip().splitlines()[-1])
            app_password = str(installed["app_password"])
        except (ValueError, KeyError, IndexError):
            # The output holds the new credentials: do not echo it into an error message.
            raise WordPressError(
                f"the headless install printed no credentials; see {self._path('php-cli.log')}"
            ) from None
        credentials = {
            "admin_user": self.admin_user,
            "admin_password": admin_password,
            "app_password": app_password,
        }
        self._write_private(self._path("credentials.json"), json.dumps(credentials, indent=2))

    def _load_credentials(self) -> None:
        credentials = json.loads(self._path("credentials.json").read_text())
        self.admin_user = credentials["admin_user"]
        self.admin_password = credentials["admin_password"]
        self.app_password = credentials["app_password"]

    # ---------------------------------------------------------------------- PHP server
    def _start_server(self) -> None:
        log = self._path("php-server.log")
        attempts = 1 if self.requested_port else 3
        for attempt in range(1, attempts + 1):
            with log.open("ab") as sink:
                self._server = subprocess.Popen(
                    [
                        find_program("php"),
                        "-S",
                        f"127.0.0.1:{self.port}",
                        "-t",
                        str(WORDPRESS_ROOT),
                        str(SCRIPTS_DIR / "router.php"),
                    ],
                    # Several workers: a plugin calling a backend that calls back into
                    # WordPress deadlocks with one.
                    env={**self._php_env(), "PHP_CLI_SERVER_WORKERS": "4"},
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            self._path("php-server.pid").write_text(f"{self._server.pid} {self.port}\n")
            try:
                self._wait_for(self._rest_answers, "the PHP server", self._server, log)
                return
            except WordPressError:
                if attempt == attempts or not self._lost_port_race():
                    raise
                # Another process took the port between probing and binding: pick again.
                if self._config_file is not None:
                    self._config_file.unlink(missing_ok=True)
                self.port = free_port()
                self._write_config()

    def _lost_port_race(self) -> bool:
        """True when our php -S could not bind because someone else holds the port."""
        assert self._server is not None
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._server.wait(timeout=3)  # a server that failed to bind exits at once
        stop_process_group(self._server, grace_seconds=2)
        return "Address already in use" in log_tail(self._path("php-server.log"), 5)

    def _rest_answers(self) -> bool:
        try:
            response = httpx.get(f"{self.base_url}/wp-json/", timeout=5)
        except httpx.HTTPError:
            return False
        instance = response.headers.get("X-PressRAG-Instance")
        if response.status_code == 200 and instance != self._config_name:
            raise WordPressError(
                f"port {self.port} is served by another process (instance {instance!r})"
            )
        return response.status_code == 200

    def _wait_for(
        self,
        ready: Any,
        what: str,
        process: subprocess.Popen[bytes],
        log: Path,
    ) -> None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise WordPressError(
                    f"{what} exited with code {process.returncode}; log tail ({log}):\n"
                    f"{log_tail(log)}"
                )
            if ready():
                return
            time.sleep(0.2)
        raise WordPressError(
            f"{what} not ready after {self.timeout:.0f} s; log tail ({log}):\n{log_tail(log)}"
        )

    # ----------------------------------------------------------------------- driving it
    def rest(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Authenticated REST call; ``path`` like ``/wp/v2/posts``."""
        if not self.running:
            raise WordPressError("WordPress is not running: call start() first")
        if self._client is None:
            self._client = httpx.Client(
                base_url=f"{self.base_url}/wp-json",
                auth=(self.admin_user, self.app_password),
                timeout=60,
            )
        return self._client.request(method, path, **kwargs)

    def php(self, code: str) -> str:
        """Run PHP statements with WordPress loaded; return what they print."""
        return self.php_bytes(code).decode()

    def php_bytes(self, code: str) -> bytes:
        """Like ``php()`` but returns raw output (exports, binary data)."""
        if self._config_file is None:
            raise WordPressError("WordPress is not started: call start() first")
        body = code.strip().removeprefix("<?php")
        bootstrap = php_string(str(SCRIPTS_DIR / "bootstrap.php"))
        with tempfile.NamedTemporaryFile(
            "w", suffix=".php", dir=self.workdir, prefix="snippet-", delete=False
        ) as script:
            script.write(f"<?php\nrequire {bootstrap};\n{body}\n")
        try:
            return self._run(
                [find_program("php"), "-d", "display_errors=stderr", script.name],
                what="a PHP snippet",
                env=self._php_env(),
                timeout=300,
            )
        finally:
            Path(script.name).unlink(missing_ok=True)

    def activate_plugin(self, slug_dir: Path, main_file: str) -> None:
        """Symlink a plugin folder into this instance and activate it (runs its hook)."""
        slug_dir = Path(slug_dir).resolve()
        if not (slug_dir / main_file).is_file():
            raise WordPressError(f"plugin main file {slug_dir / main_file} does not exist")
        link = self.content_dir / "plugins" / slug_dir.name
        if link.is_symlink() and link.resolve() != slug_dir:
            link.unlink()
        if not link.exists():
            link.symlink_to(slug_dir, target_is_directory=True)
        plugin = php_string(f"{slug_dir.name}/{main_file}")
        user = php_string(self.admin_user)
        self.php(
            "require_once ABSPATH . 'wp-admin/includes/plugin.php';\n"
            f"wp_set_current_user(get_user_by('login', {user})->ID);\n"
            f"$result = activate_plugin({plugin});\n"
            "if (is_wp_error($result)) {\n"
            '    fwrite(STDERR, $result->get_error_message() . "\\n");\n'
            "    exit(1);\n"
            "}\n"
        )

    def export_wxr(self) -> bytes:
        """The WXR document WordPress's own exporter produces (all content)."""
        return self.php_bytes(
            "require_once ABSPATH . 'wp-admin/includes/export.php';\n"
            "export_wp(array('content' => 'all'));\n"
        )

    # ------------------------------------------------------------------------- helpers
    def _run(
        self,
        command: list[str],
        *,
        what: str,
        timeout: float,
        env: dict[str, str] | None = None,
        input_bytes: bytes | None = None,
    ) -> bytes:
        """Run a helper command; on failure raise with its stderr (logged to php-cli.log)."""
        try:
            done = subprocess.run(
                command,
                input=input_bytes,
                capture_output=True,
                env=env,
                timeout=timeout,
                check=False,
                cwd=self.workdir,
            )
        except subprocess.TimeoutExpired as exc:
            raise WordPressError(f"{what} timed out after {timeout:.0f} s") from exc
        if done.stderr:
            with self._path("php-cli.log").open("ab") as log:
                log.write(done.stderr)
        if done.returncode != 0:
            stderr = "\n".join(done.stderr.decode(errors="replace").splitlines()[-30:])
            raise WordPressError(f"{what} failed (exit {done.returncode}):\n{stderr}")
        return done.stdout

    @staticmethod
    def _write_private(path: Path, text: str) -> None:
        path.touch(mode=0o600, exist_ok=True)
        path.chmod(0o600)
        path.write_text(text)


def php_string(value: str) -> str:
    """A PHP single-quoted string literal holding ``value``."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def main(argv: list[str] | None = None) -> int:
    """``up --workdir DIR [--port N]``: serve WordPress until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m tests.support.wordpress")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start WordPress and keep it running until Ctrl-C")
    up.add_argument("--workdir", type=Path, required=True)
    up.add_argument("--port", type=int, default=None)
    down = commands.add_parser("down", help="stop what a killed `up` or test left running")
    down.add_argument("--workdir", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command == "down":
        for item in WordPress(args.workdir).stop_leftovers():
            print(f"stopped {item}")
        return 0

    # A job started from a non-interactive shell inherits SIGINT as ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    started = time.monotonic()
    wordpress = WordPress(args.workdir, args.port)
    try:
        wordpress.start()
        print(f"WordPress ready in {time.monotonic() - started:.1f} s")
        print(f"URL:          {wordpress.base_url}/  (admin: {wordpress.base_url}/wp-admin/)")
        print(f"Admin user:   {wordpress.admin_user}")
        print(f"Admin pass:   {wordpress.admin_password}")
        print(f"App password: {wordpress.app_password}")
        print("Press Ctrl-C to stop.", flush=True)
        while wordpress.running:
            time.sleep(1)
        print("a WordPress process exited; stopping", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    except WordPressError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        wordpress.stop()


if __name__ == "__main__":
    sys.exit(main())
