"""Extractors: HTML → markdown, and media files → text, with real libraries and real files.

Media files are generated here (python-docx, python-pptx, fpdf2) so each carries a word that
appears nowhere else; finding it in the output proves the text really came from the file.
"""

from __future__ import annotations

import io
import subprocess
import sys
from typing import Any

import pytest

from pressrag.resources.errors import ExtractionError
from pressrag.resources.extractors import extract_media, html_to_markdown
from pressrag.resources.extractors.media import media_kind

DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PPTX_MIME = "application/vnd.openxmlformats-officedocument.presentationml.presentation"


# --- html_to_markdown ----------------------------------------------------------------------


def test_headings_lists_and_link_text_survive() -> None:
    markdown = html_to_markdown(
        "<h1>Visiting</h1><p>Read the <a href='https://example.com/secret-path'>opening "
        "times</a> first.</p><h2>Tickets</h2><ul><li>Adults</li><li>Children</li></ul>"
        "<ol><li>Book</li><li>Pay</li></ol><img src='x.png' alt='decorative'>"
    )
    lines = markdown.splitlines()
    assert "# Visiting" in lines
    assert "## Tickets" in lines
    assert "opening times" in markdown
    assert "example.com" not in markdown
    assert "decorative" not in markdown and "x.png" not in markdown
    assert any(line.strip() in ("* Adults", "- Adults") for line in lines)
    assert any(line.strip() == "1. Book" for line in lines)


def test_no_wrapping_and_no_blank_runs() -> None:
    """A wrapped line would cut sentences apart; long blank runs waste nothing but look broken."""
    sentence = " ".join(["word"] * 200)
    markdown = html_to_markdown(f"<p>{sentence}</p><br><br><br><br><br><p>next</p>")
    assert sentence in markdown.splitlines()
    assert "\n\n\n" not in markdown


def test_code_becomes_a_fence_so_comments_are_not_headings() -> None:
    markdown = html_to_markdown("<p>Run:</p><pre># install it\npip install x</pre>")
    assert "```" in markdown
    fenced = markdown.split("```")[1]
    assert "# install it" in fenced


def test_table_cells_stay_separate() -> None:
    markdown = html_to_markdown(
        "<table><tr><th>Name</th><th>Age</th></tr><tr><td>Ann</td><td>31</td></tr></table>"
    )
    assert "NameAge" not in markdown and "Ann31" not in markdown
    assert "Ann" in markdown and "31" in markdown


@pytest.mark.parametrize("html", ["", "   ", "\n\t"])
def test_empty_html_gives_empty_string(html: str) -> None:
    """Empty and whitespace-only input is "no content", not an error."""
    assert html_to_markdown(html) == ""


def test_unicode_kept() -> None:
    markdown = html_to_markdown("<p>Café “quoted” — 日本語</p>")
    assert "Café “quoted” — 日本語" in markdown


def test_text_reads_as_written_without_markdown_escapes() -> None:
    """Snippets, citations and the model see the author's characters: html2text would write
    `1\\. Install`, `\\- or` (also mid-line, after an inline element) and `a\\\\*b`."""
    markdown = html_to_markdown(
        "<p>1. Install it</p><p>- or not</p><p>+ plus</p>"
        "<p>See <code>pickle</code> - the module</p><p>a\\*b and C:\\(x)</p>"
        "<pre>1. a\\-b</pre><ol><li>one</li></ol>"
    )
    lines = markdown.splitlines()
    for written in ("1. Install it", "- or not", "+ plus", "a\\*b and C:\\(x)"):
        assert written in lines
    assert "See `pickle` - the module" in lines
    assert "1. a\\-b" in lines  # code kept as it was
    assert "  1. one" in lines  # a real list is still a list


# --- extract_media: generated files ---------------------------------------------------------


def _saved(document: Any) -> bytes:
    """A python-docx or python-pptx document as the bytes of its file."""
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _fill(table: Any, rows: list[tuple[str, ...]]) -> None:
    """Write `rows` into a python-docx or python-pptx table of that shape."""
    for row, values in zip(table.rows, rows, strict=True):
        for cell, value in zip(row.cells, values, strict=True):
            cell.text = value


def _docx_bytes() -> bytes:
    import docx

    document = docx.Document()
    document.add_heading("Zebrafish husbandry", level=1)
    document.add_paragraph("Keep the zebrafish tank at twenty-eight degrees at all times.")
    document.add_heading("Feeding", level=2)
    document.add_paragraph("Brine shrimp twice daily", style="List Bullet")
    return _saved(document)


def _pptx_bytes() -> bytes:
    import pptx

    presentation = pptx.Presentation()
    slide = presentation.slides.add_slide(presentation.slide_layouts[1])
    slide.shapes.title.text = "Aardvark roadmap"
    slide.placeholders[1].text = "Burrow expansion for the aardvark colony in spring"
    return _saved(presentation)


def _pdf_bytes(text: str | None) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    if text is not None:
        pdf.set_font("Helvetica", size=12)
        pdf.multi_cell(w=0, text=text)
    else:
        pdf.rect(20, 20, 100, 60, style="F")  # an "image" with no text layer
    return bytes(pdf.output())


HTML_FILE = (
    b"<html><head><title>Heron</title></head><body><h1>Grey heron</h1>"
    b"<p>The heron waits motionless by the riverbank for passing fish.</p></body></html>"
)
MARKDOWN_FILE = (
    b"# Ocelot\n\nThe ocelot hunts at night across the Americas.\n\n## Diet\n\n- rodents\n"
)
TEXT_FILE = b"Kestrel notes\n\nThe kestrel hovers above the meadow, hunting voles.\n"


@pytest.mark.parametrize(
    ("make", "mime_type", "filename", "distinctive", "heading"),
    [
        (_docx_bytes, DOCX_MIME, "care.docx", "twenty-eight degrees", "# Zebrafish husbandry"),
        (_pptx_bytes, PPTX_MIME, "deck.pptx", "Burrow expansion", "# Aardvark roadmap"),
        (
            lambda: _pdf_bytes("Platypus migration findings, volume three."),
            "application/pdf",
            "report.pdf",
            "Platypus migration findings",
            None,
        ),
        (lambda: HTML_FILE, "text/html", "page.html", "waits motionless", "# Grey heron"),
        (lambda: MARKDOWN_FILE, "text/markdown", "cat.md", "hunts at night", "# Ocelot"),
        (lambda: TEXT_FILE, "text/plain", "notes.txt", "hovers above the meadow", None),
    ],
    ids=["docx", "pptx", "pdf", "html", "md", "txt"],
)
def test_each_supported_type_yields_its_text(
    make, mime_type: str, filename: str, distinctive: str, heading: str | None
) -> None:
    """Every supported type, through its real library; titles become `#` headings where the
    format has them (PDF text layers and plain text carry no reliable heading markup)."""
    text = extract_media(make(), mime_type, filename)
    assert distinctive in text
    if heading is not None:
        assert heading in text.splitlines()


def test_docx_heading_depth_follows_the_document() -> None:
    """Heading 2 under Heading 1 must come out one level deeper, or the chunker's path is wrong."""
    lines = extract_media(_docx_bytes(), DOCX_MIME, "care.docx").splitlines()
    assert lines.index("# Zebrafish husbandry") < lines.index("## Feeding")


@pytest.mark.parametrize(
    ("mime_type", "filename", "expected"),
    [
        ("application/pdf", "whatever.bin", "pdf"),
        ("text/html; charset=UTF-8", "x", "html"),
        ("", "Slides.PPTX", "pptx"),
        ("application/octet-stream", "readme.md", "md"),
        ("text/plain", "looks-like.pdf", "txt"),
    ],
)
def test_kind_from_mime_first_then_extension(mime_type: str, filename: str, expected: str) -> None:
    """WordPress's MIME type is the better witness; the extension is only the fallback."""
    assert media_kind(mime_type, filename) == expected


def test_corrupt_pdf_is_a_clear_error() -> None:
    with pytest.raises(ExtractionError, match=r"broken\.pdf: could not read it as PDF"):
        extract_media(b"%PDF-1.7\nthis is not really a pdf", "application/pdf", "broken.pdf")


def test_corrupt_docx_is_a_clear_error() -> None:
    with pytest.raises(ExtractionError, match=r"broken\.docx: could not read it as DOCX"):
        extract_media(b"PK\x03\x04 truncated zip", DOCX_MIME, "broken.docx")


def test_pdf_without_text_layer_is_an_error_not_an_empty_document() -> None:
    with pytest.raises(ExtractionError, match=r"yielded no text.*scanned PDF"):
        extract_media(_pdf_bytes(None), "application/pdf", "scan.pdf")


def test_empty_file_is_an_error() -> None:
    with pytest.raises(ExtractionError, match=r"empty\.docx: file is empty"):
        extract_media(b"", DOCX_MIME, "empty.docx")


def test_whitespace_only_text_file_yields_no_text_error() -> None:
    """Non-empty but textless: indexing it as an empty document would hide the problem."""
    with pytest.raises(ExtractionError, match="yielded no text"):
        extract_media(b" \n\n \t\n", "text/plain", "blank.txt")


@pytest.mark.parametrize(
    ("mime_type", "filename"),
    [("image/png", "photo.png"), ("application/zip", "archive.zip"), ("", "noextension")],
)
def test_unsupported_types_are_refused_by_name(mime_type: str, filename: str) -> None:
    """Images, archives and unknown files are refused with the file named in the message."""
    with pytest.raises(ExtractionError, match=f"{filename}: unsupported file type"):
        extract_media(b"\x89PNG....", mime_type, filename)


def test_warm_up_loads_only_the_parsers_of_the_kinds_asked_for() -> None:
    """A run with DOCX media imports python-docx, not the other parsers. In a fresh
    interpreter: this one has imported them all already."""
    probe = (
        "import sys\n"
        "from pressrag.resources.extractors.media import warm_up\n"
        "before = set(sys.modules)\n"
        "warm_up({'docx'})\n"
        "print(sorted(m for m in set(sys.modules) - before if '.' not in m))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    loaded = done.stdout.strip().splitlines()[-1]
    assert "'docx'" in loaded
    for other in ("pptx", "pypdf"):
        assert f"'{other}'" not in loaded


def _docx_with_lists_and_a_table() -> bytes:
    import docx

    document = docx.Document()
    document.add_heading("Quokka field guide", level=1)
    document.add_heading("Where they live", level=2)
    document.add_heading("Rottnest Island", level=3)
    document.add_paragraph("Islands off Western Australia", style="List Bullet")
    document.add_paragraph("Scrubland near swamps", style="List Bullet 2")
    document.add_paragraph("Count the burrows first", style="List Number")
    table = document.add_table(rows=2, cols=3)
    _fill(table, [("Site", "Adults", "Joeys"), ("North", "7", "7")])
    merged = document.add_table(rows=1, cols=2)
    merged.cell(0, 0).merge(merged.cell(0, 1)).text = "Merged quokka census"
    document.add_paragraph("   ")  # whitespace only: no block of its own
    document.add_paragraph("Line one of the note\nline two of the note")
    return _saved(document)


def test_docx_lists_tables_and_levels_keep_their_structure() -> None:
    """Heading levels, list levels (by style), a table a line a row with its cells apart (equal
    texts in two cells both kept) and a merged cell once; blank paragraphs add nothing; a
    paragraph keeps its own line breaks."""
    text = extract_media(_docx_with_lists_and_a_table(), DOCX_MIME, "guide.docx")
    assert text == (
        "# Quokka field guide\n\n"
        "## Where they live\n\n"
        "### Rottnest Island\n\n"
        "- Islands off Western Australia\n\n"
        "  - Scrubland near swamps\n\n"
        "- Count the burrows first\n\n"
        "Site | Adults | Joeys\nNorth | 7 | 7\n\n"
        "Merged quokka census\n\n"
        "Line one of the note\nline two of the note\n"
    )


def test_docx_numbered_paragraphs_and_content_controls_are_read() -> None:
    """A paragraph Word numbers itself (`w:numPr`, any style) is a list item at its level, and
    text inside a content control (`w:sdt`), which python-docx's own iteration skips, is kept
    in its place."""
    import docx
    from docx.oxml import parse_xml
    from docx.oxml.ns import nsdecls

    document = docx.Document()
    document.add_paragraph("Before the control")
    numbered = document.add_paragraph("Numbered wombat step")
    numbered._p.get_or_add_pPr().append(
        parse_xml(f'<w:numPr {nsdecls("w")}><w:ilvl w:val="1"/><w:numId w:val="3"/></w:numPr>')
    )
    control = parse_xml(
        f"<w:sdt {nsdecls('w')}><w:sdtContent><w:p><w:r><w:t>Wombat inside a control"
        "</w:t></w:r></w:p></w:sdtContent></w:sdt>"
    )
    document.element.body.insert(len(document.element.body) - 1, control)  # before sectPr
    document.add_paragraph("After the control")
    lines = extract_media(_saved(document), DOCX_MIME, "steps.docx").split("\n\n")
    assert lines == [
        "Before the control",
        "  - Numbered wombat step",
        "Wombat inside a control",
        "After the control\n",
    ]


def test_pptx_slides_in_order_with_titles_bullets_groups_and_tables() -> None:
    """Each slide's title a heading, its shapes top to bottom; levels below the first are list
    items; a group's shapes and a table's rows are read; speaker notes are not."""
    import pptx
    from pptx.util import Inches

    presentation = pptx.Presentation()
    first = presentation.slides.add_slide(presentation.slide_layouts[1])
    first.shapes.title.text = "Pangolin survey"
    body = first.placeholders[1].text_frame
    body.text = "Scales protect the pangolin\vin two lines"
    deeper = body.add_paragraph()
    deeper.text = "Keratin, like fingernails"
    deeper.level = 1
    first.notes_slide.notes_text_frame.text = "Speaker reminder: never read aloud"
    second = presentation.slides.add_slide(presentation.slide_layouts[6])  # blank
    lower = second.shapes.add_textbox(Inches(1), Inches(4), Inches(4), Inches(1))
    lower.text_frame.text = "Lower box, read second"
    lower.text_frame.add_paragraph().add_line_break()  # a paragraph holding only a line break
    group = second.shapes.add_group_shape()
    upper = group.shapes.add_textbox(Inches(1), Inches(1), Inches(4), Inches(1))
    upper.text_frame.text = "Grouped box, read first"
    table = second.shapes.add_table(2, 2, Inches(1), Inches(6), Inches(4), Inches(1)).table
    _fill(table, [("Region", "Sightings"), ("Borneo", "12")])
    text = extract_media(_saved(presentation), PPTX_MIME, "survey.pptx")
    assert text == (
        "# Pangolin survey\n\n"
        "Scales protect the pangolin\nin two lines\n\n"
        "  - Keratin, like fingernails\n\n"
        "Grouped box, read first\n\n"
        "Lower box, read second\n\n"
        "Region | Sightings\nBorneo | 12\n"
    )


def test_plain_text_and_markdown_are_kept_as_written() -> None:
    """No heading is guessed from a short line of plain text; Markdown keeps its own headings
    and lists."""
    text = extract_media(b"Short line\n\nA longer paragraph here.\n", "text/plain", "a.txt")
    assert text == "Short line\n\nA longer paragraph here.\n"
    assert extract_media(MARKDOWN_FILE, "text/markdown", "cat.md") == MARKDOWN_FILE.decode()


_TEXT_BOX_NAMESPACES = (
    'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" '
    'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" '
    'xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing" '
    'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" '
    'xmlns:wps="http://schemas.microsoft.com/office/word/2010/wordprocessingShape" '
    'xmlns:v="urn:schemas-microsoft-com:vml"'
)


def _text_box_run(text: str) -> str:
    """A run holding a text box as Word writes one: DrawingML, with a VML copy of the same
    box for older readers."""
    box = f"<w:txbxContent><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:txbxContent>"
    return (
        f"<w:r {_TEXT_BOX_NAMESPACES}><mc:AlternateContent>"
        '<mc:Choice Requires="wps"><w:drawing><wp:anchor><a:graphic><a:graphicData>'
        f"<wps:wsp><wps:txbx>{box}</wps:txbx></wps:wsp>"
        "</a:graphicData></a:graphic></wp:anchor></w:drawing></mc:Choice>"
        f"<mc:Fallback><w:pict><v:shape><v:textbox>{box}</v:textbox></v:shape></w:pict>"
        "</mc:Fallback></mc:AlternateContent></w:r>"
    )


def _notes_part(document: Any, kind: str, notes: list[str]) -> None:
    """A footnotes or endnotes part, with Word's two separator notes before `notes`."""
    from docx.opc.constants import CONTENT_TYPE, RELATIONSHIP_TYPE
    from docx.opc.packuri import PackURI
    from docx.opc.part import Part

    w = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    separators = (
        f'<w:{kind} w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:{kind}>'
        f'<w:{kind} w:type="continuationSeparator" w:id="0"><w:p><w:r><w:t>cont</w:t></w:r>'
        f"</w:p></w:{kind}>"
    )
    body = "".join(
        f'<w:{kind} w:id="{n}"><w:p><w:r><w:t>{note}</w:t></w:r></w:p></w:{kind}>'
        for n, note in enumerate(notes, 1)
    )
    xml = f"<w:{kind}s {w}>{separators}{body}</w:{kind}s>".encode()
    content_type = {"footnote": CONTENT_TYPE.WML_FOOTNOTES, "endnote": CONTENT_TYPE.WML_ENDNOTES}
    reltype = {"footnote": RELATIONSHIP_TYPE.FOOTNOTES, "endnote": RELATIONSHIP_TYPE.ENDNOTES}
    part = Part(PackURI(f"/word/{kind}s.xml"), content_type[kind], xml, document.part.package)
    document.part.relate_to(part, reltype[kind])


def test_docx_text_boxes_nested_tables_and_notes_are_read() -> None:
    """Text python-docx's own reading leaves out: a text box, once although Word writes it
    twice, after the paragraph it is anchored in; a table nested in a cell, in that cell;
    footnotes, then endnotes, after the body, without Word's separator notes."""
    import docx
    from docx.oxml import parse_xml

    document = docx.Document()
    anchor = document.add_paragraph("Sightings by the jetty")
    anchor._p.append(parse_xml(_text_box_run("Boxed: quokkas fed by hand")))
    table = document.add_table(rows=1, cols=2)
    table.cell(0, 0).text = "Burrows"
    outer = table.cell(0, 1)
    outer.text = "Counts"
    inner = outer.add_table(rows=2, cols=2)
    _fill(inner, [("North", "7"), ("South", "3")])
    document.add_paragraph("Last body paragraph")
    _notes_part(document, "footnote", ["Counted at dawn", "By two rangers"])
    _notes_part(document, "endnote", ["Survey of 2026"])
    blocks = extract_media(_saved(document), DOCX_MIME, "survey.docx").split("\n\n")
    assert blocks == [
        "Sightings by the jetty",
        "Boxed: quokkas fed by hand",
        "Burrows | Counts North | 7; South | 3",
        "Last body paragraph",
        "Counted at dawn",
        "By two rangers",
        "Survey of 2026\n",
    ]
