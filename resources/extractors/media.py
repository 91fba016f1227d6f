"""Text from media-library files (PDF, DOCX, PPTX, HTML, TXT, Markdown) as markdown-ish text.

DOCX, PPTX, HTML, TXT and Markdown go through `unstructured`'s partitioners; its `Title`
elements become `#` headings (depth from `metadata.category_depth`), list items become `- `
lines and everything else a paragraph, so the chunker sees the document's structure.

PDF goes through `pypdf`, page by page, not through unstructured: unstructured's PDF path
needs the `unstructured[pdf]` extra (~900 MB, it tries to replace torch and brings a
torchvision that cannot import, and without `pikepdf` its fast mode silently returns
nothing). pypdf reads a PDF's text layer correctly and fast; what we lose is heading
detection inside PDFs, which their text layer rarely encodes anyway.

Offline traps handled here (see /work/shared/notes/dependencies.md):
- importing unstructured sends an analytics request unless `DO_NOT_TRACK` is set;
- its first partition downloads the spaCy model `en_core_web_sm`. We replace its loader with
  a blank English pipeline plus a sentencizer: unstructured only needs sentence boundaries
  and rough part-of-speech hints for classifying text, and a blank pipeline needs no files.
  The cost is that fewer paragraphs are classified `NarrativeText` (they come out as `Text`),
  which we render identically anyway.
- unstructured is imported lazily: the import alone takes ~2 s.

A non-empty file that yields no text is an error, never an empty document: silently
indexing nothing would hide a scanned PDF or a broken partitioner.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import PurePath
from typing import Any

from resources.errors import ExtractionError

PDF, DOCX, PPTX, HTML, TXT, MD = "pdf", "docx", "pptx", "html", "txt", "md"

MIME_KINDS = {
    "application/pdf": PDF,
    "application/x-pdf": PDF,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": DOCX,
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": PPTX,
    "text/html": HTML,
    "application/xhtml+xml": HTML,
    "text/plain": TXT,
    "text/markdown": MD,
    "text/x-markdown": MD,
}
EXTENSION_KINDS = {
    ".pdf": PDF,
    ".docx": DOCX,
    ".pptx": PPTX,
    ".html": HTML,
    ".htm": HTML,
    ".xhtml": HTML,
    ".txt": TXT,
    ".text": TXT,
    ".md": MD,
    ".markdown": MD,
}
# Element categories that repeat on every page or carry no content.
SKIPPED_CATEGORIES = frozenset({"Header", "Footer", "PageBreak", "PageNumber", "Image"})
_BLANK_RUNS = re.compile(r"\n{3,}")


def extract_media(data: bytes, mime_type: str | None, filename: str) -> str:
    """Markdown-ish text of a media file; raises ExtractionError rather than return ""."""
    kind = media_kind(mime_type, filename)
    if not data:
        raise ExtractionError(f"{filename}: file is empty (0 bytes)")
    extract = _PDF_EXTRACTOR if kind == PDF else _unstructured_extractor(kind)
    try:
        text = extract(data)
    except ExtractionError as exc:
        raise ExtractionError(f"{filename}: {exc}") from exc
    except Exception as exc:  # the libraries raise anything from KeyError to BadZipFile
        raise ExtractionError(
            f"{filename}: could not read it as {kind.upper()} "
            f"(corrupt or unreadable file: {type(exc).__name__}: {exc})"
        ) from exc
    text = _BLANK_RUNS.sub("\n\n", text).strip()
    if not text:
        hint = " (scanned PDF without a text layer?)" if kind == PDF else ""
        raise ExtractionError(f"{filename}: {kind.upper()} file yielded no text{hint}")
    return text + "\n"


def media_kind(mime_type: str | None, filename: str) -> str:
    """pdf/docx/pptx/html/txt/md from the MIME type first, the file extension second."""
    mime = (mime_type or "").split(";", 1)[0].strip().lower()
    if mime in MIME_KINDS:
        return MIME_KINDS[mime]
    extension = PurePath(filename or "").suffix.lower()
    if extension in EXTENSION_KINDS:
        return EXTENSION_KINDS[extension]
    raise ExtractionError(
        f"{filename}: unsupported file type {mime or 'unknown'!r}; "
        f"supported: PDF, DOCX, PPTX, HTML, TXT, Markdown"
    )


def _pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted and not reader.decrypt(""):
        raise ExtractionError("PDF is password-protected; cannot read its text")
    pages = (page.extract_text() or "" for page in reader.pages)
    return "\n\n".join(page.strip() for page in pages if page.strip())


_PDF_EXTRACTOR: Callable[[bytes], str] = _pdf_text


def _decode(data: bytes) -> str:
    """UTF-8 (BOM tolerated), else Windows-1252, which never fails on arbitrary bytes."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _unstructured_extractor(kind: str) -> Callable[[bytes], str]:
    def extract(data: bytes) -> str:
        partitioners = _unstructured_partitioners()
        if kind in (DOCX, PPTX):
            elements = partitioners[kind](file=io.BytesIO(data))
        else:
            elements = partitioners[kind](text=_decode(data))
        return elements_to_markdown(elements)

    return extract


@cache
def _unstructured_partitioners() -> dict[str, Callable[..., list[Any]]]:
    """Import unstructured once, offline-safe (see module docstring)."""
    os.environ["DO_NOT_TRACK"] = "true"
    os.environ.setdefault("UNSTRUCTURED_DISABLE_NOTICE", "1")  # its banner goes to stdout
    import unstructured.nlp.tokenize as unstructured_tokenize

    unstructured_tokenize._load_spacy_model = _blank_spacy_pipeline
    unstructured_tokenize._get_nlp.cache_clear()

    from unstructured.partition.docx import partition_docx
    from unstructured.partition.html import partition_html
    from unstructured.partition.md import partition_md
    from unstructured.partition.pptx import partition_pptx
    from unstructured.partition.text import partition_text

    return {
        DOCX: partition_docx,
        PPTX: partition_pptx,
        HTML: partition_html,
        TXT: partition_text,
        MD: partition_md,
    }


def _blank_spacy_pipeline() -> Any:
    """A spaCy English pipeline that needs no downloaded model: tokenizer + sentencizer."""
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    return nlp


def elements_to_markdown(elements: Iterable[Any]) -> str:
    """Title → `#` heading (deeper for higher category_depth), ListItem → `- `, rest → text."""
    blocks: list[str] = []
    for element in elements:
        category = getattr(element, "category", type(element).__name__)
        text = (getattr(element, "text", "") or "").strip()
        if not text or category in SKIPPED_CATEGORIES:
            continue
        depth = getattr(getattr(element, "metadata", None), "category_depth", None)
        if category == "Title":
            level = min(6, 1 + (depth if isinstance(depth, int) and depth > 0 else 0))
            blocks.append("#" * level + " " + " ".join(text.split()))
        elif category == "ListItem":
            indent = "  " * (depth if isinstance(depth, int) and depth > 0 else 0)
            blocks.append(indent + "- " + " ".join(text.split()))
        else:
            blocks.append(text)
    return "\n\n".join(blocks)
