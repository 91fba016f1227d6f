"""WordPress's `wpautop()`, for classic-editor content read from a WXR export.

Classic posts are stored with paragraphs as blank lines, not `<p>` elements; WordPress adds
the elements when it renders the post (`the_content` runs `wpautop`), so the REST API hands
them out rendered while an export holds the raw text. Without this, a classic post from an
export became one paragraph. Block-editor content is stored with its own markup and
WordPress does not run `wpautop` on it, so neither do we.

This follows `wpautop()` in wp-includes/formatting.php step by step, except what changes no
text: it does not balance `<option>`, `<object>` or `<svg>` internals.
"""

from __future__ import annotations

import re

_ALL_BLOCKS = (
    "(?:table|thead|tfoot|caption|col|colgroup|tbody|tr|td|th|div|dl|dd|dt|ul|ol|li|pre"
    "|form|map|area|blockquote|address|math|style|p|h[1-6]|hr|fieldset|legend|section"
    "|article|aside|hgroup|header|footer|nav|figure|figcaption|details|menu|summary)"
)
_PROTECTED = re.compile(r"<(pre|script|style|textarea)\b.*?</\1\s*>", re.S | re.I)
_TAG = re.compile(r"<[^<>]*>")
_DOUBLE_BR = re.compile(r"<br\s*/?>\s*<br\s*/?>", re.I)
_BEFORE_BLOCK = re.compile(rf"(<{_ALL_BLOCKS}[\s/>])", re.I)
_AFTER_BLOCK = re.compile(rf"(</{_ALL_BLOCKS}>)", re.I)
_PARAGRAPH_SPLIT = re.compile(r"\n\s*\n")
_EMPTY_P = re.compile(r"<p>\s*</p>")
_P_AROUND_BLOCK = re.compile(rf"<p>\s*(</?{_ALL_BLOCKS}[^>]*>)\s*</p>", re.I)
_P_BEFORE_BLOCK = re.compile(rf"<p>\s*(</?{_ALL_BLOCKS}[^>]*>)", re.I)
_P_AFTER_BLOCK = re.compile(rf"(</?{_ALL_BLOCKS}[^>]*>)\s*</p>", re.I)
_NEWLINE = re.compile(r"(?<!<br />)\s*\n")
_BR_AFTER_BLOCK = re.compile(rf"(</?{_ALL_BLOCKS}[^>]*>)\s*<br />", re.I)
_BR_BEFORE = re.compile(r"<br />(\s*</?(?:p|li|div|dl|dd|dt|th|pre|td|ul|ol)[^>]*>)", re.I)


def has_blocks(content: str) -> bool:
    return "<!-- wp:" in content


def autop(text: str) -> str:
    """Paragraphs (`<p>`) and line breaks (`<br />`) where classic content has blank lines
    and newlines, as WordPress renders it."""
    if not text.strip():
        return ""
    kept: list[str] = []

    def keep(match: re.Match[str]) -> str:
        kept.append(match.group(0))
        return f"<pre wp-pre-tag-{len(kept) - 1}></pre>"

    text = _PROTECTED.sub(keep, text.replace("\r\n", "\n").replace("\r", "\n")) + "\n"
    text = _TAG.sub(lambda m: m.group(0).replace("\n", " "), text)  # newlines inside tags
    text = _DOUBLE_BR.sub("\n\n", text)
    text = _AFTER_BLOCK.sub(r"\1\n\n", _BEFORE_BLOCK.sub(r"\n\n\1", text))
    paragraphs = [p.strip() for p in _PARAGRAPH_SPLIT.split(text) if p.strip()]
    text = "".join(f"<p>{p}</p>\n" for p in paragraphs)
    text = _EMPTY_P.sub("", text)
    text = _P_AROUND_BLOCK.sub(r"\1", text)
    text = _P_AFTER_BLOCK.sub(r"\1", _P_BEFORE_BLOCK.sub(r"\1", text))
    text = _NEWLINE.sub("<br />\n", text)
    text = _BR_BEFORE.sub(r"\1", _BR_AFTER_BLOCK.sub(r"\1", text))
    for index, original in enumerate(kept):
        text = text.replace(f"<pre wp-pre-tag-{index}></pre>", original)
    return text
