"""The code location: every domain's definitions merged, plus jobs, sensors and schedules."""

import dagster as dg

from pressrag.assets.gateway import definitions as gateway
from pressrag.assets.indexing import definitions as indexing
from pressrag.assets.writeback import definitions as writeback
from pressrag.orchestration.jobs import index_site
from pressrag.orchestration.run_outcomes import RUN_OUTCOME_SENSORS
from pressrag.orchestration.run_workers import fork_run_workers, in_code_server
from pressrag.orchestration.schedules import CHECKS, SCHEDULES
from pressrag.orchestration.sensors import SENSORS
from pressrag.orchestration.settings import get_orchestration_settings, run_executor
from pressrag.orchestration.writeback import WRITEBACK_JOBS, WRITEBACK_SENSORS
from pressrag.resources.dagster_resources import export_resource_variables
from pressrag.resources.settings import get_settings

# Its server, every run worker and Celery worker load this module: one without a database
# stops here with the line naming DATABASE_URL, before anything is launched.
export_resource_variables(get_settings())

if in_code_server() and get_orchestration_settings().run_worker_start == "forkserver":
    fork_run_workers()  # orchestration/run_workers.py: a run's worker starts loaded

defs = dg.Definitions.merge(
    indexing.defs,  # a module reference: one Definitions object at module scope
    writeback.defs,
    gateway.defs,
    dg.Definitions(
        jobs=[index_site],
        sensors=[*SENSORS, *RUN_OUTCOME_SENSORS],
        schedules=SCHEDULES,
        asset_checks=CHECKS,
        # Once, for every job and for UI launches ("Materialize all", a backfill).
        executor=run_executor(),
    ),
    dg.Definitions(jobs=WRITEBACK_JOBS, sensors=WRITEBACK_SENSORS),
)
