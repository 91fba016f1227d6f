"""The run launcher of the local instance: Dagster's default launcher, a worker check, and a
refusal of runs for sites that are not registered.

Dagster's run monitoring fails a STARTED run whose worker is gone only if the launcher can
say so, and `DefaultRunLauncher` cannot: after a dead code server (or a killed machine) its
runs stayed STARTED for good, holding their site's place in the run queue and their
`embeddings` pool slot. This launcher answers the monitoring daemon's question:

- a run launched through a code server (its `.dagster/grpc_info` tag) is alive while that
  server still executes it (`CanCancelExecution`, the call the UI's terminate button uses);
  a server that is unreachable or does not know the run means the worker is gone;
- anything else cannot be judged and is reported running.

A run worker killed while its code server lives is reported failed by that server itself
within a second; this check covers the server's and the machine's death (and `pressrag
index`'s own code server, killed with its terminal: orchestration/orphans.py). On Kubernetes
the dagster-k8s launcher does the same for pods.

A site partition can be created outside `pressrag sites add`: the UI's launch dialog offers
"Add a partition", so a typo there becomes a partition and a run. Such a run is failed here,
before a worker starts, with a message saying how to add the site; the stray partition is
deleted, so nothing is left behind.
"""

from __future__ import annotations

import json
import time
from functools import cache

import dagster as dg
import grpc

# Not in Dagster's public namespace; the health-check protocol of run monitoring.
from dagster._core.errors import DagsterUserCodeUnreachableError
from dagster._core.launcher import CheckRunHealthResult, LaunchRunContext, WorkerStatus
from dagster._core.storage.tags import GRPC_INFO_TAG, PARTITION_NAME_TAG
from dagster._grpc.client import DagsterGrpcClient
from dagster._grpc.types import CanCancelExecutionRequest, CanCancelExecutionResult
from dagster._serdes import deserialize_value

from pressrag.assets.indexing.common import site_partitions
from pressrag.resources.database import app_database_url
from pressrag.resources.settings import get_settings
from pressrag.resources.store import Store
from pressrag.resources.store.sites import get_site

USAGE_DAILY_JOB = "usage_daily_job"  # assets/gateway: partitioned by day
# A busy code server may be slow to answer; only a refused connection (or an answer) counts.
GRPC_TIMEOUT_SECONDS = 10
UNREACHABLE_ATTEMPTS = 3
UNREACHABLE_PAUSE_SECONDS = 2.0


def _code_server_health(run_id: str, grpc_info: str) -> CheckRunHealthResult:
    info = json.loads(grpc_info)
    client = DagsterGrpcClient(
        port=info.get("port"),
        socket=info.get("socket"),
        host=info.get("host", "localhost"),
        use_ssl=bool(info.get("use_ssl", False)),
    )
    where = info.get("socket") or f"{info.get('host')}:{info.get('port')}"
    for _ in range(UNREACHABLE_ATTEMPTS):
        try:
            answer = client.can_cancel_execution(
                CanCancelExecutionRequest(run_id=run_id), timeout=GRPC_TIMEOUT_SECONDS
            )
            break
        except DagsterUserCodeUnreachableError as exc:
            cause = exc.__cause__
            if (
                isinstance(cause, grpc.RpcError)
                and cause.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            ):
                return CheckRunHealthResult(
                    WorkerStatus.RUNNING, f"code server {where} is slow to answer", transient=True
                )
            time.sleep(UNREACHABLE_PAUSE_SECONDS)
    else:
        return CheckRunHealthResult(
            WorkerStatus.FAILED, f"the code server that ran it ({where}) is unreachable"
        )
    if deserialize_value(answer, CanCancelExecutionResult).can_cancel:
        return CheckRunHealthResult(WorkerStatus.RUNNING)
    return CheckRunHealthResult(
        WorkerStatus.FAILED, f"the code server at {where} no longer runs it"
    )


def unregistered_site(run: dg.DagsterRun) -> str | None:
    """The site partition a run targets when no such site is registered, else None.

    Every partitioned asset of PressRAG is partitioned by site, so a run's partition is a site,
    except the gateway's usage rollup, partitioned by day.
    """
    site_id = run.tags.get(PARTITION_NAME_TAG)
    if not site_id or _by_day(run):
        return None
    with _store(app_database_url(get_settings())).connection() as conn:
        return None if get_site(conn, site_id) else site_id


@cache
def _store(url: str) -> Store:
    """The launcher belongs to the instance (the daemon, the webserver, `pressrag index`), not
    to the code location's definitions, so it gets no Dagster resources: it opens the store
    itself, one per URL (tests switch databases within one process)."""
    return Store(url, max_size=1)


def _by_day(run: dg.DagsterRun) -> bool:
    """A run of the usage rollup (its job, or only its asset): a day partition, not a site."""
    if run.job_name == USAGE_DAILY_JOB:
        return True
    selected = run.asset_selection or set()
    return bool(selected) and all(key.path[-1] == "usage_daily" for key in selected)


class WorkerCheckingRunLauncher(dg.DefaultRunLauncher):
    """`DefaultRunLauncher` that refuses runs of unregistered sites and tells run monitoring
    whether a run's worker still exists."""

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        site_id = unregistered_site(run)
        if site_id is None:
            super().launch_run(context)
            return
        instance = self._instance
        if instance.has_dynamic_partition(site_partitions.name, site_id):
            instance.delete_dynamic_partition(site_partitions.name, site_id)
        # Not retried (dagster.yaml's run_retries would launch it twice more, each refused
        # again): the failure below reads this tag when it decides `dagster/will_retry`.
        instance.add_run_tags(run.run_id, {"dagster/max_retries": "0"})
        instance.report_run_failed(
            run,
            f"refused: site {site_id!r} is not registered (its partition was removed); "
            "add the site with `pressrag sites add` and launch again",
        )

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        if run.tags.get(GRPC_INFO_TAG):
            return _code_server_health(run.run_id, run.tags[GRPC_INFO_TAG])
        return CheckRunHealthResult(WorkerStatus.RUNNING, "no worker recorded: not judged")
