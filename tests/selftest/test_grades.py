"""The grade sheets: one row per student (the better submission counts), and CSV cells a spreadsheet never runs."""

from __future__ import annotations

import csv
from pathlib import Path

from grader.grading.intake import Submission
from grader.grading.results import Result, TestResult
from grader.outputs import grades, manual
from grader.outputs.view import Absent


def result(sid: str, earned: float) -> Result:
    return Result(sid, "graded", [TestResult("test_a", 10.0, earned, "passed" if earned == 10 else "failed")])


def sub(sid: str, members: list[str], participants: dict | None = None) -> Submission:
    return Submission(id=sid, label=sid, folder=Path("/nonexistent"), members=members, participants=participants)


def test_a_student_in_two_submissions_keeps_the_better_one_with_a_note():
    """Does a student listed in two submissions get one row, the better one, noting the other?"""
    subs = [sub("g1", ["s1", "s2"]), sub("g2", ["s2"])]
    sheet = manual.Manual(points={"g2": {"plots": 6.0, "report": 4.0}})
    rows = grades.grade_rows(subs, {"g1": result("g1", 4.0), "g2": result("g2", 10.0)}, sheet)
    assert [(r.student, r.submission, r.points) for r in rows] == [("s1", "g1", 4.0), ("s2", "g2", 20.0)]
    assert rows[1].note == "also in g1 (4 points); the better one counts" and rows[1].status == "graded"
    assert rows[0].status == "graded; manual points pending"


def test_with_a_worksheet_only_matched_students_get_rows():
    """With a worksheet match, are the rows its matched students (with their participant), not members.txt's ids?"""
    subs = [sub("g1", ["s1", "typo"], participants={"s1": "101"})]
    rows = grades.grade_rows(subs, {"g1": result("g1", 10.0)}, manual.Manual())
    assert [(r.student, r.participant) for r in rows] == [("s1", "101")]


def test_grades_csv_neutralises_formulas_and_lists_absent_students(tmp_path):
    """Are cells that start like a formula quoted, and worksheet students without a submission rows at the end?"""
    rows = grades.grade_rows([sub("=cmd", ["@evil"])], {"=cmd": result("=cmd", 10.0)}, manual.Manual())
    grades.write_grades_csv(tmp_path / "grades.csv", rows, [Absent("102", "Bo", "bo@x", 0.0)], auto_max=10.0)
    with open(tmp_path / "grades.csv", newline="", encoding="utf-8") as handle:
        lines = list(csv.DictReader(handle))
    assert [(r["student"], r["submission"], r["status"]) for r in lines] == [
        ("'@evil", "'=cmd", "graded; manual points pending"), ("102", "", "no submission")]
    assert lines[1]["points"] == "0" and lines[1]["max_points"] == "20"
    assert grades.safe_cell("=1+1") == "'=1+1" and grades.safe_cell(-3.0) == "'-3" and grades.safe_cell("ok") == "ok"
