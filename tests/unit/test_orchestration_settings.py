"""The orchestration knobs come from one settings object, read where the code location loads;
the executor is set once on `Definitions`, so UI launches run like `index_site`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from pressrag.orchestration.settings import OrchestrationSettings

REPO_ROOT = Path(__file__).resolve().parents[2]

# Prints what the loaded definitions hold.
_DESCRIBE = """
import json
from pressrag.orchestration.definitions import defs
jobs = ["index_site", "write_back_site", "__ASSET_JOB"]
executors = {
    name: (defs.resolve_implicit_global_asset_job_def() if name == "__ASSET_JOB"
           else defs.resolve_job_def(name)).executor_def.name
    for name in jobs
}
sensor = defs.resolve_sensor_def("inbox_sensor")
schedule = defs.resolve_schedule_def("nightly_reconcile")
sensors = defs.get_repository_def().sensor_defs
from dagster_celery import core_execution_loop
print(json.dumps({
    "celery_poll_seconds": core_execution_loop.TICK_SECONDS,
    "daemon_sensors": sum(not s.sensor_type.is_handled_by_asset_daemon for s in sensors),
    "executors": executors,
    "interval": sensor.minimum_interval_seconds,
    "cron": schedule.cron_schedule,
    "timezone": schedule.execution_timezone,
}))
"""


def _load_definitions(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PRESSRAG_")}
    # Never connected to: the code location only needs one configured to load.
    database = {"DATABASE_URL": "postgresql://pressrag@db.invalid/pressrag"}
    return subprocess.run(
        [sys.executable, "-c", _DESCRIBE],
        cwd=REPO_ROOT,
        env={**clean, **database, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_defaults_every_job_and_ui_launches_run_in_process() -> None:
    done = _load_definitions()
    assert done.returncode == 0, done.stderr
    described = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(described["executors"].values()) == {"in_process"}, described
    # Dagster's minimum interval is a second short of ours (orchestration/sensors.py).
    assert (described["interval"], described["cron"], described["timezone"]) == (
        4,
        "0 3 * * *",
        "UTC",
    )


def test_the_sensor_daemon_has_a_thread_for_every_sensor_it_evaluates() -> None:
    """With fewer threads than sensors, a tick waits in the pool's queue behind the others
    (the inbox sensor's webhook latency), and a slow one (draft_failed's callback to a busy
    WordPress) holds back more than itself. The asset daemon's automation sensor is not one."""
    done = _load_definitions()
    assert done.returncode == 0, done.stderr
    described = json.loads(done.stdout.strip().splitlines()[-1])
    sensors = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())["sensors"]
    assert sensors["use_threads"] is True
    assert sensors["num_workers"] >= described["daemon_sensors"] == 7


def test_the_environment_sets_executor_interval_and_schedule() -> None:
    done = _load_definitions(
        PRESSRAG_RUN_EXECUTOR="multiprocess",
        PRESSRAG_SENSOR_INTERVAL_SECONDS="3",
        PRESSRAG_RECONCILE_CRON="30 1 * * 0",
        PRESSRAG_RECONCILE_TIMEZONE="Europe/Paris",
    )
    assert done.returncode == 0, done.stderr
    described = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(described["executors"].values()) == {"multiprocess"}, described
    assert (described["interval"], described["cron"], described["timezone"]) == (
        2,
        "30 1 * * 0",
        "Europe/Paris",
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PRESSRAG_SENSOR_INTERVAL_SECONDS", "20"),
        ("PRESSRAG_RUN_EXECUTOR", "celery-typo"),
        ("PRESSRAG_INBOX_MAX_ATTEMPTS", "0"),
        ("PRESSRAG_RUN_WORKER_START", "fork"),  # forking the threaded code server is unsafe
        ("PRESSRAG_CELERY_POLL_SECONDS", "0"),
    ],
)
def test_a_bad_value_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    """Refused, not clamped: an interval of 20 used to become 15 without a word."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as refused:
        OrchestrationSettings(_env_file=None)
    assert variable.removeprefix("PRESSRAG_").lower() in str(refused.value).lower()


def test_the_celery_executor_without_a_broker_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PRESSRAG_EXECUTOR", "celery")
    monkeypatch.delenv("PRESSRAG_CELERY_BROKER_URL", raising=False)
    with pytest.raises(ValidationError, match="PRESSRAG_CELERY_BROKER_URL"):
        OrchestrationSettings(_env_file=None)


def test_celery_runs_every_job_on_the_broker_from_the_environment() -> None:
    """The broker URL (it may hold a password) is read from the environment where the
    executor starts; the definitions only name the variable."""
    done = _load_definitions(
        PRESSRAG_EXECUTOR="celery",
        PRESSRAG_CELERY_BROKER_URL="redis://:hunter2-secret@127.0.0.1:6390/0",
    )
    assert done.returncode == 0, done.stderr
    described = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(described["executors"].values()) == {"celery"}, described
    assert "hunter2" not in done.stdout + done.stderr


@pytest.mark.parametrize(("setting", "expected"), [(None, 0.1), ("0.25", 0.25)])
def test_a_celery_run_looks_at_its_steps_results_more_often_than_once_a_second(
    setting: str | None, expected: float
) -> None:
    """dagster-celery's loop sleeps its module constant between looks; the setting replaces
    it where the executor is built, and the loop must still be the one that reads it."""
    import inspect

    from dagster_celery import core_execution_loop

    assert "time.sleep(TICK_SECONDS)" in inspect.getsource(core_execution_loop)
    poll = {"PRESSRAG_CELERY_POLL_SECONDS": setting} if setting else {}
    done = _load_definitions(
        PRESSRAG_EXECUTOR="celery", PRESSRAG_CELERY_BROKER_URL="redis://127.0.0.1:6390/0", **poll
    )
    assert done.returncode == 0, done.stderr
    described = json.loads(done.stdout.strip().splitlines()[-1])
    assert described["celery_poll_seconds"] == expected, described
