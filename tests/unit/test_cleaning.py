"""clean_post_html: what a reader never sees must not reach the index; what they see must."""

from __future__ import annotations

import html

import pytest

from pressrag.assets.transforms.cleaning import clean_post_html


def test_gutenberg_block_comments_removed_content_kept() -> None:
    post_html = (
        '<!-- wp:heading {"level":2} --><h2>Opening hours</h2><!-- /wp:heading -->\n'
        "<!-- wp:paragraph --><p>Open daily from nine.</p><!-- /wp:paragraph -->\n"
        '<!-- wp:image {"id":12} /--><!--more-->'
    )
    cleaned = clean_post_html(post_html)
    assert "wp:" not in cleaned
    assert "<!--" not in cleaned
    assert "<h2>Opening hours</h2>" in cleaned
    assert "<p>Open daily from nine.</p>" in cleaned


@pytest.mark.parametrize(
    ("post_html", "gone", "kept"),
    [
        ('<p>Before [gallery ids="1,2,3"] after</p>', "gallery", "Before  after"),
        ("<p>[audio /]Listen</p>", "audio", "Listen"),
        ("<p>[embed width=300]https://example.com/v[/embed]</p>", "embed", "https://example.com/v"),
        (
            '[caption id="attachment_5" align="alignleft"]<img src="a.jpg"> A heron[/caption]',
            "caption",
            "A heron",
        ),
        ("<p>[note]Remember the keys[/note]</p>", "note]", "Remember the keys"),
        (
            "[vc_row][vc_column][vc_column_text]Nested words[/vc_column_text][/vc_column][/vc_row]",
            "vc_",
            "Nested words",
        ),
        ("<p>[contact-form-7]</p><p>Write to us</p>", "contact-form", "Write to us"),
        # wptexturize turns the quotes of an unregistered shortcode into curly ones
        ("<p>[gallery ids=”1″]Text</p>", "gallery", "Text"),
    ],
)
def test_unexpanded_shortcodes_removed_inner_text_kept(
    post_html: str, gone: str, kept: str
) -> None:
    """Each shortcode form the rule recognises: attributes, self-closing, a matching closer,
    a known name or a page-builder prefix; enclosing ones keep their inner text."""
    cleaned = clean_post_html(post_html)
    assert gone not in cleaned
    assert kept in cleaned


@pytest.mark.parametrize(
    ("post_html", "expected"),
    [
        ("<p>Type [[gallery]] to show one.</p>", "<p>Type [gallery] to show one.</p>"),
        ('<p>Use [[gallery ids="4"]].</p>', '<p>Use [gallery ids="4"].</p>'),
        ("<p>[[caption]]</p>", "<p>[caption]</p>"),
    ],
)
def test_escaped_shortcodes_become_literal(post_html: str, expected: str) -> None:
    """`[[x]]` is WordPress's escape for printing a shortcode; the reader sees `[x]`."""
    assert clean_post_html(post_html) == expected


@pytest.mark.parametrize(
    "text",
    [
        "See the footnote [1] and [2].",
        "def f(x: list[int]) -> dict[str, int]: ...",
        "He said it was [sic] wrong.",
        "This is disputed [citation needed].",
        "Matrix a[i][j] and [[1, 2], [3, 4]].",
        "Markdown-style [link text] stays.",
    ],
)
def test_ordinary_brackets_are_kept(text: str) -> None:
    """Brackets are common in prose and code; only shortcode-looking syntax may go."""
    paragraph = f"<p>{html.escape(text, quote=False)}</p>"
    assert clean_post_html(paragraph) == paragraph


@pytest.mark.parametrize(
    ("post_html", "secret"),
    [
        ("<p>Hi</p><script>var token = 'abc';</script>", "token"),
        ("<p>Hi</p><script type='text/template'><p>tmpl</p></script>", "tmpl"),
        ("<style>.x{color:red}</style><p>Hi</p>", "color"),
        ("<noscript>Enable JavaScript</noscript><p>Hi</p>", "Enable"),
        ("<template><p>Later</p></template><p>Hi</p>", "Later"),
        ('<iframe src="https://e.com">No frames</iframe><p>Hi</p>', "frames"),
        ("<p>Hi</p><!-- internal note -->", "internal"),
        ("<div hidden><p>Draft text</p><img src=x></div><p>Hi</p>", "Draft"),
        ('<p>Hi<span aria-hidden="true">★★★</span></p>', "★"),
        ('<div style="display: none">Tracking</div><p>Hi</p>', "Tracking"),
    ],
)
def test_invisible_content_removed(post_html: str, secret: str) -> None:
    """Scripts, styles, embeds, templates, comments and hidden elements carry no
    reader-visible text; the visible paragraph must survive each of them."""
    cleaned = clean_post_html(post_html)
    assert secret not in cleaned
    assert "Hi" in cleaned


def test_unclosed_hidden_paragraph_hides_only_itself() -> None:
    """A missing `</p>` must not make the rest of the post disappear (browsers close it)."""
    cleaned = clean_post_html("<div><p hidden>secret<p>visible one</div><p>visible two</p>")
    assert "secret" not in cleaned
    assert "visible one" in cleaned
    assert "visible two" in cleaned


def test_hidden_until_found_is_public() -> None:
    """`hidden="until-found"` text is revealed by find-in-page, so readers can see it."""
    assert "Answer" in clean_post_html('<details><div hidden="until-found">Answer</div></details>')


def test_entities_survive_round_trip() -> None:
    """Text is unescaped by the parser; it must be re-escaped, or `&lt;b&gt;` becomes a tag."""
    cleaned = clean_post_html("<p>Fish &amp; chips &lt;b&gt; &quot;q&quot;</p>")
    assert "&amp; chips &lt;b&gt;" in cleaned
    assert "<b>" not in cleaned


@pytest.mark.parametrize("post_html", ["", "   \n", "<!-- wp:paragraph --><!-- /wp:paragraph -->"])
def test_empty_input_gives_empty_output(post_html: str) -> None:
    """Empty, blank and comment-only posts have no content at all."""
    assert clean_post_html(post_html).strip() == ""
