"""Media files beside a WXR export: an `uploads/` folder, or a zip of it.

A WXR export carries attachment URLs, not files; the files come from a copy of
`wp-content/uploads/`. Both kinds are read by the path after `/wp-content/uploads/` in the
attachment URL, and both refuse anything that would escape the uploads tree. A zip is read in
place (never extracted to disk): entries that are links, encrypted or declared larger than
the cap are refused, and reading stops at the cap whatever the entry claims.
"""

from __future__ import annotations

import stat
import struct
import zipfile
from pathlib import Path, PurePosixPath
from typing import Protocol

from pressrag.resources.errors import SourceError

# A zip of an uploads folder holds its files under one of these (`zip -r uploads.zip uploads`,
# a zip of the folder's contents, or of wp-content/).
ZIP_ROOTS = ("", "uploads/", "wp-content/uploads/")
# Bounds on what is read into memory before any file is: the zip's table of contents.
MAX_ZIP_ENTRIES = 200_000
MAX_ZIP_DIRECTORY_BYTES = 64 << 20


class MediaFiles(Protocol):
    """Where an export's uploaded files are read from."""

    description: str

    def read(self, relative: PurePosixPath, max_bytes: int) -> bytes:
        """The file at `relative` (already checked: no `..`, no absolute path)."""
        ...


def media_beside(export: Path, explicit: str | Path | None = None) -> MediaFiles | None:
    """The media of an export: `explicit` (a folder or a .zip), else `uploads/` beside the
    export, else `uploads.zip` beside it; None when there is none."""
    candidates = (
        [Path(explicit)] if explicit else [export.parent / "uploads", export.parent / "uploads.zip"]
    )
    for candidate in candidates:
        if candidate.is_dir():
            return UploadsFolder(candidate)
        if candidate.is_file():
            return UploadsZip(candidate)
    if explicit:
        raise SourceError(f"media not found: {explicit} is neither a folder nor a zip file")
    return None


class UploadsFolder:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.description = str(root)

    def read(self, relative: PurePosixPath, max_bytes: int) -> bytes:
        root = self.root.resolve()
        target = root.joinpath(*relative.parts).resolve()
        if not target.is_relative_to(root):  # a symlink pointing outside
            raise SourceError(f"refusing {relative}: path escapes the uploads folder")
        try:
            size = target.stat().st_size
        except OSError as exc:
            raise SourceError(f"{relative}: not found in {self.root} ({exc.strerror})") from exc
        if size > max_bytes:
            raise SourceError(f"{relative}: file exceeds {max_bytes} bytes")
        with target.open("rb") as handle:
            data = handle.read(max_bytes + 1)
        if len(data) > max_bytes:  # the file grew since stat()
            raise SourceError(f"{relative}: file exceeds {max_bytes} bytes")
        return data


class UploadsZip:
    def __init__(self, path: Path, *, max_entries: int = MAX_ZIP_ENTRIES) -> None:
        self.path = path
        self.description = str(path)
        self.max_entries = max_entries
        self._names: dict[str, zipfile.ZipInfo] | None = None

    def read(self, relative: PurePosixPath, max_bytes: int) -> bytes:
        info = self._entry(relative)
        if info is None:
            raise SourceError(f"{relative}: not found in {self.path}")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise SourceError(f"refusing {relative}: it is a link in {self.path}")
        if info.flag_bits & 0x1:
            raise SourceError(f"{relative}: encrypted in {self.path}")
        if info.file_size > max_bytes:
            raise SourceError(f"{relative}: file exceeds {max_bytes} bytes")
        try:
            with zipfile.ZipFile(self.path) as archive, archive.open(info) as handle:
                data = handle.read(max_bytes + 1)  # a lying header cannot make this read more
        except (zipfile.BadZipFile, OSError, NotImplementedError, RuntimeError) as exc:
            raise SourceError(f"{relative}: cannot be read from {self.path} ({exc})") from exc
        if len(data) > max_bytes:
            raise SourceError(f"{relative}: file exceeds {max_bytes} bytes")
        return data

    def _entry(self, relative: PurePosixPath) -> zipfile.ZipInfo | None:
        names = self._index()
        for root in ZIP_ROOTS:
            info = names.get(f"{root}{relative}")
            if info is not None:
                return info
        return None

    def _index(self) -> dict[str, zipfile.ZipInfo]:
        if self._names is None:
            entries, directory_bytes = _directory_size(self.path)
            if entries > self.max_entries or directory_bytes > MAX_ZIP_DIRECTORY_BYTES:
                raise SourceError(
                    f"{self.path} lists {entries} entries ({directory_bytes} bytes of directory); "
                    f"at most {self.max_entries} are read"
                )
            try:
                with zipfile.ZipFile(self.path) as archive:
                    infos = archive.infolist()
            except (zipfile.BadZipFile, OSError) as exc:
                raise SourceError(f"{self.path} is not a readable zip file ({exc})") from exc
            # Only plain relative names are indexed: one with `..` or a leading slash is never
            # looked up, so it can never be read. Windows zips may use backslashes.
            self._names = {}
            for info in infos:
                name = info.filename.replace("\\", "/")
                if not info.is_dir() and _plain(name):
                    self._names.setdefault(name, info)
        return self._names


def _plain(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return bool(parts) and not name.startswith("/") and all(p not in ("..", ".") for p in parts)


def _directory_size(path: Path) -> tuple[int, int]:
    """(entries, bytes) of a zip's central directory, read from its end record before
    zipfile loads the whole directory into memory."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            tail_start = max(0, size - (1 << 16) - 22)  # the end record + its longest comment
            handle.seek(tail_start)
            tail = handle.read()
            at = tail.rfind(b"PK\x05\x06")
            if at < 0 or len(tail) - at < 22:
                raise SourceError(f"{path} is not a zip file (no end of central directory)")
            entries, directory_bytes = struct.unpack("<xxxxxxxxxxHI", tail[at : at + 16])
            if entries == 0xFFFF or directory_bytes == 0xFFFFFFFF:  # zip64: read its record
                locator = tail[at - 20 : at] if at >= 20 else b""
                if locator[:4] != b"PK\x06\x07":
                    raise SourceError(f"{path}: broken zip64 end of central directory")
                (offset,) = struct.unpack("<Q", locator[8:16])
                handle.seek(offset)
                record = handle.read(56)
                if record[:4] != b"PK\x06\x06":
                    raise SourceError(f"{path}: broken zip64 end of central directory")
                entries, directory_bytes = struct.unpack("<QQ", record[32:48])
    except OSError as exc:
        raise SourceError(f"cannot read {path} ({exc.strerror})") from exc
    return entries, directory_bytes
