"""Process environment for Dagster and serving: database URLs, DAGSTER_HOME, offline flags.

Every entry point (CLI commands, `pressrag up`) calls `prepare()` first, so child processes —
Dagster's webserver, daemon, code server and run workers, and the serving app — inherit one
resolved database and one instance configuration. The command line is PressRAG's local mode:
only it starts the embedded PostgreSQL when no DATABASE_URL is set.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from resources.database import DatabaseUrls, export_database_env, resolve_database_urls
from resources.settings import Settings, get_settings

REPO_ROOT = Path(__file__).resolve().parents[1]
INSTANCE_TEMPLATE = REPO_ROOT / "dagster.yaml"


def prepare(settings: Settings | None = None) -> DatabaseUrls:
    settings = settings or get_settings()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
    os.environ["PRESSRAG_HOME"] = str(settings.resolved_home)
    urls = resolve_database_urls(settings, command_line=True)
    export_database_env(urls)
    os.environ["DAGSTER_HOME"] = str(dagster_home(settings))
    return urls


def dagster_home(settings: Settings) -> Path:
    """$PRESSRAG_HOME/dagster with a copy of the repository's dagster.yaml.

    The copy is refreshed every time so an edit of dagster.yaml takes effect on the next
    command; an operator who sets DAGSTER_HOME keeps full control of their own instance.
    """
    explicit = os.environ.get("PRESSRAG_DAGSTER_HOME")
    if explicit:
        return Path(explicit)
    home = settings.resolved_home / "dagster"
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if INSTANCE_TEMPLATE.exists() and (
        not target.exists() or target.read_bytes() != INSTANCE_TEMPLATE.read_bytes()
    ):
        shutil.copyfile(INSTANCE_TEMPLATE, target)
    return home
