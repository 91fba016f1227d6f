"""The gateway domain's own small `Definitions`: the usage rollup, its nightly job and schedule.

Its `store` is the code location's (`resources/configured.py`): merged definitions must not
hold two different resources under one key.
"""

from datetime import timedelta

import dagster as dg

from pressrag.assets.gateway.usage import usage_daily
from pressrag.resources.configured import code_location_resources

usage_daily_job = dg.define_asset_job(
    name="usage_daily_job",
    selection=[usage_daily],
    executor_def=dg.in_process_executor,
    description="Roll the usage ledger up for one day (all sites).",
)


@dg.schedule(
    job=usage_daily_job,
    cron_schedule="20 0 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def usage_daily_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Shortly after midnight UTC, the day that just ended (today is a partition too, for
    rollups on demand, so the default "latest partition" would be the day just begun)."""
    day = (context.scheduled_execution_time - timedelta(days=1)).date().isoformat()
    return dg.RunRequest(run_key=f"usage_daily:{day}", partition_key=day)


defs = dg.Definitions(
    assets=[usage_daily],
    jobs=[usage_daily_job],
    schedules=[usage_daily_schedule],
    resources={"store": code_location_resources()["store"]},
)
