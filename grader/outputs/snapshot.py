"""What `grader grade` leaves in the output folder for `grader review`: the pages' data, machine-readable.

    <out>/review/class.json      the class in the report's order, the answer key, notes, banner, the worksheet's
                                 students without a submission
    <out>/review/<id>.json       one submission: its folder label, members, LMS participant(s), Result and page view
                                 (plots already checked, re-encoded and re-drawn; REPORT.md already read)
    <out>/review/moodle.json     with --worksheet only: what the Moodle files were made from (--columns,
    <out>/review/worksheet.csv   --missing-zero, --upload-pending, a copy of the worksheet), so that a save
                                 in `grader review` writes moodle/ again as `grader grade` would

With these, `grader review` re-renders every output that shows manual points without the
submissions, without running any code and without matplotlib. Files are replaced atomically;
class.json is written last, so a half-written snapshot is never read as a whole one. A submission's
entry that cannot be read (damaged, or of another shape) is listed in `Snapshot.broken` with the
reason and the rest is read: the app shows it as broken and refuses saves, which would rewrite
grades.csv and the report without it, until `grader grade` writes the snapshot again.
"""

from __future__ import annotations

import dataclasses
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


@dataclass
class MoodleInputs:
    """What `grader grade --worksheet` made the Moodle files from (see moodle.write_moodle)."""

    worksheet: Path  # the copy in <out>/review/
    columns: object  # language.Language from --columns, or None (the worksheet's own language)
    missing_zero: bool
    upload_pending: bool
    team_folders: dict[str, tuple[str, str]]  # Worksheet.team_folders as match_class found them (4.1+ team downloads)


def write_moodle_inputs(out: Path, worksheet: Path | None, columns, missing_zero: bool, upload_pending: bool,
                        team_folders: dict[str, tuple[str, str]]) -> None:  # fmt: skip
    """Keep the Moodle run's inputs beside the snapshot; without a worksheet, remove a previous run's."""
    folder = Path(out) / FOLDER
    if worksheet is None:
        for name in (MOODLE, WORKSHEET):
            (folder / name).unlink(missing_ok=True)
        return
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{WORKSHEET}.{os.getpid()}.partial"
    partial.write_bytes(Path(worksheet).read_bytes())  # the file grader grade has just read and checked
    os.replace(partial, folder / WORKSHEET)
    _write_json(folder / MOODLE, {"columns": None if columns is None else dataclasses.asdict(columns),
                                  "missing_zero": bool(missing_zero), "upload_pending": bool(upload_pending),
                                  "team_folders": {sid: list(folder) for sid, folder in team_folders.items()}})  # fmt: skip


def read_moodle_inputs(out: Path) -> MoodleInputs | None:
    """The kept Moodle inputs, or None (no worksheet was given, or they cannot be read: the files are then stale)."""
    from grader.outputs.language import Language

    folder = Path(out) / FOLDER
    try:
        data = json.loads((folder / MOODLE).read_text(encoding="utf-8"))
        columns = data["columns"]
        if columns is not None:
            columns = Language(**{k: tuple(v) if isinstance(v, list) else v for k, v in columns.items()})
        teams = {str(sid): (str(group), str(number)) for sid, (group, number) in data["team_folders"].items()}
        inputs = MoodleInputs(folder / WORKSHEET, columns, bool(data["missing_zero"]), bool(data["upload_pending"]), teams)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return inputs if inputs.worksheet.is_file() else None


class SnapshotError(GraderError):
    """The output folder holds no usable snapshot (say what to run)."""


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


def write_snapshot(out: Path, *, submissions, results, key, views, notes, banner, course_id, absent=()) -> None:
    folder = Path(out) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    for sub, view in zip(submissions, views):
        result = dict(results[sub.id].to_json(), log="", artifacts={})  # the view holds what the pages need of them
        _write_json(folder / f"{sub.id}.json", {"label": sub.label, "members": sub.members, "result": result, "view": view.to_json(),
                                               "participant": sub.participant, "participants": sub.participants})  # fmt: skip
    ids = [s.id for s in submissions]
    for stale in folder.glob("*.json"):
        if stale.stem not in ids and stale.name != "class.json":
            stale.unlink(missing_ok=True)
    _write_json(folder / "class.json", {"version": VERSION, "order": ids, "key": [t.__dict__ for t in key],
                                        "notes": notes, "banner": banner, "course_id": course_id,
                                        "absent": [dataclasses.asdict(a) for a in absent]})  # fmt: skip


def read_snapshot(out: Path) -> Snapshot:
    folder = Path(out) / FOLDER
    try:
        head = json.loads((folder / "class.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SnapshotError(f"{out} holds no {FOLDER}/class.json: run `grader grade --out {out}` first") from None
    except (OSError, ValueError) as error:
        raise SnapshotError(f"{folder / 'class.json'} cannot be read ({error}): run `grader grade` again") from None
    if head.get("version") != VERSION:
        raise SnapshotError(f"{folder / 'class.json'} is from another version of the kit: run `grader grade` again")
    try:
        order = [str(sid) for sid in head["order"]]
        key = [TestResult(**t) for t in head["key"]]
        notes, banner, course_id = list(head["notes"]), head["banner"], str(head["course_id"])
        absent = [Absent(**a) for a in head["absent"]]
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
    return Snapshot(submissions, results, key, views, notes, banner, course_id, broken, absent)


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
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_text(json.dumps(data, default=_plain, allow_nan=False), encoding="utf-8")
    os.replace(partial, path)


def _plain(value):
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    if isinstance(value, (Path, set, tuple)):
        return str(value) if isinstance(value, Path) else list(value)
    raise TypeError(f"{type(value).__name__} is not JSON data")
