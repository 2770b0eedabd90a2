"""The grades in an nbgrader gradebook, written through nbgrader's own Gradebook API (the only nbgrader import).

The .py assignment is recorded as one pseudo-notebook "exercise02" holding one grade cell per test
of the answer key (max_score = its points) and one manual grade cell per manual part (plots,
REPORT.md). Every student gets a submission with auto_score per test cell and manual_score per
manual cell (needs_manual_grade while blank). `nbgrader export` works on the result. Do not run
`nbgrader autograde` on it: it looks for notebooks that do not exist and would zero the grades.

The database is rebuilt from scratch each time into a temporary file and moved into place.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

ASSIGNMENT = "exercise02"
UNSAFE_LEAD = ("=", "+", "-", "@", "\t", "\r", "\n")  # what a spreadsheet reads as a formula
NOTEBOOK = "exercise02"


def neutral(text) -> str | None:
    """A name as stored: `nbgrader export` copies it verbatim into a CSV, so = + - @ tab CR LF at the start get a '."""
    if text is None or text == "":
        return None
    text = str(text)
    return "'" + text if text.startswith(UNSAFE_LEAD) else text


def write_gradebook(path: Path, *, course_id: str, tests, rows, manual_parts: dict[str, float]) -> None:
    """tests: [(id, max points)]; rows: [(student, first, last, {test id: earned}, {part: points or None}, participant)].

    The participant (the LMS's number, "" when unknown) is stored as the student's lms_user_id.
    """
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
            from nbgrader.api import Gradebook

            with Gradebook(f"sqlite:///{partial}", course_id=course_id) as gb:
                gb.add_assignment(ASSIGNMENT)
                gb.add_notebook(NOTEBOOK, ASSIGNMENT)
                for test_id, points in tests:
                    gb.add_grade_cell(test_id, NOTEBOOK, ASSIGNMENT, max_score=float(points), cell_type="code")
                for part, maximum in manual_parts.items():
                    gb.add_grade_cell(part, NOTEBOOK, ASSIGNMENT, max_score=float(maximum), cell_type="markdown")
                for student, first, last, earned, manual, participant in rows:
                    gb.add_student(student, first_name=neutral(first), last_name=neutral(last),
                                   lms_user_id=neutral(participant))  # fmt: skip
                    gb.add_submission(ASSIGNMENT, student)
                    # One lookup of the submission's grade rows (find_grade would query once per cell).
                    notebook = gb.find_submission_notebook(NOTEBOOK, ASSIGNMENT, student)
                    for grade in notebook.grades:
                        if grade.name in manual_parts:
                            grade.manual_score = manual.get(grade.name)
                            grade.needs_manual_grade = manual.get(grade.name) is None
                        else:
                            grade.auto_score = float(earned.get(grade.name, 0.0))
                            grade.needs_manual_grade = False
                gb.db.commit()
    finally:
        os.environ["PATH"] = old_path
    os.replace(partial, path)


def update_grades(path: Path, *, course_id: str, tests, rows, manual_parts: dict[str, float]) -> bool:
    """Set every grade of an existing gradebook in one transaction (same arguments as write_gradebook).

    For `grader review`: a save changes a few manual scores, and rebuilding costs seconds. Returns False,
    changing nothing, when the gradebook does not hold exactly these students and grade cells (then rebuild).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from nbgrader.api import Gradebook, MissingEntry

        with Gradebook(f"sqlite:///{path}", course_id=course_id) as gb:
            cells = {test_id for test_id, _ in tests} | set(manual_parts)
            if {s.id for s in gb.students} != {row[0] for row in rows}:
                return False
            for student, _first, _last, earned, manual, _participant in rows:
                try:
                    notebook = gb.find_submission_notebook(NOTEBOOK, ASSIGNMENT, student)
                except MissingEntry:
                    gb.db.rollback()
                    return False
                if {grade.name for grade in notebook.grades} != cells:
                    gb.db.rollback()
                    return False
                for grade in notebook.grades:
                    if grade.name in manual_parts:
                        grade.manual_score = manual.get(grade.name)
                        grade.needs_manual_grade = manual.get(grade.name) is None
                    else:
                        grade.auto_score = float(earned.get(grade.name, 0.0))
            gb.db.commit()
    return True
