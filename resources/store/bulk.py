"""Many rows in one binary COPY: one statement however many rows, its values sent in
PostgreSQL's binary format (a multi-row INSERT was composed, parsed and planned row by row,
and `executemany` still costs a statement a row)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import psycopg


def copy_rows(
    conn: psycopg.Connection, statement: str, types: Sequence[str], rows: Iterable[tuple]
) -> None:
    """`COPY … FROM STDIN (FORMAT BINARY)` of `rows`, whose values have these type names
    (in column order); part of the caller's transaction."""
    with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.set_types(list(types))
        for row in rows:
            copy.write_row(row)
