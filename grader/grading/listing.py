"""The listing of SUBMISSIONS: which folders (or zip members) are submissions, and the files each holds.

Nothing is copied or read here: each submission is a folder name, its regular files as Entries (read
later, with caps, by grader.grading.intake) and the problems met while listing it. Links are never
followed, depth and counts are capped, and a zip is listed from its directory only
(grader.grading.archive). What is never a submission: a file at the top level (a note), Moodle's
online-text and feedback folders (a note), dot files, __MACOSX. One wrapper folder (a zip of the
download, or that zip unpacked) is unwrapped.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from grader.grading import archive as zips
from grader.grading.archive import ZIP_MEMBERS, ArchiveError, Entry, member_parts, open_zip

# The contract's files of a submission (grader.grading.intake picks them; here they tell a submission's
# folder from a folder of submissions).
CODE_NAMES = ("exercise02_template.py", "exercise02.py")
PLOT_NAMES = ("plots/lr_loss_curves.png", "plots/lr_accuracy.png")
REPORT_NAME = "REPORT.md"
MEMBERS_NAME = "members.txt"
MEMBERS_PER_SUBMISSION = 500  # files listed per submission; beyond that the rest is ignored
WALK_DEPTH = 4  # folder levels looked into per submission
MOODLE = re.compile(r"^(?P<name>.*?)_(?P<pid>\d+)_(?P<plugin>assign(?:submission|feedback)_[A-Za-z]+)_?$")
MOODLE_FLAT = re.compile(r"^(?P<folder>.*?_\d+_assign(?:submission|feedback)_[A-Za-z]+)_(?P<rest>.+)$")
SUBMISSION_PLUGIN = "assignsubmission_file"  # Moodle's file submissions; other plugin folders are not submissions
JUNK = ("__MACOSX", ".DS_Store", "Thumbs.db", "desktop.ini")
WANTED = {n.lower() for n in (*CODE_NAMES, REPORT_NAME, MEMBERS_NAME)} | {"plots"}


@dataclass
class Listed:
    """One submission as listed: its folder name (untrusted), its files, and what was wrong while listing them."""

    name: str
    entries: list[Entry]
    problems: list[str]


def list_source(source: Path, notes: list[str]) -> list[Listed]:
    """Every submission in `source` (a folder of folders and zips, or one LMS zip), in name order per
    source; class-level notes (a stray file, an unreadable zip, a wrapper unwrapped) go to `notes`."""
    info = os.lstat(source)
    if stat.S_ISDIR(info.st_mode):
        raw = list(_from_folder(_unwrap_folder(source, notes), notes))
    elif stat.S_ISREG(info.st_mode):
        raw = list(_from_zip(source, notes))
    else:
        notes.append(f"{display(source.name)} is neither a folder nor a regular file; nothing to grade")
        raw = []
    return _drop_other_plugins([Listed(name, entries, problems) for name, entries, problems in raw], notes)


def display(name: str, limit: int = 120) -> str:
    """An untrusted name made printable: control characters shown as escapes, length capped."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(name))
    return text if len(text) <= limit else text[:limit] + "…"


def _from_folder(source: Path, notes: list[str]):
    with os.scandir(source) as scan:
        entries = sorted(scan, key=lambda e: e.name)
    for entry in entries:
        info = entry.stat(follow_symlinks=False)
        if entry.name.startswith(".") or entry.name in JUNK:
            continue
        if stat.S_ISLNK(info.st_mode):
            notes.append(f"{display(entry.name)}: a symbolic link; not followed, not graded")
        elif stat.S_ISDIR(info.st_mode):
            problems: list[str] = []
            yield entry.name, _walk(Path(entry.path), problems), problems
        elif stat.S_ISREG(info.st_mode) and entry.name.lower().endswith(".zip"):
            yield from _from_zip(Path(entry.path), notes)
        else:
            notes.append(f"{display(entry.name)}: not a submission folder or an LMS zip; ignored")


def _walk(root: Path, problems: list[str]) -> list[Entry]:
    """The regular files under root (lstat only: links are never followed), capped in number and depth."""
    found: list[Entry] = []
    stack = [(root, ())]
    while stack:
        folder, parts = stack.pop()
        try:
            with os.scandir(folder) as scan:
                children = sorted(scan, key=lambda e: e.name)
        except OSError as error:
            problems.append(f"could not list {display('/'.join(parts) or '.')}: {error.strerror}")
            continue
        for child in children:
            info = child.stat(follow_symlinks=False)
            rel = parts + (child.name,)
            if stat.S_ISDIR(info.st_mode):
                if len(rel) < WALK_DEPTH:
                    stack.append((Path(child.path), rel))
            elif stat.S_ISREG(info.st_mode):
                if len(found) >= MEMBERS_PER_SUBMISSION:
                    problems.append(f"more than {MEMBERS_PER_SUBMISSION} files; the rest was not looked at")
                    return found
                when = datetime.fromtimestamp(info.st_mtime).astimezone()
                found.append(Entry(rel, info.st_size, _file_reader(Path(child.path)), when))
            elif stat.S_ISLNK(info.st_mode):
                problems.append(f"{display('/'.join(rel))} is a symbolic link; not followed")
    return found


def _file_reader(path: Path):
    def read(limit: int) -> bytes:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise OSError("not a regular file")
            chunks, left = [], limit + 1
            while left > 0:
                chunk = os.read(fd, min(left, 1 << 20))
                if not chunk:
                    break
                chunks.append(chunk)
                left -= len(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)

    return read


def _from_zip(path: Path, notes: list[str]):
    """An LMS zip: one submission per top-level folder (or per Moodle flat-file prefix); one wrapper folder unwrapped."""
    label = display(path.name)
    try:
        archive, infos = open_zip(path, label, ZIP_MEMBERS)
    except ArchiveError as error:
        notes.append(f"{display(str(error), 300)}; nothing graded from it")
        return
    members = []
    for info in infos:
        parts, why = member_parts(info)
        if parts and parts[0] in JUNK or (parts and parts[-1] in JUNK):
            continue
        members.append((info, parts, why))
    wrapper = _wrapper([parts for info, parts, why in members if not why])
    if wrapper:
        notes.append(f"{label}: everything is inside the folder {display(wrapper)}; unwrapped it")
    groups: dict[str, tuple[list[Entry], list[str]]] = {}
    for info, parts, why in members:
        if wrapper and parts[:1] == (wrapper,):
            parts = parts[1:]
            if not parts:
                continue
        if why:
            top = parts[0] if parts else ""
            if top and len(parts) > 1 and top != "..":  # a path that leaves the archive never names a submission
                groups.setdefault(top, ([], []))[1].append(f"{display(info.filename)}: {why}; skipped")
            else:
                notes.append(f"{label}: member {display(info.filename)}: {why}; skipped")
            continue
        if info.is_dir():
            if len(parts) == 1:
                groups.setdefault(parts[0], ([], []))
            continue
        if len(parts) == 1:  # Moodle's flat layout: "Name_123_assignsubmission_file_REPORT.md"
            flat = MOODLE_FLAT.match(parts[0])
            if not flat:
                notes.append(f"{label}: {display(parts[0])} is a file outside every submission folder; "
                             "not a submission, ignored")  # fmt: skip
                continue
            parts = (flat["folder"] + "_", flat["rest"])
        entries, problems = groups.setdefault(parts[0], ([], []))
        if len(entries) >= MEMBERS_PER_SUBMISSION:
            if len(entries) == MEMBERS_PER_SUBMISSION:
                problems.append(f"more than {MEMBERS_PER_SUBMISSION} files; the rest was not looked at")
                entries.append(None)
            continue
        entries.append(zips.entry(archive, info, parts[1:]))
    for name in sorted(groups):
        entries, problems = groups[name]
        yield name, [e for e in entries if e is not None], problems


def _wrapper(paths: list[tuple[str, ...]]) -> str | None:
    """The one folder everything sits in, when it holds submission folders rather than a submission's files."""
    tops = {p[0] for p in paths if p}
    if len(tops) != 1:
        return None
    top = next(iter(tops))
    if MOODLE.match(top) or any(len(p) == 2 and p[1].lower() in WANTED for p in paths):
        return None
    inner = {p[1] for p in paths if len(p) >= 2}
    folders = {p[1] for p in paths if len(p) >= 3}
    if len(folders) >= 2 or any(MOODLE.match(f) or MOODLE_FLAT.match(f) for f in inner):
        return top
    return None


def _unwrap_folder(source: Path, notes: list[str]) -> Path:
    """A folder holding only one folder of submission folders (an unpacked zip of the download): that folder."""
    with os.scandir(source) as scan:
        visible = [e for e in scan if not e.name.startswith(".") and e.name not in JUNK]
    if len(visible) != 1 or not visible[0].is_dir(follow_symlinks=False):
        return source
    inner = Path(visible[0].path)
    with os.scandir(inner) as scan:
        children = [e for e in scan if not e.name.startswith(".") and e.name not in JUNK]
    if any(c.name.lower() in WANTED for c in children):
        return source
    folders = [c for c in children if c.is_dir(follow_symlinks=False)]
    if len(folders) >= 2 or any(MOODLE.match(c.name) for c in children):
        notes.append(f"everything is inside the folder {display(inner.name)}; unwrapped it")
        return inner
    return source


def _drop_other_plugins(raw: list[Listed], notes: list[str]) -> list[Listed]:
    """Moodle's online-text, feedback and other plugin folders are not submissions: a note each, not graded."""
    kept, dropped = [], {}
    for listed in raw:
        moodle = MOODLE.match(listed.name)
        if moodle and moodle["plugin"] != SUBMISSION_PLUGIN:
            dropped.setdefault(moodle["plugin"], []).append(display(listed.name, 60))
        else:
            kept.append(listed)
    for plugin, names in sorted(dropped.items()):
        notes.append(f"{len(names)} Moodle {plugin} folder(s) are not file submissions and were not graded: {', '.join(names[:5])}"
                     + (" …" if len(names) > 5 else ""))  # fmt: skip
    return kept
