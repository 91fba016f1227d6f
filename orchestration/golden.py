"""Golden questions from the shell: what a site's search must keep finding (question -> URL).

The `search_quality` asset check evaluates them after every run that changed the site's index.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from pressrag.orchestration.environment import prepare
from pressrag.resources.errors import ConfigError
from pressrag.resources.store import Store
from pressrag.resources.store import quality as quality_sql
from pressrag.resources.store.sites import Site, get_site, upsert_site


def _site(conn, site_id: str) -> Site:  # type: ignore[no-untyped-def]
    site = get_site(conn, site_id)
    if site is None:
        raise ConfigError(f"unknown site {site_id!r}; add it with `pressrag sites add`")
    return site


def read_pairs(path: Path) -> list[tuple[str, str]]:
    """(question, url) pairs from a .jsonl file ({"question", "url"} per line) or a two-column
    .csv / .tsv file (a header row of `question,url` is skipped)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    pairs: list[tuple[str, str]] = []
    if path.suffix == ".jsonl":
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                pairs.append((str(item["question"]), str(item["url"])))
            except (ValueError, KeyError, TypeError):
                raise ConfigError(f'{path}:{n}: expected {{"question": ..., "url": ...}}') from None
        return pairs
    dialect = "excel-tab" if path.suffix == ".tsv" else "excel"
    for n, row in enumerate(csv.reader(text.splitlines(), dialect=dialect), start=1):
        if not row or (n == 1 and [c.strip().lower() for c in row[:2]] == ["question", "url"]):
            continue
        if len(row) < 2:
            raise ConfigError(f"{path}:{n}: expected two columns, question and url")
        pairs.append((row[0], row[1]))
    return pairs


def add(site_id: str, pairs: list[tuple[str, str]], *, source: str) -> int:
    urls = prepare()
    with Store(urls.app, max_size=1) as store, store.connection() as conn:
        _site(conn, site_id)
        try:
            return quality_sql.add_golden(conn, site_id, pairs, source=source)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None


def listed(site_id: str) -> tuple[list[quality_sql.GoldenQuestion], dict]:
    urls = prepare()
    with Store(urls.app, max_size=1) as store, store.connection() as conn:
        site = _site(conn, site_id)
        return quality_sql.list_golden(conn, site_id), site.settings


def remove(site_id: str, question_id: int) -> bool:
    urls = prepare()
    with Store(urls.app, max_size=1) as store, store.connection() as conn:
        _site(conn, site_id)
        return quality_sql.remove_golden(conn, site_id, question_id)


def set_gate(site_id: str, *, threshold: float | None, severity: str | None) -> dict:
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise ConfigError("the threshold is a share of questions: between 0 and 1")
    urls = prepare()
    with Store(urls.app, max_size=1) as store, store.connection() as conn:
        site = _site(conn, site_id)
        settings = dict(site.settings)
        if threshold is not None:
            settings["quality_threshold"] = threshold
        if severity is not None:
            settings["quality_severity"] = severity
        upsert_site(conn, Site(**{**site.__dict__, "settings": settings}))
        return settings
