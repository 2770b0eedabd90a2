"""The grades in an nbgrader gradebook, written through nbgrader's own Gradebook API (the only nbgrader import).

The .py assignment is recorded as one pseudo-notebook "exercise02" holding one grade cell per test
of the answer key (max_score = its points) and one manual grade cell per manual part (plots,
REPORT.md). Every student gets a submission with auto_score per test cell and manual_score per
manual cell (needs_manual_grade while blank), their own name and email, and the late penalty the way
nbgrader models it: points in SubmittedNotebook.late_submission_penalty (what nbgrader's own
LateSubmissionPlugin sets), which `nbgrader export` subtracts from the raw score (plugins/export.py:
score = max(0, raw_score - late_submission_penalty)). So the export's score equals grades.csv's points.
`nbgrader export` works on the result. Do not run
`nbgrader autograde` on it: it looks for notebooks that do not exist and would zero the grades.

The database is rebuilt from scratch each time into a temporary file and moved into place. Creating
an empty nbgrader database runs an `alembic` subprocess (seconds); so the empty database of each
nbgrader version and course is made once, kept in the user's cache (grader.outputs.shelf) and
copied; nbgrader skips alembic for a database that already has its tables.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import sys
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

from grader.outputs.shelf import copy_empty, copy_kept, keep

ASSIGNMENT = "exercise02"
UNSAFE_LEAD = ("=", "+", "-", "@", "\t", "\r", "\n")  # what a spreadsheet reads as a formula
NOTEBOOK = "exercise02"

# Installed with nbgrader, never used by a gradebook: rfc3987-syntax (jsonschema's optional IRI checker compiles a
# grammar at import: seconds). Marked absent before nbgrader is imported, jsonschema goes without it (its fallback).
UNUSED_IMPORTS = ("rfc3987_syntax",)
# Packages nbgrader/api.py reaches whose __init__.py loads what a gradebook never uses (nbgrader's: its server
# extensions; nbformat's: its validator, jsonschema; requests': urllib3): each made as a deferred_package.
DEFERRED = ("nbgrader", "nbformat", "requests")
LOADING = threading.RLock()


def api():
    """nbgrader.api (the one place that imports nbgrader), without the optional modules it never uses, and
    without running the __init__.py of DEFERRED's packages first unless something else has imported them already."""
    with LOADING:
        if "nbgrader.api" not in sys.modules:
            for name in UNUSED_IMPORTS:
                sys.modules.setdefault(name, None)  # None: `import name` raises ImportError
            for name in DEFERRED:
                if name not in sys.modules and importlib.util.find_spec(name) is not None:
                    sys.modules[name] = deferred_package(name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import nbgrader.api

    return nbgrader.api


def deferred_package(name: str):
    """The package `name` as the import system makes it (importlib.util.module_from_spec: its __path__, __spec__,
    __file__), whose __init__.py runs only when the package is asked for a name it does not have yet.

    nbgrader/__init__.py (0.9.x) imports its four Jupyter server extensions (and with them nbgrader's
    apps, exchange, preprocessors, nbconvert): most of the CPU of importing nbgrader, none of it used by
    nbgrader/api.py, which imports only its sibling modules (`from . import utils`, `.dbutil`, `.auth`).
    A module-level __getattr__ (PEP 562) answers a name that is a submodule with the submodule, imported
    (what `from . import utils` asks the package for), and runs __init__.py, once, for any other name
    (`from nbgrader import x`, a server extension's loader, __version__): so a later full use of nbgrader
    in this process finds the package as a whole import would have left it. An __init__.py that raises leaves it
    half made: that name and every later one it lacks raise an ImportError naming the file and the original error."""
    spec = importlib.util.find_spec(name)
    package = importlib.util.module_from_spec(spec)
    failed: list[Exception] = []

    def broken() -> ImportError:  # a new one each time, chained to what __init__.py raised
        return ImportError(f"the package {name} cannot be used: {spec.origin} raised {type(failed[0]).__name__}: "
                           f"{failed[0]} (reinstall it: pip install --force-reinstall {name})", name=name)  # fmt: skip

    def complete(attribute: str):
        found = None if attribute.startswith("__") else importlib.util.find_spec(f"{name}.{attribute}")
        if found is not None and found.has_location:  # a module or package of its own (not a data folder)
            return importlib.import_module(f"{name}.{attribute}")
        with LOADING:
            if not failed and package.__dict__.pop("__getattr__", None) is not None:  # the first such name: __init__.py
                try:
                    spec.loader.exec_module(package)
                except Exception as error:
                    failed.append(error)
                    package.__getattr__ = complete  # a later name missing from the half-made package says why too
            if failed:
                raise broken() from failed[0]
        return getattr(package, attribute)

    package.__getattr__ = complete
    return package


def neutral(text) -> str | None:
    """A name as stored: `nbgrader export` copies it verbatim into a CSV, so = + - @ tab CR LF at the start get a '."""
    text = "" if text is None else str(text)
    return None if not text else "'" + text if text.startswith(UNSAFE_LEAD) else text


@dataclass(frozen=True)
class Entry:
    """One student in the gradebook: who (their own name and email), the points per cell, the late penalty."""

    student: str
    first: str
    last: str
    email: str
    earned: dict  # test id -> points
    manual: dict  # manual part -> points or None
    participant: str = ""  # the LMS participant number, stored as lms_user_id
    penalty: float = 0.0  # fraction of the points taken off for lateness


def split_name(full_name: str = "", label: str = "") -> tuple[str, str]:
    """First and last name from a full name (the worksheet's), else from a Moodle folder label
    ("Anna Maria Muster_123_..."), else blanks."""
    from grader.grading.intake import MOODLE

    match = MOODLE.match(label)
    words = (full_name or (match["name"] if match else "")).split()
    return (" ".join(words[:-1])[:100], words[-1][:100]) if words else ("", "")


def cell_names(gb) -> dict[str, str]:
    """The assignment's grade cells, id -> name, read once per gradebook: a Grade's `name` is its cell's (an
    association proxy), and reading it loads the cell again for every student, one query per cell."""
    return {cell.id: cell.name for cell in gb.find_notebook(NOTEBOOK, ASSIGNMENT).grade_cells}


def set_scores(notebook, entry: Entry, manual_parts: dict, names: dict[str, str]) -> None:
    """Every grade of one submission's notebook: auto_score per test cell, manual_score per manual part, and
    the late penalty in points of the raw score (tests + manual). names: cell_names of the gradebook."""
    raw = 0.0
    for grade in notebook.grades:
        name = names[grade.cell_id]
        if name in manual_parts:
            grade.manual_score = entry.manual.get(name)
            grade.needs_manual_grade = entry.manual.get(name) is None
        else:
            grade.auto_score = float(entry.earned.get(name, 0.0))
            grade.needs_manual_grade = False
            raw += float(entry.earned.get(name, 0.0))
    raw += sum(float(entry.manual.get(part) or 0.0) for part in manual_parts)
    notebook.late_submission_penalty = round(raw * entry.penalty, 4) if entry.penalty else None


def write_gradebook(path: Path, *, course_id: str, tests, rows, manual_parts: dict[str, float],
                    absent: list[tuple] = ()) -> None:  # fmt: skip
    """tests: [(id, max points)]; rows: [Entry]; absent: identities (see `identity`) of the LMS's students without a
    submission. The participant (the LMS's number, "" when unknown) is stored as the student's lms_user_id."""
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    bin_dir = str(Path(sys.executable).parent)  # nbgrader shells out to `alembic` when it creates a DB
    old_path = os.environ.get("PATH", "")
    if bin_dir not in old_path.split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + old_path
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SQLAlchemy 2.x SAWarnings from nbgrader's add_submission
            Gradebook = api().Gradebook

            copy_empty(partial, course_id, Gradebook)
            with unsynced(partial), Gradebook(f"sqlite:///{partial}", course_id=course_id) as gb:
                add_structure(gb, tests, [identity(entry) for entry in rows], manual_parts)
                add_absent(gb, absent)
                add_scores(gb, rows, manual_parts)
    finally:
        os.environ["PATH"] = old_path
    place(partial, path)


def identity(entry: Entry) -> tuple[str, str, str, str, str]:
    """Who an entry is, as the gradebook stores it: student id, first and last name, email, participant."""
    return entry.student, entry.first, entry.last, entry.email, entry.participant


def add_structure(gb, tests, people: list[tuple], manual_parts: dict[str, float]) -> None:
    """The assignment, one grade cell per test and manual part, and each person (identity) with a submission."""
    gb.add_assignment(ASSIGNMENT)
    gb.add_notebook(NOTEBOOK, ASSIGNMENT)
    for test_id, points in tests:
        gb.add_grade_cell(test_id, NOTEBOOK, ASSIGNMENT, max_score=float(points), cell_type="code")
    for part, maximum in manual_parts.items():
        gb.add_grade_cell(part, NOTEBOOK, ASSIGNMENT, max_score=float(maximum), cell_type="markdown")
    for student, first, last, email, participant in people:
        gb.add_student(student, first_name=neutral(first), last_name=neutral(last), email=neutral(email),
                       lms_user_id=neutral(participant))  # fmt: skip
        gb.add_submission(ASSIGNMENT, student)


def add_absent(gb, absent: list[tuple]) -> None:
    """The LMS's students without a submission: students of the course with no submission, which is how nbgrader
    records "did not submit" (`nbgrader export` gives them timestamp '' and score 0: nbgrader/plugins/export.py,
    CsvExportPlugin.export, the MissingEntry branch of find_submission). An id that is already a student is skipped."""
    known = {student.id for student in gb.students}
    for student, first, last, email, participant in absent:
        if student and student not in known:
            known.add(student)
            gb.add_student(student, first_name=neutral(first), last_name=neutral(last), email=neutral(email),
                           lms_user_id=neutral(participant))  # fmt: skip


def add_scores(gb, rows, manual_parts: dict[str, float]) -> None:
    """Every entry's scores into its submission (added by add_structure), in one commit."""
    names = cell_names(gb)
    for entry in rows:
        # One lookup of the submission's grade rows (find_grade would query once per cell).
        set_scores(gb.find_submission_notebook(NOTEBOOK, ASSIGNMENT, entry.student), entry, manual_parts, names)
    gb.db.commit()


def place(partial: Path, path: Path) -> None:
    with open(partial, "rb+") as handle:
        os.fsync(handle.fileno())  # on disk before it takes the gradebook's place (its commits skipped the fsync)
    os.replace(partial, path)


class Draft:
    """A gradebook's structure built ahead of its scores, so that little of it is left once the last result is in.

    The structure (the assignment, a grade cell per test of the answer key and per manual part, every
    student and their submission) depends on the class and the key only. build(tests) writes it into
    <gradebook>.partial while the pool grades (the warm-up's thread: grader.outputs.warmup); finish()
    after the pool adds the scores when the final entries name the same cells and the same people in
    the same order (else it returns False, changing nothing, and the caller writes the whole gradebook),
    syncs the file and moves it into place: the same content as write_gradebook. discard() removes an
    unused draft (it is only ever this run's own partial file).
    """

    def __init__(self, path: Path, *, course_id: str, people: list[tuple], manual_parts: dict[str, float]):
        self.path, self.course_id, self.people = Path(path), course_id, list(people)
        self.partial, self.manual_parts = self.path.with_name(self.path.name + ".partial"), dict(manual_parts)
        self.tests = None  # what build() used, once it is done
        self.started = False  # the partial file is this draft's

    def build(self, tests) -> None:
        tests = list(tests)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            Gradebook = api().Gradebook

            self.started = True
            self.partial.unlink(missing_ok=True)
            copy_empty(self.partial, self.course_id, Gradebook, make=False)
            if not self.partial.is_file():
                return  # no empty gradebook kept: making one runs alembic with PATH changed, left to write_gradebook
            with unsynced(self.partial), Gradebook(f"sqlite:///{self.partial}", course_id=self.course_id) as gb:
                add_structure(gb, tests, self.people, self.manual_parts)
        self.tests = tests

    def finish(self, *, course_id: str, tests, rows, manual_parts: dict[str, float], absent: list[tuple] = ()) -> bool:
        """The scores added and the gradebook in place (True), or False when the draft does not fit these rows."""
        fits = (self.tests is not None and self.tests == list(tests) and course_id == self.course_id
                and dict(manual_parts) == self.manual_parts and [identity(e) for e in rows] == self.people)  # fmt: skip
        if not fits or not self.partial.is_file():
            return False
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with unsynced(self.partial), api().Gradebook(f"sqlite:///{self.partial}", course_id=course_id) as gb:
                    add_absent(gb, absent)
                    add_scores(gb, rows, manual_parts)
        except Exception:  # noqa: BLE001 - a draft only saves time: the whole gradebook is written instead
            self.discard()
            return False
        place(self.partial, self.path)
        return True

    def discard(self) -> None:
        if self.started:
            self.partial.unlink(missing_ok=True)
            self.started, self.tests = False, None


@contextlib.contextmanager
def unsynced(partial: Path):
    """SQLite without an fsync per commit on the connections to `partial`, while the block runs.

    nbgrader's Gradebook commits after every student, submission and grade cell it adds (about 2 per
    student and 1 per test), and SQLite syncs each commit to disk: on a busy disk that is most of the
    gradebook's time. The file being built is a private partial copy that no one reads until it is
    complete, synced once and moved into place (write_gradebook); a crash before that leaves only the
    partial file, which the next write removes. SQLAlchemy's documented way to set a pragma on every
    new SQLite connection is a "connect" listener on Engine (docs: dialects/sqlite, "Foreign Key Support").
    """
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    target = os.path.realpath(partial)

    def on_connect(connection, _record) -> None:
        files = [row[2] for row in connection.execute("PRAGMA database_list").fetchall()]
        if files and files[0] and os.path.realpath(files[0]) == target:
            connection.execute("PRAGMA synchronous = OFF")

    event.listen(Engine, "connect", on_connect)
    try:
        yield
    finally:
        event.remove(Engine, "connect", on_connect)


def write_cached(out: Path, book: list[Entry], tests, *, course_id: str, manual_parts: dict[str, float],
                 in_place: bool = False, draft: Draft | None = None, absent: list[tuple] = ()) -> Path:  # fmt: skip
    """<out>/gradebook.db, rebuilt only when its content would change (creating one costs seconds).

    With in_place, an existing gradebook holding exactly these students and cells gets its grades
    updated in one transaction instead (grader review saves in milliseconds); otherwise the same content
    is copied from the user's cache, or the draft is finished, or the gradebook is written whole.
    """
    absent = [list(person) for person in absent]
    digest = hashlib.sha256(json.dumps([course_id, tests, [e.__dict__ for e in book], manual_parts, absent],
                                       sort_keys=True).encode()).hexdigest()  # fmt: skip
    path, stamp = out / "gradebook.db", out / "results" / ".gradebook-key"
    try:
        if path.is_file() and stamp.is_file() and stamp.read_text() == digest:
            return path
        updated = in_place and path.is_file() and update_grades(path, course_id=course_id, tests=tests, rows=book,
                                                                manual_parts=manual_parts, absent=absent)  # fmt: skip
        if not updated and not copy_kept(digest, path):  # the same content from another output folder
            finished = draft is not None and draft.finish(course_id=course_id, tests=tests, rows=book,
                                                          manual_parts=manual_parts, absent=absent)  # fmt: skip
            if not finished:
                write_gradebook(path, course_id=course_id, tests=tests, rows=book, manual_parts=manual_parts,
                                absent=absent)  # fmt: skip
            keep(digest, path)
    finally:
        if draft is not None:
            draft.discard()  # unused, or moved into place already
    stamp.parent.mkdir(parents=True, exist_ok=True)
    partial = stamp.with_name(f".{stamp.name}.partial")
    partial.write_text(digest, encoding="utf-8")
    os.replace(partial, stamp)
    return path


def update_grades(path: Path, *, course_id: str, tests, rows, manual_parts: dict[str, float], absent=()) -> bool:
    """Set every grade of an existing gradebook in one transaction (same arguments as write_gradebook).

    For `grader review`: a save changes a few manual scores, and rebuilding costs seconds. Returns False,
    changing nothing, when the gradebook does not hold exactly these students and grade cells (then rebuild).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nbgrader_api = api()
        Gradebook, MissingEntry = nbgrader_api.Gradebook, nbgrader_api.MissingEntry

        with Gradebook(f"sqlite:///{path}", course_id=course_id) as gb:
            cells = {test_id for test_id, _ in tests} | set(manual_parts)
            if {s.id for s in gb.students} != {entry.student for entry in rows} | {person[0] for person in absent if person[0]}:
                return False
            try:
                names = cell_names(gb)
            except MissingEntry:
                gb.db.rollback()
                return False
            for entry in rows:
                try:
                    notebook = gb.find_submission_notebook(NOTEBOOK, ASSIGNMENT, entry.student)
                except MissingEntry:
                    gb.db.rollback()
                    return False
                if {names.get(grade.cell_id) for grade in notebook.grades} != cells:
                    gb.db.rollback()
                    return False
                set_scores(notebook, entry, manual_parts, names)
            gb.db.commit()
    return True
