"""Run indexing through Dagster from the shell, search, and report status."""

from __future__ import annotations

import signal
import sys
import threading
import time
from typing import TYPE_CHECKING

from pressrag.orchestration.environment import prepare
from pressrag.orchestration.jobs import index_run_config
from pressrag.orchestration.sites import register_partition
from pressrag.resources.embedders import make_embedder
from pressrag.resources.errors import ConfigError
from pressrag.resources.models import SearchHit
from pressrag.resources.settings import get_settings
from pressrag.resources.store import Store
from pressrag.resources.store.search import hybrid_search
from pressrag.resources.store.sites import get_site, list_sites
from pressrag.resources.store.spaces import active_space
from pressrag.resources.store.status import site_status

if TYPE_CHECKING:
    import dagster as dg
    from dagster._core.workspace.context import WorkspaceProcessContext

# A run still queued after this long gets a line saying what it waits for.
QUEUE_REPORT_AFTER_SECONDS = 3
# After Ctrl-C, how long to wait for the run to stop before handing back the terminal.
CANCEL_WAIT_SECONDS = 30


def _check_model(store: Store) -> None:
    """Fail before any work when the configured embedder differs from the index's model."""
    embedder = make_embedder(get_settings())
    space = store.active_space()
    if space and (space.model, space.dimension) != (embedder.model_id, embedder.dimension):
        raise ConfigError(
            f"the index was built with {space.model} ({space.dimension} dimensions) but the "
            f"configured embedder is {embedder.model_id} ({embedder.dimension} dimensions); "
            "set PRESSRAG_EMBEDDER back to match."
        )


def index_site_now(
    site_id: str,
    *,
    force_reembed: bool = False,
    reason: str = "manual",
    wp_ids: list[int] | None = None,
) -> bool:
    """Submit an `index_site` run of one site partition to the instance's run queue (a full
    reconcile, or a targeted run of `wp_ids`), print its progress until it ends, and say
    whether it succeeded."""
    import dagster as dg

    from pressrag.orchestration.orphans import close_ended_runs, fail_orphaned_runs
    from pressrag.orchestration.run_outcomes import record_if_ended
    from pressrag.orchestration.submission import code_location, daemon_alive, submit_index_run

    urls = prepare()
    instance = dg.DagsterInstance.get()
    with Store(urls.app, max_size=1) as store:
        with store.connection() as conn:
            if get_site(conn, site_id) is None:
                raise ConfigError(f"unknown site {site_id!r}; add it with `pressrag sites add`")
        _check_model(store)
        if not daemon_alive(instance):  # else the daemon's monitoring and sensors do this
            for run_id in fail_orphaned_runs(instance, store):
                print(f"run {run_id} had lost its worker: marked failed, its slots freed")
            for run_id in close_ended_runs(instance, store):
                print(f"run {run_id} had ended unrecorded: its status says so now")
    register_partition(site_id)
    run_config = index_run_config(wp_ids=wp_ids, force_reembed=force_reembed, reason=reason)
    # The run worker's own console would repeat, with tracebacks, what is printed here from
    # the run's events.
    run_config["loggers"] = {"console": {"config": {"log_level": "CRITICAL"}}}
    tags = {"pressrag/trigger": "cli", "pressrag/reason": reason}
    with code_location(instance) as context:
        run = submit_index_run(context, site_id, run_config, tags)
        print(f"run {run.run_id} queued for site {site_id} (also in the Dagster UI)")
        run = _follow(context, run.run_id)
    with Store(urls.app, max_size=1) as store:  # the run-status sensors do this with a daemon
        record_if_ended(instance, store, run)
    summary = _summarise(instance, run)
    print(summary, file=sys.stdout if run.status == dg.DagsterRunStatus.SUCCESS else sys.stderr)
    return run.status == dg.DagsterRunStatus.SUCCESS


def _follow(context: WorkspaceProcessContext, run_id: str) -> dg.DagsterRun:
    """Follow the run to its end, taking it off the queue when no daemon does. Ctrl-C cancels
    the run (as the UI's terminate button does) and waits a little for it to stop."""
    import dagster as dg

    from pressrag.orchestration.progress import follow_run
    from pressrag.orchestration.submission import daemon_alive, dequeue_own_run, queue_report

    instance = context.instance
    reported = False
    report_after = time.monotonic() + QUEUE_REPORT_AFTER_SECONDS

    def while_queued() -> None:
        nonlocal reported
        if not daemon_alive(instance):
            dequeue_own_run(context, run_id)
        if reported or time.monotonic() < report_after:
            return
        if instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.QUEUED:
            print(queue_report(instance, run_id))
            reported = True

    # Ctrl-C sets a flag the loop reads (as Dagster's own CLI does) instead of raising
    # KeyboardInterrupt wherever the main thread is, e.g. inside a database driver.
    interrupted = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: interrupted.set())
    try:
        run = follow_run(instance, run_id, while_queued=while_queued, stop=interrupted.is_set)
    finally:
        signal.signal(signal.SIGINT, previous)  # a second Ctrl-C stops the waiting below
    if not interrupted.is_set():
        return run
    print(f"interrupted: canceling run {run_id}", file=sys.stderr)
    instance.run_coordinator.cancel_run(run_id)
    return follow_run(instance, run_id, timeout=CANCEL_WAIT_SECONDS)


def _summarise(instance: dg.DagsterInstance, run: dg.DagsterRun) -> str:
    import dagster as dg

    from pressrag.orchestration.run_outcomes import failure_details

    if run.status == dg.DagsterRunStatus.SUCCESS:
        return f"run {run.run_id}: succeeded"
    if not run.is_finished:
        return (
            f"run {run.run_id}: still {run.status.value} after the cancel request; "
            "the daemon or the next `pressrag index` settles it"
        )
    step, error = failure_details(instance, run.run_id)
    where = f" in step {step}" if step else ""
    return f"run {run.run_id}: {run.status.value}{where}: {error}"


def search(site_id: str, query: str, *, k: int = 8) -> list[SearchHit]:
    urls = prepare()
    with Store(urls.app, max_size=1) as store, store.connection() as conn:
        site = get_site(conn, site_id)
        if site is None:
            raise ConfigError(f"unknown site {site_id!r}")
        space = active_space(conn)
        if space is None:
            raise ConfigError("nothing is indexed yet: run `pressrag index --site SITE`")
        settings = get_settings()
        # The indexing backend: the chunks' own vectors, and ~1 s of CPU to load where
        # PyTorch's imports take ~7 (a one-shot command pays it on every search).
        embedder = make_embedder(settings, backend=settings.index_embed_backend)
        if (space.model, space.dimension) != (embedder.model_id, embedder.dimension):
            raise ConfigError(
                f"the index was built with {space.model}; the configured embedder is "
                f"{embedder.model_id}"
            )
        vector = embedder.embed([query])[0]
        return hybrid_search(
            conn,
            site_id=site.id,
            space=space,
            query_text=query,
            query_vector=vector,
            k=k,
            ts_config=site.ts_config,
        )


def status(site_id: str | None = None) -> list[dict]:
    urls = prepare()
    with Store(urls.app, max_size=1) as store, store.connection() as conn:
        ids = [site_id] if site_id else [s.id for s in list_sites(conn)]
        if site_id and get_site(conn, site_id) is None:
            raise ConfigError(f"unknown site {site_id!r}")
        return [site_status(conn, i) for i in ids]
