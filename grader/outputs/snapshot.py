"""What `grader grade` leaves in the output folder for `grader review`: the pages' data, machine-readable.

    <out>/review/class.json      the class in the report's order, the answer key, notes, banner, the worksheet's
                                 students without a submission
    <out>/review/<id>.json       one submission: its folder label, members, LMS participant(s), Result and page view
                                 (plots already checked, re-encoded and re-drawn; REPORT.md already read)
    <out>/review/moodle.json     with --worksheet only: what the Moodle files were made from (--columns,
    <out>/review/worksheet.csv   --missing-zero, --upload-pending, the team folders matched, a copy of the
                                 worksheet and its digest), so that a save in `grader review` writes moodle/
                                 again as `grader grade` would

With these, `grader review` re-renders every output that shows manual points without the
submissions, without running any code and without matplotlib. Files are replaced atomically;
class.json is written last, so a half-written snapshot is never read as a whole one: it is the commit
point of the whole snapshot, the Moodle inputs included. It names them by moodle.json's digest (and
moodle.json names the worksheet copy by its own), so a run stopped after writing them and before
class.json, or inputs changed since, are found out (read_moodle_inputs refuses them, saying so) and
never make Moodle files from another run's worksheet or options. A submission's
entry that cannot be read (damaged, or of another shape) is listed in `Snapshot.broken` with the
reason and the rest is read: the app shows it as broken and refuses saves, which would rewrite
grades.csv and the report without it, until `grader grade` writes the snapshot again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from grader.grading.intake import Submission
from grader.grading.results import Result, TestResult
from grader.outputs.view import Absent, SubmissionView
from grader.sandbox.error import GraderError

FOLDER = "review"
VERSION = 4  # 2: the view is a SubmissionView (grader.outputs.view); 3: it says what the redraw is; 4: its people,
# the class's absent students


MOODLE, WORKSHEET = "moodle.json", "worksheet.csv"
UNTIED = ""  # Snapshot.moodle of a class.json an older kit wrote: it names no Moodle inputs, though they may be there


class SnapshotError(GraderError):
    """The output folder holds no usable snapshot (say what to run)."""


@dataclass
class MoodleInputs:
    """What `grader grade --worksheet` made the Moodle files from (moodle.write_class), kept with the snapshot."""

    worksheet: Path  # written: the tutor's file, as grader grade read it; read back: the copy in <out>/review/
    columns: object  # language.Language from --columns, or None (the worksheet's own language)
    missing_zero: bool
    upload_pending: bool
    team_folders: dict[str, tuple[str, str]]  # Worksheet.team_folders as match_class found them (4.1+ team downloads)


def keep_moodle_inputs(folder: Path, inputs: MoodleInputs | None) -> str | None:
    """The worksheet's copy, then moodle.json (which names the copy by its digest); moodle.json's digest, for
    class.json to name them by (None: no worksheet)."""
    if inputs is None:
        return None
    sheet = Path(inputs.worksheet).read_bytes()  # the file grader grade has read and checked
    _write_bytes(folder / WORKSHEET, sheet)
    text = json.dumps({"columns": None if inputs.columns is None else dataclasses.asdict(inputs.columns),
                       "missing_zero": bool(inputs.missing_zero), "upload_pending": bool(inputs.upload_pending),
                       "team_folders": {sid: list(team) for sid, team in inputs.team_folders.items()},
                       "worksheet": _digest(sheet)}, sort_keys=True).encode()  # fmt: skip
    _write_bytes(folder / MOODLE, text)
    return _digest(text)


def read_moodle_inputs(out: Path, named: str | None) -> MoodleInputs | None:
    """The Moodle inputs class.json names (`named`: Snapshot.moodle), or None when its run had no worksheet.

    SnapshotError, saying why, when they cannot be used: missing or damaged, written by an older kit that did
    not tie them to the snapshot, or not the ones class.json was written with (a run stopped between writing
    them and class.json, or they were changed since)."""
    from grader.outputs.language import Language

    folder = Path(out) / FOLDER
    again = "run the same `grader grade ... --worksheet ...` command again to write them together"
    if named is None:
        return None
    if named == UNTIED:
        raise SnapshotError(f"{FOLDER}/class.json was written by an older kit, which did not tie {FOLDER}/{MOODLE} and "
                            f"{FOLDER}/{WORKSHEET} to it; {again}")  # fmt: skip
    try:
        text, sheet = (folder / MOODLE).read_bytes(), (folder / WORKSHEET).read_bytes()
        data = json.loads(text)
        if _digest(text) != named or data["worksheet"] != _digest(sheet):
            raise SnapshotError(f"{FOLDER}/{MOODLE} and {FOLDER}/{WORKSHEET} are not the ones {FOLDER}/class.json was "
                                f"written with (a `grader grade` run stopped between writing them, or they were changed "
                                f"since); {again}")  # fmt: skip
        columns = data["columns"]
        if columns is not None:
            columns = Language(**{k: tuple(v) if isinstance(v, list) else v for k, v in columns.items()})
        teams = {str(sid): (str(group), str(number)) for sid, (group, number) in data["team_folders"].items()}
        return MoodleInputs(folder / WORKSHEET, columns, bool(data["missing_zero"]), bool(data["upload_pending"]), teams)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise SnapshotError(f"{FOLDER}/{MOODLE} or {FOLDER}/{WORKSHEET}, which {FOLDER}/class.json names, cannot be "
                            f"used ({type(error).__name__}: {str(error)[:200]}); {again}") from None


@dataclass
class Snapshot:
    submissions: list[Submission]  # id, label, members only (no files)
    results: dict[str, Result]
    key: list[TestResult]
    views: list[SubmissionView]  # report.submission_view() of each submission
    notes: list[str]
    banner: str | None
    course_id: str
    broken: dict[str, str] = dataclasses.field(default_factory=dict)  # id -> why its entry could not be read
    absent: list[Absent] = dataclasses.field(default_factory=list)  # the worksheet's students without a submission
    moodle: str | None = None  # the digest of the Moodle inputs class.json names (read_moodle_inputs), None, or UNTIED


def write_snapshot(out: Path, *, submissions, results, key, views, notes, banner, course_id, absent=(),
                   moodle: MoodleInputs | None = None) -> None:  # fmt: skip
    """Every entry, the Moodle inputs (`moodle`, None without a worksheet), then class.json, which names them all."""
    folder = Path(out) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    for sub, view in zip(submissions, views):
        result = dict(results[sub.id].to_json(), log="", artifacts={})  # the view holds what the pages need of them
        _write_json(folder / f"{sub.id}.json", {"label": sub.label, "members": sub.members, "result": result, "view": view.to_json(),
                                               "participant": sub.participant, "participants": sub.participants})  # fmt: skip
    ids = [s.id for s in submissions]
    for stale in folder.glob("*.json"):
        if stale.stem not in ids and stale.name not in ("class.json", MOODLE):  # ("class", "moodle": no submission's id)
            stale.unlink(missing_ok=True)
    kept = keep_moodle_inputs(folder, moodle)  # before class.json, the commit point, which names them
    _write_json(folder / "class.json", {"version": VERSION, "order": ids, "key": [t.__dict__ for t in key],
                                        "notes": notes, "banner": banner, "course_id": course_id,
                                        "absent": [dataclasses.asdict(a) for a in absent], "moodle": kept})  # fmt: skip
    if moodle is None:  # a former run's, which class.json no longer names
        for name in (MOODLE, WORKSHEET):
            (folder / name).unlink(missing_ok=True)


def read_snapshot(out: Path) -> Snapshot:
    folder = Path(out) / FOLDER
    try:
        head = json.loads((folder / "class.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SnapshotError(f"{out} holds no {FOLDER}/class.json: run `grader grade --out {out}` first") from None
    except (OSError, ValueError) as error:
        raise SnapshotError(f"{folder / 'class.json'} cannot be read ({error}): run `grader grade` again") from None
    if head.get("version") != VERSION:
        raise SnapshotError(other_version(out, head.get("version")))
    try:
        order = [str(sid) for sid in head["order"]]
        key = [TestResult(**t) for t in head["key"]]
        notes, banner, course_id = list(head["notes"]), head["banner"], str(head["course_id"])
        absent = [Absent(**a) for a in head["absent"]]
        moodle = head.get("moodle", UNTIED)
        if moodle is not None and not isinstance(moodle, str):
            raise TypeError(f"'moodle' is {type(moodle).__name__}")
    except (KeyError, TypeError, ValueError) as error:
        raise SnapshotError(f"{folder / 'class.json'} is damaged ({type(error).__name__}: {error}): run `grader grade` again") from None
    submissions, results, views, broken = [], {}, [], {}
    for sid in order:
        try:
            sub, result, view = _read_entry(folder, sid, len(key))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:  # one entry: the rest goes on
            broken[sid] = f"{FOLDER}/{sid}.json cannot be read ({type(error).__name__}: {str(error)[:200]})"
            continue
        submissions.append(sub)
        results[sid] = result
        views.append(view)
    return Snapshot(submissions, results, key, views, notes, banner, course_id, broken, absent, moodle)


def other_version(out: Path, version) -> str:
    """Why a snapshot of another version is refused, and what to do. An older one is not read with defaults for
    what it lacks: a save re-renders every output from it and would drop what `grader grade` wrote (the
    worksheet's students without a submission, the redraw notes); `grader grade` again is quick (kept results)
    and keeps manual.csv."""
    where = f"{Path(out) / FOLDER / 'class.json'}"
    if isinstance(version, int) and not isinstance(version, bool) and 0 < version < VERSION:
        return (f"{where} was written by an older kit (snapshot version {version}; this kit reads version {VERSION}), "
                f"which did not keep everything the pages now show, so `grader review` cannot re-render them from it. "
                f"Run `grader grade --out {out}` again with the same submissions and options: the results kept in "
                f"{Path(out) / 'results'} make it quick, and the manual points in manual.csv are kept; then start "
                f"`grader review` again.")  # fmt: skip
    if isinstance(version, int) and not isinstance(version, bool) and version > VERSION:
        return (f"{where} was written by a newer kit (snapshot version {version}; this kit reads version {VERSION}): "
                f"use that kit's `grader review`, or run `grader grade --out {out}` with this kit first.")  # fmt: skip
    return (f"{where} names no snapshot version this kit knows ({str(version)[:40]!r}): it is damaged or not the "
            f"grader's; run `grader grade --out {out}` again.")  # fmt: skip


def _read_entry(folder: Path, sid: str, tests: int) -> tuple[Submission, Result, SubmissionView]:
    """One submission's entry, checked for what the app and the pages use before anything renders it."""
    data = json.loads((folder / f"{sid}.json").read_text(encoding="utf-8"))
    view = data["view"]
    if not isinstance(view, dict) or view.get("id") != sid:
        raise ValueError("its page view does not belong to this submission")
    for name, kind in (("members", list), ("auto_points", (int, float)), ("auto_max", (int, float)), ("status", str),
                       ("tests", list)):
        if not isinstance(view.get(name), kind):
            raise ValueError(f"its page view has no valid {name!r}")
    if len(view["tests"]) != tests or not all(isinstance(t, dict) and isinstance(t.get("outcome"), str) for t in view["tests"]):
        raise ValueError("its page view does not list the answer key's tests")
    if not isinstance(data["label"], str) or not isinstance(data["members"], list):
        raise ValueError("no valid label or members")
    sub = Submission(id=sid, label=data["label"], folder=Path(os.devnull), members=[str(m) for m in data["members"]],
                     participant=str(data.get("participant") or ""), participants=data.get("participants"))  # fmt: skip
    return sub, Result.from_json(data["result"]), SubmissionView.from_json(view)  # a field missing or unknown: TypeError


def stamp(out: Path) -> int:
    """Changes whenever `grader grade` writes a new snapshot (class.json's modification time)."""
    try:
        return (Path(out) / FOLDER / "class.json").stat().st_mtime_ns
    except OSError:
        return 0


def _write_json(path: Path, data) -> None:
    _write_bytes(path, json.dumps(data, default=_plain, allow_nan=False).encode("utf-8"))


def _write_bytes(path: Path, data: bytes) -> None:
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _plain(value):
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    if isinstance(value, (Path, set, tuple)):
        return str(value) if isinstance(value, Path) else list(value)
    raise TypeError(f"{type(value).__name__} is not JSON data")
