"""Block-editor posts become the text a reader sees (issue #9, "text fidelity").

Fixtures (`tests/fixtures/blocks/`) are written by hand after the markup WordPress's core
blocks save (WordPress 6.x) and what its REST API renders for dynamic blocks, the way they
appear in WordPress's theme unit test data. Each case was wrong before: words of adjacent
blocks ran together ("Wind FarmDownload"), a table caption ran into the next table,
footnotes were missing, block comments and CDATA markers leaked into the text.
"""

from __future__ import annotations

import json
import re

import pytest

from pressrag.assets.indexing.text import post_text
from pressrag.resources.wordpress._common import parse_footnotes, with_footnotes
from tests.support.block_fixtures import (
    COLUMNS_AND_BUTTONS,
    FILE_BLOCK,
    FOOTNOTE_META,
    FOOTNOTES_RAW,
    FOOTNOTES_RENDERED,
    GALLERY,
    LISTS,
    TABLES,
)


def test_a_file_block_keeps_its_name_apart_from_its_button() -> None:
    text = post_text(FILE_BLOCK)

    assert "FarmDownload" not in text
    assert re.search(r"Wind Farm\s+Download", text)


def test_figures_and_captions_are_separate_paragraphs() -> None:
    paragraphs = post_text(GALLERY).strip().split("\n\n")

    assert paragraphs == [
        "Golden Gate Bridge at dusk",
        "Coastline in Huatulco",
        "Pacific trip",
        "After the gallery.",
    ]


def test_columns_and_buttons_are_separate() -> None:
    text = post_text(COLUMNS_AND_BUTTONS)

    assert "Column one\n\n### Column two" in text
    assert re.search(r"Buy tickets\s+See the map", text)


def test_list_items_stay_items() -> None:
    lines = [line.strip() for line in post_text(LISTS).splitlines() if line.strip()]

    assert lines == ["* Apples", "* Pears", "1. Conference"]


def test_a_table_caption_does_not_run_into_the_next_table() -> None:
    text = post_text(TABLES)

    assert "Walking routes" in text.split("\n\n")
    assert "routesFerry" not in text and "Walking routes\nFerry" not in text
    assert "Opening hours" in text.split("\n\n")
    assert "hoursMonday" not in text
    # Blocks inside a cell stay apart without breaking the row they are in.
    assert re.search(r"Ridge walk \(steep\)\s*\|\s*8 km 3 h", text)


def test_footnotes_from_post_meta_are_indexed_where_the_block_is() -> None:
    """WXR holds `<!-- wp:footnotes /-->` and the notes in post meta `footnotes`."""
    html = with_footnotes(FOOTNOTES_RAW, FOOTNOTE_META)
    text = post_text(html)

    assert "four metres[1] twice a day." in text
    assert "1. Measured at the harbour gauge in 2023." in text
    assert "wp:footnotes" not in text


def test_rest_footnotes_read_the_same_with_or_without_meta() -> None:
    """REST gives the rendered list (with "↩︎" back-links); `meta.footnotes` when exposed.
    Both read as the WXR export does."""
    from_wxr = post_text(with_footnotes(FOOTNOTES_RAW, FOOTNOTE_META))
    from_meta = post_text(with_footnotes(FOOTNOTES_RENDERED, FOOTNOTE_META))
    rendered_only = post_text(with_footnotes(FOOTNOTES_RENDERED, None))

    assert from_meta == from_wxr
    assert rendered_only == from_wxr
    assert "↩" not in rendered_only


def test_footnotes_without_their_block_are_not_shown_so_not_indexed() -> None:
    """WordPress shows footnotes only through the footnotes block."""
    without_block = FOOTNOTES_RAW.replace("<!-- wp:footnotes /-->", "")

    assert with_footnotes(without_block, FOOTNOTE_META) == without_block


@pytest.mark.parametrize(
    "meta",
    ["", "not json", "{}", json.dumps([{"id": 1, "content": "x"}]), json.dumps([{"id": "a"}])],
)
def test_malformed_footnote_meta_is_no_footnotes(meta: str) -> None:
    assert parse_footnotes(meta) == []
    assert with_footnotes(FOOTNOTES_RAW, meta) == FOOTNOTES_RAW


@pytest.mark.parametrize(
    "html",
    [
        '<!-- wp:paragraph {"dropCap":true} -->\n<p>Visible words</p>\n<!-- /wp:paragraph -->',
        "<!-- wp:paragraph ->\n<p>Visible words</p>\n<!-- /wp:paragraph ->",  # malformed
        "<!-- wp:paragraph\n<p>Visible words</p>\n<!-- /wp:paragraph",  # never closed
        '<!--wp:image {"id":3}/--><p>Visible words</p><!--/wp:image-->',  # no spaces
        "<!-- wp:core/paragraph --><p>Visible words</p><!-- /wp:core/paragraph -->",
        "<p>Visible words</p><!-- note to self",  # an ordinary comment never closed
    ],
)
def test_block_comments_never_reach_the_text(html: str) -> None:
    text = post_text(html)

    assert text.strip() == "Visible words"


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        # A browser hides a CDATA section in HTML (a bogus comment), and so do we.
        ("<p>Content with nested <![CDATA[ tags ]]> :)</p>", "Content with nested :)"),
        ("<p>Before <![CDATA[ never closed</p><p>After</p>", "Before\n\nAfter"),
        ("<p>A stray ]]> end</p>", "A stray end"),
        ("<p>Escaped, ]]&gt; is the author's text</p>", "Escaped, ]]> is the author's text"),
        ("<pre><code>if a[b[0]]> 1:</code></pre>", "```\nif a[b[0]]> 1:\n```"),
    ],
)
def test_cdata_markers_never_reach_the_text(html: str, expected: str) -> None:
    assert post_text(html).strip() == expected


def test_a_rendered_latest_posts_list_keeps_titles_and_dates_apart() -> None:
    """Dynamic blocks arrive rendered through REST: a date is not part of a title."""
    html = (
        '<ul class="wp-block-latest-posts__list has-dates wp-block-latest-posts">'
        '<li><a class="wp-block-latest-posts__post-title" href="/a">Spring tides</a>'
        '<time datetime="2024-03-01T09:00:00+00:00" class="wp-block-latest-posts__post-date">'
        "March 1, 2024</time></li></ul>"
    )

    assert "Spring tides March 1, 2024" in post_text(html)


def test_details_media_text_and_pullquote_are_read_in_order() -> None:
    html = (
        '<details class="wp-block-details"><summary>Is the ferry free?</summary>'
        '<!-- wp:paragraph {"placeholder":"Type / to add a hidden block"} -->'
        "<p>Yes, for foot passengers.</p><!-- /wp:paragraph --></details>"
        '<div class="wp-block-media-text is-stacked-on-mobile">'
        '<figure class="wp-block-media-text__media"><img src="/ferry.jpg" alt="The ferry"/>'
        '</figure><div class="wp-block-media-text__content">'
        "<p>The ferry leaves hourly.</p></div></div>"
        '<figure class="wp-block-pullquote"><blockquote><p>Best crossing on the coast</p>'
        "<cite>A passenger</cite></blockquote></figure>"
    )

    paragraphs = [p for p in post_text(html).split("\n\n") if p.strip()]

    assert paragraphs[:3] == [
        "Is the ferry free?",
        "Yes, for foot passengers.",
        "The ferry leaves hourly.",
    ]
    assert "Best crossing on the coast" in paragraphs[3] and "A passenger" in paragraphs[-1]
