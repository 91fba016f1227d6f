"""When the write-back runs: its jobs and sensors.

- `writeback_automation` evaluates the eager automation conditions of `summaries` and
  `summaries_to_wordpress`: when index runs update sites' `extracted_text`, one run (for all
  sites: see `assets/writeback/common.py`) summarises what changed and delivers it.
- `writeback_requests` reads WordPress's requests from the webhook inbox with its own cursor:
  "regenerate" (the editor panel) → a `write_back_site` run for those posts; "Draft with
  PressRAG" → a `write_draft` run whose run config is the request.
- `draft_failed` tells WordPress when a draft run failed for good, with its reason.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict

import dagster as dg
from pydantic import ValidationError

from pressrag.assets.writeback.drafts import (
    REQUEST_TAG,
    SITE_TAG,
    DraftConfig,
    compose_draft,
    progress_message,
)
from pressrag.orchestration.sensors import sensor_interval
from pressrag.orchestration.settings import get_orchestration_settings
from pressrag.resources.dagster_resources import StoreResource
from pressrag.resources.errors import PressRAGError
from pressrag.resources.store.sites import get_site
from pressrag.resources.webhooks import SUMMARY_REGENERATE_REQUESTED
from pressrag.resources.writeback import store as writeback_sql
from pressrag.resources.writeback.dagster_resources import WordPressCallbackResource

WRITEBACK_GROUP = "writeback"
TRIGGER_TAG = "pressrag/trigger"
PAGE_SIZE = 500


write_back_site = dg.define_asset_job(
    name="write_back_site",
    selection=dg.AssetSelection.groups(WRITEBACK_GROUP),
    description="Summarise changed documents and deliver new summaries to WordPress (the "
    "sites in run config, or every site).",
)

WRITEBACK_STEPS = (
    "summaries",
    "summaries_to_wordpress",
    "summaries_every_document_has_a_current_summary",
)


def writeback_run_config(
    sites: list[str], *, regenerate_wp_ids: list[int] | None = None, force: bool = False
) -> dict:
    """Run config giving every write-back step the same `WritebackConfig`."""
    config = {
        "sites": sites,
        "regenerate_wp_ids": sorted(set(regenerate_wp_ids or [])),
        "force": force,
    }
    return {"ops": {step: {"config": config} for step in WRITEBACK_STEPS}}


@dg.job(
    name="write_draft",
    description="One 'Draft with PressRAG' request: retrieve, write, create a WordPress draft.",
)
def write_draft() -> None:
    compose_draft()


writeback_automation = dg.AutomationConditionSensorDefinition(
    "writeback_automation",
    target=dg.AssetSelection.groups(WRITEBACK_GROUP),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=max(10, get_orchestration_settings().sensor_interval_seconds),
    # Behind queued index runs: fresh answers come before summaries.
    run_tags={"dagster/priority": "-1"},
    description="Summaries follow each site's extracted text; delivery follows summaries.",
)


def draft_run_request(event: writeback_sql.RequestEvent) -> dg.RunRequest:
    """The `write_draft` run of one request (ValidationError when the request is malformed)."""
    config = DraftConfig(
        site=event.site_id,
        request_id=str(event.data.get("request_id", "")),
        topic=str(event.data.get("topic", "")),
        outline=[str(i) for i in event.data.get("outline") or []],
        words=int(event.data.get("words") or 600),
    )
    return dg.RunRequest(
        run_key=f"draft-{event.event_id}",
        job_name="write_draft",
        run_config={"ops": {"compose_draft": {"config": config.model_dump()}}},
        tags={SITE_TAG: event.site_id, REQUEST_TAG: config.request_id, TRIGGER_TAG: "wordpress"},
    )


def regenerate_run_request(site_id: str, wp_ids: set[int], event_ids: list[str]) -> dg.RunRequest:
    key = hashlib.sha256("\n".join(sorted(event_ids)).encode()).hexdigest()[:20]
    return dg.RunRequest(
        run_key=f"regenerate-{site_id}-{key}",
        job_name="write_back_site",
        run_config=writeback_run_config([site_id], regenerate_wp_ids=sorted(wp_ids)),
        tags={TRIGGER_TAG: "wordpress", "pressrag/reason": "regenerate", SITE_TAG: site_id},
    )


def plan_requests(
    events: list[writeback_sql.RequestEvent], log: dg.DagsterLogManager | None = None
) -> list[dg.RunRequest]:
    """Run requests for a page of inbox events; malformed ones are logged and skipped."""
    regenerate: dict[str, set[int]] = defaultdict(set)
    regenerate_events: dict[str, list[str]] = defaultdict(list)
    requests: list[dg.RunRequest] = []
    for event in events:
        if event.event_type == SUMMARY_REGENERATE_REQUESTED:
            wp_id = event.data.get("wp_id")
            if isinstance(wp_id, int) and not isinstance(wp_id, bool) and wp_id > 0:
                regenerate[event.site_id].add(wp_id)
                regenerate_events[event.site_id].append(event.event_id)
                continue
        else:
            try:
                requests.append(draft_run_request(event))
                continue
            except (ValidationError, TypeError, ValueError) as exc:
                if log:
                    log.warning(f"draft request {event.event_id} is malformed: {exc}")
                continue
        if log:
            log.warning(f"ignoring malformed {event.event_type} event {event.event_id}")
    for site_id, wp_ids in regenerate.items():
        requests.append(regenerate_run_request(site_id, wp_ids, regenerate_events[site_id]))
    return requests


@dg.sensor(
    jobs=[write_back_site, write_draft],
    minimum_interval_seconds=sensor_interval(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="WordPress's 'regenerate' and 'Draft with PressRAG' requests → runs.",
)
def writeback_requests(
    context: dg.SensorEvaluationContext, store: StoreResource
) -> dg.SensorResult:
    after = int(context.cursor or 0)
    with store.get().connection() as conn:
        events = writeback_sql.request_events(conn, after_id=after, limit=PAGE_SIZE)
    requests = plan_requests(events, context.log)
    return dg.SensorResult(
        run_requests=requests,
        cursor=str(events[-1].id if events else after),
        skip_reason=None if requests else "no write-back requests",
    )


def failure_reason(context: dg.RunFailureSensorContext) -> str:
    """Our own explanation (a `dg.Failure` description) if the step gave one; anything else
    stays in Dagster, since an unexpected error's text is not for a WordPress screen."""
    for event in context.get_step_failure_events():
        data = event.step_failure_data
        if data and data.user_failure_data and data.user_failure_data.description:
            return data.user_failure_data.description[:500]
    return f"the draft could not be written (Dagster run {context.dagster_run.run_id[:8]})"


@dg.run_failure_sensor(
    monitored_jobs=[write_draft],
    minimum_interval_seconds=sensor_interval(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="A draft run failed for good: WordPress shows why.",
)
def draft_failed(
    context: dg.RunFailureSensorContext,
    store: StoreResource,
    callbacks: WordPressCallbackResource,
) -> None:
    run = context.dagster_run
    site_id, request_id = run.tags.get(SITE_TAG), run.tags.get(REQUEST_TAG)
    if not site_id or not request_id:
        return
    with store.get().connection() as conn:
        site = get_site(conn, site_id)
    if site is None:
        return
    config = DraftConfig.model_construct(site=site_id, request_id=request_id)
    try:
        client = callbacks.client_for(site)
        client.send(progress_message(config, "failed", failure_reason(context)))
    except PressRAGError as exc:  # CallbackError included
        context.log.warning(f"could not tell WordPress that draft {request_id} failed: {exc}")


WRITEBACK_JOBS = [write_back_site, write_draft]
WRITEBACK_SENSORS = [writeback_automation, writeback_requests, draft_failed]
