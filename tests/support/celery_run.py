"""Run `index_site` for one site as the code location's job, with the configured executor.

`python -m tests.support.celery_run SITE` reconstructs the job from
`pressrag.orchestration.definitions` (as Dagster's run worker does), executes it on the
instance of DAGSTER_HOME — with PRESSRAG_EXECUTOR=celery its steps go to the Celery workers —
and prints the run id; the exit status is the run's outcome. A process of its own, because
the executor is chosen once, when the definitions load.
"""

from __future__ import annotations

import sys

import dagster as dg
from dagster._core.definitions.reconstruct import ReconstructableRepository

from pressrag.orchestration.jobs import index_run_config
from pressrag.orchestration.sites import register_partition


def main(site_id: str) -> int:
    register_partition(site_id)
    job = ReconstructableRepository.for_module(
        "pressrag.orchestration.definitions", "defs"
    ).get_reconstructable_job("index_site")
    with dg.DagsterInstance.get() as instance:
        result = dg.execute_job(
            job,
            instance,
            run_config=index_run_config(),
            tags={"dagster/partition": site_id},
            raise_on_error=False,
        )
    print(result.run_id, flush=True)
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
