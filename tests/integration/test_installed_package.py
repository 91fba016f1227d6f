"""`pip install .` into a fresh virtualenv outside the repository gives a working `pressrag`:
the README's path — add the sample site, index it through Dagster, search it, see its
status — from a folder that is not the repository, with nothing of the repository on the
path.

The new virtualenv gets the already installed dependencies through a `.pth` line (installing
torch again would take minutes and the same bytes); that line only adds the folder, so the
repository's editable install (a finder registered by its own `.pth` there) is not loaded."""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.test_packaging import REPO, build_wheel

pytestmark = pytest.mark.integration

SAMPLE = REPO / "samples" / "pydocs" / "export.xml"
URL_VARIABLES = ("DATABASE_URL", "PRESSRAG_DATABASE_URL", "PRESSRAG_APP_DB_URL")


def _installed(tmp_path: Path) -> Path:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    (site_packages,) = (venv / "lib").glob("python3*/site-packages")
    (site_packages / "pressrag-deps.pth").write_text(site.getsitepackages()[0] + "\n")
    wheel = build_wheel(tmp_path / "dist")
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-deps", wheel],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return venv


def test_an_installed_pressrag_indexes_and_searches_the_sample(tmp_path: Path) -> None:
    venv = _installed(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in URL_VARIABLES and not k.startswith(("DAGSTER_", "PYTHON"))
    }
    env["PRESSRAG_HOME"] = str(tmp_path / "home")

    def run(*args: str) -> str:
        done = subprocess.run(
            args, cwd=elsewhere, env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, f"{args}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    python = str(venv / "bin" / "python")
    where = run(python, "-c", "import pressrag.orchestration as o; print(o.__file__)")
    assert where.startswith(str(venv)), where  # the installed copy, not the repository
    for bare in ("assets", "resources", "orchestration", "serving"):
        refused = subprocess.run(
            [python, "-c", f"import {bare}"], cwd=elsewhere, env=env, capture_output=True
        )
        assert refused.returncode != 0, f"`import {bare}` works outside the repository"

    pressrag = str(venv / "bin" / "pressrag")
    try:
        added = run(pressrag, "sites", "add", "demo", "--wxr", str(SAMPLE))
        assert "whsec_" in added  # the plugin's secrets, shown once
        indexed = run(pressrag, "index", "--site", "demo")
        assert "succeeded" in indexed, indexed
        assert "'dagster/row_count': 225" in indexed
        assert "TableSchema" not in indexed and "TableRecord" not in indexed
        # Every check of the site, the drift check included, was evaluated by that run.
        for check in ("reconcile_drift", "no_orphan_chunks", "search_quality"):
            assert f"check {check}: passed" in indexed, indexed
        found = run(pressrag, "search", "how do I make a virtual environment", "--site", "demo")
        rank, _, title, url = found.splitlines()[0].split("\t")[:4]
        assert (rank, title) == ("1", "Creating Virtual Environments"), found
        assert url.startswith("http"), found
        (report,) = json.loads(run(pressrag, "status", "--site", "demo", "--json"))
        assert report["chunks"] > 0 and report["excluded"] >= 4 and report["failures"] == 0
        assert report["last_run"]["status"] == "succeeded"
    finally:
        from pressrag.resources.database import stop_embedded_server

        stop_embedded_server(tmp_path / "home" / "pgdata")
