"""The grade sheets: one row per student (grades.csv) and one per student and test (results.csv).

    grades.csv     student,submission,points,max_points,auto_points,auto_max,<part>_points...,manual_max,status,
                   note,participant,late,late_penalty; a student in two submissions keeps the better one (with a
                   note); with a worksheet, then one "no submission" row per student it lists without one
    results.csv    submission,student,test,points,max_points,status,seconds,message (the manual parts as
                   manual:<part> rows)

The rows are what the gradebook and Moodle's worksheet are written from too (grader.outputs.report,
grader.outputs.moodle). Every cell a submission supplies is untrusted: cells a spreadsheet would run as
a formula get a leading quote (safe_cell).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from grader.outputs import manual as manual_points
from grader.outputs.gradebook import UNSAFE_LEAD
from grader.outputs.view import UNSANDBOXED, Absent, score
from grader.grading import roster
from grader.grading.intake import Submission
from grader.grading.results import Result

RESULTS_COLUMNS = ["submission", "student", "test", "points", "max_points", "status", "seconds", "message"]
GRADES_COLUMNS = ["student", "submission", "points", "max_points", "auto_points", "auto_max",
                  *(f"{p}_points" for p in manual_points.PARTS), "manual_max", "status", "note",
                  "participant", "late", "late_penalty"]  # fmt: skip


@dataclass
class GradeRow:
    """One student's line of grades.csv (and of the gradebook and Moodle's worksheet)."""

    student: str
    submission: str
    points: float
    max_points: float
    auto_points: float
    auto_max: float
    manual: dict
    status: str
    earned: dict  # test id -> points earned (for the gradebook)
    note: str = ""
    participant: str = ""  # the LMS participant number (Moodle), separate from the student id
    late: str = ""  # how late, in words ("" when on time or unknown)
    penalty: float = 0.0  # fraction of the points taken off for lateness
    name: str = ""  # the student's full name from the LMS worksheet (or members.txt), "" when unknown
    email: str = ""


def safe_cell(value) -> str:
    """A CSV cell a spreadsheet will not run: text starting with = + - @ tab CR LF gets a leading '."""
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return "'" + text if text.startswith(UNSAFE_LEAD) else text


def grade_rows(submissions: list[Submission], results: dict[str, Result], manual, late=None) -> list[GradeRow]:
    """One row per student. A student listed in two submissions keeps the better one (and a note).

    late: submission id -> (how late in words, penalty fraction); the penalty is taken off the total.
    With a worksheet (sub.participants set), a member the roster could not match gets no row.
    """
    best: dict[str, GradeRow] = {}
    late = late or {}
    for sub in submissions:
        result = results[sub.id]
        late_text, penalty = late.get(sub.id, ("", 0.0))
        students = sub.members if sub.participants is None else list(sub.participants)
        for student in students:
            row = GradeRow(
                student=student,
                submission=sub.id,
                points=score(result.points, manual.total(sub.id), penalty),
                max_points=round(result.max_points + manual_points.max_points(), 4),
                auto_points=result.points,
                auto_max=result.max_points,
                manual=manual.of(sub.id),
                status=(result.status if manual.complete(sub.id) else f"{result.status}; manual points pending")
                + unsandboxed_mark(result),
                earned={t.id: t.earned for t in result.tests},
                participant=participant_of(sub, student),
                late=late_text,
                penalty=penalty,
            )
            row.name, row.email = roster.person_of(sub, student, row.participant)
            if student in best:
                other = best[student]
                keep, drop = (row, other) if row.points > other.points else (other, row)
                keep.note = f"also in {drop.submission} ({drop.points:g} points); the better one counts"
                best[student] = keep
            else:
                best[student] = row
    return sorted(best.values(), key=lambda r: r.student)


def participant_of(sub: Submission, student: str) -> str:
    """The LMS participant number of one of a submission's students ("" when unknown)."""
    return (sub.participants or {}).get(student, sub.participant if student == sub.participant else "")


def write_grades_csv(path: Path, rows: list[GradeRow], absent: list[Absent] = (), auto_max: float = 0.0) -> None:
    """The rows, then the worksheet's students without a submission: student = participant, no submission,
    points 0 or blank as the Moodle upload gives them (moodle.absent_points), status "no submission"."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(GRADES_COLUMNS)
        for r in rows:
            manual = ["" if r.manual[p] is None else r.manual[p] for p in manual_points.PARTS]
            cells = [r.student, r.submission, r.points, r.max_points, r.auto_points, r.auto_max, *manual,
                     manual_points.max_points(), r.status, r.note, r.participant, r.late, round(r.penalty, 4)]  # fmt: skip
            writer.writerow([safe_cell(c) for c in cells])
        for a in absent:
            got = "" if a.points is None else a.points
            cells = [a.participant, "", got, round(auto_max + manual_points.max_points(), 4), got, auto_max, *([""] * len(manual_points.PARTS)),
                     manual_points.max_points(), "no submission", a.note, a.participant, "", 0.0]  # fmt: skip
            writer.writerow([safe_cell(c) for c in cells])


def write_results_csv(path: Path, submissions: list[Submission], results: dict[str, Result], manual) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(RESULTS_COLUMNS)
        for sub in submissions:
            result = results[sub.id]
            for student in sub.members:
                for t in result.tests:
                    cells = [sub.id, student, t.id, t.earned, t.points, t.outcome, round(t.seconds, 3),
                             t.message + unsandboxed_mark(result)]
                    writer.writerow([safe_cell(c) for c in cells])
                for part, maximum in manual_points.PARTS.items():
                    got = manual.of(sub.id)[part]
                    cells = [sub.id, student, f"manual:{part}", "" if got is None else got, maximum,
                             "pending" if got is None else "graded", 0.0, manual.comments.get(sub.id, "")]  # fmt: skip
                    writer.writerow([safe_cell(c) for c in cells])


def unsandboxed_mark(result: Result) -> str:
    """"; NOT SANDBOXED" for a result whose submission code ran without the bwrap sandbox, else ""."""
    return "; NOT SANDBOXED" if result.backend in UNSANDBOXED else ""
