"""Intake: a folder of submissions, or an LMS zip, into one private folder per submission.

Nothing in a submission is trusted: not its file names, not its sizes, not its links. So nothing
is extracted wholesale. Each submission's files are listed (with lstat, or from the zip's
directory: grader.grading.listing), and only the files the contract names are copied, by their exact expected names and
with size caps, into a fresh folder of ours:

    exercise02_template.py (or exercise02.py)   plots/lr_loss_curves.png   plots/lr_accuracy.png
    REPORT.md                                    members.txt

Accepted sources (SUBMISSIONS):
    a folder of submission folders       submissions/alice/exercise02_template.py ...
    an LMS zip (Moodle "download all")   Full Name_12345_assignsubmission_file_/[one more folder/]...
    a folder holding such zips           submissions/class.zip (next to plain folders, if any)
    any of these inside one wrapper folder (a zip of the download): the wrapper is unwrapped

What is never a submission (grader.grading.listing): a file at the top level (a note), Moodle's
online-text and feedback folders (`_assignsubmission_onlinetext_`, `_assignfeedback_..._`; a note), dot
files, __MACOSX. A submission whose folder holds one zip and none of the expected files is that zip, opened one
level deep with the same caps and path checks (grader.grading.archive).

Whatever is wrong with a submission becomes a message in `Submission.problems`; intake raises only
when SUBMISSIONS itself does not exist (`IntakeError`). Ids come from grader.grading.roster.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from grader.grading import roster
from grader.grading.archive import Entry, size_text, unpack
from grader.grading.listing import (CODE_NAMES, MEMBERS_NAME, MOODLE, PLOT_NAMES, REPORT_NAME, WANTED, display,
                                    list_source)
from grader.sandbox.error import GraderError

FILE_CAPS = {  # bytes per file, by kind
    "code": 256 << 10,
    "plot": 5 << 20,
    "report": 64 << 10,
    "members": 4 << 10,
}
SUBMISSION_CAP = 12 << 20  # bytes copied per submission, all files together
MAX_GROUP = 3
MOODLE_NO_ID = re.compile(r"^(?P<name>.+?)_(?P<plugin>assignsubmission_file)_?$")  # "Default group" (defaultteam), no id: downloader.php get_student_prefix
BROWSER_COPY = re.compile(r"^(exercise02(?:_template)?) ?\(\d{1,3}\)\.py$", re.IGNORECASE)  # "exercise02_template (1).py"
# Names the outputs give their own files in some folder of --out (review/class.json, report.html, ...): a
# submission id equal to one could overwrite it (ids name files in results/, review/, feedback/), so a
# folder with such a name gets "<name>-2". tests/selftest/test_grade.py checks the list against a graded class.
RESERVED_IDS = frozenset({"class", "report", "grades", "results", "manual", "manual-template", "gradebook", "similarity",
                          "feedback", "review", "moodle", "grades-upload", "feedback-files", "plots"})


class IntakeError(GraderError):
    """SUBMISSIONS cannot be read at all (it does not exist)."""


@dataclass
class Submission:
    id: str  # stable, safe: [a-z0-9-], unique in the class
    label: str  # the original folder name, for display only (untrusted text)
    folder: Path  # our private copy, holding only the picked files
    code: Path | None = None
    plots: dict[str, Path | None] = field(default_factory=dict)  # "plots/lr_accuracy.png" -> copy or None
    report: Path | None = None
    members: list[str] = field(default_factory=list)  # student ids, normalised (grader.grading.roster)
    problems: list[str] = field(default_factory=list)  # for the report; never fatal
    ignored: list[str] = field(default_factory=list)  # names of other files (untrusted text, capped)
    participant: str = ""  # the LMS participant number from a Moodle folder name ("" otherwise)
    name: str = ""  # the submitter's full name from a Moodle folder name (untrusted text)
    details: dict[str, dict] = field(default_factory=dict)  # member id -> {"name", "email"} from members.txt
    submitted: datetime | None = None  # newest time stamp of the picked files (untrusted; for --deadline)
    code_problem: str = ""  # why a code file that was there was not used (a cap), for the status
    participants: dict[str, str] | None = None  # student -> LMS participant, set by a worksheet match (None: no worksheet)
    people: dict[str, tuple[str, str]] = field(default_factory=dict)  # participant -> (full name, email) from the worksheet

    def files(self) -> list[Path]:
        """The picked files, in a fixed order (what the store hashes)."""
        listed = [self.code, *self.plots.values(), self.report, self.folder / MEMBERS_NAME]
        return [p for p in listed if p is not None and p.is_file()]


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
    listed = list_source(source, notes)
    ids = _assign_ids([item.name for item in listed])
    submissions = [_pick(item.name, sid, item.entries, item.problems, workdir / sid) for item, sid in zip(listed, ids)]
    submissions.sort(key=lambda s: s.id)
    _flag_shared_students(submissions)
    return submissions, notes


def out_inside(source: Path, out: Path) -> bool:
    """Is the output folder the submissions folder or inside it (grading would read its own outputs)?"""
    source, out = Path(source).resolve(), Path(out).resolve()
    return source.is_dir() and (out == source or out.is_relative_to(source))


# --------------------------------------------------------------------------- picking files


def _pick(name: str, sid: str, entries: list[Entry], problems: list[str], folder: Path) -> Submission:
    sub = Submission(id=sid, label=display(name), folder=folder, problems=list(problems))
    moodle = MOODLE.match(name)
    if moodle:
        sub.participant, sub.name = roster.normalise_id(moodle["pid"]), " ".join(moodle["name"].split())
    elif no_id := MOODLE_NO_ID.match(name):  # Moodle's team download names students in no group "Default group"
        sub.name = " ".join(no_id["name"].split())
    folder.mkdir(parents=True)
    zips = [e for e in entries if e.parts[-1].lower().endswith(".zip")]
    if len(zips) == 1 and not any(p.lower() in WANTED for e in entries for p in e.parts):
        entries = unpack(zips[0], sub.problems) or entries
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
        if sub.code is None:
            sub.code_problem = sub.problems[-1]
        if len(code_hits) > 1:
            sub.problems.append(f"both {' and '.join(code_hits)} present; graded {code_hits[0]}")
            used.add(id(inside.get((code_hits[1],)) or lowered.get(code_hits[1].lower())))
    elif len(copies := [p for p in inside if len(p) == 1 and BROWSER_COPY.match(p[0])]) == 1:
        sub.code = take(copies[0][0], "code")
        if sub.code is not None:
            sub.code = sub.code.rename(sub.code.with_name(CODE_NAMES[0]))
            sub.problems.append(f"the code file is named {display(copies[0][0])} (a browser's copy suffix); graded as {CODE_NAMES[0]}")
        else:
            sub.code_problem = sub.problems[-1]
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
    if members:
        text = members.read_bytes().decode("utf-8", errors="replace")
        sub.members, sub.details = roster.read_members(text, MAX_GROUP, sub.problems)
    sub.members = sub.members or _default_members(name, sid)
    sub.ignored = sorted(display("/".join(e.parts), 80) for e in entries if id(e) not in used)[:20]
    times = [e.mtime for e in entries if id(e) in used and e.mtime is not None]
    sub.submitted = max(times) if times else None
    return sub


def _root(entries: list[Entry]) -> tuple[str, ...]:
    """Where the submission's files are: its top folder, or one folder deeper if that is where they sit."""
    if any(e.parts[0].lower() in WANTED for e in entries):
        return ()
    deeper = sorted({e.parts[0] for e in entries if len(e.parts) > 1 and e.parts[1].lower() in WANTED})
    return (deeper[0],) if deeper else ()


def _copy(entry: Entry, target: Path, cap: int, budget: list[int], problems: list[str]) -> Path | None:
    shown = display("/".join(entry.parts))
    if entry.size > cap:
        problems.append(f"{shown} is {size_text(entry.size)}; the limit is {size_text(cap)}; not used")
        return None
    try:
        data = entry.read(cap)
    except (OSError, zipfile.BadZipFile, RuntimeError, ValueError, EOFError, NotImplementedError) as error:
        problems.append(f"{shown} could not be read ({display(str(error), 120)}); not used")
        return None
    if len(data) > cap:  # the listing lied about the size (or a compression bomb)
        problems.append(f"{shown} is larger than its listed size and than the limit of {size_text(cap)}; not used")
        return None
    if len(data) > budget[0]:
        problems.append(f"{shown}: the submission's files together are over the limit of {size_text(SUBMISSION_CAP)}; not used")
        return None
    budget[0] -= len(data)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return target


# --------------------------------------------------------------------------- ids and groups


def _assign_ids(names: list[str]) -> list[str]:
    """Stable, safe, unique ids: a slug of the folder name (Moodle: name + participant id); never two alike,
    never a name in RESERVED_IDS."""
    slugs = []
    for name in names:
        moodle = MOODLE.match(name)
        slug = f"{roster.slug(moodle['name'])}-{moodle['pid']}".strip("-") if moodle else roster.slug(name)
        slugs.append(slug or "unnamed")
    counts = {s: slugs.count(s) for s in slugs}
    ids, used = [], set(RESERVED_IDS)
    for slug, name in zip(slugs, names):
        sid = slug if counts[slug] == 1 else f"{slug}-{hashlib.sha256(name.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"
        base, n = sid, 2
        while sid in used:  # the same name twice (a folder and a zip), a slug that looks like a hashed one, a reserved name
            sid, n = f"{base}-{n}", n + 1
        used.add(sid)
        ids.append(sid)
    return ids


def _default_members(name: str, sid: str) -> list[str]:
    moodle = MOODLE.match(name)
    return [roster.normalise_id(moodle["pid"])] if moodle else [sid]


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
