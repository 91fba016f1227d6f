"""Text from media-library files (PDF, DOCX, PPTX, HTML, TXT, Markdown) as markdown-ish text.

Each format is read by the library that reads it, nothing wrapped around it:

- DOCX through `python-docx`: the body in document order, content controls included;
  `Title` and `Heading N` styles become `#` headings (`Heading 2` is `##`), list paragraphs
  (a `List…` style or Word numbering) `- ` lines indented by their level, a table one line a
  row with its cells apart (a table nested in a cell read into that cell). A text box follows
  the paragraph it is anchored in; footnotes, then endnotes, follow the body. Headers,
  footers and comments are not content.
- PPTX through `python-pptx`: slide by slide, each slide's title a `#` heading, then its
  shapes top to bottom, left to right (groups opened, tables a line a row); a paragraph
  with its own bullet or a level below the first is a list item. Speaker notes are left out.
- HTML through the same converter as posts (`resources/extractors/html.py`).
- TXT and Markdown as written (Markdown's `#` headings are what the chunker reads).
- PDF through `pypdf`, page by page: a PDF's text layer rarely encodes headings.

Before, DOCX, PPTX, HTML, TXT and Markdown went through `unstructured`: its partitioners
and the spaCy pipeline they need cost ~3–6 CPU s to import in every run with media (the
media worker's start was most of the wall an extraction step spent on a site with office
files), and it needed offline work-arounds (a blank spaCy model, `DO_NOT_TRACK`). What it
added beyond the styles read here — guessing titles and list items from the words of
unstyled paragraphs — is not kept.

A non-empty file that yields no text is an error, never an empty document: silently
indexing nothing would hide a scanned PDF or a broken file.

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
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from pressrag.resources.errors import ExtractionError
from pressrag.resources.extractors.html import html_to_markdown

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
# The library each kind's parser imports: `warm_up` loads them before the first file. (HTML's,
# html2text, comes with this module; TXT and Markdown need none.)
PARSER_MODULES = {PDF: "pypdf", DOCX: "docx", PPTX: "pptx"}
MIB = 1024 * 1024
# Members smaller than this cannot inflate to anything harmful, whatever their ratio.
RATIO_FLOOR_BYTES = MIB
MAX_ZIP_MEMBERS = 10_000
_BLANK_RUNS = re.compile(r"\n{3,}")
_HEADING_STYLE = re.compile(r"heading\s*(\d)", re.IGNORECASE)
_LEVEL_SUFFIX = re.compile(r"\s(\d)$")
CELL_SEPARATOR = " | "
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
# Footnotes and endnotes that are notes: Word's separator lines are notes of another type.
_NOTE_TYPES = (None, "normal")


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
    try:
        if kind in ZIP_KINDS:
            check_zip_archive(data, zip_limits or ZipLimits())
        text = _EXTRACTORS[kind](data)
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
    """Import the parsers these kinds need, so the time a file is given measures parsing it,
    not loading libraries; only these kinds'."""
    for kind in set(kinds):
        if kind in PARSER_MODULES:
            importlib.import_module(PARSER_MODULES[kind])


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


def _decode(data: bytes) -> str:
    """UTF-8 (BOM tolerated), else Windows-1252, which never fails on arbitrary bytes. (Line
    ends are the chunker's to normalise, as for every document.)"""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _flat(text: str) -> str:
    return " ".join(text.split())


def _heading(level: int, text: str) -> str:
    return "#" * min(6, max(1, level)) + " " + _flat(text)


def _list_item(level: int, text: str) -> str:
    return "  " * max(0, level) + "- " + _flat(text)


def _table_rows(rows: Iterable[Iterable[str]]) -> list[str]:
    """One line a row, its non-empty cells apart."""
    lines = []
    for row in rows:
        line = CELL_SEPARATOR.join(cell for cell in map(_flat, row) if cell)
        if line:
            lines.append(line)
    return lines


# --- DOCX -------------------------------------------------------------------------------


def _docx_text(data: bytes) -> str:
    import docx

    document = docx.Document(io.BytesIO(data))
    containers = [document.element.body, *_docx_notes(document)]
    blocks = [
        _docx_block(element, document)
        for container in containers
        for element in _docx_blocks(container)
    ]
    return "\n\n".join(block for block in blocks if block.strip())


def _docx_block(element: Any, document: Any) -> str:
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    if element.tag == f"{_W}tbl":
        return "\n".join(_docx_table_rows(Table(element, document), document))
    return _docx_paragraph(Paragraph(element, document))


def _docx_table_rows(table: Any, document: Any) -> list[str]:
    """One line a row; a merged cell once: python-docx gives a cell that spans columns once
    for each column it spans."""
    rows = (
        [
            _docx_cell_text(cell._tc, document)
            for i, cell in enumerate(cells)
            if i == 0 or cell._tc is not cells[i - 1]._tc
        ]
        for cells in (row.cells for row in table.rows)
    )
    return _table_rows(rows)


def _docx_cell_text(cell: Any, document: Any) -> str:
    """A cell's paragraphs, text boxes and nested tables (rows apart by `; `) on one line:
    python-docx's `cell.text` leaves out all but its own paragraphs."""
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    parts = [
        "; ".join(_docx_table_rows(Table(element, document), document))
        if element.tag == f"{_W}tbl"
        else Paragraph(element, document).text
        for element in _docx_blocks(cell)
    ]
    return " ".join(_flat(part) for part in parts if part.strip())


def _docx_blocks(container: Any) -> Iterator[Any]:
    """Paragraphs and tables in document order, opening content controls (`w:sdt`), whose
    text python-docx's own iteration skips; after a paragraph, the text boxes anchored in it."""
    for child in container.iterchildren():
        if child.tag == f"{_W}p":
            yield child
            for box in _text_boxes(child):
                yield from _docx_blocks(box)
        elif child.tag == f"{_W}tbl":
            yield child
        elif child.tag == f"{_W}sdt":
            for content in child.iterchildren(f"{_W}sdtContent"):
                yield from _docx_blocks(content)


def _text_boxes(element: Any) -> Iterator[Any]:
    """The outermost text boxes (`w:txbxContent`) within a paragraph (a box's own boxes come
    with its paragraphs), each once: Word writes a DrawingML box and a VML copy of it for
    older readers (`mc:Fallback`), which is skipped."""
    for child in element.iterchildren():
        if child.tag == f"{_W}txbxContent":
            yield child
        elif child.tag != _MC_FALLBACK:
            yield from _text_boxes(child)


def _docx_notes(document: Any) -> list[Any]:
    """Footnotes, then endnotes, in their parts' order: parts of their own, which
    python-docx does not read."""
    from docx.opc.constants import RELATIONSHIP_TYPE
    from docx.oxml import parse_xml

    notes = []
    for reltype, tag in (
        (RELATIONSHIP_TYPE.FOOTNOTES, f"{_W}footnote"),
        (RELATIONSHIP_TYPE.ENDNOTES, f"{_W}endnote"),
    ):
        for rel in document.part.rels.values():
            if rel.reltype == reltype and not rel.is_external:
                root = parse_xml(rel.target_part.blob)
                notes += [n for n in root.iterchildren(tag) if n.get(f"{_W}type") in _NOTE_TYPES]
    return notes


def _docx_paragraph(paragraph: Any) -> str:
    text = paragraph.text
    if not text.strip():
        return ""
    style = (paragraph.style.name if paragraph.style is not None else "") or ""
    if style.lower() == "title":
        return _heading(1, text)
    heading = _HEADING_STYLE.fullmatch(style.strip())
    if heading:
        return _heading(int(heading.group(1)), text)
    numbering = _docx_numbering_level(paragraph)
    if numbering is not None:
        return _list_item(numbering, text)
    if style.lower().startswith("list"):
        suffix = _LEVEL_SUFFIX.search(style)
        return _list_item(int(suffix.group(1)) - 1 if suffix else 0, text)
    return text.strip()


def _docx_numbering_level(paragraph: Any) -> int | None:
    """The list level of a paragraph Word numbers or bullets itself (`w:numPr`), else None."""
    properties = paragraph._p.pPr
    numbering = properties.numPr if properties is not None else None
    if numbering is None or numbering.numId is None or numbering.numId.val == 0:
        return None  # numId 0 is Word's "numbering removed"
    return numbering.ilvl.val if numbering.ilvl is not None else 0


# --- PPTX -------------------------------------------------------------------------------


def _pptx_text(data: bytes) -> str:
    import pptx

    presentation = pptx.Presentation(io.BytesIO(data))
    blocks: list[str] = []
    for slide in presentation.slides:
        title = slide.shapes.title
        if title is not None and title.has_text_frame and title.text_frame.text.strip():
            blocks.append(_heading(1, title.text_frame.text))
        for shape in _reading_order(slide.shapes):
            if title is None or shape.shape_id != title.shape_id:
                blocks.extend(_pptx_shape(shape))
    return "\n\n".join(block for block in blocks if block.strip())


def _reading_order(shapes: Iterable[Any]) -> list[Any]:
    """Top to bottom, then left to right (shapes without a position first)."""
    return sorted(shapes, key=lambda shape: (shape.top or 0, shape.left or 0))


def _pptx_shape(shape: Any) -> list[str]:
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
        return [block for inner in _reading_order(shape.shapes) for block in _pptx_shape(inner)]
    if getattr(shape, "has_table", False) and shape.has_table:
        rows = ((cell.text for cell in row.cells) for row in shape.table.rows)
        return ["\n".join(_table_rows(rows))]
    if not shape.has_text_frame:
        return []
    blocks = []
    for paragraph in shape.text_frame.paragraphs:
        text = paragraph.text.replace("\v", "\n")  # python-pptx's line break inside a paragraph
        if not text.strip():
            continue
        if paragraph.level > 0 or _pptx_bulleted(paragraph):
            blocks.append(_list_item(paragraph.level, text))
        else:
            blocks.append(text.strip())
    return blocks


def _pptx_bulleted(paragraph: Any) -> bool:
    """A paragraph that sets its own bullet or number (`a:buChar`, `a:buAutoNum`)."""
    properties = paragraph._p.pPr
    if properties is None:
        return False
    return any(child.tag.endswith(("}buChar", "}buAutoNum")) for child in properties)


_EXTRACTORS: dict[str, Callable[[bytes], str]] = {
    PDF: _pdf_text,
    DOCX: _docx_text,
    PPTX: _pptx_text,
    HTML: lambda data: html_to_markdown(_decode(data)),
    TXT: _decode,
    MD: _decode,
}
