"""Turn HTML and media files into markdown-ish text (`#` headings, paragraphs, lists)."""

from resources.extractors.html import html_to_markdown
from resources.extractors.media import extract_media

__all__ = ["extract_media", "html_to_markdown"]
