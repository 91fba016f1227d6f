"""The code location: every domain's definitions merged, plus jobs, sensors and schedules."""

import dagster as dg

from assets.indexing.definitions import defs as indexing_defs
from orchestration.jobs import index_site

defs = dg.Definitions.merge(
    indexing_defs,
    dg.Definitions(jobs=[index_site]),
)
