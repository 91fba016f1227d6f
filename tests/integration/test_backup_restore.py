"""`pressrag backup` then `pressrag restore` into a new PRESSRAG_HOME gives back the same
sites, index and keys: the restored home answers the same search, and its serving accepts
the same browser token. A restore never lands on a home that already holds sites."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import IndexedSites

pytestmark = pytest.mark.integration

PRESSRAG = str(Path(sys.executable).with_name("pressrag"))
QUESTION = "how do I make a virtual environment"
URL_VARIABLES = (
    "DATABASE_URL",
    "PRESSRAG_DATABASE_URL",
    "PRESSRAG_APP_DB_URL",
    "PRESSRAG_DAGSTER_PG_URL",
)


def _pressrag(env: dict[str, str], *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([PRESSRAG, *args], env=env, capture_output=True, text=True, timeout=600)
    if ok:
        assert done.returncode == 0, f"{args}:\n{done.stdout}\n{done.stderr}"
    return done


def _home_env(home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in URL_VARIABLES and not k.startswith("DAGSTER_")
    }
    return {**env, "PRESSRAG_HOME": str(home)}


def test_a_backup_restores_into_a_new_home(indexed_sites: IndexedSites, tmp_path: Path) -> None:
    from pressrag.resources.database import stop_embedded_server

    here = dict(os.environ)
    original = _pressrag(here, "search", QUESTION, "--site", "demo").stdout
    folder = tmp_path / "backup"
    made = _pressrag(here, "backup", str(folder)).stdout
    manifest = json.loads((folder / "backup.json").read_text())
    sites = manifest["contents"]["sites"]  # demo, other, and other modules' sites
    assert f"backed up {sites} site(s)" in made, made
    assert sites >= 2 and manifest["contents"]["chunks"] > 0 and manifest["keys"]
    again = _pressrag(here, "backup", str(folder), ok=False)
    assert again.returncode != 0 and "exists" in again.stderr  # never overwrites a backup

    home = tmp_path / "restored-home"
    env = _home_env(home)
    try:
        restored = _pressrag(env, "restore", str(folder)).stdout
        assert f"restored {sites} site(s)" in restored, restored
        assert _pressrag(env, "search", QUESTION, "--site", "demo").stdout == original
        for key in manifest["keys"]:
            assert (home / "secrets" / key).read_bytes() == (
                indexed_sites.env.home / "secrets" / key
            ).read_bytes()
        status = json.loads(_pressrag(env, "status", "--json").stdout)
        assert {"demo", "other"} <= {s["site"] for s in status} and len(status) == sites

        twice = _pressrag(env, "restore", str(folder), ok=False)
        assert twice.returncode != 0 and f"already holds {sites} site(s)" in twice.stderr
    finally:
        stop_embedded_server(home / "pgdata")
