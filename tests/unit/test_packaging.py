"""The distribution: one `pressrag` namespace (no generic top-level names such as `assets` or
`serving` in a user's environment), the SQL and the instance template the code reads at run
time, and a console script. The wheel is built here, as `pip install .` builds it."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FOLDERS = ("assets", "resources", "orchestration", "serving")
# An import of one of the folders by its bare name: it works only from the repository root.
_BARE_IMPORT = re.compile(rf"^\s*(?:from|import) ({'|'.join(FOLDERS)})\b", re.MULTILINE)


def build_wheel(target: Path) -> Path:
    """`pip wheel .` without dependencies (the build backend comes from this environment),
    from a copy of what the Dockerfile copies: a build in the repository would reuse its
    `build/` folder, and files left there by older builds would end up in the wheel."""
    source = target / "source"
    for name in ("pyproject.toml", "setup.py", "README.md", "dagster.yaml"):
        source.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, source / name)
    for folder in FOLDERS:
        shutil.copytree(
            REPO / folder,
            source / folder,
            symlinks=True,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(target),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = target.glob("pressrag-*.whl")
    return wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


def test_the_wheel_installs_only_the_pressrag_namespace(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        top = {name.split("/", 1)[0] for name in archive.namelist()}
    assert {t for t in top if not t.endswith(".dist-info")} == {"pressrag"}


def test_the_wheel_carries_the_sql_and_the_instance_template(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        template = archive.read("pressrag/orchestration/dagster.yaml")
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        scripts = archive.read(entry_points).decode()
    sql = {f"pressrag/{p.relative_to(REPO)}" for f in FOLDERS for p in (REPO / f).rglob("*.sql")}
    assert sql and not sql - names, f"missing from the wheel: {sorted(sql - names)}"
    assert template == (REPO / "dagster.yaml").read_bytes()
    assert "pressrag = pressrag.orchestration.cli:main" in scripts


def test_no_code_imports_a_folder_by_its_bare_name() -> None:
    """`from resources.x import …` works in the repository (its root is on the path) and
    fails once installed: every import goes through `pressrag.`."""
    offenders = [
        str(path.relative_to(REPO))
        for folder in (*FOLDERS, "tests", "bench")
        for path in (REPO / folder).rglob("*.py")
        if _BARE_IMPORT.search(path.read_text(encoding="utf-8"))
    ]
    assert not offenders, offenders
