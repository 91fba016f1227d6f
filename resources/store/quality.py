"""Golden questions (question -> expected URL) per site, and quality evaluations of them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.types.json import Jsonb


@dataclass(frozen=True)
class GoldenQuestion:
    id: int
    question: str
    expected_url: str
    source: str


@dataclass(frozen=True)
class Evaluation:
    kind: str
    run_id: str | None
    fingerprint: str
    score: float
    results: list[dict]


def normalise_url(url: str) -> str:
    """The same page however it is written: scheme and host in lower case, no fragment, no
    trailing slash on the path."""
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/") or "/"
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, parts.query, ""))


def add_golden(
    conn: psycopg.Connection,
    site_id: str,
    pairs: Iterable[tuple[str, str]],
    *,
    source: str,
) -> int:
    """Adds (question, url) pairs; returns how many were new (repeats change nothing)."""
    added = 0
    for question, url in pairs:
        question, url = " ".join(question.split()), url.strip()
        if not question:
            raise ValueError("a golden question is empty")
        if urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"expected an http(s) URL for {question!r}, got {url!r}")
        cur = conn.execute(
            "INSERT INTO golden_questions (site_id, question, expected_url, source) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (site_id, question, url, source),
        )
        added += cur.rowcount
    return added


def replace_golden(
    conn: psycopg.Connection, site_id: str, pairs: Iterable[tuple[str, str]], *, source: str
) -> int:
    """The site's questions from `source` become exactly `pairs` (the plugin's settings)."""
    conn.execute(
        "DELETE FROM golden_questions WHERE site_id = %s AND source = %s", (site_id, source)
    )
    return add_golden(conn, site_id, pairs, source=source)


def list_golden(conn: psycopg.Connection, site_id: str) -> list[GoldenQuestion]:
    rows = conn.execute(
        "SELECT id, question, expected_url, source FROM golden_questions "
        "WHERE site_id = %s ORDER BY id",
        (site_id,),
    )
    return [GoldenQuestion(*r) for r in rows]


def remove_golden(conn: psycopg.Connection, site_id: str, question_id: int) -> bool:
    cur = conn.execute(
        "DELETE FROM golden_questions WHERE site_id = %s AND id = %s", (site_id, question_id)
    )
    return cur.rowcount > 0


def index_fingerprint(conn: psycopg.Connection, site_id: str, space_id: int) -> str:
    """Changes whenever the site's live chunks do: every publish writes new chunk ids."""
    count, newest = conn.execute(
        "SELECT count(*), coalesce(max(id), 0) FROM chunks WHERE site_id = %s AND space_id = %s",
        (site_id, space_id),
    ).fetchone()
    return f"{space_id}:{count}:{newest}"


def latest_evaluation(conn: psycopg.Connection, site_id: str, kind: str) -> Evaluation | None:
    row = conn.execute(
        "SELECT kind, run_id, fingerprint, score, results FROM quality_evaluations "
        "WHERE site_id = %s AND kind = %s ORDER BY id DESC LIMIT 1",
        (site_id, kind),
    ).fetchone()
    return Evaluation(*row) if row else None


def record_evaluation(conn: psycopg.Connection, site_id: str, evaluation: Evaluation) -> None:
    conn.execute(
        "INSERT INTO quality_evaluations (site_id, kind, run_id, fingerprint, score, results) "
        "VALUES (%s, %s, %s, %s, %s, %s)",
        (
            site_id,
            evaluation.kind,
            evaluation.run_id,
            evaluation.fingerprint,
            evaluation.score,
            Jsonb(evaluation.results),
        ),
    )


def title_sample(conn: psycopg.Connection, site_id: str, size: int) -> list[tuple[str, str]]:
    """(title, url) of up to `size` indexed public documents, the same ones every time."""
    rows = conn.execute(
        "SELECT title, url FROM documents WHERE site_id = %s AND visibility = 'public' "
        "AND indexed_hash IS NOT NULL AND btrim(title) <> '' AND url ~ '^https?://' "
        "ORDER BY md5(id::text) LIMIT %s",
        (site_id, size),
    )
    return [(t, u) for t, u in rows]
