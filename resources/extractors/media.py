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
- unstructured is imported lazily, and only the partitioners a run's kinds need: with spaCy
  and its cleaners that is ~3–3.5 CPU s where a run has DOCX and PPTX (docs/performance.md).

A non-empty file that yields no text is an error, never an empty document: silently
indexing nothing would hide a scanned PDF or a broken partitioner.

ZIP-based files (DOCX, PPTX) are checked before any parser reads them: the sizes their
members declare, in total and as a compression ratio, must stay within `ZipLimits`, so a
small file that inflates to gigabytes is refused in milliseconds. (Python's zipfile never
inflates a member past its declared size, so the declared sizes are what the parsers get.)
This module runs in-process; `resources/extractors/bounded.py` runs it in a child process
within time and memory limits.
"""

from __future__ import annotations

import importlib
import io
import os
import re
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import PurePath
from typing import Any

from pressrag.resources.errors import ExtractionError

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
ZIP_KINDS = frozenset({DOCX, PPTX})
MIB = 1024 * 1024
# Members smaller than this cannot inflate to anything harmful, whatever their ratio.
RATIO_FLOOR_BYTES = MIB
MAX_ZIP_MEMBERS = 10_000
WARM_UP_TEXT = "These few words load the sentence splitter before any file."
# Element categories that repeat on every page or carry no content.
SKIPPED_CATEGORIES = frozenset({"Header", "Footer", "PageBreak", "PageNumber", "Image"})
_BLANK_RUNS = re.compile(r"\n{3,}")


class ExtractionLimitExceeded(ExtractionError):
    """A file was refused or stopped for exceeding a bound (size, ratio, time, memory)."""


@dataclass(frozen=True)
class ZipLimits:
    max_bytes: int = 200 * MIB  # declared uncompressed size of all members together
    max_ratio: float = 100.0  # uncompressed / compressed, for members over RATIO_FLOOR_BYTES


def extract_media(
    data: bytes, mime_type: str | None, filename: str, zip_limits: ZipLimits | None = None
) -> str:
    """Markdown-ish text of a media file; raises ExtractionError rather than return ""."""
    kind = media_kind(mime_type, filename)
    if not data:
        raise ExtractionError(f"{filename}: file is empty (0 bytes)")
    extract = _PDF_EXTRACTOR if kind == PDF else _unstructured_extractor(kind)
    try:
        if kind in ZIP_KINDS:
            check_zip_archive(data, zip_limits or ZipLimits())
        text = extract(data)
    except ExtractionError as exc:
        raise type(exc)(f"{filename}: {exc}") from exc
    except MemoryError:
        raise  # a limit of the process, not a property of the file: the caller says which
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


def warm_up(kinds: Iterable[str]) -> None:
    """Load the parsers these kinds need, so the time a file is given measures parsing it,
    not loading libraries: imports and spaCy's blank pipeline. Only these kinds' parsers:
    loading all five took ~0.3 CPU s more where a run had DOCX and PPTX alone."""
    wanted = set(kinds)
    if PDF in wanted:
        import pypdf  # noqa: F401
    partitioned = wanted - {PDF}
    for kind in partitioned:
        _partitioner(kind)
    if partitioned:
        from unstructured.nlp.tokenize import sent_tokenize

        sent_tokenize(WARM_UP_TEXT)


def kinds_of(mime_types: Iterable[str | None]) -> frozenset[str]:
    """The supported kinds among these MIME types (others are refused per file later)."""
    plain = ((m or "").split(";", 1)[0].strip().lower() for m in mime_types)
    return frozenset(MIME_KINDS[m] for m in plain if m in MIME_KINDS)


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


def check_zip_archive(data: bytes, limits: ZipLimits) -> None:
    """Refuse an archive whose declared sizes exceed `limits`, before anything inflates it.
    (A file that is no ZIP at all raises `BadZipFile`, reported like any unreadable file.)"""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = archive.infolist()
    if len(members) > MAX_ZIP_MEMBERS:
        raise ExtractionLimitExceeded(
            f"the archive has {len(members)} members (limit {MAX_ZIP_MEMBERS})"
        )
    total = sum(m.file_size for m in members)
    if total > limits.max_bytes:
        raise ExtractionLimitExceeded(
            f"the archive would inflate to {total / MIB:.0f} MiB "
            f"(limit {limits.max_bytes / MIB:.0f} MiB)"
        )
    for member in members:
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > RATIO_FLOOR_BYTES and ratio > limits.max_ratio:
            raise ExtractionLimitExceeded(
                f"archive member {member.filename[:100]!r} would inflate {ratio:.0f} times "
                f"(limit {limits.max_ratio:g})"
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
        partition = _partitioner(kind)
        # languages=[""]: no language detection. It only fills each element's
        # `metadata.languages`, which nothing here reads (the site's text-search config is
        # the site's), and costs langdetect's profiles (~1 s to load) plus a pass over the text.
        if kind in (DOCX, PPTX):
            elements = partition(file=io.BytesIO(data), languages=[""])
        else:
            elements = partition(text=_decode(data), languages=[""])
        return elements_to_markdown(elements)

    return extract


# Each kind's unstructured partitioner: (module under unstructured.partition, function).
_PARTITIONERS = {
    DOCX: ("docx", "partition_docx"),
    PPTX: ("pptx", "partition_pptx"),
    HTML: ("html", "partition_html"),
    TXT: ("text", "partition_text"),
    MD: ("md", "partition_md"),
}


@cache
def _partitioner(kind: str) -> Callable[..., list[Any]]:
    """The kind's partitioner, imported on first use: a worker pays only for the kinds it
    reads."""
    _prepare_unstructured()
    module, function = _PARTITIONERS[kind]
    return getattr(importlib.import_module(f"unstructured.partition.{module}"), function)


@cache
def _prepare_unstructured() -> None:
    """Make unstructured offline-safe before its first import (see module docstring)."""
    os.environ["DO_NOT_TRACK"] = "true"
    os.environ.setdefault("UNSTRUCTURED_DISABLE_NOTICE", "1")  # its banner goes to stdout
    import unstructured.nlp.tokenize as unstructured_tokenize

    unstructured_tokenize._load_spacy_model = _blank_spacy_pipeline
    unstructured_tokenize._get_nlp.cache_clear()


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
