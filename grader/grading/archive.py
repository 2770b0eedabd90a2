"""Zip files as lists of entries: member paths checked, sizes capped on read, nothing extracted wholesale.

Used by intake for an LMS zip (the class) and for a submission that is itself one zip (opened one
level deep: a zip inside it is just an ignored file). A member whose path is absolute, leaves its
folder, is a link, is encrypted or holds a NUL is never read; the reason is returned instead.
"""

from __future__ import annotations

import io
import re
import stat
import zipfile
from dataclasses import dataclass
from datetime import datetime

from grader.sandbox.error import GraderError

ZIP_MEMBERS = 20_000  # members per LMS zip
INNER_ZIP_CAP = 12 << 20  # bytes of a submission's own zip read into memory
INNER_MEMBERS = 500  # members of a submission's own zip


@dataclass
class Entry:
    """One regular file of a submission, readable at most up to a limit."""

    parts: tuple[str, ...]  # relative path, normalised
    size: int
    read: object  # callable(limit) -> bytes (at most limit + 1 bytes)
    mtime: datetime | None = None  # as the archive or the file system says (untrusted; for lateness only)


class ArchiveError(GraderError):
    """Not a zip this kit reads (the message says why)."""


def open_zip(source, label: str, members: int) -> tuple[zipfile.ZipFile, list[zipfile.ZipInfo]]:
    """A zip and its member list, or ArchiveError (unreadable, or more members than allowed)."""
    try:
        archive = zipfile.ZipFile(source)
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError) as error:
        raise ArchiveError(f"{label}: not a readable zip file ({str(error)[:200]})") from None
    if len(infos) > members:
        raise ArchiveError(f"{label}: {len(infos)} members, more than the {members} allowed")
    return archive, infos


def member_parts(info: zipfile.ZipInfo) -> tuple[tuple[str, ...], str]:
    """A member's path as parts, or the reason it is unsafe (absolute, '..', link, encrypted)."""
    name = info.filename.replace("\\", "/")
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    mode = info.external_attr >> 16
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return parts, "absolute path"
    if ".." in parts:
        return parts, "path leaves its folder ('..')"
    if stat.S_ISLNK(mode):
        return parts, "symbolic link"
    if info.flag_bits & 0x1:
        return parts, "encrypted"
    if any("\x00" in p for p in parts):
        return parts, "NUL in name"
    if not parts:
        return parts, "empty name"
    return parts, ""


def entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, parts: tuple[str, ...]) -> Entry:
    def read(limit: int) -> bytes:
        with archive.open(info) as member:  # decompresses lazily: a bomb stops at limit + 1 bytes
            return member.read(limit + 1)

    try:
        mtime = datetime(*info.date_time).astimezone()
    except (ValueError, OverflowError):
        mtime = None
    return Entry(parts, info.file_size, read, mtime)


def unpack(zipped: Entry, problems: list[str]) -> list[Entry] | None:
    """The entries of a submission that is one zip: one level, the same path checks; None when unusable."""
    shown = "/".join(zipped.parts)
    if zipped.size > INNER_ZIP_CAP:
        problems.append(f"{shown} is {size_text(zipped.size)}; the limit for a submitted zip is {size_text(INNER_ZIP_CAP)}; not opened")
        return None
    try:
        data = zipped.read(INNER_ZIP_CAP)
    except (OSError, zipfile.BadZipFile, RuntimeError, ValueError, EOFError, NotImplementedError) as error:
        problems.append(f"{shown} could not be read ({str(error)[:120]}); not opened")
        return None
    if len(data) > INNER_ZIP_CAP:
        problems.append(f"{shown} is larger than {size_text(INNER_ZIP_CAP)}, the limit for a submitted zip; not opened")
        return None
    try:
        archive, infos = open_zip(io.BytesIO(data), shown, INNER_MEMBERS)
    except ArchiveError as error:
        problems.append(f"{error}; not opened")
        return None
    found = []
    for info in infos:
        parts, why = member_parts(info)
        if why:
            problems.append(f"{shown}: member {info.filename[:80]!r}: {why}; skipped")
        elif not info.is_dir() and parts[0] != "__MACOSX":
            found.append(entry(archive, info, parts))
    problems.append(f"{shown}: the submission is this zip; opened it (one level)")
    return found


def size_text(size: int) -> str:
    """Bytes for a message: "5.3 MiB", "256 KiB", "17 bytes"."""
    if size >= 1 << 20:
        return f"{size / (1 << 20):.1f} MiB"
    if size >= 1 << 10:
        return f"{size / (1 << 10):.0f} KiB"
    return f"{size} bytes"
