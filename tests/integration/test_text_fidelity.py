"""Block-editor content through the real pipeline (reader, cleaning, extraction, chunking,
embedding, Postgres): the chunk texts read as the page does (issue #9, text fidelity)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pressrag.resources.store import Store
from tests.conftest import PressragEnv
from tests.support.block_fixtures import (
    FILE_BLOCK,
    FOOTNOTE_META,
    FOOTNOTES_RAW,
    FOOTNOTES_RENDERED,
    GALLERY,
    TABLES,
)
from tests.support.fake_wordpress import FakeWordPress
from tests.support.indexing import materialize_site
from tests.support.wxr_export import item, wxr

pytestmark = pytest.mark.integration

DEBRIS = ("wp:", "<!--", "<![CDATA[", "]]>", "↩", "FarmDownload", "routesFerry", "hoursMonday")


def _chunk_texts(site: str, wp_id: int) -> str:
    with Store(os.environ["PRESSRAG_APP_DB_URL"], max_size=1) as store, store.connection() as conn:
        rows = conn.execute(
            "SELECT c.text FROM chunks c JOIN documents d ON d.id = c.document_id "
            "WHERE d.site_id = %s AND d.wp_id = %s ORDER BY c.ordinal",
            (site, wp_id),
        ).fetchall()
    return "\n".join(r[0] for r in rows)


def test_a_block_editor_export_is_indexed_as_it_reads(
    pressrag_env: PressragEnv, tmp_path: Path
) -> None:
    from pressrag.orchestration.sites import add_site

    footnotes = (
        "<wp:postmeta><wp:meta_key><![CDATA[footnotes]]></wp:meta_key>"
        f"<wp:meta_value><![CDATA[{FOOTNOTE_META}]]></wp:meta_value></wp:postmeta>"
    )
    debris = (
        "<!-- wp:paragraph ->\n<p>The ferry timetable changes in May.</p>\n<!-- /wp:paragraph"
        "\n<p>Closing a CDATA section ]]> is a classic bug.</p>"
    )
    body = "\n\n".join([FILE_BLOCK, GALLERY, TABLES, FOOTNOTES_RAW, debris])
    export = tmp_path / "export.xml"
    export.write_text(wxr(item(1, title="Visiting the coast", content=body, extra=footnotes)))
    add_site("blocks", wxr=str(export))

    assert materialize_site("blocks").success

    text = _chunk_texts("blocks", 1)
    assert "Wind Farm Download" in text
    assert "Golden Gate Bridge at dusk\n\nCoastline in Huatulco" in text
    assert "Walking routes" in text and "Opening hours" in text
    assert "four metres[1] twice a day." in text
    assert "Measured at the harbour gauge in 2023." in text
    assert "The ferry timetable changes in May." in text
    assert "Closing a CDATA section is a classic bug." in text
    assert [d for d in DEBRIS if d in text] == []


def test_rest_footnotes_are_indexed_with_their_post(pressrag_env: PressragEnv) -> None:
    """From `meta.footnotes` when the site exposes it, else from the rendered content."""
    from pressrag.orchestration.sites import add_site

    with FakeWordPress() as wordpress:
        with_meta = wordpress.upsert(
            {
                "title": "Tides",
                "content": FOOTNOTES_RENDERED,
                "meta": {"footnotes": FOOTNOTE_META},
            }
        )
        rendered_only = wordpress.upsert({"title": "Tides again", "content": FOOTNOTES_RENDERED})
        add_site("restnotes", url=wordpress.base_url)
        assert materialize_site("restnotes").success

    for post in (with_meta, rendered_only):
        text = _chunk_texts("restnotes", post["id"])
        assert "four metres[1] twice a day." in text
        assert "1. Measured at the harbour gauge in 2023." in text
        assert "↩" not in text
    assert json.loads(FOOTNOTE_META)[0]["id"] not in text
