"""Planner statistics brought up to date at the end of a run that changed much of a table.

A first index fills `documents`, `chunks` and `lexicon` within seconds; autovacuum analyzes
them up to a minute later. Until then the planner believes they hold what they held before,
and the searches that follow (the run's own search-quality check, then serving) chose plans
for empty tables: the exact-title lookup scanned every public document of the site with a
regular expression instead of using its index, ~40–60 ms a search at 5,000 documents
(docs/performance.md, "Statistics before the first searches")."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress

import psycopg
from psycopg import sql

# What searches plan against; `text_stats` has a row per site and space, read by key.
SEARCHED_TABLES = ("documents", "chunks", "lexicon")
LOCK_WAIT = "1s"

# Autovacuum's own rule for "this table needs ANALYZE" (its global settings; a table's own
# storage parameters are not read), applied now instead of at its next round.
_STALE = """
SELECT s.relname
FROM pg_stat_user_tables s
JOIN pg_class c ON c.oid = s.relid
WHERE s.schemaname = current_schema() AND s.relname = ANY(%s)
  AND s.n_mod_since_analyze > current_setting('autovacuum_analyze_threshold')::float8
      + current_setting('autovacuum_analyze_scale_factor')::float8 * greatest(c.reltuples, 0)
  AND (pg_has_role(c.relowner, 'USAGE') OR {may_maintain})
ORDER BY s.relname
"""
# Who else may ANALYZE a table: PostgreSQL 17's MAINTAIN privilege (the `pg_maintain` role
# included). Older servers know no such privilege and would reject the name.
_MAINTAIN = "has_table_privilege(c.oid, 'MAINTAIN')"
MAINTAIN_SINCE = 170000


def analyze_stale(conn: psycopg.Connection, tables: Sequence[str] = SEARCHED_TABLES) -> list[str]:
    """ANALYZE those of `tables` that autovacuum would analyze next; the ones analyzed.

    A whole-table ANALYZE, so autovacuum's counter restarts and it does not do it again.
    Its lock only excludes other ANALYZE, VACUUM and DDL of the table, never reads or writes;
    a table whose lock is not had within `LOCK_WAIT` (another site's index build, say) is
    left to autovacuum rather than holding up the run. Tables this role may not analyze (a
    managed database whose tables another role owns) are left to autovacuum too: PostgreSQL
    would only warn and skip them.
    """
    may_maintain = _MAINTAIN if conn.info.server_version >= MAINTAIN_SINCE else "false"
    query = sql.SQL(_STALE).format(may_maintain=sql.SQL(may_maintain))
    stale = [name for (name,) in conn.execute(query, (list(tables),)).fetchall()]
    if not stale:
        return []
    analyzed = []
    conn.execute(f"SET LOCAL lock_timeout = '{LOCK_WAIT}'")
    for name in stale:
        with suppress(psycopg.errors.LockNotAvailable), conn.transaction():
            conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(name)))
            analyzed.append(name)
    conn.execute("SET LOCAL lock_timeout = DEFAULT")
    return analyzed
