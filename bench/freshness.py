"""Freshness benchmark: webhook-to-searchable latency, burst coalescing, reconcile time.

    .venv/bin/python -m bench.freshness [--edits 50] [--baseline-edits 20] [--burst 100]
        [--sizes 1000,10000]

Everything real, as in the acceptance tests: a FakeWordPress REST site, the serving app and
`dagster dev` (webserver + daemon with the default sensor interval unless
`--sensor-interval` is given) as processes, the embedded Postgres and the local model, in a
fresh temporary PRESSRAG_HOME (or `--home`).

Figures printed:
- latency p50 / p95 (and max) from a signed webhook's 202 to the edited text being live in
  the index (its chunks are what /v1/search reads), over `--edits` single edits one after
  another (target p95 ≤ 15 s), with the load average before and after and the machine's CPU
  seconds an edit;
- the same over `--baseline-edits` edits first, on a stack whose code server starts each run
  worker as Dagster does by itself (a new interpreter, `spawn`), and the default stack's
  figures against it, with their ratios (orchestration/run_workers.py);
- where that time goes: each phase from the 202 to searchable (sensor claim, run created,
  enqueued, dequeued, run worker up, code location loaded, each step, searchable) as its
  median and p95 over the edits, and the phases of the median edit's run; the times are the
  inbox row's, the run record's and the Dagster event log's;
- a burst of `--burst` edits of different posts sent within 5 s: how many runs the sensor
  launched for them (target ≤ 3) and the time until all are live;
- the time of a full reconcile run (the nightly schedule's run config) of an unchanged
  site of each size in `--sizes`. Those sites' posts share one text, so the initial index
  embeds it once (the embedding cache) and the figure is the reconcile's own cost: listing
  every id and modified date over REST and diffing against `documents`.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))


def _prepare_home(home: Path) -> str:
    os.environ["PRESSRAG_HOME"] = str(home)
    for name in ("DATABASE_URL", "PRESSRAG_APP_DB_URL", "PRESSRAG_DAGSTER_PG_URL", "DAGSTER_HOME"):
        os.environ.pop(name, None)
    from pressrag.orchestration.environment import prepare
    from pressrag.resources.settings import get_settings

    get_settings.cache_clear()
    return prepare().app


def _live(app_url: str, site: str, markers: list[str]) -> set[str]:
    """The markers whose text is in a live chunk of the site."""
    from pressrag.resources.store import Store

    with Store(app_url, max_size=1) as store, store.connection() as conn:
        rows = conn.execute(
            "SELECT m FROM unnest(%s::text[]) AS m WHERE EXISTS ("
            "SELECT 1 FROM chunks c WHERE c.site_id = %s AND c.text LIKE '%%' || m || '%%')",
            (markers, site),
        ).fetchall()
    return {r[0] for r in rows}


def _wait_live(app_url: str, site: str, markers: list[str], timeout: float) -> float:
    start = time.monotonic()
    pending = set(markers)
    while pending and time.monotonic() - start < timeout:
        pending -= _live(app_url, site, sorted(pending))
        if pending:
            time.sleep(0.25)
    if pending:
        raise TimeoutError(f"{len(pending)} edits not live after {timeout}s")
    return time.monotonic() - start


def _marker() -> str:
    return "mk" + uuid.uuid4().hex[:12]


def _edit(wordpress, hooks, wp_id: int, marker: str) -> str:
    """Edit a post and send its webhook; returns the event id."""
    wordpress.upsert(
        {"id": wp_id, "title": f"Note {wp_id}", "content": f"<p>Edited note {marker}.</p>"}
    )
    event_id, response = hooks.send("document.upserted", {"wp_id": wp_id, "post_type": "post"})
    if response.status_code != 202:
        raise RuntimeError(f"webhook refused: {response.status_code} {response.text}")
    return event_id


@dataclass
class TimedEdit:
    """One single edit: its webhook's event id, when the 202 came and when it was live."""

    event_id: str
    accepted: float  # wall clock, as Dagster's event log and PostgreSQL's now() are
    live: float


def _inbox_claim(app_url: str, event_id: str) -> tuple[float, str]:
    """(when the sensor claimed it, its batch id) of an inbox event."""
    from pressrag.resources.store import Store

    with Store(app_url, max_size=1) as store, store.connection() as conn:
        launched, batch = conn.execute(
            "SELECT extract(epoch FROM launched_at), batch_id FROM inbox WHERE event_id = %s",
            (event_id,),
        ).fetchone()
    return float(launched), batch


def _run_milestones(instance, run_id: str, live: float) -> list[tuple[str, float]]:
    """The run's milestones from its event log, in order, up to the step that made it live."""
    import dagster as dg

    marks: list[tuple[str, float]] = []
    named = {
        dg.DagsterEventType.RUN_ENQUEUED: "run enqueued (after its PLANNED events)",
        dg.DagsterEventType.RUN_STARTING: "dequeued, launching (RUN_STARTING)",
        dg.DagsterEventType.RUN_START: "code location loaded (RUN_START)",
    }
    first_step = True
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None:
            continue
        kind = event.event_type
        if kind in named:
            marks.append((named[kind], entry.timestamp))
        elif kind == dg.DagsterEventType.ENGINE_EVENT and (event.message or "").startswith(
            "Started process for run"
        ):
            marks.append(("run worker process up", entry.timestamp))
        elif kind == dg.DagsterEventType.STEP_START and first_step:
            marks.append(("resources set up, first step starts", entry.timestamp))
            first_step = False
        elif kind == dg.DagsterEventType.STEP_SUCCESS and entry.timestamp <= live:
            marks.append((f"step {event.step_key}", entry.timestamp))
    return marks


def edit_phases(instance, app_url: str, edit: TimedEdit) -> list[tuple[str, float]]:
    """(phase, seconds) from the webhook's 202 to searchable; the phases add up to it."""
    import dagster as dg

    from pressrag.orchestration.sensors import BATCH_TAG

    claimed, batch = _inbox_claim(app_url, edit.event_id)
    run = instance.get_runs(filters=dg.RunsFilter(tags={BATCH_TAG: batch}), limit=1)[0]
    created = instance.get_run_record_by_id(run.run_id).create_timestamp.timestamp()
    marks = [
        ("webhook 202", edit.accepted),
        ("sensor tick claims the event", claimed),
        ("run created", created),
        *_run_milestones(instance, run.run_id, edit.live),
        ("publish commits: searchable (polled every 0.25 s)", edit.live),
    ]
    return [(name, end - start) for (_, start), (name, end) in itertools.pairwise(marks)]


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def print_breakdown(app_url: str, edits: list[TimedEdit]) -> dict[str, list[float]]:
    """Each phase's median and p95 over the edits, and the median edit's own phases; returns
    each phase's values."""
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        phases = [edit_phases(instance, app_url, edit) for edit in edits]
    by_name: dict[str, list[float]] = {}
    for edit_phases_ in phases:
        for name, seconds in edit_phases_:
            by_name.setdefault(name, []).append(seconds)
    totals = [edit.live - edit.accepted for edit in edits]
    median_edit = phases[totals.index(_quantile(totals, 0.5))]
    print("where the time goes (s; each phase ends at the named point):", flush=True)
    print(f"  {'phase':<52} {'p50':>6} {'p95':>6} {'median edit':>12}")
    mine = dict(median_edit)
    for name, values in by_name.items():
        own = f"{mine[name]:12.2f}" if name in mine else f"{'-':>12}"
        print(f"  {name:<52} {statistics.median(values):6.2f} {_quantile(values, 0.95):6.2f} {own}")
    print(f"  {'total':<52} {statistics.median(totals):6.2f} {_quantile(totals, 0.95):6.2f}")
    return by_name


def print_sensor_ticks(since: float) -> None:
    """Each sensor's ticks since `since`: the gaps between tick starts and the ticks' own
    durations (p50 / p95 / max). The inbox sensor's gap is most of the sensor phase above, and
    a sensor waiting behind the others shows as gaps longer than the daemon's 5 s loop."""
    import dagster as dg
    from dagster._core.definitions.run_request import InstigatorType

    with dg.DagsterInstance.get() as instance:
        states = instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
        ticks = {
            state.instigator_name: sorted(
                instance.get_ticks(state.instigator_origin_id, state.selector_id, after=since),
                key=lambda tick: tick.timestamp,
            )
            for state in states
        }

    def spread(values: list[float]) -> str:
        if not values:
            return f"{'-':>17}"
        return f"{statistics.median(values):5.2f} {_quantile(values, 0.95):5.2f} {max(values):5.2f}"

    print("sensor ticks during the edits (s; p50 p95 max):", flush=True)
    print(f"  {'sensor':<24} {'ticks':>5}  {'gap between starts':>17}  {'tick duration':>17}")
    for name, sensor_ticks in sorted(ticks.items()):
        starts = [tick.timestamp for tick in sensor_ticks]
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        durations = [
            tick.end_timestamp - tick.timestamp for tick in sensor_ticks if tick.end_timestamp
        ]
        print(f"  {name:<24} {len(sensor_ticks):5}  {spread(gaps)}  {spread(durations)}")


def _load() -> str:
    return "load average " + " / ".join(f"{x:.2f}" for x in os.getloadavg())


def _batch_runs(since: float) -> int:
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs(filters=dg.RunsFilter(job_name="index_site"))
    return sum(
        1
        for r in runs
        if "pressrag/inbox_batch" in r.tags
        and (instance.get_run_record_by_id(r.run_id).create_timestamp.timestamp() >= since)
    )


def _full_run(site: str, reason: str) -> float:
    """A full run of the site through dg.materialize on the instance; returns seconds."""
    import dagster as dg

    from pressrag.assets.indexing.definitions import (
        INDEXING_ASSETS,
        INDEXING_CHECKS,
        INDEXING_RESOURCES,
    )
    from pressrag.orchestration.jobs import index_run_config

    start = time.monotonic()
    result = dg.materialize(
        [*INDEXING_ASSETS, *INDEXING_CHECKS],
        partition_key=site,
        instance=dg.DagsterInstance.get(),
        run_config=index_run_config(reason=reason),
        resources=INDEXING_RESOURCES,
        raise_on_error=True,
    )
    assert result.success
    return time.monotonic() - start


def _busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent busy (every process, PostgreSQL included)."""
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


@dataclass
class Arm:
    """One stack's single edits: how its code server started run workers, and the figures."""

    start_method: str
    latencies: list[float]
    worker_up: list[float]  # RUN_STARTING → the run worker's first event
    cpu_per_edit: float  # the machine's busy CPU seconds during the edits, per edit


def measure_edits(app_url: str, wordpress, hooks, edits: int, start_method: str) -> Arm:
    """`edits` single edits one after another through the running stack, with their figures."""
    timed = []
    load_before, cpu_before, since = _load(), _busy_cpu_seconds(), time.time()
    for n in range(edits):
        marker = _marker()
        event_id = _edit(wordpress, hooks, 1, marker)
        accepted = time.time()
        waited = _wait_live(app_url, "bench", [marker], timeout=600)
        timed.append(TimedEdit(event_id, accepted, accepted + waited))
        print(f"  edit {n + 1}/{edits}: {waited:.1f} s", flush=True)
    cpu = (_busy_cpu_seconds() - cpu_before) / edits
    latencies = [edit.live - edit.accepted for edit in timed]
    print(
        f"webhook → searchable over {len(latencies)} single edits, run workers by "
        f"{start_method}: p50 {statistics.median(latencies):.1f} s, "
        f"p95 {_quantile(latencies, 0.95):.1f} s, max {max(latencies):.1f} s "
        f"(target p95 ≤ 15 s); machine CPU {cpu:.2f} s an edit; "
        f"{load_before} before, {_load()} after",
        flush=True,
    )
    phases = print_breakdown(app_url, timed)
    print_sensor_ticks(since)
    return Arm(start_method, latencies, phases.get("run worker process up", []), cpu)


def print_comparison(baseline: Arm, arm: Arm) -> None:
    """The main arm against the baseline arm of the same run, with their ratios."""
    print(
        f"run workers by {arm.start_method} against {baseline.start_method} "
        f"(Dagster's own; {len(baseline.latencies)} edits, same run, before):",
        flush=True,
    )
    rows = [
        ("webhook → searchable p50 (s)", statistics.median, "latencies"),
        ("webhook → searchable p95 (s)", lambda v: _quantile(v, 0.95), "latencies"),
        ("dequeued → run worker up, p50 (s)", statistics.median, "worker_up"),
    ]
    for label, figure, field_name in rows:
        old, new = figure(getattr(baseline, field_name)), figure(getattr(arm, field_name))
        print(f"  {label:<38} {old:7.2f} → {new:7.2f}  ×{new / old:.2f}")
    old, new = baseline.cpu_per_edit, arm.cpu_per_edit
    print(f"  {'machine CPU an edit (s)':<38} {old:7.2f} → {new:7.2f}  ×{new / old:.2f}")


def bench_latency_and_burst(args: argparse.Namespace, app_url: str) -> None:
    from pressrag.orchestration.sites import add_site
    from pressrag.resources.secrets import SecretStore
    from pressrag.resources.settings import get_settings
    from tests.support.dagster_daemon import (
        DagsterDev,
        ServingProcess,
        WebhookSender,
        serving_fixture_env,
    )
    from tests.support.fake_wordpress import FakeWordPress

    dagster_env = {}
    if args.sensor_interval:
        dagster_env["PRESSRAG_SENSOR_INTERVAL_SECONDS"] = str(args.sensor_interval)
    # The baseline arm first (Dagster's own start method), then the default stack.
    arms = [("spawn", args.baseline_edits)] if args.baseline_edits else []
    arms.append(("forkserver", args.edits))
    with FakeWordPress() as wordpress:
        posts = max(args.burst, 1) + 1
        for wp_id in range(1, posts + 1):
            wordpress.upsert({"id": wp_id, "title": f"Note {wp_id}", "content": "<p>Seed.</p>"})
        added = add_site("bench", url=wordpress.base_url)
        secret = SecretStore(get_settings().resolved_home).get_many(added.site.webhook_key_ids)[0]
        print(f"initial index of {posts} posts: {_full_run('bench', 'manual'):.1f} s", flush=True)
        serving = ServingProcess(env=serving_fixture_env()).start()
        try:
            serving.wait_ready(timeout=300)
            hooks = WebhookSender(serving.url, "bench", secret)
            measured = []
            for start_method, edits in arms:
                env = {**dagster_env, "PRESSRAG_RUN_WORKER_START": start_method}
                dagster = DagsterDev(env=env).start()
                try:
                    dagster.wait_ready(timeout=300)
                    if edits:
                        measured.append(
                            measure_edits(app_url, wordpress, hooks, edits, start_method)
                        )
                    if start_method == "forkserver" and args.burst:
                        bench_burst(args, app_url, wordpress, hooks)
                finally:
                    dagster.stop()
            if len(measured) == 2:
                print_comparison(*measured)
        finally:
            serving.stop()


def bench_burst(args: argparse.Namespace, app_url: str, wordpress, hooks) -> None:
    """`--burst` edits of different posts within 5 s: the runs they made, the time to live."""
    time.sleep(2)
    since = time.time()
    markers = []
    start = time.monotonic()
    for i in range(args.burst):
        marker = _marker()
        markers.append(marker)
        _edit(wordpress, hooks, 2 + i, marker)
        time.sleep(max(0.0, (i + 1) * 5.0 / args.burst - (time.monotonic() - start)))
    sent = time.monotonic() - start
    waited = _wait_live(app_url, "bench", markers, timeout=900)
    print(
        f"burst of {args.burst} edits sent in {sent:.1f} s → "
        f"{_batch_runs(since)} runs (target ≤ 3); all searchable "
        f"{waited:.1f} s after the last edit",
        flush=True,
    )


def bench_reconcile(sizes: list[int]) -> None:
    from pressrag.orchestration.sites import add_site
    from tests.support.fake_wordpress import FakeWordPress

    for size in sizes:
        with FakeWordPress() as wordpress:
            for wp_id in range(1, size + 1):
                wordpress.upsert(
                    {"id": wp_id, "title": "Same note", "content": "<p>Same text everywhere.</p>"}
                )
            site = f"recon-{size}"
            add_site(site, url=wordpress.base_url)
            first = _full_run(site, "manual")
            again = _full_run(site, "reconcile")
            print(
                f"reconcile of an unchanged site of {size} documents: {again:.1f} s "
                f"(initial index {first:.1f} s)",
                flush=True,
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edits", type=int, default=50)
    parser.add_argument(
        "--baseline-edits",
        type=int,
        default=20,
        help="single edits on a stack whose run workers start as Dagster's own (spawn); 0: none",
    )
    parser.add_argument("--burst", type=int, default=100)
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--sensor-interval", type=int, default=0, help="0: the default")
    parser.add_argument("--home", type=Path, help="PRESSRAG_HOME (default: a temp dir)")
    args = parser.parse_args(argv)
    os.chdir(REPO_ROOT)
    with tempfile.TemporaryDirectory(prefix="pressrag-bench-") as tmp:
        home = args.home or Path(tmp)
        app_url = _prepare_home(home)
        if args.edits or args.burst:
            bench_latency_and_burst(args, app_url)
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
        if sizes:
            bench_reconcile(sizes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
