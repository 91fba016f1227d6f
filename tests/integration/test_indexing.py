"""The indexing spine end to end: real embedded Postgres, real model, Dagster materializations."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pressrag.orchestration.jobs import INDEXING_OPS
from pressrag.resources.store import Store
from tests.conftest import REPO_ROOT, SAMPLE_DIR, IndexedSites, PressragEnv
from tests.support.indexing import (
    asset_metadata,
    copy_small_sample,
    evaluate_checks,
    materialize_site,
    remove_wxr_item,
    replace_once,
)

pytestmark = pytest.mark.integration

QUERIES = json.loads((SAMPLE_DIR / "queries.json").read_text(encoding="utf-8"))
HARBOUR_POSTS = [
    ("Ferry times", "The ferry leaves the harbour at nine and returns at six."),
    ("Harbour fees", "Moorings cost ten a night; the first night is free."),
    ("Tides", "High tide is around noon in summer; check the tables before sailing."),
    ("Fishing permits", "A day permit is sold at the harbour office until five."),
    ("Lighthouse tours", "Tours climb the lighthouse every hour from ten to four."),
    ("Winter hours", "In winter the harbour office closes at three."),
]


def _store() -> Store:
    return Store(os.environ["PRESSRAG_APP_DB_URL"], max_size=1)


def _search_titles(site: str, query: str, k: int = 5) -> list[str]:
    from pressrag.orchestration.run import search

    return [hit.title for hit in search(site, query, k=k)]


def test_known_items_are_found_first(indexed_sites: IndexedSites) -> None:
    """Paraphrased questions (queries.json) find the document that answers them.

    The bar is a rate, not every query: the queries are written to be hard (different words
    from the page). Measured when written: 19/24 first, 22/24 in the top three.
    """
    first = top3 = 0
    misses = []
    for case in QUERIES["queries"]:
        titles = _search_titles("demo", case["query"])
        first += bool(titles) and titles[0] == case["expect_title"]
        top3 += case["expect_title"] in titles[:3]
        if not titles or titles[0] != case["expect_title"]:
            misses.append(f"{case['query']!r}: wanted {case['expect_title']!r}, got {titles[:3]}")
    total = len(QUERIES["queries"])
    assert first / total >= 0.7, "\n".join(misses)
    assert top3 / total >= 0.9, "\n".join(misses)


def test_exact_titles_are_found_first(indexed_sites: IndexedSites) -> None:
    """A reader typing a page's own title gets that page first (the full-text side's job)."""
    for case in QUERIES["queries"][:10]:
        assert _search_titles("demo", case["expect_title"])[0] == case["expect_title"]


def test_non_public_content_never_reaches_chunks(indexed_sites: IndexedSites) -> None:
    """Private, draft, password-protected and trashed posts carry marker phrases: none is
    stored in a chunk or findable, and their documents are recorded as excluded."""
    with _store() as store, store.connection() as conn:
        for phrase in QUERIES["never_visible"]:
            in_chunks = conn.execute(
                "SELECT count(*) FROM chunks WHERE text ILIKE %s", (f"%{phrase}%",)
            ).fetchone()[0]
            in_drafts = conn.execute(
                "SELECT count(*) FROM chunk_drafts WHERE text ILIKE %s", (f"%{phrase}%",)
            ).fetchone()[0]
            in_docs = conn.execute(
                "SELECT count(*) FROM documents WHERE content_html ILIKE %s "
                "OR extracted_text ILIKE %s",
                (f"%{phrase}%", f"%{phrase}%"),
            ).fetchone()[0]
            assert (in_chunks, in_drafts, in_docs) == (0, 0, 0), phrase
        reasons = {
            r[0]
            for r in conn.execute(
                "SELECT exclusion_reason FROM documents WHERE site_id = 'demo' "
                "AND visibility = 'excluded'"
            )
        }
    assert {"status private", "status draft", "password-protected", "status trash"} <= reasons


def test_media_text_is_searchable(indexed_sites: IndexedSites) -> None:
    """The PDF and DOCX attachments of the sample were extracted and indexed."""
    with _store() as store, store.connection() as conn:
        rows = conn.execute(
            "SELECT d.mime_type, count(c.id) FROM documents d "
            "JOIN chunks c ON c.document_id = d.id "
            "WHERE d.site_id = 'demo' AND d.doc_type = 'attachment' GROUP BY d.mime_type"
        ).fetchall()
    kinds = {mime for mime, count in rows if count > 0}
    assert "application/pdf" in kinds
    assert any("wordprocessingml" in m for m in kinds)


def test_sites_are_isolated_in_search(indexed_sites: IndexedSites) -> None:
    """A question about the other site's subject never returns a chunk of the other site."""
    titles_demo = _search_titles("demo", "how often should I feed a sourdough starter", k=20)
    titles_other = _search_titles("other", "how often should I feed a sourdough starter", k=20)
    assert titles_other[0] == "Feeding a sourdough starter"
    assert not set(titles_demo) & {"Feeding a sourdough starter", "Shaping a batard"}
    assert all("sourdough" not in t.lower() for t in titles_demo)


def test_the_catalog_shows_the_index_as_a_table(pressrag_env: PressragEnv) -> None:
    """The `embeddings` materialization carries what a data engineer expects of a table:
    its row count (the site's live chunks), its column schema and a preview of a few rows."""
    from pressrag.orchestration.sites import add_site
    from tests.support.fake_wordpress import FakeWordPress

    with FakeWordPress() as wordpress:
        for n, (title, text) in enumerate(HARBOUR_POSTS):
            wordpress.upsert({"title": title, "content": f"<h2>Part {n}</h2><p>{text}</p>"})
        add_site("catalog", url=wordpress.base_url)
        result = materialize_site("catalog")
    assert result.success
    meta = asset_metadata(result, "embeddings")
    with _store() as store, store.connection() as conn:
        live = conn.execute("SELECT count(*) FROM chunks WHERE site_id = 'catalog'").fetchone()[0]
    assert meta["dagster/row_count"] == live > 0
    assert {"embedding", "tsv", "text"} <= {c.name for c in meta["dagster/column_schema"].columns}
    rows = meta["preview"].records
    assert len(rows) == 5 and all(r.data["title"] and r.data["tokens"] > 0 for r in rows)
    assert "failures" not in meta  # nothing failed: no empty block
    # Names say what a figure is and its unit ("seconds" alone did not; "pending" read as
    # work left undone when it was the documents this run had to extract).
    text = asset_metadata(result, "extracted_text")
    assert text["changed_documents"] == text["extracted"] == len(HARBOUR_POSTS)
    for asset in INDEXING_OPS:
        keys = asset_metadata(result, asset).keys()
        assert "duration_seconds" in keys and not {"seconds", "pending"} & keys, asset


def test_reindexing_unchanged_content_embeds_nothing(
    pressrag_env: PressragEnv, tmp_path: Path
) -> None:
    from pressrag.orchestration.sites import add_site

    export = copy_small_sample(tmp_path / "site")
    add_site("unchanged", wxr=str(export))
    first = materialize_site("unchanged")
    assert first.success
    second = materialize_site("unchanged")
    assert second.success
    meta = asset_metadata(second, "embeddings")
    assert meta["chunks_embedded"] == 0
    assert meta["documents_indexed"] == 0
    docs = asset_metadata(second, "wp_documents")
    assert docs["added"] == docs["updated"] == docs["removed"] == 0
    assert docs["drift"] == 0


def test_a_draft_group_with_one_bad_document_saves_every_other_one(
    pressrag_env: PressragEnv,
) -> None:
    """The chunks step saves drafts a group at a time; when PostgreSQL refuses one document's
    drafts, the group is saved one document at a time: that document alone fails, with its
    error, and every other one is indexed."""
    from pressrag.orchestration.sites import add_site
    from tests.support.fake_wordpress import FakeWordPress

    refuse = (
        "CREATE FUNCTION refuse_marked_draft() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.text LIKE '%%refused-by-the-database%%' THEN "
        "RAISE EXCEPTION 'draft refused by the test trigger'; END IF; RETURN NEW; END $$; "
        "CREATE TRIGGER refuse_marked_draft BEFORE INSERT ON chunk_drafts "
        "FOR EACH ROW EXECUTE FUNCTION refuse_marked_draft()"
    )
    with _store() as store, store.connection() as conn:
        conn.execute(refuse)
    try:
        with FakeWordPress() as wordpress:
            for title, text in HARBOUR_POSTS:
                wordpress.upsert({"title": title, "content": f"<p>{text}</p>"})
            wordpress.upsert(
                {"title": "Bad", "content": "<p>This text is refused-by-the-database.</p>"}
            )
            add_site("drafts-fallback", url=wordpress.base_url)
            result = materialize_site("drafts-fallback")
    finally:
        with _store() as store, store.connection() as conn:
            conn.execute("DROP TRIGGER refuse_marked_draft ON chunk_drafts")
            conn.execute("DROP FUNCTION refuse_marked_draft()")
    assert result.success
    chunks = asset_metadata(result, "chunks")
    assert chunks["failed"] == 1, chunks
    assert "draft refused by the test trigger" in str(chunks["failures"])
    with _store() as store, store.connection() as conn:
        indexed = conn.execute(
            "SELECT count(DISTINCT d.id) FROM chunks c JOIN documents d ON d.id = c.document_id "
            "WHERE d.site_id = 'drafts-fallback'"
        ).fetchone()[0]
    assert indexed == len(HARBOUR_POSTS)


def test_changing_one_document_reembeds_only_its_changed_chunks(
    pressrag_env: PressragEnv, tmp_path: Path
) -> None:
    from pressrag.orchestration.sites import add_site
    from pressrag.resources.wordpress import WxrReader, iter_wxr

    export = copy_small_sample(tmp_path / "site")
    add_site("changing", wxr=str(export))
    assert materialize_site("changing").success
    # The public post with the most text: it has several chunks, and we change one paragraph.
    post = max(
        (d for d in iter_wxr(export) if d.status == "publish" and not d.password_protected),
        key=lambda d: len(d.content_html),
    )
    with _store() as store, store.connection() as conn:
        before = conn.execute(
            "SELECT count(*) FROM chunks c JOIN documents d ON d.id = c.document_id "
            "WHERE d.site_id = 'changing' AND d.wp_id = %s",
            (post.wp_id,),
        ).fetchone()[0]
    assert before >= 3
    # The content as the export holds it (a document carries it as WordPress renders it).
    raw = next(
        e.fields["content:encoded"]
        for e in WxrReader(export).entries()
        if getattr(e, "fields", {}).get("wp:post_id", "").strip() == str(post.wp_id)
    )
    tail = raw.rstrip()[-80:]
    replace_once(export, tail, tail + "<p>Zebras migrate across the Serengeti every spring.</p>")
    result = materialize_site("changing")
    assert result.success
    docs = asset_metadata(result, "wp_documents")
    assert (docs["updated"], docs["added"], docs["removed"]) == (1, 0, 0)
    meta = asset_metadata(result, "embeddings")
    assert meta["documents_indexed"] == 1
    assert 1 <= meta["chunks_embedded"] < before
    from pressrag.orchestration.run import search

    assert search("changing", "zebras migrating across the Serengeti", k=1)[0].wp_id == post.wp_id


def test_removing_a_document_removes_its_chunks(pressrag_env: PressragEnv, tmp_path: Path) -> None:
    from pressrag.orchestration.sites import add_site
    from pressrag.resources.wordpress import iter_wxr

    export = copy_small_sample(tmp_path / "site")
    add_site("removing", wxr=str(export))
    assert materialize_site("removing").success
    victim = next(d for d in iter_wxr(export) if d.type == "post" and d.status == "publish")
    remove_wxr_item(export, victim.wp_id)
    result = materialize_site("removing")
    assert result.success
    assert asset_metadata(result, "wp_documents")["removed"] == 1
    with _store() as store, store.connection() as conn:
        left = conn.execute(
            "SELECT count(*) FROM documents WHERE site_id = 'removing' AND wp_id = %s",
            (victim.wp_id,),
        ).fetchone()[0]
        orphans = conn.execute(
            "SELECT count(*) FROM chunks c LEFT JOIN documents d ON d.id = c.document_id "
            "WHERE d.id IS NULL"
        ).fetchone()[0]
    assert (left, orphans) == (0, 0)
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks and all(checks.values()), checks


def _cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("pressrag")), *args],
        cwd=REPO_ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_cli_explains_bad_input(pressrag_env: PressragEnv, tmp_path: Path) -> None:
    """A malformed export and an unknown site are clear one-line errors, not tracebacks."""
    broken = tmp_path / "broken.xml"
    broken.write_text("<rss><channel><item><title>oops</channel></rss>", encoding="utf-8")
    done = _cli("sites", "add", "broken", "--wxr", str(broken))
    assert done.returncode == 2
    assert "malformed" in done.stderr.lower() and "Traceback" not in done.stderr
    unknown = _cli("index", "--site", "nosuchsite")
    assert unknown.returncode == 2 and "unknown site" in unknown.stderr
    invalid = _cli("sites", "add", "Bad_Id", "--url", "https://example.org")
    assert invalid.returncode == 2 and "invalid site id" in invalid.stderr


def test_unreachable_site_fails_clearly_and_keeps_the_index(
    pressrag_env: PressragEnv, tmp_path: Path
) -> None:
    """A site that stops answering fails the run with the reason; its index stays as it was."""
    from pressrag.orchestration.sites import add_site
    from tests.support.fake_wordpress import FakeWordPress

    with FakeWordPress() as wordpress:
        wordpress.upsert({"title": "Lighthouse keeping", "content": "<p>Trim the wick.</p>"})
        add_site("flaky", url=wordpress.base_url)
        assert materialize_site("flaky").success
    # The server is gone now: the port refuses connections.
    result = materialize_site("flaky")
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.step_failure_data.error.message  # type: ignore[union-attr]
    assert "cannot reach" in message or "connection" in message.lower()
    with _store() as store, store.connection() as conn:
        chunks = conn.execute("SELECT count(*) FROM chunks WHERE site_id = 'flaky'").fetchone()[0]
    assert chunks >= 1


def test_a_corrupt_file_is_a_recorded_failure_not_a_lost_run(pressrag_env: PressragEnv) -> None:
    """One broken PDF is recorded with its error; the post and the good file are indexed."""
    from pressrag.orchestration.run import status
    from pressrag.orchestration.sites import add_site
    from tests.support.fake_wordpress import FakeWordPress

    with FakeWordPress() as wordpress:
        post = wordpress.upsert({"title": "Tide tables", "content": "<p>High tide at noon.</p>"})
        wordpress.upsert(
            {
                "type": "attachment",
                "title": "Broken scan",
                "parent": post["id"],
                "mime_type": "application/pdf",
                "file": b"%PDF-1.4 this is not really a pdf",
                "file_path": "2024/01/broken.pdf",
            }
        )
        wordpress.upsert(
            {
                "type": "attachment",
                "title": "Harbour notes",
                "parent": post["id"],
                "mime_type": "text/plain",
                "file": b"Moorings are free for the first night.",
                "file_path": "2024/01/notes.txt",
            }
        )
        add_site("corrupt", url=wordpress.base_url)
        result = materialize_site("corrupt")
    assert result.success
    meta = asset_metadata(result, "extracted_text")
    assert (meta["extracted"], meta["failed"]) == (2, 1)
    report = status("corrupt")[0]
    assert report["failures"] == 1
    (failure,) = report["failed_documents"]
    assert failure["title"] == "Broken scan" and "pdf" in failure["error"].lower()
    assert _search_titles("corrupt", "are moorings free for the first night")[0] == "Harbour notes"


def test_a_sites_failed_check_is_that_sites_alone(pressrag_env: PressragEnv) -> None:
    """The embeddings checks are evaluated per site partition: a document of site A that lost
    its chunks fails A's check, and B's checks pass against the same database."""
    from pressrag.orchestration.sites import add_site
    from tests.support.fake_wordpress import FakeWordPress

    with FakeWordPress() as a, FakeWordPress() as b:
        broken = a.upsert({"title": "Ferry times", "content": "<p>The ferry leaves at nine.</p>"})
        a.upsert({"title": "Harbour fees", "content": "<p>Moorings cost ten a night.</p>"})
        b.upsert({"title": "Bread", "content": "<p>Feed the starter every morning.</p>"})
        add_site("checks-a", url=a.base_url)
        add_site("checks-b", url=b.base_url)
        assert materialize_site("checks-a").success and materialize_site("checks-b").success
    with _store() as store, store.connection() as conn:
        conn.execute(
            "DELETE FROM chunks c USING documents d WHERE d.id = c.document_id "
            "AND d.site_id = 'checks-a' AND d.wp_id = %s",
            (broken["id"],),
        )
    failing = evaluate_checks("checks-a")
    passing = evaluate_checks("checks-b")
    assert not failing["indexed_documents_have_chunks"].passed
    assert failing["indexed_documents_have_chunks"].metadata["documents_without_chunks"].value == [
        broken["id"]
    ]
    assert failing["no_orphan_chunks"].passed and failing["dimension_matches_model"].passed
    assert {name: e.passed for name, e in passing.items()} == dict.fromkeys(passing, True)
    assert {"indexed_documents_have_chunks", "no_orphan_chunks"} <= passing.keys()


def test_removing_a_site_deletes_its_data_secrets_and_partition(
    pressrag_env: PressragEnv,
) -> None:
    """`pressrag sites remove` shows what it would delete, deletes it only with --yes (rows,
    search statistics, secret files, the Dagster partition), and leaves other sites alone."""
    import dagster as dg

    from pressrag.orchestration.sites import PARTITIONS_NAME, add_site, site_footprint
    from tests.support.fake_wordpress import FakeWordPress

    with FakeWordPress() as leaving, FakeWordPress() as staying:
        leaving.upsert({"title": "Closing down", "content": "<p>The shop closes in May.</p>"})
        staying.upsert({"title": "Still here", "content": "<p>The bakery opens at seven.</p>"})
        add_site("leaving", url=leaving.base_url)
        add_site("staying", url=staying.base_url)
        assert materialize_site("leaving").success and materialize_site("staying").success
    secrets = [pressrag_env.home / "secrets" / k for k in site_footprint("leaving").secrets]
    assert len(secrets) == 2 and all(path.is_file() for path in secrets)

    def rows(site: str) -> tuple[int, ...]:
        with _store() as store, store.connection() as conn:
            return conn.execute(
                "SELECT (SELECT count(*) FROM sites WHERE id = %(s)s), "
                "(SELECT count(*) FROM documents WHERE site_id = %(s)s), "
                "(SELECT count(*) FROM chunks WHERE site_id = %(s)s), "
                "(SELECT count(*) FROM lexicon WHERE site_id = %(s)s), "
                "(SELECT count(*) FROM text_stats WHERE site_id = %(s)s)",
                {"s": site},
            ).fetchone()

    before, others = rows("leaving"), rows("staying")
    assert before[0] == 1 and min(before) > 0
    asked = _cli("sites", "remove", "leaving")
    assert asked.returncode == 2, asked.stderr
    assert "1 documents" in asked.stdout and "--yes" in asked.stdout
    assert rows("leaving") == before  # nothing removed without --yes
    removed = _cli("sites", "remove", "leaving", "--yes")
    assert removed.returncode == 0, removed.stderr[-2000:]
    assert rows("leaving") == (0, 0, 0, 0, 0)
    assert rows("staying") == others
    assert not any(path.exists() for path in secrets)
    assert not dg.DagsterInstance.get().has_dynamic_partition(PARTITIONS_NAME, "leaving")
    again = _cli("sites", "remove", "leaving", "--yes")
    assert again.returncode == 2 and "no site 'leaving'" in again.stderr
    assert "Traceback" not in again.stderr


def test_definitions_validate(pressrag_env: PressragEnv) -> None:
    dagster = Path(sys.executable).with_name("dagster")
    done = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO_ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_search_quality_ranks_each_question_in_order_and_judges_the_share(
    pressrag_env: PressragEnv,
) -> None:
    """Without golden questions the check asks each document's title; with them it records
    the rank of each expected page in the questions' order (they are asked on two search
    sessions at once), the same ranks a search gives, and fails below the threshold, naming
    the question it missed."""
    from pressrag.orchestration.run import search
    from pressrag.orchestration.sites import add_site
    from pressrag.resources.store.quality import add_golden, latest_evaluation
    from tests.support.fake_wordpress import FakeWordPress

    with FakeWordPress() as wordpress:
        for title, body in HARBOUR_POSTS:
            wordpress.upsert({"title": title, "content": f"<p>{body}</p>"})
        add_site("quality", url=wordpress.base_url)
        result = materialize_site("quality")
        base = wordpress.base_url
    assert result.success
    (titles,) = [
        e for e in result.get_asset_check_evaluations() if e.check_name == "search_quality"
    ]
    assert titles.passed
    assert titles.metadata["kind"].value == "titles"
    assert titles.metadata["questions"].value == len(HARBOUR_POSTS)
    assert titles.metadata["share_found_in_top_5"].value == 1.0

    with _store() as store, store.connection() as conn:
        url_of = dict(
            conn.execute("SELECT title, url FROM documents WHERE site_id = 'quality'").fetchall()
        )
    golden = [
        ("When does the ferry leave the harbour?", url_of["Ferry times"]),
        ("Where do I buy bread?", f"{base}/bakery/"),
        ("How much does a mooring cost?", url_of["Harbour fees"]),
        ("Can I climb the lighthouse?", url_of["Lighthouse tours"]),
    ]
    with _store() as store, store.connection() as conn:
        add_golden(conn, "quality", golden, source="cli")
    evaluation = evaluate_checks("quality")["search_quality"]
    assert not evaluation.passed  # 3 of 4 found, below the default threshold of 0.8
    assert evaluation.metadata["kind"].value == "golden"
    assert evaluation.metadata["share_found_in_top_5"].value == 0.75
    assert "Where do I buy bread?" in evaluation.metadata["missed"].value
    with _store() as store, store.connection() as conn:
        recorded = latest_evaluation(conn, "quality", "golden")
    assert recorded is not None
    assert [(r["question"], r["expected_url"]) for r in recorded.results] == golden

    def rank(question: str, url: str) -> int | None:
        urls = [hit.url for hit in search("quality", question, k=10)]
        return urls.index(url) + 1 if url in urls else None

    assert [r["rank"] for r in recorded.results] == [rank(q, url) for q, url in golden]
    assert recorded.results[1]["rank"] is None
