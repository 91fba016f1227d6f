"""Freshness benchmark: webhook-to-searchable latency, burst coalescing, reconcile time.

    .venv/bin/python -m bench.freshness [--edits 50] [--burst 100] [--sizes 1000,10000]

Everything real, as in the acceptance tests: a FakeWordPress REST site, the serving app and
`dagster dev` (webserver + daemon with the default sensor interval unless
`--sensor-interval` is given) as processes, the embedded Postgres and the local model, in a
fresh temporary PRESSRAG_HOME (or `--home`).

Figures printed:
- latency p50 / p95 (and max) from a signed webhook's 202 to the edited text being live in
  the index (its chunks are what /v1/search reads), over `--edits` single edits one after
  another (target p95 ≤ 30 s);
- a burst of `--burst` edits of different posts sent within 5 s: how many runs the sensor
  launched for them (target ≤ 3) and the time until all are live;
- the time of a full reconcile run (the nightly schedule's run config) of an unchanged
  site of each size in `--sizes`. Those sites' posts share one text, so the initial index
  embeds it once (the embedding cache) and the figure is the reconcile's own cost: listing
  every id and modified date over REST and diffing against `documents`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
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


def _edit(wordpress, hooks, wp_id: int, marker: str) -> None:
    wordpress.upsert(
        {"id": wp_id, "title": f"Note {wp_id}", "content": f"<p>Edited note {marker}.</p>"}
    )
    _, response = hooks.send("document.upserted", {"wp_id": wp_id, "post_type": "post"})
    if response.status_code != 202:
        raise RuntimeError(f"webhook refused: {response.status_code} {response.text}")


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
    with FakeWordPress() as wordpress:
        posts = max(args.burst, 1) + 1
        for wp_id in range(1, posts + 1):
            wordpress.upsert({"id": wp_id, "title": f"Note {wp_id}", "content": "<p>Seed.</p>"})
        added = add_site("bench", url=wordpress.base_url)
        secret = SecretStore(get_settings().resolved_home).get_many(added.site.webhook_key_ids)[0]
        print(f"initial index of {posts} posts: {_full_run('bench', 'manual'):.1f} s", flush=True)
        serving = ServingProcess(env=serving_fixture_env()).start()
        dagster = DagsterDev(env=dagster_env).start()
        try:
            dagster.wait_ready(timeout=300)
            serving.wait_ready(timeout=300)
            hooks = WebhookSender(serving.url, "bench", secret)
            latencies = []
            for n in range(args.edits):
                marker = _marker()
                _edit(wordpress, hooks, 1, marker)
                latencies.append(_wait_live(app_url, "bench", [marker], timeout=600))
                print(f"  edit {n + 1}/{args.edits}: {latencies[-1]:.1f} s", flush=True)
            if latencies:
                ordered = sorted(latencies)
                p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
                print(
                    f"webhook → searchable over {len(latencies)} single edits: "
                    f"p50 {statistics.median(latencies):.1f} s, p95 {p95:.1f} s, "
                    f"max {ordered[-1]:.1f} s (target p95 ≤ 30 s)",
                    flush=True,
                )
            if args.burst:
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
        finally:
            dagster.stop()
            serving.stop()


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
