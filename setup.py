"""Packaging: the design's four top-level folders are installed under one `pressrag` namespace.

In the repository they stay where the design puts them (`assets/`, `resources/`,
`orchestration/`, `serving/`); a distribution must not claim such generic top-level import
names in a user's environment, so `pressrag.assets` is built from `assets/`, and so on. The
rest of the metadata is in pyproject.toml; only this mapping needs code (setuptools cannot
prefix the packages it finds from pyproject.toml alone).
"""

from setuptools import find_packages, setup

FOLDERS = ("assets", "resources", "orchestration", "serving")

setup(
    packages=[
        f"pressrag.{package}"
        for package in find_packages(include=[f"{folder}*" for folder in FOLDERS])
    ]
    # SQL only, no module: named here so setuptools ships it as data without a warning.
    + ["pressrag.resources.migrations"],
    package_dir={f"pressrag.{folder}": folder for folder in FOLDERS},
    # SQL read at run time, and the Dagster instance template (orchestration/dagster.yaml is
    # a link to the repository's dagster.yaml; the wheel holds a copy).
    package_data={
        **{f"pressrag.{folder}": ["**/*.sql"] for folder in FOLDERS},
        "pressrag.orchestration": ["**/*.sql", "dagster.yaml"],
    },
)
