"""`search_quality`: after a run that changed a site's index, does its search still find what
the site's owner expects?

With golden questions (question -> expected URL; `pressrag golden ...`, a file, or the plugin's
settings) the check asks each one through the same search as `/v1/search` and passes when the
share found in the top 5 is at least the site's threshold (`quality_threshold`, default 0.8);
a failure has the site's severity (`quality_severity`: warn or error) and lists the questions
that moved since the last evaluation. A site without golden questions gets a self-check: a
sample of its documents' titles, each asked as a question, should find its document in the top
5; the share is reported, not judged. A run that changed nothing re-reports the last
evaluation instead of asking again.
"""

import hashlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import dagster as dg
import numpy as np
import psycopg

from pressrag.assets.indexing.common import site_partitions
from pressrag.assets.indexing.embeddings import embeddings
from pressrag.resources.dagster_resources import EmbedderResource, StoreResource
from pressrag.resources.embedders import Embedder
from pressrag.resources.store import Store
from pressrag.resources.store import quality as quality_sql
from pressrag.resources.store.search import hybrid_search
from pressrag.resources.store.sites import Site, get_site
from pressrag.resources.store.spaces import EmbeddingSpace, active_space

TOP = 5  # a question is answered when its page is among the first five results
DEPTH = 10  # ranks are recorded this deep, so a move from 6 to 9 still shows
TITLE_SAMPLE = 50
# Search sessions asking the questions at once: one after another, the self-check's 50
# searches kept one core busy for 0.7-0.9 s while the other idled, in every run that changed
# a site (webhook runs too).
SEARCHERS = 2
DEFAULT_THRESHOLD = 0.8


def ask_all(
    db: Store,
    site: Site,
    space: EmbeddingSpace,
    embedder: Embedder,
    pairs: Sequence[tuple[str, str]],
) -> list[dict]:
    """Each (question, expected URL) with the rank of that URL in the results (or None), in
    order. The searches go over `SEARCHERS` search sessions at once."""
    vectors = embedder.embed([question for question, _ in pairs]) if pairs else []
    asked = list(zip(pairs, vectors, strict=True))
    size = -(-len(asked) // SEARCHERS) or 1
    parts = [asked[i : i + size] for i in range(0, len(asked), size)]

    def ask_part(part: list[tuple[tuple[str, str], np.ndarray]]) -> list[dict]:
        with db.search_connection() as conn:
            return [_ask(conn, site, space, question, url, v) for (question, url), v in part]

    with ThreadPoolExecutor(SEARCHERS, thread_name_prefix="search-quality") as pool:
        return [result for part in pool.map(ask_part, parts) for result in part]


def _ask(
    conn: psycopg.Connection,
    site: Site,
    space: EmbeddingSpace,
    question: str,
    url: str,
    vector: np.ndarray,
) -> dict:
    hits = hybrid_search(
        conn,
        site_id=site.id,
        space=space,
        query_text=question,
        query_vector=vector,
        k=DEPTH,
        ts_config=site.ts_config,
    )
    found = [quality_sql.normalise_url(h.url) for h in hits]
    wanted = quality_sql.normalise_url(url)
    rank = found.index(wanted) + 1 if wanted in found else None
    return {"question": question, "expected_url": url, "rank": rank}


def share_in_top(results: Sequence[dict]) -> float:
    found = sum(1 for r in results if r["rank"] is not None and r["rank"] <= TOP)
    return found / len(results) if results else 1.0


def moved(previous: Sequence[dict], current: Sequence[dict]) -> list[str]:
    """Questions whose rank changed since the previous evaluation, worst news first."""
    before = {(r["question"], r["expected_url"]): r["rank"] for r in previous}
    changes = []
    for r in current:
        key = (r["question"], r["expected_url"])
        if key in before and before[key] != r["rank"]:
            old, new = before[key], r["rank"]
            worse = (new or DEPTH + 1) - (old or DEPTH + 1)
            changes.append((-worse, f"{r['question']!r}: {_rank(old)} → {_rank(new)}"))
    return [line for _, line in sorted(changes)]


def _rank(rank: int | None) -> str:
    return str(rank) if rank is not None else f"not in the top {DEPTH}"


def _questions(conn: psycopg.Connection, site_id: str) -> tuple[str, list[tuple[str, str]]]:
    golden = quality_sql.list_golden(conn, site_id)
    if golden:
        return "golden", [(g.question, g.expected_url) for g in golden]
    return "titles", quality_sql.title_sample(conn, site_id, TITLE_SAMPLE)


def _markdown(lines: Sequence[str], empty: str) -> dg.MetadataValue:
    return dg.MetadataValue.md("\n".join(f"- {line}" for line in lines[:50]) or empty)


@dg.asset_check(
    asset=embeddings,
    partitions_def=site_partitions,
    description="Search still finds what the site's owner expects (golden questions), or, "
    "without them, each sampled document by its title.",
)
def search_quality(
    context: dg.AssetCheckExecutionContext, store: StoreResource, embedder: EmbedderResource
) -> dg.AssetCheckResult:
    site_id = context.partition_key
    db = store.get()
    with db.connection() as conn:
        site = get_site(conn, site_id)
        space = active_space(conn)
        if site is None or space is None:
            return dg.AssetCheckResult(passed=True, metadata={"evaluated": "nothing indexed"})
        kind, pairs = _questions(conn, site_id)
        questions_hash = hashlib.sha256(repr(sorted(pairs)).encode()).hexdigest()[:12]
        fingerprint = f"{quality_sql.index_fingerprint(conn, site_id, space.id)}:{questions_hash}"
        previous = quality_sql.latest_evaluation(conn, site_id, kind)
        if previous is not None and previous.fingerprint == fingerprint:
            current, reused = previous, True
        else:
            results = ask_all(db, site, space, embedder.get(), pairs)
            current = quality_sql.Evaluation(
                kind, context.run.run_id, fingerprint, share_in_top(results), results
            )
            quality_sql.record_evaluation(conn, site_id, current)
            reused = False
    threshold = float(site.settings.get("quality_threshold", DEFAULT_THRESHOLD))
    severity = (
        dg.AssetCheckSeverity.ERROR
        if site.settings.get("quality_severity") == "error"
        else dg.AssetCheckSeverity.WARN
    )
    misses = [
        f"{r['question']!r} → {r['expected_url']} ({_rank(r['rank'])})"
        for r in current.results
        if r["rank"] is None or r["rank"] > TOP
    ]
    changes = [] if reused or previous is None else moved(previous.results, current.results)
    metadata: dict[str, object] = {
        "kind": kind,
        "questions": len(current.results),
        f"share_found_in_top_{TOP}": round(current.score, 3),
        "missed": _markdown(misses, "none"),
        "moved_since_last_evaluation": _markdown(changes, "nothing moved"),
        "evaluated_in_run": current.run_id or "",
    }
    if kind == "golden":
        metadata["threshold"] = threshold
    return dg.AssetCheckResult(
        passed=kind == "titles" or current.score >= threshold,
        severity=severity,
        metadata=metadata,
    )
