"""Moodle -> grader -> Moodle: a download zip and a grading worksheet built to Moodle's formats, graded in one command.

The class (tests/selftest/moodle_class.py): solo students, a group whose members are matched by
email and by full name, a late one, one without a submission, non-ASCII names, an import crash, a
code file over the cap. Graded once with the stand-in suite in-process (seconds, not minutes).
"""

from __future__ import annotations

import csv
import io
import sqlite3
import zipfile
from decimal import ROUND_HALF_UP, Decimal

import pytest
from classroom import grade
from moodle_class import HEADER, ROWS, make_moodle_class, write_worksheet

from grader.grading import roster
from grader.outputs import moodle, worksheet


@pytest.fixture(scope="module")
def round_trip(tmp_path_factory):
    root = tmp_path_factory.mktemp("moodle")
    download, worksheet = make_moodle_class(root)
    out = root / "out"
    done = grade(download, out, "--worksheet", str(worksheet), "--missing-zero", "--late-penalty", "10,50", "--upload-pending",
                 "--no-similarity")  # these tests read the Moodle files and the gradebook, not similarity.html
    return out, worksheet, done


def table(path):
    data = path.read_bytes()
    text = data.decode("utf-8").removeprefix("\ufeff")
    lines = list(csv.reader(io.StringIO(text, newline="")))
    rows = [dict(zip(lines[0], r)) for r in lines[1:]]
    return data, lines[0], {r["Identifier"]: r for r in rows}


def grades_of(out, key: str = "participant") -> dict[str, dict]:
    with open(out / "grades.csv", newline="", encoding="utf-8") as handle:
        return {r[key]: r for r in csv.DictReader(handle)}


def expected(points: float, maximum: float) -> str:
    return str((Decimal(repr(points)) / Decimal(repr(maximum)) * 20).quantize(Decimal("0.01"), ROUND_HALF_UP))


def test_moodle_worksheet_round_trip_field_by_field(round_trip):
    """Is the upload file the worksheet again (BOM, columns, rows, every other cell) with Grade and comments filled in?"""
    out, worksheet, _ = round_trip
    data, header, rows = table(out / "moodle" / "grades-upload.csv")
    assert data.startswith("\ufeff".encode()) and header == HEADER
    source = {r[0]: dict(zip(HEADER, r)) for r in ROWS}
    assert list(rows) == list(source)  # same rows, same order
    for ident, row in rows.items():
        for column in HEADER:
            if column not in ("Grade", "Feedback comments"):
                assert row[column] == source[ident][column], (ident, column)
    grades = grades_of(out)
    for number in ("101", "102", "103", "104", "106", "107"):
        mine = grades[number]
        assert rows[f"Participant {number}"]["Grade"] == expected(float(mine["points"]), float(mine["max_points"])), number
    assert rows["Participant 101"]["Grade"] == "17.14"  # 60 of 70 points on Moodle's 20
    assert rows["Participant 105"]["Grade"] == "0.00" and "no submission" in rows["Participant 105"]["Feedback comments"]
    zoe = grades["105"]  # no submission: a row of grades.csv with the upload's 0 (--missing-zero), and of the report
    assert (zoe["submission"], zoe["points"], zoe["status"], zoe["max_points"]) == ("", "0", "no submission", grades["101"]["max_points"])
    page = (out / "report.html").read_text()
    assert "<td>Participant 105</td><td>Zoë Ünal</td>" in page and "Participant 101 · Ada Lovelace" in page


def test_moodle_group_members_matched_by_email_and_name(round_trip):
    """Do a group's members get their worksheet rows by email and by exact full name, with the same grade?"""
    out, _, _ = round_trip
    _, _, rows = table(out / "moodle" / "grades-upload.csv")
    assert rows["Participant 103"]["Grade"] == rows["Participant 104"]["Grade"] == "17.14"
    grades = grades_of(out, "student")
    assert grades["g1003"]["participant"] == "103" and grades["t2004"]["participant"] == "104"
    assert grades["101"]["participant"] == "101" and grades["g1003"]["submission"] == "grace-hopper-103"


def test_moodle_late_submission_penalised_everywhere(round_trip):
    """Is the late one marked from Moodle's status, its penalty applied by the policy and shown in every output?"""
    out, _, _ = round_trip
    grades = grades_of(out)
    late = grades["102"]
    assert late["late_penalty"] == "0.2" and "1 day 2 hours" in late["late"]  # 2 started days x 10 %
    assert float(late["points"]) == pytest.approx(0.8 * float(late["auto_points"]))
    assert grades["101"]["late"] == "" and grades["101"]["late_penalty"] == "0"
    _, _, rows = table(out / "moodle" / "grades-upload.csv")
    assert "late by 1 day 2 hours" in rows["Participant 102"]["Feedback comments"]
    assert "late penalty 20 %" in (out / "feedback" / "jorg-mussig-102.html").read_text()
    assert "⚑ late" in (out / "report.html").read_text()


def test_moodle_feedback_zip_matches_participants(round_trip):
    """Does every feedback file sit where Moodle's zip import finds its participant, holding that submission's page?"""
    out, _, _ = round_trip
    with zipfile.ZipFile(out / "moodle" / "feedback-files.zip") as archive:
        names = archive.namelist()
        pages = {name: archive.read(name) for name in names}
    owners = {}
    for name in names:
        folder, file = name.split("/")
        info = folder.split("_", 4)  # Moodle: explode('_', part, 5): name, participant, plugin type, plugin name, rest
        assert len(info) >= 4 and info[1].isdigit() and info[2:4] == ["assignfeedback", "file"] and file == "feedback.html"
        owners[info[1]] = pages[name]
    assert sorted(owners) == ["101", "102", "103", "104", "106", "107"]  # 105 has no submission
    assert owners["104"] == owners["103"] == (out / "feedback" / "grace-hopper-103.html").read_bytes()
    assert "Jörg Müßig_102_assignfeedback_file_/feedback.html" in names


def test_moodle_ids_and_gradebook(round_trip):
    """Non-ASCII names keep their letters in ids; the gradebook keeps the participant and neutralises names."""
    out, _, done = round_trip
    pages = sorted(p.stem for p in (out / "feedback").glob("*.html"))
    assert pages == ["ada-lovelace-101", "cmd-carol-106", "grace-hopper-103", "jorg-mussig-102", "oystein-orn-107"]
    with sqlite3.connect(out / "gradebook.db") as db:
        students = dict(db.execute("select id, lms_user_id from student").fetchall())
        first = dict(db.execute("select id, first_name from student").fetchall())
    assert students["g1003"] == "103" and students["t2004"] == "104" and students["101"] == "101"
    assert first["106"] == "'=cmd"  # nbgrader export copies names verbatim: no formula
    assert "online" in done.stderr and "onlinetext" in done.stderr  # the online-text folder was a note


def test_review_save_writes_the_moodle_files_and_keeps_absent_students(round_trip, tmp_path):
    """A manual point saved in `grader review` on a Moodle run: are moodle/grades-upload.csv and the feedback zip
    written again with it (as `grader grade` would), and is the gradebook updated in place (the same file, its
    grade changed), still holding the worksheet's student without a submission, with none for them?"""
    import shutil
    import warnings

    from grader.outputs import review

    out = tmp_path / "out"
    shutil.copytree(round_trip[0], out)
    before = (out / "gradebook.db").stat().st_ino
    grade_before = table(out / "moodle" / "grades-upload.csv")[2]["Participant 101"]["Grade"]
    desk = review.Desk(out, out / "manual.csv")
    saved = desk.save("ada-lovelace-101", {"plots": "2", "report": "", "comment": "nice plots"},
                      {"plots": "", "report": "", "comment": ""})  # fmt: skip
    assert saved.errors == [] and saved.moodle == review.MOODLE_WRITTEN
    rows = table(out / "moodle" / "grades-upload.csv")[2]
    points = grades_of(out)["101"]  # 62 of 70 now
    assert rows["Participant 101"]["Grade"] == expected(float(points["points"]), float(points["max_points"])) != grade_before
    assert "nice plots" in rows["Participant 101"]["Feedback comments"]
    with zipfile.ZipFile(out / "moodle" / "feedback-files.zip") as bundle:
        page = next(bundle.read(n).decode() for n in bundle.namelist() if "Ada" in n or "101" in n)
    assert "nice plots" in page
    assert (out / "gradebook.db").stat().st_ino == before  # updated in place, not rebuilt
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from nbgrader.api import Gradebook, MissingEntry

        with Gradebook(f"sqlite:///{out / 'gradebook.db'}", course_id="exercise02") as gb:
            assert "105" in {student.id for student in gb.students}
            with pytest.raises(MissingEntry):
                gb.find_submission("exercise02", "105")
            assert gb.find_grade("plots", "exercise02", "exercise02", "101").manual_score == 2.0



def test_review_save_flashes_its_own_moodle_line(round_trip, tmp_path, monkeypatch):
    """Two tabs saving at once: does each page say what its own save did to moodle/, even when the other tab's
    save (which went well) ended between this save and this page?"""
    import shutil

    from grader.outputs import review
    from grader.outputs import worksheet as worksheets

    out = tmp_path / "out"
    shutil.copytree(round_trip[0], out)
    desk = review.Desk(out, out / "manual.csv")
    read, reads = worksheets.read_worksheet, []

    def read_failing_once(path, columns=None):  # this tab's rewrite of moodle/ fails, the other tab's does not
        reads.append(path)
        if len(reads) == 1:
            raise worksheets.WorksheetError(f"{path}: cannot be read (busy)")
        return read(path, columns)

    save = desk.save

    def save_then_the_other_tab(sid, typed, loaded):
        mine = save(sid, typed, loaded)
        if len(reads) == 1:  # the other tab's save lands before this tab's page is made
            save("jorg-mussig-102", {"plots": "3", "report": "", "comment": ""}, {"plots": "", "report": "", "comment": ""})
        return mine

    monkeypatch.setattr(worksheets, "read_worksheet", read_failing_once)
    monkeypatch.setattr(desk, "save", save_then_the_other_tab)
    page = review.create_app(desk, "tok").test_client().post(
        "/tok/s/ada-lovelace-101", data={"plots": "2", "report": "", "comment": "", "loaded_plots": "", "loaded_report": "",
                                         "loaded_comment": ""}, follow_redirects=True).get_data(as_text=True)  # fmt: skip
    assert len(reads) == 2
    assert "are STALE" in page and "writing them again failed" in page and "cannot be read (busy)" in page
    assert "upload files written again" not in page



def test_review_save_whose_moodle_rewrite_fails_says_so_in_the_report(round_trip, tmp_path, monkeypatch):
    """When a save cannot write moodle/ again, does report.html's Attention box say the Moodle files are stale (as
    the page does), so that a tutor who reads the report later does not upload them?"""
    import shutil

    from grader.outputs import review
    from grader.outputs import worksheet as worksheets

    out = tmp_path / "out"
    shutil.copytree(round_trip[0], out)

    def unreadable(path, columns=None):
        raise worksheets.WorksheetError(f"{path}: cannot be read (busy)")

    monkeypatch.setattr(worksheets, "read_worksheet", unreadable)
    saved = review.Desk(out, out / "manual.csv").save("ada-lovelace-101", {"plots": "2", "report": "", "comment": ""},
                                                       {"plots": "", "report": "", "comment": ""})  # fmt: skip
    assert saved.errors == [] and "are STALE" in saved.moodle
    attention = (out / "report.html").read_text().split("<b>Attention</b>", 1)[1].split("</div>", 1)[0]
    assert "are STALE" in attention and "writing them again failed" in attention and "cannot be read (busy)" in attention

@pytest.mark.parametrize("kept", ["snapshot of the second run", "Moodle inputs of the second run"])
def test_review_refuses_a_snapshot_and_moodle_inputs_of_two_runs(round_trip, tmp_path, kept):
    """A run stopped between writing the review snapshot and the Moodle inputs leaves one of each run: does a
    save then say so and leave moodle/ as it was, rather than write it from a worksheet and options that are
    not the graded class's?"""
    import shutil

    from grader.outputs import review

    first, worksheet = tmp_path / "first", round_trip[1]
    shutil.copytree(round_trip[0], first)
    second = tmp_path / "second"
    shutil.copytree(first, second)  # the same class graded again, without --missing-zero this time
    grade(worksheet.parent / "EX02-Exercise 02-42.zip", second, "--worksheet", str(worksheet), "--late-penalty", "10,50",
          "--upload-pending", "--no-similarity")  # fmt: skip
    names = ("class.json",) if kept == "snapshot of the second run" else ("moodle.json", "worksheet.csv")
    for name in names:
        shutil.copyfile(second / "review" / name, first / "review" / name)
    before = {name: (first / "moodle" / name).read_bytes() for name in ("grades-upload.csv", "feedback-files.zip")}
    saved = review.Desk(first, first / "manual.csv").save("ada-lovelace-101", {"plots": "2", "report": "", "comment": "x"},
                                                           {"plots": "", "report": "", "comment": ""})  # fmt: skip
    assert saved.errors == [] and "are STALE" in saved.moodle, saved
    assert "not the ones review/class.json was written with" in saved.moodle and "again" in saved.moodle
    assert {name: (first / "moodle" / name).read_bytes() for name in before} == before
    assert grades_of(first)["101"]["plots_points"] == "2"  # the manual point itself is saved

def test_moodle_cap_and_import_error_statuses(round_trip):
    """Does an oversize code file say which file and which cap, and an import crash get its own status?"""
    out, _, _ = round_trip
    grades = grades_of(out)
    assert grades["107"]["status"].startswith("no-code") and grades["106"]["status"].startswith("import-error")
    page = (out / "feedback" / "oystein-orn-107.html").read_text()
    assert "exercise02_template.py is 293 KiB; the limit is 256 KiB" in page and "no code file" not in page
    _, _, rows = table(out / "moodle" / "grades-upload.csv")
    comment = rows["Participant 106"]["Feedback comments"]
    assert comment.count("could not import") == 1 and "Lost" not in comment


def test_moodle_worksheet_any_column_order_and_semicolons(tmp_path):
    """Is a worksheet read by its headers (any order, any case), with or without BOM, ',' or ';'?"""
    order = [HEADER.index(c) for c in reversed(HEADER)]
    header = [HEADER[i].replace("Maximum Grade", "Maximum grade") for i in order]  # newer Moodle's case
    path = write_worksheet(tmp_path / "w.csv", header, [[r[i] for i in order] for r in ROWS], bom=False, delimiter=";")
    sheet = worksheet.read_worksheet(path)
    assert [p.participant for p in sheet.people()] == ["101", "102", "103", "104", "105", "106", "107"]
    assert sheet.people()[1].name == "Jörg Müßig" and sheet.delimiter == ";" and not sheet.bom
    worksheet.write_upload(tmp_path / "up.csv", sheet, {"101": ("17.14", "ok")})
    _, written, rows = table(tmp_path / "up.csv")
    assert written == header and rows["Participant 101"]["Grade"] == "17.14"
    assert worksheet.max_grade(sheet.rows[0]) == 20.0


def test_moodle_worksheet_refused_with_reason(tmp_path):
    """Is a file that is not a worksheet refused before grading, saying which column is missing?"""
    path = write_worksheet(tmp_path / "w.csv", ["Name", "Points"], [["a", "1"]])
    with pytest.raises(worksheet.WorksheetError, match="no column 'Identifier', 'Grade', 'Last modified \\(grade\\)'"):
        worksheet.read_worksheet(path)
    done = grade(tmp_path / "missing-dir", tmp_path / "out", "--worksheet", str(path), check=False)
    assert done.returncode == 2


def test_roster_ambiguous_name_is_a_problem_not_a_guess():
    """Do two rows with the same full name give a listed problem, and no match?"""
    people = [roster.Person("1", "Kim Lee", "k1@x"), roster.Person("2", "Kim Lee", "k2@x")]
    found = roster.match(roster.Claim("s", members=["s9"], details={"s9": {"name": "Kim Lee", "email": ""}}), people)
    assert found.rows == {} and "matches 2 worksheet rows by full name" in found.problems[0]
    found = roster.match(roster.Claim("s", members=["s9"], details={"s9": {"name": "Kim Lee", "email": "K2@X"}}), people)
    assert found.rows["s9"].participant == "2" and found.problems == []


def test_moodle_team_submission_folder_is_a_group(tmp_path):
    """With team submissions (a Group column), is a folder's number the group's id, its rows the group's members?"""
    from grader.grading import intake

    header = HEADER[:4] + ["Group"] + HEADER[4:]
    rows = [r[:4] + [group] + r[4:] for r, group in zip(ROWS[:3], ["Team_A", "Team_A", "Team B"])]
    sheet = worksheet.read_worksheet(write_worksheet(tmp_path / "w.csv", header, rows))
    zipped = tmp_path / "team.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("Team A_101_assignsubmission_file/exercise02.py", b"x = 1\n")  # 101: a group id here
        archive.writestr("Team C_9_assignsubmission_file/exercise02.py", b"x = 1\n")
    subs, _ = intake.collect(zipped, tmp_path / "work")
    problems = moodle.match_class(sheet, subs)
    team_a, team_c = subs
    assert team_a.participants == {"101": "101", "102": "102"} and team_a.participant == ""
    assert team_c.participants == {} and "no worksheet row has this group" in team_c.problems[-1] and "matches no row of the worksheet" in problems[0]


def test_moodle_comment_is_safe_bounded_html():
    """The comment: escaped minimal HTML, words never cut, the tutor's comment in, bounded, the pointer last;
    an import error's text (the student's) never in it."""
    from types import SimpleNamespace as NS

    from html.parser import HTMLParser

    doc = "the output activation must be the identity (output_activation: identity) " * 3
    key = [NS(id=f"t{i}", points=1.0, doc=f"{i} {doc}<script>") for i in range(200)]
    row = NS(points=3.0, max_points=70.0, auto_points=3.0, auto_max=60.0, manual={"plots": 6.0, "report": None},
             late="", earned={})  # fmt: skip
    text = moodle.comment(row, NS(status="graded", reason=""), key, "feedback.html", tutor="Good <b>work</b> & well done")
    assert len(text) <= moodle.COMMENT_CHARS and text.endswith("<p>Details: feedback.html in your feedback files.</p>")
    assert "<script>" not in text and "Tutor: Good &lt;b&gt;work&lt;/b&gt; &amp; well done" in text
    assert "more tests</li></ul>" in text and "identit<" not in text and "identit …" not in text
    tags = []

    class Tags(HTMLParser):
        def handle_starttag(self, tag, attrs):
            tags.append(tag)

    Tags().feed(text)
    assert set(tags) == {"p", "ul", "li"}
    crashed = moodle.comment(row, NS(status="import-error", reason="<img src=x onerror=alert(1)> boom"), key, "feedback.html")
    assert "onerror" not in crashed and "boom" not in crashed and "could not import" in crashed


def test_gradebook_imports_nbgrader_without_the_unused_iri_grammar():
    """Does nbgrader's API come through gradebook.api() without rfc3987-syntax (seconds of grammar at import,
    never used by a gradebook), and still hold the Gradebook every export test here uses?"""
    import subprocess
    import sys

    from classroom import KIT

    code = ("import sys\nfrom grader.outputs import gradebook\napi = gradebook.api()\n"
            "print(sys.modules.get('rfc3987_syntax') is None, api.Gradebook.__module__)")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], cwd=KIT, capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["True", "nbgrader.api"], done.stderr[-2000:]


def test_nbgrader_export_equals_grades_csv(round_trip):
    """nbgrader's own `nbgrader export` and Gradebook API on the kit's gradebook: every student's score equals
    grades.csv's points (the late one too: the penalty is stored the way nbgrader models it), each group member
    with their own name and email from the worksheet; a student of the worksheet without a submission is a
    student of the gradebook without one, which nbgrader exports with score 0 and no timestamp."""
    import subprocess
    import sys
    import warnings

    out, _, _ = round_trip
    grades = {student: row for student, row in grades_of(out, "student").items() if row["submission"]}  # not "no submission"
    command = [sys.executable, "-m", "nbgrader", "export", f"--CourseDirectory.root={out}",
               f"--CourseDirectory.db_url=sqlite:///{out / 'gradebook.db'}", "--CourseDirectory.course_id=exercise02",
               "--to=nbgrader-grades.csv"]  # fmt: skip
    done = subprocess.run(command, cwd=out, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    with open(out / "nbgrader-grades.csv", newline="", encoding="utf-8") as handle:
        exported = {r["student_id"]: r for r in csv.DictReader(handle)}
    absent = {student for student, row in grades_of(out, "student").items() if not row["submission"]}
    assert absent == {"105"}
    assert set(exported) == set(grades) | absent  # every student of the worksheet, as nbgrader lists a course
    zoe = exported["105"]  # no submission: nbgrader's own "did not submit" (a student without a submission)
    assert (zoe["timestamp"], float(zoe["score"]), zoe["first_name"], zoe["last_name"], zoe["email"]) == (
        "", 0.0, "Zoë", "Ünal", "zoe@uni.example")  # fmt: skip
    for student, row in grades.items():
        assert float(exported[student]["score"]) == pytest.approx(float(row["points"]), abs=1e-3), student
    assert float(exported["102"]["late_submission_penalty"]) > 0  # the late one
    assert (exported["g1003"]["first_name"], exported["g1003"]["last_name"], exported["g1003"]["email"]) == (
        "Grace", "Hopper", "grace@uni.example")  # fmt: skip
    assert (exported["t2004"]["first_name"], exported["t2004"]["last_name"], exported["t2004"]["email"]) == (
        "Alan", "Turing", "alan@uni.example")  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from nbgrader.api import Gradebook, MissingEntry

        with Gradebook(f"sqlite:///{out / 'gradebook.db'}", course_id="exercise02") as gb:
            assert gb.find_student("105").lms_user_id == "105"
            with pytest.raises(MissingEntry):
                gb.find_submission("exercise02", "105")
            for student, row in grades.items():
                submission = gb.find_submission("exercise02", student)
                score = max(0.0, submission.score - submission.late_submission_penalty)
                assert score == pytest.approx(float(row["points"]), abs=1e-3), student


def test_worksheet_in_german_and_with_columns(tmp_path):
    """A German worksheet is read by Moodle's German strings and written back byte for byte with a decimal comma;
    another language's headers come from --columns (Moodle's string keys)."""
    from grader.outputs import language

    german = ["ID", "Vollständiger Name", "E-Mail-Adresse", "Status", "Bewertung", "Bestwertung",
              "Bewertung kann geändert werden", "Zuletzt geändert (Abgabe)", "Zuletzt geändert (Bewertung)",
              "Feedback als Kommentar"]  # fmt: skip
    rows = [["Teilnehmer/in101", "Ada Lovelace", "ada@x", "Zur Bewertung abgegeben", "", "20,00", "Ja",
             "Montag, 30. November 2026, 21:15", "-", ""]]  # fmt: skip
    sheet = worksheet.read_worksheet(write_worksheet(tmp_path / "de.csv", german, rows))
    assert sheet.words is language.GERMAN and sheet.rows[0].person.participant == "101"
    assert worksheet.max_grade(sheet.rows[0]) == 20.0
    assert language.parse_date(sheet.rows[0].cells["Last modified (submission)"], sheet.words).hour == 21
    worksheet.write_upload(tmp_path / "up.csv", sheet, {"101": ("17,14", "<p>ok</p>")})
    written = (tmp_path / "up.csv").read_bytes()
    assert written.split(b"\n", 1)[0] == (tmp_path / "de.csv").read_bytes().split(b"\n", 1)[0]
    assert b'Teilnehmer/in101,Ada Lovelace,ada@x,Zur Bewertung abgegeben,"17,14","20,00"' in written
    spanish = ["Identificador", "Nombre completo", "Calificación", "Calificación máxima", "Última modificación (calificación)"]
    path = write_worksheet(tmp_path / "es.csv", spanish, [["Participante 7", "Eva", "", "10,00", "-"]])
    with pytest.raises(worksheet.WorksheetError, match="--columns"):
        worksheet.read_worksheet(path)
    columns = language.parse_columns("recordid=Identificador;fullname=Nombre completo;gradenoun=Calificación;"
                                     "maxgrade=Calificación máxima;lastmodifiedgrade=Última modificación (calificación);decsep=,")  # fmt: skip
    sheet = worksheet.read_worksheet(path, columns)
    assert sheet.rows[0].person.participant == "7" and sheet.rows[0].person.name == "Eva" and sheet.words.decsep == ","
    with pytest.raises(ValueError, match="unknown key"):
        language.parse_columns("grade=Note")
