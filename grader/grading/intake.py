"""Intake: a folder of submissions, or an LMS zip, into one private folder per submission.

Nothing in a submission is trusted: not its file names, not its sizes, not its links. So nothing
is extracted wholesale. Each submission's files are listed (with lstat, or from the zip's
directory), and only the files the contract names are copied, by their exact expected names and
with size caps, into a fresh folder of ours:

    exercise02_template.py (or exercise02.py)   plots/lr_loss_curves.png   plots/lr_accuracy.png
    REPORT.md                                    members.txt

Accepted sources (SUBMISSIONS):
    a folder of submission folders       submissions/alice/exercise02_template.py ...
    an LMS zip (Moodle "download all")   Full Name_12345_assignsubmission_file_/[one more folder/]...
    a folder holding such zips           submissions/class.zip (next to plain folders, if any)

Whatever is wrong with a submission becomes a message in `Submission.problems`; intake raises only
when SUBMISSIONS itself does not exist (`IntakeError`).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

CODE_NAMES = ("exercise02_template.py", "exercise02.py")
PLOT_NAMES = ("plots/lr_loss_curves.png", "plots/lr_accuracy.png")
REPORT_NAME = "REPORT.md"
MEMBERS_NAME = "members.txt"
FILE_CAPS = {  # bytes per file, by kind
    "code": 256 << 10,
    "plot": 5 << 20,
    "report": 64 << 10,
    "members": 4 << 10,
}
SUBMISSION_CAP = 12 << 20  # bytes copied per submission, all files together
MEMBERS_PER_SUBMISSION = 500  # files listed per submission; beyond that the rest is ignored
ZIP_MEMBERS = 20_000  # members per LMS zip
WALK_DEPTH = 4  # folder levels looked into per submission
MAX_GROUP = 3
STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MOODLE = re.compile(r"^(?P<name>.*?)_(?P<pid>\d+)_assign(?:submission|feedback)_[A-Za-z]+_?$")
MOODLE_FLAT = re.compile(r"^(?P<folder>.*?_\d+_assignsubmission_[A-Za-z]+)_(?P<rest>.+)$")


class IntakeError(Exception):
    """SUBMISSIONS cannot be read at all (it does not exist)."""


@dataclass
class Submission:
    id: str  # stable, safe: [a-z0-9-], unique in the class
    label: str  # the original folder name, for display only (untrusted text)
    folder: Path  # our private copy, holding only the picked files
    code: Path | None = None
    plots: dict[str, Path | None] = field(default_factory=dict)  # "plots/lr_accuracy.png" -> copy or None
    report: Path | None = None
    members: list[str] = field(default_factory=list)  # student ids
    problems: list[str] = field(default_factory=list)  # for the report; never fatal
    ignored: list[str] = field(default_factory=list)  # names of other files (untrusted text, capped)

    def files(self) -> list[Path]:
        """The picked files, in a fixed order (what the store hashes)."""
        listed = [self.code, *self.plots.values(), self.report, self.folder / MEMBERS_NAME]
        return [p for p in listed if p is not None and p.is_file()]


@dataclass
class Entry:
    """One regular file of a submission, readable at most up to a limit."""

    parts: tuple[str, ...]  # relative path, normalised
    size: int
    read: object  # callable(limit) -> bytes (at most limit + 1 bytes)


# --------------------------------------------------------------------------- public


def collect(source: Path, workdir: Path) -> tuple[list[Submission], list[str]]:
    """Every submission under `source`, copied safely into `workdir/<id>/`; plus class-level notes."""
    source = Path(source)
    if not os.path.lexists(source):
        raise IntakeError(f"{source} does not exist")
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    notes: list[str] = []
    raw: list[tuple[str, list[Entry], list[str]]] = []  # (folder name, entries, problems)
    info = os.lstat(source)
    if stat.S_ISDIR(info.st_mode):
        raw.extend(_from_folder(source, notes))
    elif stat.S_ISREG(info.st_mode):
        raw.extend(_from_zip(source, notes))
    else:
        notes.append(f"{display(source.name)} is neither a folder nor a regular file; nothing to grade")
    ids = _assign_ids([name for name, _, _ in raw])
    submissions = [_pick(name, sid, entries, problems, workdir / sid) for (name, entries, problems), sid in zip(raw, ids)]
    submissions.sort(key=lambda s: s.id)
    _flag_shared_students(submissions)
    return submissions, notes


def display(name: str, limit: int = 120) -> str:
    """An untrusted name made printable: control characters shown as escapes, length capped."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(name))
    return text if len(text) <= limit else text[:limit] + "…"


# --------------------------------------------------------------------------- sources


def _from_folder(source: Path, notes: list[str]):
    with os.scandir(source) as scan:
        entries = sorted(scan, key=lambda e: e.name)
    for entry in entries:
        info = entry.stat(follow_symlinks=False)
        if entry.name.startswith("."):
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
                found.append(Entry(rel, info.st_size, _file_reader(Path(child.path))))
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
    """An LMS zip: one submission per top-level folder (or per Moodle flat-file prefix)."""
    label = display(path.name)
    try:
        archive = zipfile.ZipFile(path)
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as error:
        notes.append(f"{label}: not a readable zip file ({display(str(error), 200)}); nothing graded from it")
        return
    if len(infos) > ZIP_MEMBERS:
        notes.append(f"{label}: {len(infos)} members, more than the {ZIP_MEMBERS} allowed; nothing graded from it")
        return
    groups: dict[str, tuple[list[Entry], list[str]]] = {}
    for info in infos:
        parts, why = _member_parts(info)
        if why:
            top = parts[0] if parts else ""
            if top and len(parts) > 1:
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
                notes.append(f"{label}: {display(parts[0])} is not inside a submission folder; ignored")
                continue
            parts = (flat["folder"] + "_", flat["rest"])
        entries, problems = groups.setdefault(parts[0], ([], []))
        if len(entries) >= MEMBERS_PER_SUBMISSION:
            if len(entries) == MEMBERS_PER_SUBMISSION:
                problems.append(f"more than {MEMBERS_PER_SUBMISSION} files; the rest was not looked at")
                entries.append(None)
            continue
        entries.append(Entry(parts[1:], info.file_size, _zip_reader(archive, info)))
    for name in sorted(groups):
        entries, problems = groups[name]
        yield name, [e for e in entries if e is not None], problems


def _member_parts(info: zipfile.ZipInfo) -> tuple[tuple[str, ...], str]:
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


def _zip_reader(archive: zipfile.ZipFile, info: zipfile.ZipInfo):
    def read(limit: int) -> bytes:
        with archive.open(info) as member:  # decompresses lazily: a bomb stops at limit + 1 bytes
            return member.read(limit + 1)

    return read


# --------------------------------------------------------------------------- picking files


def _pick(name: str, sid: str, entries: list[Entry], problems: list[str], folder: Path) -> Submission:
    sub = Submission(id=sid, label=display(name), folder=folder, problems=list(problems))
    folder.mkdir(parents=True)
    if not entries:
        sub.problems.append("empty folder: no files to grade")
        sub.members = _default_members(name, sid)
        return sub
    prefix = _root(entries)
    inside = {e.parts[len(prefix):]: e for e in entries if e.parts[: len(prefix)] == prefix}
    lowered = {}
    for parts, entry in inside.items():
        lowered.setdefault("/".join(parts).lower(), entry)
    used: set[int] = set()
    budget = [SUBMISSION_CAP]

    def take(wanted: str, kind: str) -> Path | None:
        entry = inside.get(tuple(wanted.split("/"))) or lowered.get(wanted.lower())
        if entry is None and kind == "plot":  # a plot next to the code instead of in plots/
            base = wanted.split("/")[-1]
            entry = inside.get((base,)) or lowered.get(base.lower())
            if entry is not None:
                sub.problems.append(f"{base} found outside plots/; used anyway")
        if entry is None:
            return None
        used.add(id(entry))
        return _copy(entry, folder / wanted, FILE_CAPS[kind], budget, sub.problems)

    code_hits = [n for n in CODE_NAMES if tuple([n]) in inside or n.lower() in lowered]
    if code_hits:
        sub.code = take(code_hits[0], "code")
        if len(code_hits) > 1:
            sub.problems.append(f"both {' and '.join(code_hits)} present; graded {code_hits[0]}")
            used.add(id(inside.get((code_hits[1],)) or lowered.get(code_hits[1].lower())))
    else:
        sub.problems.append(f"no {' or '.join(CODE_NAMES)} found")
    for plot in PLOT_NAMES:
        sub.plots[plot] = take(plot, "plot")
        if sub.plots[plot] is None:
            sub.problems.append(f"{plot} is missing")
    sub.report = take(REPORT_NAME, "report")
    if sub.report is None:
        sub.problems.append(f"{REPORT_NAME} is missing")
    members = take(MEMBERS_NAME, "members")
    sub.members = (_read_members(members, sub.problems) if members else []) or _default_members(name, sid)
    sub.ignored = sorted(display("/".join(e.parts), 80) for e in entries if id(e) not in used)[:20]
    return sub


def _root(entries: list[Entry]) -> tuple[str, ...]:
    """Where the submission's files are: its top folder, or one folder deeper if that is where they sit."""
    wanted = {n.lower() for n in (*CODE_NAMES, REPORT_NAME, MEMBERS_NAME)} | {"plots"}
    if any(e.parts[0].lower() in wanted for e in entries):
        return ()
    deeper = sorted({e.parts[0] for e in entries if len(e.parts) > 1 and e.parts[1].lower() in wanted})
    return (deeper[0],) if deeper else ()


def _copy(entry: Entry, target: Path, cap: int, budget: list[int], problems: list[str]) -> Path | None:
    shown = display("/".join(entry.parts))
    if entry.size > cap:
        problems.append(f"{shown} is {entry.size} bytes, more than the {cap} allowed; not used")
        return None
    try:
        data = entry.read(cap)
    except (OSError, zipfile.BadZipFile, RuntimeError, ValueError, EOFError, NotImplementedError) as error:
        problems.append(f"{shown} could not be read ({display(str(error), 120)}); not used")
        return None
    if len(data) > cap:  # the listing lied about the size (or a compression bomb)
        problems.append(f"{shown} is larger than the {cap} bytes allowed; not used")
        return None
    if len(data) > budget[0]:
        problems.append(f"{shown}: the submission is over its {SUBMISSION_CAP} byte budget; not used")
        return None
    budget[0] -= len(data)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return target


# --------------------------------------------------------------------------- ids and groups


def _slug(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:48].strip("-")


def _assign_ids(names: list[str]) -> list[str]:
    """Stable, safe, unique ids: a slug of the folder name (Moodle: name + participant id)."""
    slugs = []
    for name in names:
        moodle = MOODLE.match(name)
        slug = f"{_slug(moodle['name'])}-{moodle['pid']}".strip("-") if moodle else _slug(name)
        slugs.append(slug or "submission")
    counts = {s: slugs.count(s) for s in slugs}
    return [
        s if counts[s] == 1 else f"{s}-{hashlib.sha256(n.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"
        for s, n in zip(slugs, names)
    ]


def _default_members(name: str, sid: str) -> list[str]:
    moodle = MOODLE.match(name)
    return [moodle["pid"]] if moodle else [sid]


def _read_members(path: Path, problems: list[str]) -> list[str]:
    text = path.read_bytes().decode("utf-8", errors="replace").lstrip("\ufeff")
    ids, bad = [], []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip().strip(",;")
        if not line:
            continue
        if STUDENT_ID.match(line):
            if line not in ids:
                ids.append(line)
        else:
            bad.append(display(line, 40))
    if bad:
        problems.append(f"members.txt: {len(bad)} line(s) are not valid student ids and were skipped: {', '.join(bad[:5])}")
    if len(ids) > MAX_GROUP:
        problems.append(
            f"members.txt lists {len(ids)} students, more than {MAX_GROUP}; only the first {MAX_GROUP} "
            f"are graded (check by hand): {', '.join(ids)}"
        )
        ids = ids[:MAX_GROUP]
    if not ids:
        problems.append("members.txt holds no valid student id")
    return ids


def _flag_shared_students(submissions: list[Submission]) -> None:
    seen: dict[str, list[str]] = {}
    for sub in submissions:
        for student in sub.members:
            seen.setdefault(student, []).append(sub.id)
    for sub in submissions:
        for student in sub.members:
            others = [s for s in seen[student] if s != sub.id]
            if others:
                sub.problems.append(f"student {student} is also listed in {', '.join(others)}")
