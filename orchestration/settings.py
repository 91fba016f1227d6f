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
from pydantic import Field
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
    # In-process by default: a run's five steps share one process, so it loads the model
    # once (~5–8 s) instead of once per step — what keeps webhook-to-searchable within
    # seconds. Set once on `Definitions`, so UI launches ("Materialize all") use it too.
    run_executor: Literal["in_process", "multiprocess"] = "in_process"


@cache
def get_orchestration_settings() -> OrchestrationSettings:
    return OrchestrationSettings()


def run_executor() -> dg.ExecutorDefinition:
    if get_orchestration_settings().run_executor == "multiprocess":
        return dg.multiprocess_executor
    return dg.in_process_executor
