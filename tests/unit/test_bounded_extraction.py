"""Bounded media extraction (finding 4): a DOCX that inflates hugely, a PDF that keeps the
parser busy and a memory-hungry parse are each stopped and reported as a failure of that
file, in a real child process, and the extractor goes on working for the next file."""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Iterator

import pytest

from pressrag.resources.errors import ExtractionError
from pressrag.resources.extractors.bounded import BoundedExtractor, ExtractionLimits
from pressrag.resources.extractors.media import (
    MIB,
    ExtractionLimitExceeded,
    ZipLimits,
    check_zip_archive,
    extract_media,
)
from tests.support.poison import DOCX_MIME, busy_pdf, corrupt_pdf, inflating_docx


def _pdf(text: str) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.multi_cell(w=0, text=text)
    return bytes(pdf.output())


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return inflating_docx(300)


@pytest.fixture
def extractor() -> Iterator[BoundedExtractor]:
    with BoundedExtractor(ExtractionLimits(seconds=4.0), frozenset({"pdf", "docx"})) as bounded:
        yield bounded


def test_zip_bomb_docx_is_refused_before_it_inflates(bomb: bytes) -> None:
    """Finding 4: ~1 MB that inflates to 300 MiB (the reported file kept a worker busy for
    423 s at 6 GB). Refused from the archive's declared sizes, in well under a second."""
    assert len(bomb) < 2 * MIB
    started = time.perf_counter()
    with pytest.raises(ExtractionLimitExceeded, match=r"bomb\.docx: .*inflate to 30\d MiB"):
        extract_media(bomb, DOCX_MIME, "bomb.docx")
    assert time.perf_counter() - started < 5


def test_zip_ratio_limit_applies_to_large_members_only() -> None:
    limits = ZipLimits(max_bytes=100 * MIB, max_ratio=50)
    check_zip_archive(_zip({"small.xml": b" " * 500_000}), limits)  # tiny, whatever its ratio
    with pytest.raises(ExtractionLimitExceeded, match=r"'big\.xml' would inflate \d+ times"):
        check_zip_archive(_zip({"big.xml": b" " * (4 * MIB)}), limits)
    check_zip_archive(_zip({"big.xml": b" " * (4 * MIB)}), ZipLimits(max_ratio=10_000))


def test_zip_bomb_is_refused_through_the_bounded_extractor(
    extractor: BoundedExtractor, bomb: bytes
) -> None:
    with pytest.raises(ExtractionLimitExceeded, match="inflate"):
        extractor.extract(bomb, DOCX_MIME, "bomb.docx")
    assert "Platypus" in extractor.extract(_pdf("Platypus census."), "application/pdf", "a.pdf")


def test_busy_pdf_is_stopped_at_the_wall_time_limit_and_the_next_file_works(
    extractor: BoundedExtractor,
) -> None:
    data = busy_pdf(100_000)
    assert len(data) < 50_000
    started = time.perf_counter()
    with pytest.raises(ExtractionLimitExceeded, match=r"busy\.pdf: .*stopped after 4 s"):
        extractor.extract(data, "application/pdf", "busy.pdf")
    assert time.perf_counter() - started < 30  # 4 s + killing the worker, on a loaded CI
    # The killed worker was replaced: the next file is extracted normally.
    text = extractor.extract(_pdf("Wombat burrows are cube-shaped."), "application/pdf", "w.pdf")
    assert "Wombat burrows" in text


def test_corrupt_pdf_is_a_clear_failure_of_that_file(extractor: BoundedExtractor) -> None:
    with pytest.raises(ExtractionError, match=r"broken\.pdf: could not read it as PDF"):
        extractor.extract(corrupt_pdf(), "application/pdf", "broken.pdf")


def test_memory_limit_stops_a_parse_that_would_grow_without_bound() -> None:
    """Without the ZIP checks, python-docx parsing a 100 MiB body wants several GiB; in a child
    capped at 1.5 GiB of address space it fails as a recorded error, and the parent lives."""
    limits = ExtractionLimits(
        seconds=120,
        memory_bytes=1536 * MIB,
        zip=ZipLimits(max_bytes=10 * 1024 * MIB, max_ratio=1e9),
    )
    with BoundedExtractor(limits) as bounded, pytest.raises(ExtractionError) as failure:
        bounded.extract(inflating_docx(100), DOCX_MIME, "hungry.docx")
    assert failure.value.args[0].startswith("hungry.docx: ")


def test_worker_is_reused_across_files(extractor: BoundedExtractor) -> None:
    """One child for many files: the second PDF costs no new process (and no imports)."""
    extractor.extract(_pdf("First file."), "application/pdf", "1.pdf")
    started = time.perf_counter()
    for n in range(5):
        extractor.extract(_pdf(f"File number {n}."), "application/pdf", f"{n}.pdf")
    assert time.perf_counter() - started < 10
