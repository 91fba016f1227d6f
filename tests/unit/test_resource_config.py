"""Resources carry their configuration: values from the settings, secrets and the database URL
as `EnvVar`s that the Dagster UI shows by name and that are resolved where a step or sensor
runs; sensors get the store (and the callback client) as Dagster resources."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from pressrag.resources.configured import configured_resources
from pressrag.resources.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
URL_VARIABLES = (
    "DATABASE_URL",
    "PRESSRAG_DATABASE_URL",
    "PRESSRAG_APP_DB_URL",
    "PRESSRAG_DAGSTER_PG_URL",
    "PRESSRAG_EMBEDDED_DATABASE",
)
DATABASE_URL = "postgresql://pressrag:hunter2-db@db.invalid/pressrag"

# Prints each resource's configuration as the code location declares it (the UI's resource
# tab), what each sensor and schedule asks for, and what the store resolves to when built.
_DESCRIBE = """
import json
import dagster as dg
from pressrag.orchestration.definitions import defs
repo = defs.get_repository_def()
config = {}
for key, resource in repo.get_top_level_resources().items():
    field = resource.config_schema.as_field()
    config[key] = field.default_value if field.default_provided else {}
needs = {
    **{s.name: sorted(s.required_resource_keys) for s in repo.sensor_defs},
    **{s.name: sorted(s.required_resource_keys) for s in repo.schedule_defs},
}
with dg.build_resources({"store": repo.get_top_level_resources()["store"]}) as built:
    resolved = built.store.database_url
print(json.dumps({"config": config, "needs": needs, "store_url": resolved}))
"""


def _code_location(home: Path, code: str = _DESCRIBE, **env: str) -> subprocess.CompletedProcess:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith("PRESSRAG_") and k != "DATABASE_URL"
    }
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=home,  # no `.env` of the repository's
        env={**clean, "PRESSRAG_HOME": str(home), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _described(done: subprocess.CompletedProcess) -> dict:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_secrets_and_the_database_are_env_vars_the_rest_values(tmp_path: Path) -> None:
    done = _code_location(
        tmp_path,
        DATABASE_URL=DATABASE_URL,
        PRESSRAG_EMBEDDER="openai",
        PRESSRAG_ANSWERER="openai",
        PRESSRAG_OPENAI_API_KEY="sk-hunter2-key",
        PRESSRAG_OPENAI_EMBED_MODEL="text-embedding-3-large",
        PRESSRAG_INDEX_EMBED_BACKEND="torch",
    )
    described = _described(done)
    config = described["config"]
    assert config["store"] == {"database_url": {"env": "PRESSRAG_APP_DB_URL"}}
    key = {"env": "PRESSRAG_OPENAI_API_KEY"}
    for name in ("embedder", "summariser", "writer"):
        assert config[name]["openai_api_key"] == key, name
    assert (config["embedder"]["kind"], config["embedder"]["backend"]) == ("openai", "torch")
    assert config["embedder"]["openai_model"] == "text-embedding-3-large"
    assert config["summariser"]["answerer"] == config["writer"]["answerer"] == "openai"
    for name in ("wordpress", "callbacks"):
        assert config[name]["home"] == {"env": "PRESSRAG_HOME"}, name
    # The code location handed DATABASE_URL to the variable the store reads.
    assert described["store_url"] == DATABASE_URL
    # Neither secret is part of the definitions: only the variables' names are.
    assert "hunter2" not in json.dumps(config)


@pytest.fixture(scope="module")
def by_default(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The code location with a database and nothing else configured (loaded once: ~10 s)."""
    home = tmp_path_factory.mktemp("by-default")
    return _described(_code_location(home, DATABASE_URL=DATABASE_URL))


def test_without_openai_no_key_is_asked_for(by_default: dict) -> None:
    config = by_default["config"]
    for name in ("embedder", "summariser", "writer"):
        assert config[name]["openai_api_key"] is None, name
    assert (config["embedder"]["kind"], config["embedder"]["backend"]) == ("local", "onnx")


def test_sensors_and_schedules_get_the_store_as_a_resource(by_default: dict) -> None:
    needs = by_default["needs"]
    for name in (
        "inbox_sensor",
        "inbox_batch_succeeded",
        "inbox_batch_failed",
        "index_run_failed",
        "index_run_canceled",
        "writeback_requests",
        "nightly_reconcile",
    ):
        assert needs[name] == ["store"], (name, needs[name])
    assert needs["draft_failed"] == ["callbacks", "store"]


def test_a_code_location_without_a_database_fails_at_load_naming_the_variable(
    tmp_path: Path,
) -> None:
    done = _code_location(tmp_path, "import pressrag.orchestration.definitions")
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert "ConfigError: no database configured: set DATABASE_URL" in last, done.stderr
    assert not (tmp_path / "pgdata").exists(), "an embedded server was started"


def test_env_vars_are_resolved_when_the_resource_is_built(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """As on a run worker or a Celery worker: its own environment, not the code server's."""
    for name in URL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    resources = configured_resources(Settings(_env_file=None))
    wanted = {"store": resources["store"], "callbacks": resources["callbacks"]}
    monkeypatch.setenv("PRESSRAG_HOME", str(tmp_path / "one"))
    missing = '"PRESSRAG_APP_DB_URL" which is not set'
    with pytest.raises(dg.DagsterInvalidConfigError, match=missing), dg.build_resources(wanted):
        pass
    for n in ("one", "two"):
        monkeypatch.setenv("PRESSRAG_APP_DB_URL", f"postgresql://db.invalid/{n}")
        monkeypatch.setenv("PRESSRAG_HOME", str(tmp_path / n))
        with dg.build_resources(wanted) as built:
            assert built.store.database_url == f"postgresql://db.invalid/{n}"
            assert built.callbacks.home == str(tmp_path / n)


def test_only_indexing_preloads_the_model() -> None:
    """A summary or draft run sets up its generator's embedder with it: no preload there."""
    resources = configured_resources(Settings(_env_file=None))
    assert resources["embedder"].preload
    assert not resources["summariser"].embedder.preload
    assert not resources["writer"].embedder.preload
