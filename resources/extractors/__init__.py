"""Turn HTML and media files into markdown-ish text (`#` headings, paragraphs, lists)."""

from pressrag.resources.extractors.html import html_to_markdown
from pressrag.resources.extractors.media import extract_media

__all__ = ["extract_media", "html_to_markdown"]
