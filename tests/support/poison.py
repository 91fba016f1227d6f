"""Poisoned files, built in memory: a DOCX that inflates hugely and a PDF that keeps a parser
busy. Small on disk (nothing large is committed), real formats the real parsers accept."""

from __future__ import annotations

import io
import zipfile
import zlib

DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
MIB = 1024 * 1024


def inflating_docx(inflated_mib: int) -> bytes:
    """A valid DOCX whose `word/document.xml` inflates to about `inflated_mib` MiB of
    paragraphs (~1 MB compressed for 300 MiB: the shape of finding 4's 526 KB file)."""
    import docx

    document = docx.Document()
    document.add_paragraph("A tiny cover for a very large body.")
    plain = io.BytesIO()
    document.save(plain)
    source = zipfile.ZipFile(io.BytesIO(plain.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bomb:
        for item in source.infolist():
            if item.filename != "word/document.xml":
                bomb.writestr(item, source.read(item.filename))
                continue
            head, tail = source.read(item.filename).decode().split("<w:body>", 1)
            block = ("<w:p><w:r><w:t>boom</w:t></w:r></w:p>" * 10_000).encode()
            with bomb.open(item.filename, "w", force_zip64=True) as member:
                member.write((head + "<w:body>").encode())
                for _ in range(inflated_mib * MIB // len(block)):
                    member.write(block)
                member.write(tail.encode())
    return out.getvalue()


def busy_pdf(operations: int = 100_000) -> bytes:
    """A one-page PDF (~10 KB) whose content stream repeats a text operation: pypdf's text
    extraction is superlinear in it (100k operations: ~15 s; a million: far longer)."""
    content = zlib.compress(b"BT /F1 12 Tf 10 10 Td (loop) Tj ET\n" * operations, 9)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content)
        + content
        + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1))
    out.write(b"startxref\n%d\n%%%%EOF\n" % xref)
    return out.getvalue()


def corrupt_pdf() -> bytes:
    return b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 9 0 R >>\nendobj\ntrailer\n<<>>\n"
