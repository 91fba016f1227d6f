"""Poisoned documents never stop a site (issue 10): real embedded Postgres, real model, real
parsers in a bounded child, Dagster materializations.

- finding 3: a text attachment with a NUL byte (and a post with NUL and a lone surrogate)
  failed every run of its site; now the text is cleaned, everything is indexed, and later
  edits are applied;
- finding 4 and friends: a zip-bomb DOCX, a PDF that keeps its parser busy, a corrupt PDF
  and a file over the size cap are recorded on their documents (stage, error class,
  message), the rest is indexed; after N failures of the same content they are quarantined
  (status, run metadata) until their content changes or `pressrag retry` releases them;
- finding 6: a WXR `<link>` of `javascript:alert(1)` or on another origin never comes back
  as a result URL, and a title made of markup comes back as plain text.

Failures are recorded in `documents`: `last_error_stage` ('extract' | 'chunk' | 'embed'),
`last_error_class`, `last_error`, `last_error_at`, `failure_count`, `quarantined_at`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from pressrag.resources.settings import get_settings
from pressrag.resources.store import Store
from tests.conftest import REPO_ROOT, PressragEnv
from tests.support.fake_wordpress import FakeWordPress
from tests.support.indexing import asset_metadata, materialize_site
from tests.support.poison import DOCX_MIME, busy_pdf, corrupt_pdf, inflating_docx

pytestmark = pytest.mark.integration

LIMITS = {
    "PRESSRAG_EXTRACT_TIMEOUT_SECONDS": "4",
    "PRESSRAG_MEDIA_MAX_BYTES": str(2 * 1024 * 1024),
    "PRESSRAG_QUARANTINE_AFTER_FAILURES": "2",
}


@pytest.fixture(scope="module", autouse=True)
def small_limits(pressrag_env: PressragEnv) -> Iterator[None]:
    """Small bounds so a busy parser is stopped in seconds (materializations run in process)."""
    saved = {name: os.environ.get(name) for name in LIMITS}
    os.environ.update(LIMITS)
    get_settings.cache_clear()
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    get_settings.cache_clear()


def _store() -> Store:
    return Store(os.environ["PRESSRAG_APP_DB_URL"], max_size=1)


def _documents(site: str) -> dict[int, dict]:
    with _store() as store, store.connection() as conn:
        cur = conn.execute(
            "SELECT wp_id, title, url, url_refused, last_error_stage, last_error_class, "
            "last_error, failure_count, quarantined_at, indexed_hash = content_hash AS indexed "
            "FROM documents WHERE site_id = %s",
            (site,),
        )
        names = [c.name for c in cur.description]
        return {row[0]: dict(zip(names, row, strict=True)) for row in cur.fetchall()}


def _chunk_texts(site: str, wp_id: int) -> list[str]:
    with _store() as store, store.connection() as conn:
        return [
            r[0]
            for r in conn.execute(
                "SELECT c.text FROM chunks c JOIN documents d ON d.id = c.document_id "
                "WHERE d.site_id = %s AND d.wp_id = %s ORDER BY c.ordinal",
                (site, wp_id),
            )
        ]


def test_nul_and_surrogates_no_longer_poison_the_site(pressrag_env: PressragEnv) -> None:
    """Finding 3. On main the first run fails (`psycopg.DataError` storing the text) and so
    does every later one, so the edit at the end is never applied."""
    from pressrag.orchestration.sites import add_site

    with FakeWordPress() as wordpress:
        heron = wordpress.upsert(
            {"title": "Herons", "content": "<p>The grey heron waits by the river.</p>"}
        )
        ibis = wordpress.upsert(
            {
                "title": "Ib\x00is",
                "content": "<p>The sacred ibis\x00 wades in shallow water \ud800 at dawn.</p>",
            }
        )
        notes = wordpress.upsert(
            {
                "type": "attachment",
                "title": "Kingfisher notes",
                "mime_type": "text/plain",
                "file": b"Kingfisher\x00 dives for fish in the clear stream.\n",
                "file_path": "2024/01/kingfisher.txt",
            }
        )
        add_site("poison-nul", url=wordpress.base_url)
        first = materialize_site("poison-nul")
        assert first.success
        docs = _documents("poison-nul")
        assert all(d["indexed"] and d["last_error"] is None for d in docs.values()), docs
        assert docs[ibis["id"]]["title"] == "Ibis"
        assert "dives for fish" in " ".join(_chunk_texts("poison-nul", notes["id"]))
        assert "\ufffd at dawn" in " ".join(_chunk_texts("poison-nul", ibis["id"]))

        wordpress.upsert({"id": heron["id"], "content": "<p>The little egret fishes too.</p>"})
        edit = materialize_site("poison-nul", wp_ids=[heron["id"]], reason="webhook")
    assert edit.success
    assert "little egret" in " ".join(_chunk_texts("poison-nul", heron["id"]))


def _index_with_one_refused(
    site: str, table: str, check: str, *, birds: int
) -> tuple[list[dict], dict, dg.ExecuteInProcessResult]:
    """Index a new site of `birds` posts and one post holding "refused-by-the-database",
    while a CHECK constraint (`check`, on `table`) stands in for the database refusing it."""
    from pressrag.orchestration.sites import add_site

    with FakeWordPress() as wordpress, _store() as store:
        posts = [
            wordpress.upsert({"title": f"Bird {n}", "content": f"<p>Bird number {n} sings.</p>"})
            for n in range(birds)
        ]
        bad = wordpress.upsert(
            {"title": "Refused", "content": "<p>This text is refused-by-the-database.</p>"}
        )
        add_site(site, url=wordpress.base_url)
        with store.connection() as conn:
            conn.execute(f"ALTER TABLE {table} ADD CONSTRAINT test_refused CHECK ({check})")
        try:
            run = materialize_site(site)
        finally:
            with store.connection() as conn:
                conn.execute(f"ALTER TABLE {table} DROP CONSTRAINT test_refused")
    return posts, bad, run


def test_a_text_the_database_refuses_fails_alone(pressrag_env: PressragEnv) -> None:
    """Extracted texts are saved 25 to a statement; when the database refuses one of them
    (here a CHECK constraint stands in for any refusal), the others of its statement are
    saved one at a time and indexed, and only that document records the failure."""
    site = "poison-store"
    check = f"site_id <> '{site}' OR extracted_text NOT LIKE '%refused-by-the-database%'"
    posts, bad, run = _index_with_one_refused(site, "documents", check, birds=30)
    assert run.success
    meta = asset_metadata(run, "extracted_text")
    assert meta["failed"] == 1 and str(bad["id"]) in str(meta["failures"])
    docs = _documents(site)
    assert docs[bad["id"]]["last_error_stage"] == "extract"
    assert docs[bad["id"]]["last_error_class"] == "CheckViolation"
    assert not docs[bad["id"]]["indexed"]
    for post in posts:
        assert docs[post["id"]]["indexed"] and docs[post["id"]]["last_error"] is None


@pytest.mark.parametrize(
    ("table", "stage"),
    [("chunk_drafts", "chunk"), ("chunks", "embed")],
    ids=["drafts-copied", "chunks-published"],
)
def test_a_chunk_the_database_refuses_fails_alone(
    pressrag_env: PressragEnv, table: str, stage: str
) -> None:
    """Drafts and live chunks go in by one binary COPY for many documents (chunks through a
    staging table); when the database refuses one document's rows, the others are written
    one document at a time, each with exactly its own chunks, and only that document
    records the failure, at its stage."""
    site = f"poison-{stage}"
    check = "text NOT LIKE '%refused-by-the-database%'"
    posts, bad, run = _index_with_one_refused(site, table, check, birds=12)
    assert run.success
    docs = _documents(site)
    assert docs[bad["id"]]["last_error_stage"] == stage
    assert docs[bad["id"]]["last_error_class"] == "CheckViolation"
    assert not docs[bad["id"]]["indexed"] and _chunk_texts(site, bad["id"]) == []
    for n, post in enumerate(posts):
        assert docs[post["id"]]["indexed"] and docs[post["id"]]["last_error"] is None
        texts = _chunk_texts(site, post["id"])
        assert len(texts) == 1 and f"Bird number {n} sings." in texts[0], texts


POISONED = {
    "corrupt": ("application/pdf", "broken.pdf", "ExtractionError"),
    "bomb": (DOCX_MIME, "bomb.docx", "ExtractionLimitExceeded"),
    "busy": ("application/pdf", "busy.pdf", "ExtractionLimitExceeded"),
    "oversize": ("text/plain", "huge.txt", "SourceError"),
}


def _poisoned_files() -> dict[str, bytes]:
    return {
        "corrupt": corrupt_pdf(),
        "bomb": inflating_docx(250),
        "busy": busy_pdf(100_000),
        "oversize": b"big " * (1024 * 1024),  # 4 MiB over a 2 MiB cap
    }


def test_poisoned_files_are_recorded_quarantined_and_released(pressrag_env: PressragEnv) -> None:
    from pressrag.orchestration.retry import release_documents
    from pressrag.orchestration.run import status
    from pressrag.orchestration.sites import add_site

    site = "poison-files"
    with FakeWordPress() as wordpress:
        post = wordpress.upsert({"title": "Otters", "content": "<p>Otters hold hands.</p>"})
        good = wordpress.upsert(
            {
                "type": "attachment",
                "title": "Badger notes",
                "mime_type": "text/plain",
                "file": b"Badgers dig setts under old hedgerows.",
                "file_path": "2024/01/badgers.txt",
            }
        )
        ids = {}
        for name, data in _poisoned_files().items():
            mime, filename, _ = POISONED[name]
            ids[name] = wordpress.upsert(
                {
                    "type": "attachment",
                    "title": f"Poisoned {name}",
                    "mime_type": mime,
                    "file": data,
                    "file_path": f"2024/01/{filename}",
                }
            )["id"]
        add_site(site, url=wordpress.base_url)

        first = materialize_site(site)
        assert first.success
        meta = asset_metadata(first, "extracted_text")
        assert (meta["failed"], meta["quarantined"]) == (4, 0)
        assert all(str(i) in str(meta["failures"]) for i in ids.values())
        docs = _documents(site)
        assert docs[post["id"]]["indexed"] and docs[good["id"]]["indexed"]
        for name, wp_id in ids.items():
            doc = docs[wp_id]
            assert (doc["last_error_stage"], doc["last_error_class"]) == (
                "extract",
                POISONED[name][2],
            )
            assert doc["failure_count"] == 1 and doc["quarantined_at"] is None
            assert not doc["indexed"]
        assert "inflate" in docs[ids["bomb"]]["last_error"]
        assert "wall-time limit" in docs[ids["busy"]]["last_error"]

        # The second failure of the same content quarantines (PRESSRAG_QUARANTINE_AFTER_FAILURES).
        second = materialize_site(site)
        assert second.success
        assert asset_metadata(second, "extracted_text")["quarantined"] == 4
        assert asset_metadata(second, "embeddings")["quarantined_total"] == 4
        report = status(site)[0]
        assert (report["failures"], report["quarantined"]) == (4, 4)
        listed = {f["wp_id"]: f for f in report["failed_documents"]}
        assert all(
            listed[i]["quarantined"] and listed[i]["stage"] == "extract" for i in ids.values()
        )

        # Quarantined documents are not tried again: nothing pending, counts unchanged.
        third = materialize_site(site)
        assert third.success
        assert asset_metadata(third, "extracted_text")["changed_documents"] == 0
        assert all(_documents(site)[i]["failure_count"] == 2 for i in ids.values())

        # New content leaves quarantine: the fixed file is indexed, its failures forgotten.
        wordpress.upsert(
            {
                "id": ids["corrupt"],
                "mime_type": "text/plain",
                "file": b"Voles nest in long grass.",
                "file_path": "2024/01/voles.txt",
            }
        )
        fixed = materialize_site(site, wp_ids=[ids["corrupt"]], reason="webhook")
        assert fixed.success
        doc = _documents(site)[ids["corrupt"]]
        assert doc["indexed"] and doc["last_error"] is None and doc["quarantined_at"] is None
        assert doc["failure_count"] == 0

        # `pressrag retry` releases one document; it is tried (and fails) once more.
        assert release_documents(site, ids["bomb"]) == [ids["bomb"]]
        retried = materialize_site(site, wp_ids=[ids["bomb"]], reason="retry")
        assert retried.success
        assert asset_metadata(retried, "extracted_text")["changed_documents"] == 1
    doc = _documents(site)[ids["bomb"]]
    assert doc["failure_count"] == 1 and doc["quarantined_at"] is None

    # The CLI shows what is quarantined and releases it.
    shown = _cli("status", "--site", site)
    assert f"quarantined {ids['busy']} 'Poisoned busy' (extract, 2x ExtractionLimitExceeded)" in (
        shown.stdout
    ), shown.stdout + shown.stderr
    assert f"pressrag retry --site {site}" in shown.stdout
    released = _cli("retry", "--site", site, "--no-run")
    assert released.returncode == 0, released.stderr
    assert f"released from quarantine: {ids['busy']}, {ids['oversize']}" in released.stdout
    report = json.loads(_cli("status", "--site", site, "--json").stdout)[0]
    assert report["quarantined"] == 0 and report["failures"] == 3


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("pressrag")), *args],
        cwd=REPO_ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def _wxr(export: Path, items: str) -> None:
    export.write_text(
        f"""<?xml version="1.0" encoding="UTF-8" ?>
<rss version="2.0" xmlns:excerpt="http://wordpress.org/export/1.2/excerpt/"
  xmlns:content="http://purl.org/rss/1.0/modules/content/"
  xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:wp="http://wordpress.org/export/1.2/">
<channel>
  <title>Riverbank</title><link>https://riverbank.example</link>
  <wp:wxr_version>1.2</wp:wxr_version>
  <wp:base_site_url>https://riverbank.example</wp:base_site_url>
  <wp:base_blog_url>https://riverbank.example</wp:base_blog_url>
  {items}
</channel>
</rss>
""",
        encoding="utf-8",
    )


def _item(wp_id: int, title: str, link: str, content: str, extra: str = "") -> str:
    post_type = "attachment" if extra else "post"
    status = "inherit" if extra else "publish"
    return f"""<item>
    <title><![CDATA[{title}]]></title><link>{link}</link>
    <dc:creator><![CDATA[admin]]></dc:creator>
    <content:encoded><![CDATA[{content}]]></content:encoded>
    <wp:post_id>{wp_id}</wp:post_id>
    <wp:post_modified_gmt>2024-02-03 04:05:06</wp:post_modified_gmt>
    <wp:status>{status}</wp:status><wp:post_type>{post_type}</wp:post_type>
    <wp:post_parent>0</wp:post_parent>{extra}
  </item>"""


def test_result_urls_are_safe_and_titles_plain_text(
    pressrag_env: PressragEnv, tmp_path: Path
) -> None:
    """Finding 6. On main the javascript: link comes back as the result `url` and the title
    with its markup."""
    from pressrag.orchestration.run import search, status
    from pressrag.orchestration.sites import add_site

    export = tmp_path / "export.xml"
    _wxr(
        export,
        _item(
            1,
            "<b>Sea</b> <img src=x onerror=alert(1)>otters",
            "javascript:alert(1)",
            "<p>Sea otters hold hands while they sleep so they do not drift apart.</p>",
        )
        + _item(
            2,
            "Beavers",
            "https://evil.example/phish/",
            "<p>Beavers build dams of branches and mud across streams.</p>",
        )
        + _item(
            3,
            "Badgers",
            "https://riverbank.example/badgers/",
            "<p>Badgers dig setts under old hedgerows.</p>",
        )
        + _item(
            4,
            "Metadata",
            "https://riverbank.example/metadata/",
            "",
            "<wp:attachment_url>http://169.254.169.254/latest/meta-data/keys.pdf"
            "</wp:attachment_url>",
        ),
    )
    add_site("poison-urls", wxr=str(export))
    assert materialize_site("poison-urls").success

    otters = search("poison-urls", "sea otters sleeping holding hands", k=1)[0]
    assert (otters.wp_id, otters.url, otters.title) == (1, "", "Sea otters")
    beavers = search("poison-urls", "beavers building dams", k=1)[0]
    assert (beavers.wp_id, beavers.url) == (2, "")
    badgers = search("poison-urls", "badgers digging setts", k=1)[0]
    assert badgers.url == "https://riverbank.example/badgers/"

    docs = _documents("poison-urls")
    assert docs[1]["url_refused"] == "refused 'javascript:alert(1)': not an http(s) URL"
    assert "not on the site's origins" in docs[2]["url_refused"]
    # The metadata-service URL is refused, not fetched, and recorded on its document.
    assert (docs[4]["last_error_stage"], docs[4]["last_error_class"]) == ("extract", "SourceError")
    assert "refusing" in docs[4]["last_error"]
    report = status("poison-urls")[0]
    assert report["refused_urls"] == 2 and report["failures"] == 1
