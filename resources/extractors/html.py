"""HTML → markdown with html2text, shaped for chunking and embedding.

Headings stay as `#` lines (the chunker splits on them), lists stay lists, links keep their
text but lose their URLs (URLs are noise to an embedding model and the chunk already cites
its page), images go, and lines are never wrapped (a wrapped line would split a sentence).
Code blocks become ``` fences, so a `# comment` inside code is not mistaken for a heading.
"""

from __future__ import annotations

import re

import html2text

_BLANK_RUNS = re.compile(r"\n{3,}")
_TRAILING_SPACE = re.compile(r"[ \t]+$", re.MULTILINE)


def _converter() -> html2text.HTML2Text:
    # A fresh converter per call: HTML2Text keeps parse state and is not reusable safely.
    converter = html2text.HTML2Text()
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
    return converter


def html_to_markdown(html: str) -> str:
    """Markdown for `html`; "" for empty or whitespace-only input."""
    if not html or not html.strip():
        return ""
    markdown = _converter().handle(html)
    markdown = _TRAILING_SPACE.sub("", markdown)
    markdown = _BLANK_RUNS.sub("\n\n", markdown)
    return markdown.strip("\n") + "\n" if markdown.strip() else ""
