"""`autop`: classic-editor content from an export gets the paragraphs WordPress renders
(`wpautop`); cases after WordPress's own tests (tests/phpunit/tests/formatting/wpAutop.php)."""

from __future__ import annotations

import pytest

from pressrag.assets.indexing.text import post_text
from pressrag.resources.wordpress.autop import autop, has_blocks

CLASSIC_POST = """<strong>Anchor Tag (aka. Link)</strong>

This is an example of a <a title="WordPress Foundation" href="https://wordpressfoundation.org/">link</a>.

<address>1 Infinite Loop
Cupertino, CA 95014
United States</address>Next to the address.
<pre>def f():

    return 1</pre>
Last line one
last line two"""


def test_blank_lines_become_paragraphs_and_newlines_line_breaks() -> None:
    assert autop("First paragraph\nsame paragraph\n\nSecond") == (
        "<p>First paragraph<br />\nsame paragraph</p>\n<p>Second</p>\n"
    )


def test_block_elements_are_not_wrapped_and_pre_is_untouched() -> None:
    html = autop(CLASSIC_POST)

    assert "<p><address>" not in html and "<p>This is an example of a" in html
    assert "<pre>def f():\n\n    return 1</pre>" in html
    assert "<p>Last line one<br />\nlast line two</p>" in html


def test_a_classic_post_reads_as_paragraphs() -> None:
    """Without `wpautop`, the raw content of a classic post was one paragraph."""
    paragraphs = post_text(autop(CLASSIC_POST)).split("\n\n")

    assert paragraphs[:3] == [
        "Anchor Tag (aka. Link)",
        "This is an example of a link.",
        "1 Infinite Loop\nCupertino, CA 95014\nUnited States",
    ]


@pytest.mark.parametrize("text", ["", "   ", "\n\n"])
def test_nothing_stays_nothing(text: str) -> None:
    assert autop(text) == ""


def test_newlines_inside_tags_are_not_line_breaks() -> None:
    assert autop('<a\nhref="/x">link</a> text') == '<p><a href="/x">link</a> text</p>\n'


def test_block_content_is_recognised() -> None:
    assert has_blocks("<!-- wp:paragraph --><p>x</p><!-- /wp:paragraph -->")
    assert not has_blocks("<p>classic</p>")
