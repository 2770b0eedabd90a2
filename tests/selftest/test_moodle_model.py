"""The round trip through Moodle's own rules (tests/selftest/moodle_model.py, modelled from Moodle's PHP):
a download named as Moodle names it, a worksheet as Moodle writes it, graded by the kit, and the kit's
grades-upload.csv and feedback-files.zip imported the way Moodle imports them. Each case checks who got
which grade, comment and feedback file in the model, per student.
"""

from __future__ import annotations

import csv
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import classroom
import moodle_model as mm
from moodle_class import sample

DUE = datetime(2026, 11, 30, 23, 59).astimezone()


def grade(*args, **options):
    """classroom.grade without similarity.html: these tests read the Moodle files, and the similarity
    children would cost a third of every run (test_similarity.py tests them)."""
    return classroom.grade(*args, "--no-similarity", **options)

ADA, BOB = sample("ada-lovelace"), sample("bob-partly-wrong")


def run(tmp, assignment: mm.Assignment, submitters, submitted, *extra, version="4.1", blind=False, filtered=None):
    """Build the download and the worksheet from the model, grade them, import the outputs into the model."""
    tmp.mkdir(parents=True, exist_ok=True)
    download = tmp / "download.zip"
    download.write_bytes(mm.build_download(submitters, assignment.team, blind, version, assignment.lang))
    sheet = tmp / "worksheet.csv"
    sheet.write_bytes(mm.export_worksheet(assignment, submitted, DUE, filtered))
    done = grade(download, tmp / "out", "--worksheet", str(sheet), *extra)
    worksheet = mm.import_worksheet(assignment, (tmp / "out" / "moodle" / "grades-upload.csv").read_bytes())
    files = mm.import_feedback_zip(assignment, (tmp / "out" / "moodle" / "feedback-files.zip").read_bytes(), version)
    return tmp / "out", done, worksheet, files


def kit_grades(out) -> dict[str, dict]:
    with open(out / "grades.csv", newline="", encoding="utf-8") as handle:
        return {r["participant"]: r for r in csv.DictReader(handle) if r["participant"]}


def scaled(row: dict, maximum: float = 20.0) -> float:
    value = Decimal(row["points"]) / Decimal(row["max_points"]) * Decimal(repr(maximum))
    return float(value.quantize(Decimal("0.01"), ROUND_HALF_UP))


def page_of(out, row: dict) -> bytes:
    return (out / "feedback" / f"{row['submission']}.html").read_bytes()


def assert_received(assignment: mm.Assignment, out, participants: list[int]):
    """Each listed participant holds in Moodle the kit's grade, a comment naming the points, and the feedback page."""
    rows = kit_grades(out)
    for participant in participants:
        row, held = rows[str(participant)], assignment.grades.get(participant)
        assert held is not None and held.grade == scaled(row), (participant, held)
        assert f"{float(row['points']):g} / {float(row['max_points']):g}" in mm.comment_text(held.comment), participant
        assert held.files.get("feedback.html") == page_of(out, row), participant


# --------------------------------------------------------------------------- teams (4.1+)

GROUPS = [mm.Group(7, 'R&D: "Team_1"'), mm.Group(8, "Lab <b>2</b> & Co"), mm.Group(9, "Quiet")]


def team_class(lang: str = "en") -> mm.Assignment:
    people = [mm.Student(201, "Ada Lovelace", "ada@x.example", GROUPS[0]), mm.Student(202, "Jörg Müßig", "j@x.example", GROUPS[0]),
              mm.Student(203, "Grace O'Hopper", "g@x.example", GROUPS[1]), mm.Student(204, "Alan Turing", "a@x.example", GROUPS[1]),
              mm.Student(205, "Zoë Ünal", "z@x.example"), mm.Student(206, "Quinn Quiet", "q@x.example", GROUPS[2])]  # fmt: skip
    return mm.Assignment(people, team=True, lang=lang)


def test_model_teams_special_characters_and_default_group(tmp_path):
    """4.1+ team download (group names with & : " < > _, "Default group"): every member gets grade, comment, file."""
    moodle = team_class()
    s = {p.participant: p for p in moodle.students}
    submitters = [(s[201], ADA), (s[203], BOB), (s[205], ADA)]
    submitted = {p: DUE - timedelta(hours=1) for p in (201, 202, 203, 204, 205)}
    assert mm.download_folder(s[201], team=True) == "Ramp;D Team 1_7_assignsubmission_file"  # Moodle's own cleaning
    out, done, worksheet, files = run(tmp_path, moodle, submitters, submitted, "--upload-pending")
    assert worksheet.refused == "" and worksheet.skipped_stale == []
    assert sorted(worksheet.grades) == [201, 202, 203, 204, 205]
    assert_received(moodle, out, [201, 202, 203, 204])
    assert moodle.grades[205].grade == scaled(kit_grades(out)["205"]) and moodle.grades[205].files == {}
    assert "zip import gives feedback files only to students in a group" in done.stderr  # said, not silent
    assert 206 not in moodle.grades



def test_model_team_review_save_reaches_the_same_members(tmp_path):
    """A 4.1+ team class, then a manual point saved in `grader review`: does the feedback zip written again still
    reach every group member (by the group's id, as `grader grade`'s did), with the page that holds the new point?"""
    from grader.outputs import review

    moodle = team_class()
    s = {p.participant: p for p in moodle.students}
    submitted = {p: DUE - timedelta(hours=1) for p in (201, 202, 203, 204)}
    out, _, _, graded = run(tmp_path, moodle, [(s[201], ADA), (s[203], BOB)], submitted, "--upload-pending")
    assert sorted(graded.files) == [201, 202, 203, 204]
    sid = kit_grades(out)["201"]["submission"]
    saved = review.Desk(out, out / "manual.csv").save(sid, {"plots": "5", "report": "", "comment": "well drawn"},
                                                       {"plots": "", "report": "", "comment": ""})  # fmt: skip
    assert saved.errors == [] and saved.moodle == review.MOODLE_WRITTEN
    course = team_class()  # the same course, importing the zip written by the save
    again = mm.import_feedback_zip(course, (out / "moodle" / "feedback-files.zip").read_bytes())
    assert sorted(again.files) == [201, 202, 203, 204]
    for participant in (201, 202):
        assert course.grades[participant].files["feedback.html"] == (out / "feedback" / f"{sid}.html").read_bytes()
    assert b"well drawn" in course.grades[201].files["feedback.html"]

def test_model_team_folder_matching_nothing_is_loud(tmp_path):
    """A team folder no worksheet row names: the terminal, the report's Attention box and the closing message say so."""
    moodle = team_class()
    ghost = mm.Student(299, "Ghost", group=mm.Group(77, "Not in this course"))
    s = {p.participant: p for p in moodle.students}
    out, done, worksheet, _ = run(tmp_path, moodle, [(s[201], ADA), (ghost, BOB)], {201: DUE, 202: DUE}, "--upload-pending")
    assert "Not in this course_77" in done.stderr and "get NO grade in Moodle" in done.stderr
    attention = (out / "report.html").read_text().split("<b>Attention</b>", 1)[1].split("</div>", 1)[0]
    assert "Not in this course_77" in attention and "matches no row of the worksheet" in attention
    assert sorted(worksheet.grades) == [201, 202]


def test_model_teams_3x_layout(tmp_path):
    """Moodle 3.x/4.0 team download ("<group>-<member>_<participant>_assignsubmission_file_"), 3.x importers."""
    moodle = team_class()
    s = {p.participant: p for p in moodle.students}
    assert mm.download_folder_3x(s[203], team=True) == "Lab b2b  Co-Grace OHopper_203_assignsubmission_file_"
    submitted = {p: DUE - timedelta(hours=1) for p in (201, 202, 203, 204)}
    out, _, worksheet, files = run(tmp_path, moodle, [(s[201], ADA), (s[203], BOB)], submitted, "--upload-pending", version="3.x")
    assert sorted(worksheet.grades) == [201, 202, 203, 204]
    assert_received(moodle, out, [201, 202, 203, 204])


# --------------------------------------------------------------------------- individual


def solo_class(lang: str = "en") -> mm.Assignment:
    return mm.Assignment([mm.Student(101, "Ada Lovelace", "ada@x.example"), mm.Student(102, "Jörg Müßig", "j@x.example"),
                          mm.Student(103, "Shaun O'Brien & Co", "s@x.example"), mm.Student(104, "No Show", "n@x.example")],
                         lang=lang)  # fmt: skip


def test_model_individual_and_blind(tmp_path):
    """Individual downloads, named and blind ("Participant_101_..."): each submitter gets grade, comment and file."""
    for blind in (False, True):
        moodle = solo_class()
        s = {p.participant: p for p in moodle.students}
        submitted = {101: DUE, 102: DUE, 103: DUE}
        out, _, worksheet, _ = run(tmp_path / str(blind), moodle, [(s[101], ADA), (s[102], BOB), (s[103], ADA)],
                                   submitted, "--upload-pending", blind=blind)  # fmt: skip
        assert sorted(worksheet.grades) == [101, 102, 103], blind
        assert_received(moodle, out, [101, 102, 103])


def fill_manual(out, points: tuple[str, str]) -> None:
    """manual.csv from the kit's template, every submission given these plots and report points."""
    with open(out / "manual-template.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    with open(out / "manual.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({**r, "plots_points": points[0], "report_points": points[1]} for r in rows)


def test_model_reupload_lands_and_a_stale_one_is_said(tmp_path):
    """Pending manual points: left out of the first upload, so the upload with them lands; a third upload built
    from the same download is what Moodle skips as stale, and the kit says so, quoting Moodle's override."""
    moodle = solo_class()
    s = {p.participant: p for p in moodle.students}
    out, done, first, _ = run(tmp_path, moodle, [(s[101], ADA), (s[102], BOB)], {101: DUE, 102: DUE})
    assert first.grades == {} and first.comments == {} and moodle.grades == {}  # nothing pending reached Moodle
    assert "manual points pending and are left out of the upload" in done.stderr and "Participant 101" in done.stderr
    fill_manual(out, ("6", "4"))
    again = grade(tmp_path / "download.zip", out, "--worksheet", str(tmp_path / "worksheet.csv"))
    second = mm.import_worksheet(moodle, (out / "moodle" / "grades-upload.csv").read_bytes())
    assert sorted(second.grades) == [101, 102] and second.skipped_stale == [] and "STALE" not in again.stderr
    assert_received_grades(moodle, out, [101, 102])
    moodle.now += 3600
    fill_manual(out, ("5", "4"))  # the tutor changes a mark and uploads again, from the same download
    third_run = grade(tmp_path / "download.zip", out, "--worksheet", str(tmp_path / "worksheet.csv"))
    assert "STALE WORKSHEET" in third_run.stderr and mm.LANG["en"]["ignoremodified"] in third_run.stderr
    third = mm.import_worksheet(moodle, (out / "moodle" / "grades-upload.csv").read_bytes())
    assert third.grades == {} and sorted(third.skipped_stale) == [101, 102]  # what the warning is about
    fresh = mm.import_worksheet(moodle, rebuilt_from_fresh_download(tmp_path, moodle, out))
    assert sorted(fresh.grades) == [101, 102] and fresh.skipped_stale == []  # the advice works


def assert_received_grades(assignment: mm.Assignment, out, participants: list[int]):
    rows = kit_grades(out)
    for participant in participants:
        assert assignment.grades[participant].grade == scaled(rows[str(participant)]), participant


def rebuilt_from_fresh_download(tmp_path, moodle: mm.Assignment, out) -> bytes:
    """The tutor's fix: download a fresh worksheet, run again, upload."""
    fresh = tmp_path / "fresh.csv"
    fresh.write_bytes(mm.export_worksheet(moodle, {101: DUE, 102: DUE}, DUE))
    grade(tmp_path / "download.zip", out, "--worksheet", str(fresh))
    return (out / "moodle" / "grades-upload.csv").read_bytes()


def test_model_german_worksheet_and_exact_lateness(tmp_path):
    """A German Moodle: German headers (written back byte for byte), "Teilnehmer/in" ids, decimal comma, German
    dates; 24 h 30 min late against --deadline in --timezone is 2 started days (Moodle's status would say 1 day)."""
    from zoneinfo import ZoneInfo

    berlin = ZoneInfo("Europe/Berlin")
    due = datetime(2026, 11, 30, 23, 59, tzinfo=berlin)
    moodle = solo_class("de")
    s = {p.participant: p for p in moodle.students}
    submitted = {101: due - timedelta(hours=1), 102: due + timedelta(hours=24, minutes=30)}
    assert mm.worksheet_date(submitted[102], "de") == "Mittwoch, 2. Dezember 2026, 00:29"
    out, done, worksheet, files = run(tmp_path, moodle, [(s[101], ADA), (s[102], BOB)], submitted, "--upload-pending",
                                      "--deadline", "2026-11-30T23:59", "--timezone", "Europe/Berlin",
                                      "--late-penalty", "10")  # fmt: skip
    assert worksheet.refused == "" and sorted(worksheet.grades) == [101, 102]
    assert_received(moodle, out, [101, 102])
    rows = kit_grades(out)
    assert rows["102"]["late_penalty"] == "0.2" and rows["101"]["late_penalty"] == "0"
    assert "Europe/Berlin" in done.stderr
    sent = (out / "moodle" / "grades-upload.csv").read_bytes()
    assert sent.split(b"\n", 1)[0] == (tmp_path / "worksheet.csv").read_bytes().split(b"\n", 1)[0]  # headers byte for byte
    assert b"Teilnehmer/in102" in sent and f"{moodle.grades[102].grade:.2f}".replace(".", ",").encode() in sent


def test_model_filtered_worksheet_and_students_without_submission(tmp_path):
    """A worksheet filtered to some students: a graded submission without a row is loud (terminal, Attention box,
    closing message), never a quiet drop; the rows that are there still get their grades."""
    moodle = solo_class()
    s = {p.participant: p for p in moodle.students}
    out, done, worksheet, _ = run(tmp_path, moodle, [(s[101], ADA), (s[102], BOB)], {101: DUE, 102: DUE},
                                  "--upload-pending", filtered={101, 104})  # fmt: skip
    assert sorted(worksheet.grades) == [101]
    assert "jorg-mussig-102" in done.stderr and "get NO grade in Moodle" in done.stderr
    attention = (out / "report.html").read_text().split("<b>Attention</b>", 1)[1].split("</div>", 1)[0]
    assert "matches no row of the worksheet" in attention


def test_model_status_text_truncates_lateness_the_kit_measures_exactly():
    """Moodle's status says "1 day late" for 24 h 30 min (format_time keeps two units, the zero hours left out):
    from the status alone that is 1 started day; against --deadline it is 2."""
    from grader.grading import lateness

    moodle = solo_class()
    late_by = timedelta(hours=24, minutes=30)
    data = mm.export_worksheet(moodle, {102: DUE + late_by}, DUE).decode("utf-8").removeprefix("\ufeff")
    status = next(r for r in csv.DictReader(data.splitlines()) if r["Identifier"] == "Participant 102")["Status"]
    assert status == "Submitted for grading - 1 day late"
    policy = lateness.Policy(10)
    assert lateness.assess(status, policy=policy).penalty == 0.1  # what the status alone gives
    assert lateness.assess(status, DUE + late_by, DUE, policy).penalty == 0.2  # exact: 2 started days
