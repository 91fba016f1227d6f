"""A real WordPress's own export (export_wp) read by our reader, and the same posts read
through its REST API: both sources agree on what each post is and what it says."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from pressrag.assets.indexing.text import post_text
from pressrag.resources.wordpress import WordPressRestClient, WxrReader
from tests.support.wordpress import WordPress

pytestmark = pytest.mark.e2e

TABLE = (
    '<!-- wp:table -->\n<figure class="wp-block-table"><table><tbody><tr><td>Ferry</td>'
    "<td>hourly</td></tr></tbody></table><figcaption>Timetable</figcaption></figure>\n"
    "<!-- /wp:table -->\n\n"
    "<!-- wp:paragraph -->\n<p>In XML a section ends with ]]&gt; and a tag with ]]></p>\n"
    "<!-- /wp:paragraph -->"
)
# Classic-editor content: paragraphs are blank lines; WordPress adds <p> when rendering.
CLASSIC = (
    "<strong>Opening hours</strong>\n\nThe office opens at seven.\nIt closes at six.\n\n"
    "<address>1 Quay Street\nPortsmouth</address>Ask at the desk.\n\n<pre>a\n\nb</pre>"
)
LIST = (
    "<!-- wp:list -->\n<ul><!-- wp:list-item -->\n<li>Apples</li>\n<!-- /wp:list-item -->\n\n"
    "<!-- wp:list-item -->\n<li>Pears</li>\n<!-- /wp:list-item --></ul>\n<!-- /wp:list -->"
)


@pytest.fixture(scope="module")
def wordpress(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WordPress]:
    with WordPress(Path(tmp_path_factory.mktemp("wp")) / "wp") as wp:
        yield wp


def _create(wordpress: WordPress, route: str, body: dict) -> dict:
    answer = wordpress.rest("POST", route, json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_a_real_export_reads_like_the_rest_api(wordpress: WordPress) -> None:
    category = _create(wordpress, "/wp/v2/categories", {"name": "Boats & Ferries"})
    post = _create(
        wordpress,
        "/wp/v2/posts",
        {
            "title": "Ferry times",
            "content": TABLE,
            "status": "publish",
            "categories": [category["id"]],
        },
    )
    page = _create(
        wordpress, "/wp/v2/pages", {"title": "Fruit", "content": LIST, "status": "publish"}
    )
    draft = _create(wordpress, "/wp/v2/posts", {"title": "Unfinished", "status": "draft"})
    classic = _create(
        wordpress,
        "/wp/v2/posts",
        {"title": "Harbour office", "content": CLASSIC, "status": "publish"},
    )

    reader = WxrReader(io.BytesIO(wordpress.export_wxr()))
    exported = {d.wp_id: d for d in reader}
    assert reader.report.failures == [] and reader.report.not_well_formed is None
    assert reader.facts["wp:wxr_version"] == "1.2"
    with WordPressRestClient(wordpress.base_url, post_types=("post", "page")) as rest:
        fetched = rest.fetch(None, [post["id"], page["id"], draft["id"], classic["id"]])

    assert exported[draft["id"]].status == "draft" and fetched[draft["id"]] is None
    for wp_id in (post["id"], page["id"], classic["id"]):
        from_wxr, from_rest = exported[wp_id], fetched[wp_id]
        assert from_rest is not None
        assert (from_wxr.type, from_wxr.status, from_wxr.title, from_wxr.url) == (
            from_rest.type,
            from_rest.status,
            from_rest.title,
            from_rest.url,
        )
        assert from_wxr.terms == from_rest.terms
        assert post_text(from_wxr.content_html) == post_text(from_rest.content_html)
    text = post_text(exported[post["id"]].content_html)
    assert "Ferry| hourly" in text and "Timetable" in text.split("\n\n")
    # Escaped, `]]&gt;` is the author's text; a raw `]]>` left in the markup is debris.
    assert "ends with ]]> and a tag with\n" in text
    assert exported[post["id"]].terms == {"category": ["Boats & Ferries"]}
    # WordPress's wpautop on REST, ours on the export: the same paragraphs.
    assert post_text(exported[classic["id"]].content_html).split("\n\n")[:3] == [
        "Opening hours",
        "The office opens at seven.\nIt closes at six.",
        "1 Quay Street\nPortsmouth",
    ]
