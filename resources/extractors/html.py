"""HTML → markdown with html2text, shaped for chunking and embedding.

Headings stay as `#` lines (the chunker splits on them), lists stay lists, links keep their
text but lose their URLs (URLs are noise to an embedding model and the chunk already cites
its page), images go, and lines are never wrapped (a wrapped line would split a sentence).
Code blocks become ``` fences, so a `# comment` inside code is not mistaken for a heading.

Block-editor markup is laid out as a reader sees it: html2text breaks lines only around
paragraphs, divs, headings, lists, tables, `pre` and quotes, so every other block element
(figures and their captions, table captions, sections, details…) is made a paragraph too,
blocks inside a table cell are kept apart by a space, a button that follows a link is not
glued to it ("Wind Farm Download", not "Wind FarmDownload"), nor a date to a title, a list
inside a table cell does not break the table, and a footnote marker reads `[1]` rather than
running into the word before it.

The text is never rendered as markdown, so html2text's markdown escaping is off: it put
backslashes into what readers see in snippets and citations (`1\\. Install`, `\\- or`, even
mid-line after an inline element) and into what the model embeds, and cost a few regex
passes over every text node.
"""

from __future__ import annotations

import re

import html2text

_BLANK_RUNS = re.compile(r"\n{3,}")
_TRAILING_SPACE = re.compile(r"[ \t]+$", re.MULTILINE)

# HTML's block-level elements that html2text does not break around.
EXTRA_BLOCKS = frozenset(
    {
        "address",
        "article",
        "aside",
        "caption",
        "details",
        "dialog",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "header",
        "hgroup",
        "legend",
        "main",
        "nav",
        "section",
        "summary",
    }
)
# Classes WordPress gives links styled as buttons (file block, buttons block, themes).
_BUTTON_CLASS = re.compile(r"(?:^|\s)(?:wp-element-button|[\w-]*__button(?:__link)?)(?:\s|$)")


class _BlockLayout:
    """html2text `tag_callback`: extra paragraph breaks, spaces and footnote brackets."""

    def __init__(self) -> None:
        self._footnote_sups: list[bool] = []

    def __call__(
        self, converter: html2text.HTML2Text, tag: str, attrs: dict[str, str | None], start: bool
    ) -> bool:
        in_cell = converter.split_next_td  # html2text is inside a table row
        if in_cell and tag in ("ul", "ol", "li"):
            converter.o(" ", puredata=True)  # a list's line breaks would end the table row
            return True  # html2text skips its own handling
        if tag in EXTRA_BLOCKS or (in_cell and tag in ("p", "div")):
            if in_cell:
                converter.o(" ", puredata=True)  # a paragraph break would end the table row
            else:
                converter.p()
        elif start and (tag == "time" or _is_button(tag, attrs)):
            converter.o(" ", puredata=True)  # shown apart (a post's date, a button)
        elif tag == "sup":
            self._footnote_mark(converter, attrs, start)
        return False  # html2text goes on with its own handling

    def _footnote_mark(
        self, converter: html2text.HTML2Text, attrs: dict[str, str | None], start: bool
    ) -> None:
        if start:
            self._footnote_sups.append("data-fn" in attrs)
            if self._footnote_sups[-1]:
                converter.o("[")
        elif self._footnote_sups and self._footnote_sups.pop():
            converter.o("]")


def _is_button(tag: str, attrs: dict[str, str | None]) -> bool:
    return tag in ("a", "button") and bool(_BUTTON_CLASS.search(attrs.get("class") or ""))


class _Unescaped(html2text.HTML2Text):
    def handle_data(self, data: str, entity_char: bool = False) -> None:
        # html2text escapes a text node unless it is code or came from an entity; taking every
        # node as the latter turns only that escaping off.
        super().handle_data(data, entity_char=True)


def _converter() -> html2text.HTML2Text:
    # A fresh converter per call: HTML2Text keeps parse state and is not reusable safely.
    converter = _Unescaped()
    converter.body_width = 0  # no wrapping
    converter.ignore_links = True  # keep link text, drop URLs
    converter.ignore_images = True
    converter.ignore_emphasis = True  # `**` / `_` add word pieces and no meaning
    converter.unicode_snob = True  # keep “smart quotes” and é rather than ASCII stand-ins
    # Tables stay simple `a | b` rows: cells keep a separator (ignore_tables would glue
    # "Name" and "Age" into "NameAge") without padding runs of spaces.
    converter.ignore_tables = False
    converter.pad_tables = False
    converter.backquote_code_style = True  # ``` fences: the chunker never reads `#` in code
    converter.tag_callback = _BlockLayout()
    return converter


def html_to_markdown(html: str) -> str:
    """Markdown for `html`; "" for empty or whitespace-only input."""
    if not html or not html.strip():
        return ""
    markdown = _converter().handle(html)
    markdown = _TRAILING_SPACE.sub("", markdown)
    markdown = _BLANK_RUNS.sub("\n\n", markdown)
    return markdown.strip("\n") + "\n" if markdown.strip() else ""
