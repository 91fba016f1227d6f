"""Strip what a reader never sees from WordPress post HTML, before it becomes text.

Pure functions, no I/O. Tags are handled by a real HTML parser (stdlib `html.parser`);
only shortcodes — which live inside text, not markup — are matched with a regex.

Shortcode rule (deliberate, because square brackets are also ordinary prose):
a bracketed token is an *unexpanded shortcode* and is removed when its name looks like a
shortcode name (a letter, then letters, digits, `_` or `-`; WordPress allows more, but
real shortcodes are identifier-like) AND one of these holds:

- it has at least one `key=value` attribute (`[gallery ids="1,2"]`);
- it is self-closing (`[audio /]`);
- a closer `[/name]` for it appears in the same post (`[note]text[/note]`);
- its name is a well-known core or plugin shortcode (`[caption]`, `[vc_row]`, ...).

Closers `[/name]` are always removed. Enclosing shortcodes lose only their tags: the text
between them is kept (a caption's words are content). `[[name ...]]` is WordPress's escape
for showing a shortcode literally and becomes `[name ...]`. So `[1]`, `list[int]`,
`[sic]` and `[citation needed]` survive untouched.

Markup debris never reaches the text: block delimiters (`<!-- wp:... -->`) go even when
malformed or never closed; a comment that never closes hides the rest, as in a browser; a
CDATA section is hidden as a browser hides it (a bogus comment, also when unclosed), a raw
`]]>` left in the markup outside code is dropped (an escaped `]]&gt;` is the author's text);
so are the footnotes' "↩︎" back-links.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

from pressrag.resources.extractors.html import html_to_markdown

# Whole subtrees that carry no readable content (code, styling, embeds, templates).
INVISIBLE_ELEMENTS = frozenset({"script", "style", "noscript", "template", "iframe"})

# HTML void elements never get an end tag, so they must not be counted as open.
VOID_ELEMENTS = frozenset(
    {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
    }
)

# Start tags that implicitly close an open <p> (HTML's "close a p element" rule), so that
# `<p hidden>a<p>b` hides only `a`, as a browser would.
CLOSES_P = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "details",
        "div",
        "dl",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hgroup",
        "hr",
        "main",
        "menu",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "ul",
    ]
)
# Elements whose start tag implicitly closes an open sibling of these names.
CLOSES_SIBLING = {"li": {"li"}, "dt": {"dt", "dd"}, "dd": {"dt", "dd"}}

KNOWN_SHORTCODES = frozenset(
    {
        # WordPress core
        "audio",
        "caption",
        "embed",
        "gallery",
        "playlist",
        "video",
        "wp_caption",
        # common plugins
        "contact-form",
        "contact-form-7",
        "gravityform",
        "gravityforms",
        "wpforms",
        "mc4wp_form",
        "products",
        "product",
        "product_page",
        "add_to_cart",
        "woocommerce_cart",
        "woocommerce_checkout",
        "woocommerce_my_account",
        "recent_products",
        "featured_products",
        "soliloquy",
        "metaslider",
        "rev_slider",
        "toc",
        "ninja_form",
    }
)
# Page builders generate families of shortcodes; recognise them by prefix.
KNOWN_SHORTCODE_PREFIXES = ("vc_", "et_pb_", "fusion_", "av_", "su_", "elementor-", "fl_")

_NAME = r"[A-Za-z][A-Za-z0-9_-]*"
# One bracketed token: optional escape bracket, optional slash, name, the rest up to `]`.
_SHORTCODE_TOKEN = re.compile(
    rf"(?P<escape>\[)?\[(?P<closer>/)?(?P<name>{_NAME})(?P<rest>(?:\s[^\[\]]*)?|/)\](?P<escape_end>\])?"
)
# key=value with any quoting, including the curly quotes wptexturize puts in rendered HTML.
_ATTRIBUTE = re.compile(r"(?:^|\s)[A-Za-z_][\w-]*\s*=")
_CLOSER = re.compile(rf"\[/(?P<name>{_NAME})\]")
# A block delimiter, well-formed or not: up to its `>`, or up to the next tag when the
# comment is never closed (block attributes are JSON with `<` and `>` escaped, so a bare `>`
# or `<` is never inside one).
_BLOCK_DELIMITER = re.compile(r"<!--\s*/?wp:[^<>]*>?")
# In HTML a `<![CDATA[` opens a bogus comment that ends at the first `>`: a browser hides
# that much (the whole of `<![CDATA[ x ]]>`, or up to a tag's `>` when it never closes).
_CDATA_SECTION = re.compile(r"<!\[CDATA\[[^>]*>")
# A raw `]]>` left in the markup (an escaped `]]&gt;` is the author's text and stays).
_STRAY_CDATA_END = re.compile(r"\]\]>")
# Footnote back-links ("↩︎", with or without a variation selector).
_BACK_LINK = re.compile("\u21a9[\ufe0e\ufe0f]?")
# Where text is code, `]]>` is what the author wrote.
_CODE = re.compile(r"<(pre|code|kbd|samp)\b[^>]*>.*?</\1\s*>", re.S | re.I)


def post_text(content_html: str) -> str:
    """A post's readable text: cleaned, then markdown-ish with its headings (module-level and
    free of Dagster, so a worker process imports it cheaply: resources/cpu_pool.py)."""
    return html_to_markdown(clean_post_html(content_html))


def clean_post_html(html_text: str) -> str:
    """Remove block comments, comments, shortcodes, scripts/styles/embeds and hidden elements."""
    if not html_text or not html_text.strip():
        return ""
    stripper = _VisibleHtml()
    stripper.feed(_without_unclosed_end(_without_cdata(_BLOCK_DELIMITER.sub("", html_text))))
    stripper.close()
    closers = {m.group("name").lower() for m in _CLOSER.finditer(stripper.all_text())}
    return "".join(
        _strip_shortcodes(part, closers) if is_text else part for is_text, part in stripper.parts
    )


def _without_cdata(text: str) -> str:
    """CDATA sections and stray `]]>` markers removed, except inside code."""
    out, start = [], 0
    for code in _CODE.finditer(text):
        out += [_debris_removed(text[start : code.start()]), code.group(0)]
        start = code.end()
    return "".join([*out, _debris_removed(text[start:])])


def _debris_removed(html_text: str) -> str:
    return _STRAY_CDATA_END.sub("", _CDATA_SECTION.sub("", html_text))


def _without_unclosed_end(text: str) -> str:
    """Cut a comment that never closes, as a browser does (it hides the rest of the page);
    likewise a `<![CDATA[` with no `>` after it. html.parser would hand either out as text."""
    start = text.rfind("<!--")
    if start >= 0 and text.find("-->", start + 4) < 0:
        text = text[:start]
    start = text.rfind("<![CDATA[")
    if start >= 0 and text.find(">", start) < 0:
        text = text[:start]
    return text


def _is_hidden(attrs: list[tuple[str, str | None]]) -> bool:
    """`hidden`, aria-hidden="true" or an inline display:none / visibility:hidden.

    `hidden="until-found"` stays: browsers reveal it on find-in-page, so it is public text.
    """
    for name, value in attrs:
        value_norm = (value or "").strip().lower()
        if name == "hidden" and value_norm != "until-found":
            return True
        if name == "aria-hidden" and value_norm == "true":
            return True
        if name == "style" and re.search(r"display\s*:\s*none|visibility\s*:\s*hidden", value_norm):
            return True
    return False


class _VisibleHtml(HTMLParser):
    """Re-emits the HTML minus comments and invisible subtrees.

    `parts` holds (is_text, fragment) so that shortcode stripping touches only text, never
    attribute values or tags. A stack of open elements lets an ancestor's end tag close an
    unclosed hidden element, so a missing `</p>` cannot swallow the rest of the post.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[tuple[bool, str]] = []
        self._open: list[str] = []
        self._skip_floor: int | None = None  # stack depth where the skipped subtree starts

    def all_text(self) -> str:
        return "".join(part for is_text, part in self.parts if is_text)

    @property
    def _skipping(self) -> bool:
        return self._skip_floor is not None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._close_implied(tag)
        if tag in VOID_ELEMENTS:
            if not self._skipping and not _is_hidden(attrs):
                self.parts.append((False, self.get_starttag_text() or ""))
            return
        if not self._skipping and (tag in INVISIBLE_ELEMENTS or _is_hidden(attrs)):
            self._skip_floor = len(self._open)
        self._open.append(tag)
        if not self._skipping:
            self.parts.append((False, self.get_starttag_text() or ""))

    def _close_implied(self, tag: str) -> None:
        """Close what HTML closes implicitly, or an unclosed hidden <p> would hide too much."""
        if not self._open:
            return
        if tag in CLOSES_P and self._open[-1] == "p":
            self.handle_endtag("p")
        elif self._open[-1] in CLOSES_SIBLING.get(tag, ()):
            self.handle_endtag(self._open[-1])

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if not self._skipping and tag not in INVISIBLE_ELEMENTS and not _is_hidden(attrs):
            self.parts.append((False, self.get_starttag_text() or ""))

    def handle_endtag(self, tag: str) -> None:
        if tag not in self._open:
            return  # stray end tag: nothing to close
        index = len(self._open) - 1 - self._open[::-1].index(tag)
        del self._open[index:]
        if self._skip_floor is not None:
            if index > self._skip_floor:
                return  # still inside the skipped subtree
            closed_outer = index < self._skip_floor
            self._skip_floor = None
            if not closed_outer:
                return  # the skipped element's own end tag
        self.parts.append((False, f"</{tag}>"))

    def handle_data(self, data: str) -> None:
        if self._skipping:
            return
        data = _BACK_LINK.sub("", data)
        self.parts.append((True, html.escape(data, quote=False)))

    # Comments (incl. Gutenberg `<!-- wp:... -->`), doctype, PIs and CDATA carry no content.
    def handle_comment(self, data: str) -> None:
        pass

    def handle_decl(self, decl: str) -> None:
        pass

    def handle_pi(self, data: str) -> None:
        pass

    def unknown_decl(self, data: str) -> None:
        pass


def _is_shortcode(name: str, rest: str, closers: set[str]) -> bool:
    lowered = name.lower()
    return (
        bool(_ATTRIBUTE.search(rest))
        or rest.rstrip().endswith("/")
        or lowered in closers
        or lowered in KNOWN_SHORTCODES
        or lowered.startswith(KNOWN_SHORTCODE_PREFIXES)
    )


def _strip_shortcodes(text: str, closers: set[str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name, rest = match.group("name"), match.group("rest")
        looks_real = match.group("closer") or _is_shortcode(name, rest, closers)
        if not looks_real:
            return match.group(0)
        escaped = match.group("escape") and match.group("escape_end")
        if escaped:
            return match.group(0)[1:-1]  # `[[gallery]]` shows `[gallery]` literally
        # An unbalanced extra bracket is ordinary text; keep it, drop the shortcode.
        return (match.group("escape") or "") + (match.group("escape_end") or "")

    return _SHORTCODE_TOKEN.sub(replace, text)
