"""A run's progress in the terminal, read from the instance's event log.

The run executes elsewhere (a code server's run worker); what it did reaches the terminal the
way it reaches the UI: through its events. Printed: steps starting and failing,
the figures of each materialization, check results and the assets' own log lines, not
Dagster's internal events.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

import dagster as dg

from pressrag.orchestration.run_outcomes import first_line

POLL_SECONDS = 0.5
# What the assets log with `context.log`: their own lines, without Dagster's debug chatter.
_LOG_LEVEL = 20  # logging.INFO


def _figures(metadata: dict) -> dict:
    """The figures only: lists, the column schema and the preview are for the Dagster UI."""
    return {
        key: value.value
        for key, value in metadata.items()
        if key != "failures" and isinstance(value.value, int | float | str | bool)
    }


def describe(entry: dg.EventLogEntry) -> str | None:
    """One line for an event worth showing, else None."""
    event = entry.dagster_event
    if event is None:
        if entry.level < _LOG_LEVEL or not entry.user_message:
            return None
        return f"{entry.step_key or 'run'}: {entry.user_message}"
    kind = event.event_type
    if kind == dg.DagsterEventType.RUN_START:
        return "run started"
    if kind == dg.DagsterEventType.STEP_START:
        return f"{event.step_key}: started"
    if kind == dg.DagsterEventType.STEP_FAILURE and event.step_failure_data:
        error = event.step_failure_data.error
        message = first_line(error.message if error else None) or "failed"
        return f"{event.step_key}: FAILED: {message}"
    if kind == dg.DagsterEventType.ASSET_MATERIALIZATION:
        materialization = event.step_materialization_data.materialization
        return f"{materialization.asset_key.to_user_string()}: {_figures(materialization.metadata)}"
    if kind == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
        evaluation = event.event_specific_data
        verdict = "passed" if evaluation.passed else f"FAILED ({evaluation.severity.value})"
        return f"check {evaluation.check_name}: {verdict}"
    if kind == dg.DagsterEventType.RUN_FAILURE:
        return f"run failed: {first_line(entry.message) or 'failed'}"
    if kind == dg.DagsterEventType.RUN_CANCELED:
        return "run canceled"
    return None


def follow_run(
    instance: dg.DagsterInstance,
    run_id: str,
    *,
    while_queued: Callable[[], None] | None = None,
    stop: Callable[[], bool] | None = None,
    timeout: float | None = None,
    out: Callable[[str], None] = print,
) -> dg.DagsterRun:
    """Print the run's progress until it has finished (or `timeout` seconds passed, or `stop()`
    says so); the run as last read.

    `while_queued` is called at every poll while the run waits in the queue.
    """
    cursor = None
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        # The status first: once finished, one more read gets every event the run wrote.
        run = instance.get_run_by_id(run_id)
        finished = run.is_finished
        while True:
            page = instance.get_records_for_run(run_id, cursor=cursor, limit=1000)
            for record in page.records:
                line = describe(record.event_log_entry)
                if line:
                    stamp = datetime.fromtimestamp(record.event_log_entry.timestamp)
                    out(f"{stamp:%H:%M:%S}  {line}")
            cursor = page.cursor
            if not page.has_more:
                break
        if finished or (deadline is not None and time.monotonic() > deadline):
            return run
        if stop is not None and stop():
            return run
        if run.status == dg.DagsterRunStatus.QUEUED and while_queued is not None:
            while_queued()
        time.sleep(POLL_SECONDS)
