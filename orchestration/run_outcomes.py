"""Run-status sensors that record in `index_runs` how a run ended when it could not say so.

Only the `embeddings` step of a successful run closes its own row; a run that failed, was
canceled, or whose worker died (and was then failed by run monitoring) would otherwise stay
"running" in `pressrag status` forever. These sensors close such rows with the step that was
failing or running and the error, for every run on the instance. Run-status sensors keep a
cursor, so runs that ended while the daemon was down are recorded when it is back; `pressrag
index`, which may run with no daemon at all, records its own run's end with the same function.
"""

from __future__ import annotations

import dagster as dg

from pressrag.orchestration.sensors import sensor_interval
from pressrag.resources.dagster_resources import StoreResource
from pressrag.resources.store import Store
from pressrag.resources.store import status as status_sql

_STEP_EVENTS = {
    dg.DagsterEventType.STEP_START,
    dg.DagsterEventType.STEP_SUCCESS,
    dg.DagsterEventType.STEP_FAILURE,
    dg.DagsterEventType.STEP_SKIPPED,
}
_RUN_END_EVENTS = {
    dg.DagsterEventType.RUN_FAILURE,
    dg.DagsterEventType.RUN_CANCELED,
    dg.DagsterEventType.ENGINE_EVENT,
}


# How an ended run that did not succeed is recorded in `index_runs`.
ENDED_STATUSES = {dg.DagsterRunStatus.FAILURE: "failed", dg.DagsterRunStatus.CANCELED: "canceled"}


def first_line(text: str | None) -> str:
    """The first line of a message or error, for one-line statuses."""
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""


def _step_error(event: dg.DagsterEvent) -> str:
    error = event.step_failure_data.error if event.step_failure_data else None
    while error is not None and error.cause is not None:  # the user's exception, not Dagster's
        error = error.cause
    return first_line(error.to_string() if error else event.message)


def failure_details(instance: dg.DagsterInstance, run_id: str) -> tuple[str | None, str]:
    """(step, error) of a run that did not succeed: the failed step and its error, or else the
    step that was running when the run ended and the run's own failure message."""
    records = instance.get_records_for_run(run_id, of_type=_STEP_EVENTS | _RUN_END_EVENTS).records
    events = [r.event_log_entry for r in records if r.event_log_entry.dagster_event]
    open_steps: list[str] = []
    since_last_step: list[str] = []  # what the run and the engine said after its last step event
    for entry in events:
        event = entry.dagster_event
        if event.event_type == dg.DagsterEventType.STEP_FAILURE:
            return event.step_key, _step_error(event)
        if event.is_step_event:
            since_last_step.clear()
            if event.event_type == dg.DagsterEventType.STEP_START:
                open_steps.append(event.step_key)
            elif event.step_key in open_steps:
                open_steps.remove(event.step_key)
        elif event.message:
            since_last_step.append(first_line(event.message))
    # E.g. a worker's exit signal from its code server, then the monitoring verdict.
    error = " — ".join(dict.fromkeys(since_last_step)) or "run ended without an error message"
    return (open_steps[-1] if open_steps else None), error


def record_run_end(
    instance: dg.DagsterInstance, store: Store, run_id: str, status: str
) -> str | None:
    """Close the run's `index_runs` row as `status` with its failing step and error, if still
    open; what was recorded, or None when the row was already closed."""
    step, error = failure_details(instance, run_id)
    with store.connection() as conn:
        closed = status_sql.close_unfinished_run(
            conn, run_id, status, failed_step=step, error=error
        )
    return f"index run {run_id} {status} at {step or 'no step'}: {error}" if closed else None


def record_if_ended(instance: dg.DagsterInstance, store: Store, run: dg.DagsterRun) -> str | None:
    """`record_run_end` for a run that failed or was canceled; None for any other status."""
    status = ENDED_STATUSES.get(run.status)
    return record_run_end(instance, store, run.run_id, status) if status else None


def _close(context: dg.RunStatusSensorContext, store: StoreResource, status: str) -> None:
    recorded = record_run_end(context.instance, store.get(), context.dagster_run.run_id, status)
    if recorded:
        context.log.info(recorded)


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.FAILURE,
    monitor_all_code_locations=True,
    minimum_interval_seconds=sensor_interval(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="A run failed (or its worker died): its index_runs row says so, with the step.",
)
def index_run_failed(context: dg.RunStatusSensorContext, store: StoreResource) -> None:
    _close(context, store, "failed")


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.CANCELED,
    monitor_all_code_locations=True,
    minimum_interval_seconds=sensor_interval(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="A run was canceled: its index_runs row says so.",
)
def index_run_canceled(context: dg.RunStatusSensorContext, store: StoreResource) -> None:
    _close(context, store, "canceled")


RUN_OUTCOME_SENSORS = [index_run_failed, index_run_canceled]
