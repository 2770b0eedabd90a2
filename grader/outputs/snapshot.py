"""What `grader grade` leaves in the output folder for `grader review`: the pages' data, machine-readable.

    <out>/review/class.json      the class in the report's order, the answer key, notes, banner
    <out>/review/<id>.json       one submission: its folder label, members, LMS participant(s), Result and page view
                                 (plots already checked, re-encoded and re-drawn; REPORT.md already read)

With these, `grader review` re-renders every output that shows manual points without the
submissions, without running any code and without matplotlib. Files are replaced atomically;
class.json is written last, so a half-written snapshot is never read as a whole one.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

from grader.grading.intake import Submission
from grader.grading.results import Result, TestResult
from grader.outputs.view import SubmissionView
from grader.sandbox.error import GraderError

FOLDER = "review"
VERSION = 2  # 2: the view is a SubmissionView (grader.outputs.view)


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


def write_snapshot(out: Path, *, submissions, results, key, views, notes, banner, course_id) -> None:
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
                                        "notes": notes, "banner": banner, "course_id": course_id})  # fmt: skip


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
    submissions, results, views = [], {}, []
    for sid in head["order"]:
        try:
            data = json.loads((folder / f"{sid}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise SnapshotError(f"{folder / sid}.json cannot be read ({error}): run `grader grade` again") from None
        try:
            view = SubmissionView.from_json(data["view"])
        except (KeyError, TypeError, ValueError) as error:
            raise SnapshotError(f"{folder / sid}.json does not hold a page view of this kit ({type(error).__name__}: "
                                f"{error}): run `grader grade` again") from None  # fmt: skip
        submissions.append(Submission(id=sid, label=data["label"], folder=Path(os.devnull), members=data["members"],
                                      participant=data.get("participant", ""), participants=data.get("participants")))  # fmt: skip
        results[sid] = Result.from_json(data["result"])
        views.append(view)
    key = [TestResult(**t) for t in head["key"]]
    return Snapshot(submissions, results, key, views, head["notes"], head["banner"], head["course_id"])


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
