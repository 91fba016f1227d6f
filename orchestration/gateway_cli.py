"""`pressrag keys|budget|usage`, and the budget lines of `pressrag status` (the gateway from
the shell; docs/operations.md, "Keys, usage, budgets"). Registered by orchestration/cli.py with
`register(sub)`; no Dagster import: these commands are quick."""

from __future__ import annotations

import argparse
import json

BUDGET_NAMES = ("requests_per_minute", "requests_per_day", "tokens_per_month", "cost_per_month_usd")


def _cmd_keys(args: argparse.Namespace) -> int:
    from pressrag.orchestration import gateway

    if args.action == "create":
        scopes = [s.strip() for value in args.scope for s in value.split(",") if s.strip()]
        created = gateway.create_key(args.site, scopes, args.name or "")
        print(f"{created.info.id} for {created.info.site_id} ({','.join(created.info.scopes)})")
        print(f"API key (shown once, stored hashed): {created.key}")
    elif args.action == "revoke":
        revoked = gateway.revoke_key(args.key_id, args.site)
        print(f"revoked {revoked.id} of {revoked.site_id}")
    else:
        found = gateway.list_keys(args.site)
        if args.json:
            print(json.dumps([k.__dict__ for k in found], indent=2, default=str))
            return 0
        if not found:
            print("no API keys" + (f" of {args.site}" if args.site else ""))
        for key in found:
            state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
            used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never"
            print(
                f"{key.id}\t{key.site_id}\t{','.join(key.scopes)}\t{key.hint}\t{state}\t"
                f"last used {used}\t{key.name}"
            )
    return 0


def _cmd_budget(args: argparse.Namespace) -> int:
    from pressrag.orchestration import gateway

    changes = {
        name: getattr(args, name)
        for name in (*BUDGET_NAMES, "warn_at")
        if getattr(args, name) is not None
    }
    changes.update({name.replace("-", "_"): None for name in args.clear or []})
    if changes:
        gateway.set_budgets(args.site, **changes)
    report = gateway.budget_reports([args.site])[args.site]
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    limits = ", ".join(f"{k} {v:g}" for k, v in report["budgets"].items()) or "no limits"
    print(f"{args.site}: {limits}")
    for line in report["lines"]:
        print(f"  {budget_line(line)}")
    return 0


def budget_line(line: dict) -> str:
    return (
        f"{line['name']}: {line['used']:,.4g} of {line['limit']:,.4g} ({line['share']:.0%}) "
        f"{line['state']}, resets {line['resets_at'][:10]}"
    )


def add_budget_state(report: list[dict]) -> None:
    """Put each site's budget state into a `pressrag status` report (`budget`)."""
    from pressrag.orchestration.gateway import budget_reports

    budgets = budget_reports([entry["site"] for entry in report])
    for entry in report:
        entry["budget"] = budgets[entry["site"]]


def budget_status_lines(entry: dict) -> list[str]:
    """What `pressrag status` says about a site's budgets: the ones in warning or exhausted."""
    budget = entry.get("budget") or {}
    return [
        f"    budget {budget_line(line)}"
        for line in budget.get("lines", [])
        if line["state"] != "ok"
    ]


def _cmd_usage(args: argparse.Namespace) -> int:
    from datetime import UTC, date, datetime

    from pressrag.orchestration import gateway

    today = datetime.now(UTC).date()
    since = gateway.parse_since(args.since, today)
    until = date.fromisoformat(args.until) if args.until else today
    days, models = gateway.usage(args.site, since, until)
    if args.json:
        report = {
            "site": args.site,
            "since": since.isoformat(),
            "until": until.isoformat(),
            "days": [d.as_json() for d in days],
            "models": [m.as_json() for m in models],
        }
        print(json.dumps(report, indent=2))
        return 0
    print(f"usage {since} .. {until}" + (f" of {args.site}" if args.site else ", all sites"))
    print("site\tday\trequests\tcache hits\tcalls\terrors\ttokens\tcost USD")
    for d in days:
        print(
            f"{d.site_id}\t{d.day}\t{d.requests}\t{d.cache_hits}\t{d.calls}\t{d.errors}\t"
            f"{d.tokens}\t{d.cost_usd:.6f}"
        )
    print(
        f"total\t\t{sum(d.requests for d in days)}\t{sum(d.cache_hits for d in days)}\t"
        f"{sum(d.calls for d in days)}\t{sum(d.errors for d in days)}\t"
        f"{sum(d.tokens for d in days)}\t{sum(d.cost_usd for d in days):.6f}"
    )
    if models:
        print("by model: purpose, provider, model, calls, errors, tokens, cost USD")
        for m in models:
            print(
                f"  {m.purpose}\t{m.provider}\t{m.model}\t{m.calls}\t{m.errors}\t"
                f"{m.input_tokens + m.output_tokens}\t{m.cost_usd:.6f}"
            )
    unpriced = sum(d.unpriced for d in days)
    if unpriced:
        print(f"{unpriced} calls to models missing from the price table (PRESSRAG_PRICES)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add `keys`, `budget` and `usage` to the `pressrag` command line."""
    keys = sub.add_parser("keys", help="per-site API keys: create, list, revoke")
    keys_sub = keys.add_subparsers(dest="action", required=True)
    k_create = keys_sub.add_parser("create", help="a new key, shown once")
    k_create.add_argument("--site", required=True)
    k_create.add_argument(
        "--scope",
        action="append",
        required=True,
        help="search, ask or admin (repeat or comma-separate; admin grants all)",
    )
    k_create.add_argument("--name", help="what the key is for")
    k_list = keys_sub.add_parser("list", help="keys (never their secrets)")
    k_list.add_argument("--site")
    k_list.add_argument("--json", action="store_true")
    k_revoke = keys_sub.add_parser("revoke", help="revoke a key by its id (key_…)")
    k_revoke.add_argument("key_id")
    k_revoke.add_argument("--site", help="only if the key belongs to this site")
    keys.set_defaults(func=_cmd_keys)

    budget = sub.add_parser("budget", help="show or set a site's budgets and quotas")
    budget.add_argument("--site", required=True)
    budget.add_argument("--requests-per-minute", type=float)
    budget.add_argument("--requests-per-day", type=int)
    budget.add_argument("--tokens-per-month", type=int)
    budget.add_argument("--cost-per-month-usd", type=float)
    budget.add_argument("--warn-at", type=float, help="share at which to warn (default 0.8)")
    budget.add_argument(
        "--clear",
        action="append",
        choices=[name.replace("_", "-") for name in BUDGET_NAMES],
        help="remove a limit",
    )
    budget.add_argument("--json", action="store_true")
    budget.set_defaults(func=_cmd_budget)

    usage = sub.add_parser("usage", help="requests, model calls, tokens and cost per day")
    usage.add_argument("--site")
    usage.add_argument("--since", help="YYYY-MM-DD, Nd (last N days) or month (default)")
    usage.add_argument("--until", help="YYYY-MM-DD (default today, UTC)")
    usage.add_argument("--json", action="store_true")
    usage.set_defaults(func=_cmd_usage)
