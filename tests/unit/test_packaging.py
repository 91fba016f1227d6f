"""The distribution carries the SQL the code reads at run time (`pip install .`, not only an
editable install): a stale package-data glob once left `resources/store/search.sql` out, and
every search failed outside the repository."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_every_sql_file_of_a_package_is_package_data() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    globs = config["tool"]["setuptools"]["package-data"]
    missing = []
    for package in ("assets", "resources", "orchestration", "serving"):
        root = REPO / package
        shipped = {p for pattern in globs.get(package, []) for p in root.glob(pattern)}
        missing += [str(p.relative_to(REPO)) for p in root.rglob("*.sql") if p not in shipped]
    assert not missing, f"not in [tool.setuptools.package-data]: {missing}"
