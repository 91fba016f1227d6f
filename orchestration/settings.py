"""When and how runs happen: one settings object for the orchestration knobs.

Dagster reads a sensor's interval, a schedule's cron and the executor when the definitions are
built, so these are read once, where the code location loads; a change takes effect when the
code location reloads (`pressrag up` restarts, or "Reload" in the UI). A bad value stops the
load with pydantic's message naming the variable, instead of being silently clamped.
"""

from __future__ import annotations

from functools import cache
from typing import Literal

import dagster as dg
from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pressrag.resources.store.inbox import DEFAULT_MAX_ATTEMPTS


class OrchestrationSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PRESSRAG_", env_file=".env", extra="ignore")

    # Webhook-to-searchable is bounded by this; Dagster ticks a sensor at most this often.
    sensor_interval_seconds: int = Field(default=5, ge=1, le=15)
    # Failed runs before an inbox event is dead (shown by `pressrag status` and the plugin).
    inbox_max_attempts: int = Field(default=DEFAULT_MAX_ATTEMPTS, ge=1)
    reconcile_cron: str = "0 3 * * *"
    reconcile_timezone: str = "UTC"
    # In-process by default: a run's steps share one process, so it loads the model once
    # (~5–8 s) instead of once per step — what keeps webhook-to-searchable within seconds.
    # `celery` sends every step to Celery workers (`pressrag celery-worker`), so one site's
    # shards run on many machines. Set once on `Definitions`, so UI launches use it too.
    run_executor: Literal["in_process", "multiprocess", "celery"] = Field(
        default="in_process",
        # PRESSRAG_EXECUTOR is the name for it (#11); an error names the first.
        validation_alias=AliasChoices("PRESSRAG_RUN_EXECUTOR", "PRESSRAG_EXECUTOR"),
    )
    # How a code server starts a run's worker: forked from a process that has loaded the code
    # location once (orchestration/run_workers.py), or Dagster's own new interpreter a run.
    run_worker_start: Literal["forkserver", "spawn"] = "forkserver"
    # Read by the executor and the workers from the environment, never copied into run
    # config or definitions: a URL may carry the broker's password.
    celery_broker_url: SecretStr | None = None
    celery_backend_url: SecretStr | None = None  # default: the broker (Redis keeps results)
    # A task whose worker vanished (machine lost, not just its process) is handed to another
    # worker after this long; it must exceed the longest step, or a slow step runs twice.
    celery_visibility_timeout_seconds: int = Field(default=3600, ge=60)
    # How often a Celery run's process asks the backend which steps are done; a step whose
    # inputs are ready waits for the next look (dagster-celery's own is once a second).
    celery_poll_seconds: float = Field(default=0.1, gt=0, le=1)

    @model_validator(mode="after")
    def _celery_needs_a_broker(self) -> OrchestrationSettings:
        if self.run_executor == "celery" and not self.celery_broker_url:
            raise ValueError(
                "the celery executor (PRESSRAG_RUN_EXECUTOR=celery) needs "
                "PRESSRAG_CELERY_BROKER_URL "
                "(e.g. redis://127.0.0.1:6379/0)"
            )
        return self


@cache
def get_orchestration_settings() -> OrchestrationSettings:
    return OrchestrationSettings()


def run_executor() -> dg.ExecutorDefinition:
    settings = get_orchestration_settings()
    if settings.run_executor == "celery":
        from dagster_celery import celery_executor  # the `celery` extra

        poll_celery_results_every(settings.celery_poll_seconds)
        return celery_executor.configured(
            {
                "broker": {"env": BROKER_ENV},
                "backend": {"env": BACKEND_ENV if settings.celery_backend_url else BROKER_ENV},
                "config_source": celery_config(settings),
            }
        )
    if settings.run_executor == "multiprocess":
        return dg.multiprocess_executor
    return dg.in_process_executor


def poll_celery_results_every(seconds: float) -> None:
    """dagster-celery's executor sleeps `TICK_SECONDS` (1 s, a module constant it offers no
    config for) between looks at its steps' results, so each step of a run's chain started
    ~0.5 s late on average: 1,000 documents on one worker took 21–23 s at 1 s, 12–13 s at
    0.1 s (docs/performance.md, "Celery rows"). A look is a backend read per step in flight."""
    from dagster_celery import core_execution_loop

    core_execution_loop.TICK_SECONDS = seconds


BROKER_ENV = "PRESSRAG_CELERY_BROKER_URL"
BACKEND_ENV = "PRESSRAG_CELERY_BACKEND_URL"


def celery_config(settings: OrchestrationSettings) -> dict[str, object]:
    """Celery settings shared by the executor and the workers (`orchestration/celery_app.py`).

    dagster-celery acknowledges a task when a worker takes it: a worker killed mid-step then
    loses the step, and the run fails with WorkerLostError. Acknowledging late, and
    rejecting (requeueing) a task whose worker process died, gives the step to another
    worker instead; the stages are idempotent per document, so the second attempt finishes
    what the first left and doubles nothing.
    """
    return {
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {
            "visibility_timeout": settings.celery_visibility_timeout_seconds
        },
    }
