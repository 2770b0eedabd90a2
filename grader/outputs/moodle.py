"""Moodle's side of the round trip: the class matched to the worksheet's rows, lateness, the comments, the
files to upload (grades-upload.csv through grader.outputs.worksheet, and the feedback zip).

The feedback zip follows "Upload multiple feedback files in a zip": a file is given to the
participant whose number is the second "_"-separated field of a folder name, followed by a
plugin type and name: `<Full Name>_<participant>_assignfeedback_file_/feedback.html` (for 4.1+ team
assignments the number is the group's id).

Sources and details: docs/moodle.md.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from pathlib import Path

from grader.grading import roster
from grader.grading.roster import Claim, Person, match, normalise_name
from grader.outputs import language
from grader.outputs.view import Absent
from grader.outputs.worksheet import (GRADED_AT, MAX_GRADE, STATUS, SUBMITTED, TEAM, Row, Worksheet, max_grade, scale,
                                      write_atomic, write_upload)  # fmt: skip

FEEDBACK_NAME = "feedback.html"
PLUGIN = "assignfeedback_file"


def folder_name(full_name: str, participant: str) -> str:
    """A feedback folder Moodle's zip import maps to the participant: no "_" or "/" in the name part."""
    name = re.sub(r"[\x00-\x1f\x7f/\\:*?\"<>|_]+", " ", full_name)
    name = " ".join(name.split())[:80] or "Participant"
    return f"{name}_{participant}_{PLUGIN}_"


def write_feedback_zip(path: Path, pages: list[tuple[str, str, Path]]) -> int:
    """Each (participant, full name, page) as <folder>/feedback.html; returns how many were written."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for participant, full_name, page in sorted(pages):
            info = zipfile.ZipInfo(f"{folder_name(full_name, participant)}/{FEEDBACK_NAME}", date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, Path(page).read_bytes())
    write_atomic(path, buffer.getvalue())
    return len(pages)


DEFAULT_TEAM = ("Default group", "Standard-Gruppe")  # mod/assign 'defaultteam': students in no group (en, de)


def team_of(sub, groups: dict[str, list[Person]], sheet: Worksheet) -> tuple[str, list[Person], str]:
    """A team download's folder -> (group name, its worksheet rows, layout), or ("", [], "") when none fits.

    4.1+ "<group>_<group id>_assignsubmission_file" (the number is a group id), "Default group_..." (no
    number, the students in no group); 3.x-4.0 "<group>-<member>_<participant>_assignsubmission_file_"
    (the number is the member's participant). Names are compared the way Moodle wrote them (roster.team_prefixes).
    """
    folder = normalise_name(sub.name)
    if not sub.participant:
        if folder.casefold() in {d.casefold() for d in DEFAULT_TEAM}:
            return folder, groups.get("", []), "no group"
        return "", [], ""
    exact = [g for g in groups if g and folder in roster.team_prefixes(g)]
    if len(exact) == 1:
        return exact[0], groups[exact[0]], "4.1"
    row = sheet.row(sub.participant)
    if row is not None:
        group = _group_cell(row)
        prefixes = roster.team_prefixes(group) if group else {normalise_name(d) for d in DEFAULT_TEAM}
        if any(folder.startswith(p + "-") for p in prefixes):
            return group or DEFAULT_TEAM[0], groups.get(group, []), "3.x"
    return "", [], ""


def _group_cell(row: Row) -> str:
    """The row's Group, "" for a student in no group (Moodle shows 'Default group' or nothing)."""
    group = normalise_name(row.cells.get(TEAM, ""))
    return "" if group.casefold() in {d.casefold() for d in DEFAULT_TEAM} or group == "-" else group


def match_class(sheet: Worksheet, submissions) -> list[str]:
    """Each submission's members matched to worksheet rows (sets sub.participants); returns class-level problems.

    A submission that reaches no worksheet row is listed here (the report's Attention box, the terminal)
    and in sheet.unmatched (the run's closing message): its grade would go nowhere in Moodle.
    """
    people = sheet.people()
    problems = list(sheet.problems)
    owners: dict[str, list[str]] = {}
    groups: dict[str, list[Person]] = {}
    for row in sheet.rows if TEAM in sheet.keys else []:
        if row.person.participant:
            groups.setdefault(_group_cell(row), []).append(row.person)
    for sub in submissions:
        if groups and (sub.participant or sub.name):  # team submissions: the folder names a group
            name, team, layout = team_of(sub, groups, sheet)
            sub.participants = {p.participant: p.participant for p in team}
            sub.people = {p.participant: (p.name, p.email) for p in team}
            if layout == "4.1":
                sheet.team_folders[sub.id] = (name, sub.participant)  # the feedback zip goes to the group's id
                sub.participant = ""  # a group id, not a participant
            if layout == "no group":
                problems.append(f"{sub.label}: Moodle's zip import gives feedback files only to students in a group; "
                                f"the {len(team)} student(s) in no group get their grade and comment from the worksheet only")  # fmt: skip
            if not team:
                why = ("no worksheet row has this group" if layout == "" else f"the worksheet lists nobody in {name!r}")
                sub.problems.append(f"folder {sub.label}: {why}; NOT GRADED IN MOODLE")
            for participant in sub.participants:
                owners.setdefault(participant, []).append(sub.id)
        else:
            claim = Claim(sub.id, sub.participant, sub.name, list(sub.members), dict(sub.details))
            found = match(claim, [p for p in people if p.participant])
            sub.participants = {student: person.participant for student, person in found.rows.items()}
            sub.people = {person.participant: (person.name, person.email) for person in found.rows.values()}
            sub.problems.extend(found.problems)
            for participant in sub.participants.values():
                owners.setdefault(participant, []).append(sub.id)
        if not sub.participants:
            sheet.unmatched.append(sub.id)
            problems.append(f"{sub.label}: matches no row of the worksheet; its grade and feedback reach nobody in "
                            "Moodle (a filtered or another group's worksheet? download the worksheet of all participants)")  # fmt: skip
    for participant, subs in sorted(owners.items()):
        if len(subs) > 1:
            problems.append(f"Participant {participant} is in {len(subs)} submissions ({', '.join(subs)}); "
                            "the better grade goes to the worksheet")  # fmt: skip
    return problems


SUBMITTED_UNMATCHED = "Moodle says submitted, but no submission here was matched to this row; left blank"


def absent_points(sheet_row: Row, words, missing_zero: bool) -> tuple[float | None, str]:
    """What the upload gives a worksheet row no submission matches: (0.0 or None for blank, why when not 0)."""
    if sheet_row.cells.get("Grade can be changed", "").strip().lower() in ("no", "nein"):
        return None, "Moodle says the grade cannot be changed (locked); left as it is"
    if sheet_row.cells.get(STATUS, "").strip().lower().startswith(words.submitted + ("submitted",)):
        return None, SUBMITTED_UNMATCHED
    if not missing_zero:
        return None, "left blank in the upload (--missing-zero gives 0)"
    if max_grade(sheet_row) is None:
        return None, f"Maximum Grade {sheet_row.cells.get(MAX_GRADE, '')[:20]!r} is not a number; left blank"
    return 0.0, ""


def absent_people(sheet: Worksheet, submissions, missing_zero: bool) -> list[Absent]:
    """The worksheet's students no submission was matched to (after match_class), in the worksheet's order,
    with what the upload gives them (absent_points), so grades.csv and the report agree with it."""
    taken = set()
    for sub in submissions:
        taken.update((sub.participants or {}).values())
    absent = []
    for sheet_row in sheet.rows:
        person = sheet_row.person
        if person.participant and person.participant not in taken:
            points, why = absent_points(sheet_row, sheet.words, missing_zero)
            absent.append(Absent(person.participant, person.name, person.email, points, why))
    return absent


def late_class(submissions, sheet: Worksheet | None, deadline, policy, zone=None) -> tuple[dict, str]:
    """(submission id -> Lateness, a note saying how lateness was measured).

    With --deadline: the submitter's worksheet "Last modified (submission)" (else the files' newest time)
    against it, both in the course's time zone `zone` (None: the machine's). Without: Moodle's status text.
    """
    from grader.grading import lateness

    deadline = lateness.localise(deadline, zone)
    late, from_status = {}, 0
    for sub in submissions:
        row = sheet.row(sub.participant) if sheet is not None and sub.participant else None
        if row is None and sheet is not None and sub.participants:
            row = sheet.row(next(iter(sub.participants.values())))
        status = row.cells.get(STATUS, "") if row else ""
        when = lateness.localise(language.parse_date(row.cells.get(SUBMITTED, ""), sheet.words), zone) if row else None
        found = lateness.assess(status, when or sub.submitted, deadline, policy)
        if found is not None:
            late[sub.id] = found
            from_status += deadline is None
    if deadline is not None:
        note = f"lateness: exact, submission times against --deadline {deadline:%Y-%m-%d %H:%M} in {lateness.zone_name(zone)}"
    elif from_status:
        note = (f"lateness of {from_status} submission(s) from Moodle's status text, which keeps only the two largest units "
                "(24 h 30 min late shows as '1 day'): give --deadline (and --timezone) for the exact time")  # fmt: skip
    else:
        note = ""
    return late, note


COMMENT_CHARS = 3000  # the comment's length bound (Moodle shows it whole above the feedback files)
STATUS_WORDS = {"import-error": "the code could not import", "no-code": "no code file was graded",
                "timeout": "the code ran out of time", "crashed": "the grading process crashed"}  # fmt: skip


def comment(row, result, key, feedback_file: str, tutor: str = "") -> str:
    """The worksheet's feedback comment as safe minimal HTML (Moodle stores it as FORMAT_HTML:
    assignfeedback_comments set_editor_text): the score, the tutor's comment, the lateness, the lost tests as
    a list, the pointer to the feedback file. Every text is escaped, cut only between words, and nothing the
    submission wrote (an import error's message) goes in: that stays on the feedback page."""
    from html import escape
    from textwrap import shorten

    manual = [v for v in row.manual.values() if v is not None]
    parts = [f"<p>Exercise 02: {row.points:g} / {row.max_points:g} points (tests {row.auto_points:g} / {row.auto_max:g}, "
             f"manual {sum(manual):g} / {row.max_points - row.auto_max:g}"
             + ("" if len(manual) == len(row.manual) else ", manual points not graded yet") + ").</p>"]  # fmt: skip
    if tutor.strip():
        parts.append(f"<p>Tutor: {escape(shorten(tutor, 800, placeholder=' …'))}</p>")
    if row.late:
        parts.append(f"<p>Submitted {escape(row.late)}.</p>")
    items = []
    if result.status != "graded":  # one cause for every lost test: said once, in the kit's words
        parts.append(f"<p>No test could run: {escape(STATUS_WORDS.get(result.status, result.status))} "
                     f"(details in {escape(feedback_file)}).</p>")  # fmt: skip
    else:
        lost = [t for t in key if row.earned.get(t.id, 0.0) < t.points]
        budget = COMMENT_CHARS - sum(map(len, parts)) - 200
        for number, test in enumerate(lost):
            item = f"<li>Lost {test.points - row.earned.get(test.id, 0.0):g}: {escape(shorten(test.doc or test.id, 160, placeholder=' …'))}</li>"
            if budget - len(item) < 0:
                items.append(f"<li>… and {len(lost) - number} more tests</li>")
                break
            budget -= len(item)
            items.append(item)
    if items:
        parts.append("<ul>" + "".join(items) + "</ul>")
    parts.append(f"<p>Details: {escape(feedback_file)} in your feedback files.</p>")
    return "".join(parts)


def write_class(out: Path, sheet: Worksheet, written, results: dict, key, tutor_comments: dict[str, str],
                missing_zero: bool, upload_pending: bool) -> tuple[list[Path], list[str]]:  # fmt: skip
    """<out>/moodle/ from what the outputs hold now: `written`'s grade rows (view.Written), the feedback pages in
    its folder, the tutor's comments. The one call behind both `grader grade --worksheet` (after the pages) and a
    save in `grader review` (from the worksheet kept in <out>/review/), so a save gives Moodle what a run would.
    `sheet` is matched to the class (match_class; a review save restores its team folders from the kept inputs)."""
    pages = {sid: written.feedback / f"{sid}.html" for sid in results}
    return write_moodle(out / "moodle", sheet, written.rows, results, key, {sid: page for sid, page in pages.items() if page.is_file()},
                        missing_zero, upload_pending, tutor_comments)  # fmt: skip


def write_moodle(folder: Path, sheet: Worksheet, rows, results: dict, key, pages: dict[str, Path],
                 missing_zero: bool, upload_pending: bool = False,
                 tutor_comments: dict[str, str] | None = None) -> tuple[list[Path], list[str]]:  # fmt: skip
    """moodle/grades-upload.csv and moodle/feedback-files.zip; returns (files written, problems).

    A row whose manual points are pending is left out (grade, comment and feedback file) unless
    upload_pending: Moodle's import skips a row whose grade changed in Moodle after the worksheet's
    "Last modified (grade)" (feedback/offline/locallib.php process_import_grades), so a first upload
    with incomplete grades would make the complete one, built from the same download, be skipped.
    """
    by_participant: dict[str, object] = {}
    for row in rows:
        if row.participant and (row.participant not in by_participant or row.points > by_participant[row.participant].points):
            by_participant[row.participant] = row
    updates: dict[str, tuple[str | None, str]] = {}
    problems, zipped, pending = [], [], []
    words = sheet.words
    for sheet_row in sheet.rows:
        person = sheet_row.person
        if not person.participant:
            continue
        row = by_participant.get(person.participant)
        top = max_grade(sheet_row)
        if sheet_row.cells.get("Grade can be changed", "").strip().lower() in ("no", "nein"):
            problems.append(f"Participant {person.participant}: Moodle says the grade cannot be changed (locked); left as it is")
            continue
        if row is None:
            points, why = absent_points(sheet_row, words, missing_zero)
            if why == SUBMITTED_UNMATCHED:
                problems.append(f"Participant {person.participant} ({person.name[:60]}): {why}")
            elif points is not None:
                updates[person.participant] = (scale(0.0, 1.0, top).replace(".", words.decsep), "<p>Exercise 02: no submission, 0 points.</p>")
            continue
        if top is None:
            problems.append(f"Participant {person.participant}: Maximum Grade {sheet_row.cells.get(MAX_GRADE, '')[:20]!r} "
                            "is not a number; left blank")  # fmt: skip
            continue
        if "pending" in row.status and not upload_pending:
            pending.append(person.participant)
            continue
        page = pages.get(row.submission)
        updates[person.participant] = (scale(row.points, row.max_points, top).replace(".", words.decsep),
                                       comment(row, results[row.submission], key, FEEDBACK_NAME,
                                               (tutor_comments or {}).get(row.submission, "")))  # fmt: skip
        team = sheet.team_folders.get(row.submission)
        if page is None or (TEAM in sheet.keys and not team and not _group_cell(sheet_row)):
            continue  # a team assignment's students in no group: Moodle's zip import cannot reach them
        # 4.1+ team assignments: the zip import maps the folder's number to a group id
        # (mod/assign/feedback/file/importziplib.php get_participant_mapping: with teamsubmission the
        # participants are keyed by $group->id), one folder per group; otherwise to the participant.
        entry = (team[1], team[0], page) if team else (person.participant, person.name, page)
        if entry not in zipped:
            zipped.append(entry)
    if pending:
        problems.append(f"{len(pending)} participant(s) have manual points pending and are left out of the upload "
                        f"(grade, comment and feedback file), so that the upload with their manual points lands: "
                        f"{', '.join('Participant ' + p for p in pending[:10])}{' …' if len(pending) > 10 else ''}; "
                        "fill in manual.csv and run again, or give --upload-pending to put them in anyway")  # fmt: skip
    problems += stale_warnings(folder, sheet, updates)
    upload, archive = folder / "grades-upload.csv", folder / "feedback-files.zip"
    write_upload(upload, sheet, updates)
    write_feedback_zip(archive, zipped)
    write_atomic(folder / SOURCE_NAME, json.dumps({"worksheet": _digest(sheet.path), "updates": updates}, sort_keys=True).encode())
    return [upload, archive, folder / SOURCE_NAME], problems


SOURCE_NAME = ".upload-source.json"  # the worksheet the last upload was built from, and what it set


def _digest(path: Path) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return ""


def stale_warnings(folder: Path, sheet: Worksheet, updates: dict) -> list[str]:
    """What Moodle's stale check (process_import_grades: grade modified > 60 s after the worksheet's
    "Last modified (grade)" -> the row, grade and comment, is skipped) will do to this upload, said plainly."""
    override = f"tick \u201c{sheet.words.ignoremodified}\u201d when uploading"
    warnings = []
    try:
        before = json.loads((folder / SOURCE_NAME).read_text())
    except (OSError, ValueError):
        before = {}
    if before.get("worksheet") == _digest(sheet.path) and isinstance(before.get("updates"), dict):
        changed = [p for p, v in updates.items() if p in before["updates"] and list(v) != list(before["updates"][p])]
        if changed:
            warnings.append(f"STALE WORKSHEET: this upload is built from the same downloaded worksheet as the previous one, "
                            f"and changes {len(changed)} row(s) that upload set; if you uploaded it, Moodle will skip these rows "
                            f"(grade and comment). Download a fresh grading worksheet and run again with it, or {override}")  # fmt: skip
    graded = [r.person.participant for r in sheet.rows if r.person.participant in updates
              and r.cells.get(GRADED_AT, "").strip() not in ("", "-")]  # fmt: skip
    if graded:
        warnings.append(f"{len(graded)} row(s) of this worksheet already have a grade in Moodle; Moodle skips a row whose "
                        "grade changed after this worksheet was downloaded (also by a feedback-zip upload). Upload this "
                        f"file only if nothing was graded since the download; else download a fresh worksheet, or {override}")  # fmt: skip
    return warnings
