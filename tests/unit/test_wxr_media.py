"""Media beside an export: an uploads/ folder or a zip of it, read safely."""

from __future__ import annotations

import stat
import struct
import zipfile
from pathlib import Path, PurePosixPath

import pytest

from pressrag.resources.errors import SourceError
from pressrag.resources.wordpress import WxrSource
from pressrag.resources.wordpress.wxr_media import UploadsZip, media_beside
from tests.support.wxr_export import SITE, attachment, wxr

REPORT = b"%PDF-1.4 " + b"x" * 991  # 1000 bytes


def _export(folder: Path) -> Path:
    path = folder / "export.xml"
    path.write_text(wxr(attachment(5, "2024/05/report.pdf")), encoding="utf-8")
    return path


def _zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


@pytest.mark.parametrize("root", ["", "uploads/", "wp-content/uploads/"])
def test_a_zip_beside_the_export_is_read_in_place(tmp_path: Path, root: str) -> None:
    """However the uploads folder was zipped, its files are found by their uploads path."""
    export = _export(tmp_path)
    _zip(tmp_path / "uploads.zip", {f"{root}2024/05/report.pdf": REPORT})
    source = WxrSource(export)

    assert source.open_media(f"{SITE}/wp-content/uploads/2024/05/report.pdf", 1000) == REPORT
    assert not (tmp_path / "2024").exists() and not (tmp_path / "uploads").exists()


def test_a_folder_wins_over_a_zip_and_media_can_be_named(tmp_path: Path) -> None:
    export = _export(tmp_path)
    (tmp_path / "uploads" / "2024" / "05").mkdir(parents=True)
    (tmp_path / "uploads" / "2024" / "05" / "report.pdf").write_bytes(b"from the folder")
    _zip(tmp_path / "uploads.zip", {"2024/05/report.pdf": b"from the zip"})
    elsewhere = _zip(tmp_path / "media-2024.zip", {"2024/05/report.pdf": b"named"})
    url = f"{SITE}/wp-content/uploads/2024/05/report.pdf"

    assert WxrSource(export).open_media(url, 100) == b"from the folder"
    assert WxrSource(export, media=elsewhere).open_media(url, 100) == b"named"
    with pytest.raises(SourceError, match="media not found"):
        media_beside(export, tmp_path / "missing.zip")


def test_no_media_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"no media beside .*uploads/ folder or uploads\.zip"):
        WxrSource(_export(tmp_path)).open_media(
            f"{SITE}/wp-content/uploads/2024/05/report.pdf", 1000
        )


@pytest.mark.parametrize(
    "name",
    ["../secret.txt", "/etc/secret.txt", "2024/../../secret.txt", "uploads/../../secret.txt"],
)
def test_zip_entries_that_climb_out_are_never_read(tmp_path: Path, name: str) -> None:
    """A hostile zip may name entries outside the tree; they are not even indexed."""
    media = UploadsZip(_zip(tmp_path / "uploads.zip", {name: b"top secret"}))

    for relative in ("secret.txt", "../secret.txt", "etc/secret.txt"):
        with pytest.raises(SourceError, match="not found"):
            media.read(PurePosixPath(relative), 1000)


def test_a_large_entry_is_refused_by_its_declared_size(tmp_path: Path) -> None:
    """A zip bomb: 50 MB of zeros compress to ~50 kB; it is refused before any inflating."""
    media = UploadsZip(_zip(tmp_path / "uploads.zip", {"2024/05/big.txt": b"\0" * 50_000_000}))

    with pytest.raises(SourceError, match="file exceeds 1000000 bytes"):
        media.read(PurePosixPath("2024/05/big.txt"), 1_000_000)


def test_an_entry_lying_about_its_size_is_not_read_past_it(tmp_path: Path) -> None:
    """A header declaring 10 bytes for 2000 bytes of data: reading stops there, and the
    mismatch is an error rather than a big read."""
    path = _zip(tmp_path / "uploads.zip", {"2024/05/liar.txt": b"a" * 2000})
    data = bytearray(path.read_bytes())
    central = data.rfind(b"PK\x01\x02")
    data[central + 24 : central + 28] = struct.pack("<I", 10)  # uncompressed size
    path.write_bytes(bytes(data))

    with pytest.raises(SourceError, match="cannot be read from"):
        UploadsZip(path).read(PurePosixPath("2024/05/liar.txt"), 1000)


def test_links_and_encrypted_entries_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "uploads.zip"
    with zipfile.ZipFile(path, "w") as archive:
        link = zipfile.ZipInfo("2024/05/link.pdf")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
        locked = zipfile.ZipInfo("2024/05/locked.pdf")
        archive.writestr(locked, b"ciphertext")
    data = bytearray(path.read_bytes())
    for signature, flag_offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.rfind(signature)  # the last entry: locked.pdf
        data[at + flag_offset] |= 0x1  # "encrypted"
    path.write_bytes(bytes(data))
    media = UploadsZip(path)

    with pytest.raises(SourceError, match="is a link"):
        media.read(PurePosixPath("2024/05/link.pdf"), 1000)
    with pytest.raises(SourceError, match="encrypted"):
        media.read(PurePosixPath("2024/05/locked.pdf"), 1000)


def test_a_zip_listing_too_many_entries_is_refused_before_it_is_loaded(tmp_path: Path) -> None:
    entries = {f"f{i}.txt": b"x" for i in range(4)}
    media = UploadsZip(_zip(tmp_path / "uploads.zip", entries), max_entries=3)

    with pytest.raises(SourceError, match="lists 4 entries"):
        media.read(PurePosixPath("f1.txt"), 10)


def test_not_a_zip_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "uploads.zip"
    path.write_bytes(b"this is not a zip file at all" * 10)

    with pytest.raises(SourceError, match="is not a zip file"):
        UploadsZip(path).read(PurePosixPath("a.txt"), 10)
