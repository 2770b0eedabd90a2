"""Moodle's own rules for the round trip, modelled from Moodle's PHP source (GPL-3.0; read, not copied).

The kit's Moodle code (grader/outputs/moodle.py) must not be tested against its own idea of Moodle.
This module is a second, independent reading of Moodle's source: it builds downloads the way Moodle
names them and imports the kit's outputs the way Moodle's importers do. Every rule cites the file and
function it models (moodle/moodle, 4.x unless said; 3.x where the old layout is modelled).

    clean_filename, format_string           -> folder names of a download
    download_folder, download_folder_3x      -> "Download all submissions" (4.1+ / 3.x-4.0)
    import_worksheet                         -> "Upload grading worksheet" (csv reader, header, stale check)
    import_feedback_zip                      -> "Upload multiple feedback files in a zip"

Strings: LANG holds the language strings these importers look up, English from Moodle's lang/en files,
German from the AMOS language pack (projectestac/moodle-langpacks, de/*.php), each checked by hand.
"""

from __future__ import annotations

import csv
import html
import io
import re
import zipfile
from dataclasses import dataclass, field
from datetime import datetime

# --------------------------------------------------------------------------- language strings

LANG = {
    "en": {  # mod/assign/lang/en/assign.php, lang/en/moodle.php (grades.php for gradenoun), lang/en/langconfig.php,
        # mod/assign/feedback/comments/lang/en/assignfeedback_comments.php, .../offline/lang/en/assignfeedback_offline.php
        "recordid": "Identifier",
        "hiddenuser": "Participant ",  # the worksheet's identifier prefix: importgradeslib strips strlen() of it
        "participant": "Participant",  # the blind-marking name in download folders
        "fullname": "Full name",
        "email": "Email address",
        "status": "Status",
        "gradenoun": "Grade",
        "maxgrade": "Maximum grade",
        "gradecanbechanged": "Grade can be changed",
        "lastmodifiedsubmission": "Last modified (submission)",
        "lastmodifiedgrade": "Last modified (grade)",
        "feedbackcomments": "Feedback comments",  # assignfeedback_comments pluginname (its editor field's name)
        "defaultteam": "Default group",
        "submissionteam": "Group",
        "decsep": ".",
        "strftimedaydatetime": "%A, %d %B %Y, %I:%M %p",
        "ignoremodified": "Allow updating records that have been modified more recently in Moodle than in the spreadsheet.",
    },
    "de": {  # projectestac/moodle-langpacks: de/assign.php, de/moodle.php, de/langconfig.php, de/assignfeedback_comments.php
        "recordid": "ID",
        "hiddenuser": "Teilnehmer/in",  # no trailing space in the German pack
        "participant": "Teilnehmer/in",
        "fullname": "Vollständiger Name",
        "email": "E-Mail-Adresse",
        "status": "Status",
        "gradenoun": "Bewertung",
        "maxgrade": "Bestwertung",
        "gradecanbechanged": "Bewertung kann geändert werden",
        "lastmodifiedsubmission": "Zuletzt geändert (Abgabe)",
        "lastmodifiedgrade": "Zuletzt geändert (Bewertung)",
        "feedbackcomments": "Feedback als Kommentar",
        "defaultteam": "Standard-Gruppe",
        "submissionteam": "Gruppe",
        "decsep": ",",
        "strftimedaydatetime": "%A, %d. %B %Y, %H:%M",
        "ignoremodified": "Update von Datensätzen zulassen, die seit dem letzten Upload angepasst wurden.",
    },
}
DE_DAYS = ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"]
DE_MONTHS = ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
             "November", "Dezember"]  # fmt: skip


# --------------------------------------------------------------------------- names


def clean_filename(text: str) -> str:
    """lib/moodlelib.php clean_filename -> clean_param(PARAM_FILE) (lib/classes/param.php): control
    characters and & < > " ` | ' : \\ / removed; "." and ".." become ""."""
    text = re.sub(r"[\x00-\x1f\x7f&<>\"`|':\\/]", "", text)
    return "" if text in (".", "..") else text


def strip_tags(text: str) -> str:
    """PHP strip_tags for the names used here: a "<" that opens a tag (a letter, "/", "!" or "?" follows)
    removes everything up to the next ">" (or the end); a "<" before anything else stays."""
    return re.sub(r"<[A-Za-z/!?][^>]*(>|$)", "", text)


def format_string(text: str) -> str:
    """lib/classes/formatting.php format_string with Moodle's defaults (escape on, formatstringstriptags on):
    "&" not starting an entity -> "&amp;" (replace_ampersands_not_followed_by_entity), tags stripped,
    then "<" and ">" -> "&lt;" "&gt;"."""
    text = re.sub(r"&(?!(?:[a-zA-Z][a-zA-Z0-9]*|#[0-9]+|#x[0-9a-fA-F]+);)", "&amp;", text)
    return strip_tags(text).replace("<", "&lt;").replace(">", "&gt;")


@dataclass
class Student:
    participant: int  # the assignment's unique participant id (get_uniqueid_for_user)
    name: str
    email: str = ""
    group: "Group | None" = None


@dataclass
class Group:
    id: int
    name: str


def download_folder(student: Student, team: bool = False, blind: bool = False, lang: str = "en") -> str:
    """mod/assign/classes/downloader.php get_student_prefix (4.1+) + load_submissionplugin_filelist: the
    folder of a file submission, "<prefix>_assignsubmission_file"."""
    strings = LANG[lang]
    if team:
        if student.group is not None:
            prefix = format_string(student.group.name).replace("_", " ") + f"_{student.group.id}"
        else:
            prefix = strings["defaultteam"].replace("_", " ")  # no group: get_string('defaultteam'), no id
    else:
        name = strings["participant"] if blind else student.name
        prefix = name.replace("_", " ") + f"_{student.participant}"
    return clean_filename(clean_filename(prefix) + "_assignsubmission_file")


def download_folder_3x(student: Student, team: bool = False, blind: bool = False, lang: str = "en") -> str:
    """mod/assign/locallib.php download_submissions (3.x-4.0): "<group>-" before each member's name for team
    submissions (the raw group name, no format_string; 'defaultteam' without a group), then
    clean_filename(prefix . '_' . participant) and "_assignsubmission_file_"."""
    strings = LANG[lang]
    group = ""
    if team:
        group = (student.group.name if student.group is not None else strings["defaultteam"]) + "-"
    name = strings["participant"] if blind else student.name
    prefix = clean_filename((group + name).replace("_", " ") + f"_{student.participant}")
    return clean_filename(prefix + "_assignsubmission_file_")


def build_download(submitters: list[tuple[Student, dict[str, bytes]]], team: bool = False, blind: bool = False,
                   version: str = "4.1", lang: str = "en") -> bytes:  # fmt: skip
    """The zip of "Download all submissions": per submitter its files under its folder. With team
    submissions 4.1+ writes one folder per group (downloader.php: a prefix already sent is skipped);
    3.x with 'onegroupsubmission' likewise keeps the first member's folder of each group."""
    buffer, seen = io.BytesIO(), set()
    with zipfile.ZipFile(buffer, "w") as archive:
        for student, files in submitters:
            folder = (download_folder if version == "4.1" else download_folder_3x)(student, team, blind, lang)
            key = (student.group.id if student.group else None) if team else folder
            if key in seen:
                continue
            seen.add(key)
            for name, data in files.items():
                archive.writestr(f"{folder}/{name}", data)
    return buffer.getvalue()


# --------------------------------------------------------------------------- worksheet


def worksheet_date(moment: datetime | None, lang: str = "en") -> str:
    """mod/assign/gradingtable.php col_timemarked/col_timesubmitted: userdate() (lib/moodlelib.php) with
    strftimedaydatetime in the user's language, fixday/fixhour on (no leading zero on %d and %I); "-" if none."""
    if moment is None:
        return "-"
    if lang == "de":
        return (f"{DE_DAYS[moment.weekday()]}, {moment.day}. {DE_MONTHS[moment.month - 1]} {moment.year}, "
                f"{moment:%H:%M}")  # fmt: skip
    return moment.strftime(LANG["en"]["strftimedaydatetime"]).replace(" 0", " ")


def format_time(seconds: int) -> str:
    """lib/moodlelib.php format_time (English): the largest non-zero unit and the next one below it, that one
    left out when zero (88200 s = 1 day 0 hours 30 mins -> "1 day"); the rest dropped."""
    units = (("year", 31536000), ("day", 86400), ("hour", 3600), ("min", 60), ("sec", 1))
    counts = []
    for _, size in units:
        count, seconds = divmod(seconds, size)
        counts.append(count)
    for index, count in enumerate(counts):
        if count:
            shown = [(counts[i], units[i][0]) for i in (index, index + 1) if i < len(units) and counts[i]]
            return " ".join(f"{c} {u}{'' if c == 1 else 's'}" for c, u in shown)
    return "now"


def export_worksheet(assignment: Assignment, submitted: dict[int, datetime], due: datetime | None = None,
                     filtered: set[int] | None = None) -> bytes:  # fmt: skip
    """mod/assign/feedback/offline/locallib.php download_grades -> gradingtable.php with is_downloading('csv'):
    recordid (hiddenuser . uniqueid), fullname, the identity field email, status (+ "- <format_time> late"),
    team, grade (decimals 2, the language's decsep), grademax, gradecanbechanged, timesubmitted, timemarked,
    each feedback plugin's editor field; written by dataformat/csv (a UTF-8 BOM first). `filtered`: only these
    participants (a filter in the grading table)."""
    s = LANG[assignment.lang]
    header = [s["recordid"], s["fullname"], s["email"], s["status"]] + ([s["submissionteam"]] if assignment.team else [])
    header += [s["gradenoun"], s["maxgrade"], s["gradecanbechanged"], s["lastmodifiedsubmission"], s["lastmodifiedgrade"],
               s["feedbackcomments"]]  # fmt: skip
    de = assignment.lang == "de"
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for student in assignment.students:
        if filtered is not None and student.participant not in filtered:
            continue
        when = submitted.get(student.participant)
        status = ("Zur Bewertung abgegeben" if de else "Submitted for grading") if when else ("Keine Abgabe" if de else "No submission")
        if when and due and when > due and not de:
            status += f" - {format_time(int((when - due).total_seconds()))} late"
        grade = assignment.grades.get(student.participant)
        number = "" if grade is None or grade.grade is None else f"{grade.grade:.2f}".replace(".", s["decsep"])
        team = [(student.group.name if student.group else s["defaultteam"])] if assignment.team else []
        modified = datetime.fromtimestamp(grade.modified).astimezone() if grade and grade.modified else None
        writer.writerow([f"{s['hiddenuser']}{student.participant}", student.name, student.email, status, *team, number,
                         f"{assignment.max_grade:.2f}".replace(".", s["decsep"]), "Ja" if de else "Yes",
                         worksheet_date(when, assignment.lang), worksheet_date(modified, assignment.lang),
                         grade.comment if grade else ""])  # fmt: skip
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def strtotime(text: str) -> int:
    """PHP strtotime on a worksheet date, as process_import_grades uses it: English day/month names only
    (a German date is false -> 0); "-" is false -> 0. Times are seconds (the model's clock)."""
    text = " ".join(str(text).split())
    for pattern in ("%A, %d %B %Y, %I:%M %p", "%A, %d %B %Y, %H:%M"):
        try:
            return int(datetime.strptime(text, pattern).timestamp())
        except ValueError:
            continue
    return 0


def unformat_float(text: str, lang: str) -> float | None:
    """lib/moodlelib.php unformat_float: the language's decsep read as ".", spaces dropped; "" -> None;
    not a number -> False (None here: process_import_grades then skips the row)."""
    value = str(text).strip().replace(" ", "")
    if value == "":
        return None
    value = value.replace(LANG[lang]["decsep"], ".")
    try:
        return float(value)
    except ValueError:
        return None


@dataclass
class Grade:
    """One row of assign_grades: the grade, when it was last modified, the comment, the feedback files."""

    grade: float | None = None
    modified: int = 0
    comment: str = ""
    files: dict[str, bytes] = field(default_factory=dict)


@dataclass
class Assignment:
    """What Moodle holds for one assignment: its participants and their grades, and its settings."""

    students: list[Student]
    max_grade: float = 20.0
    team: bool = False
    lang: str = "en"  # the uploading tutor's language
    grades: dict[int, Grade] = field(default_factory=dict)  # participant -> grade
    locked: set[int] = field(default_factory=set)
    now: int = 2_000_000_000  # the model's clock (seconds); each import advances it

    def student(self, participant: int) -> Student | None:
        return next((s for s in self.students if s.participant == participant), None)

    def notify_grade_modified(self, participant: int) -> Grade:
        """mod/assign/locallib.php get_user_grade(create) + notify_grade_modified: timemodified = now."""
        grade = self.grades.setdefault(participant, Grade())
        grade.modified = self.now
        return grade


@dataclass
class Imported:
    refused: str = ""  # why the whole file was refused ("" when read)
    grades: dict[int, float] = field(default_factory=dict)  # participant -> grade set by this import
    comments: dict[int, str] = field(default_factory=dict)
    skipped_stale: list[int] = field(default_factory=list)
    files: dict[int, list[str]] = field(default_factory=dict)  # participant -> file paths given


def read_csv(data: bytes) -> tuple[list[list[str]] | None, str]:
    """lib/csvlib.class.php csv_import_reader::load_csv_content (comma, utf-8): the BOM trimmed, blank lines
    skipped, and every row must have the header's column count, else the whole file is refused
    ('csvweirdcolumns')."""
    text = data.decode("utf-8").removeprefix("\ufeff")
    rows = [r for r in csv.reader(io.StringIO(text, newline="")) if r != [] and r != [""]]
    if not rows:
        return None, "csvemptyfile"
    if any(len(r) != len(rows[0]) for r in rows):
        return None, "csvweirdcolumns"
    return rows, ""


def import_worksheet(assignment: Assignment, data: bytes, ignoremodified: bool = False) -> Imported:
    """mod/assign/feedback/offline/importgradeslib.php init + next, locallib.php process_import_grades."""
    result = Imported()
    strings = LANG[assignment.lang]
    rows, error = read_csv(data)
    if rows is None:
        result.refused = error
        return result
    header, body = rows[0], rows[1:]
    # init(): header cells compared exactly (==) with the uploader's strings gradenoun, recordid, lastmodifiedgrade;
    # feedback columns by the plugin's editor field description.
    try:
        grade_at, id_at = header.index(strings["gradenoun"]), header.index(strings["recordid"])
        modified_at = header.index(strings["lastmodifiedgrade"])
    except ValueError:
        result.refused = "invalidgradeimport"
        return result
    comment_at = header.index(strings["feedbackcomments"]) if strings["feedbackcomments"] in header else -1
    for record in body:
        # next(): the id is the identifier after strlen(hiddenuser); only participants of the assignment
        number = record[id_at][len(strings["hiddenuser"]):].strip()
        if not number.isdigit() or assignment.student(int(number)) is None:
            continue
        participant = int(number)
        usergrade = assignment.grades.get(participant)
        value = unformat_float(record[grade_at], assignment.lang)
        modified = strtotime(record[modified_at])
        # process_import_grades: "Do not count the seconds when comparing modified dates."
        stale = usergrade is not None and usergrade.modified > modified + 60
        if usergrade is not None and usergrade.grade == value:
            skip = True  # grade not modified
        elif value is None or value < 0:
            skip = True  # no value
        elif not ignoremodified and stale:
            skip = True
            result.skipped_stale.append(participant)
        elif participant in assignment.locked:
            skip = True
        elif value > assignment.max_grade:
            skip = True  # out of range
        else:
            skip = False
        if not skip:
            assignment.notify_grade_modified(participant).grade = value
            result.grades[participant] = value
        # comments (the !empty($details['index']) test: a comment column at index 0 is never read)
        if (ignoremodified or not stale) and comment_at > 0:
            new, old = record[comment_at], (usergrade.comment if usergrade else "")
            if new != old:
                assignment.notify_grade_modified(participant).comment = new  # assignfeedback_comments set_editor_text
                result.comments[participant] = new
    assignment.now += 120
    return result


def import_feedback_zip(assignment: Assignment, data: bytes, version: str = "4.1") -> Imported:
    """mod/assign/feedback/file/importziplib.php import_zip_files, get_participant_mapping and
    is_valid_filename_for_import: each path part split on "_" into at most 5 fields; [1] numeric and a key
    of the mapping (team submissions 4.1+: the group id -> its members; else the participant id; users in
    no group are left out), [2]/[3] a plugin of the assignment ("assignfeedback", "file"); hidden files
    ("." or "~") ignored. 3.x's importer mapped participant ids only."""
    result = Imported()
    mapping: dict[int, list[Student]] = {}
    for student in assignment.students:
        if assignment.team and version == "4.1":
            if student.group is None:
                continue
            mapping.setdefault(student.group.id, []).append(student)
        else:
            mapping[student.participant] = [student]
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            parts = info.filename.split("/")
            if parts[-1].startswith((".", "~")):
                continue
            for index, part in enumerate(parts):
                fields = part.split("_", 4)
                if len(fields) < 4 or not fields[1].isdigit() or int(fields[1]) not in mapping:
                    continue
                if (fields[2], fields[3]) not in (("assignfeedback", "file"), ("assignsubmission", "file")):
                    continue
                rest = [fields[4] if len(fields) == 5 else "", *parts[index + 1:]]
                name = "/".join(p for p in rest if p)
                for student in mapping[int(fields[1])]:
                    assignment.notify_grade_modified(student.participant).files[name] = archive.read(info)
                    result.files.setdefault(student.participant, []).append(name)
                break
    assignment.now += 120
    return result


def comment_text(comment: str) -> str:
    """What a student reads of an imported comment (stored as FORMAT_HTML): the text without tags."""
    return html.unescape(re.sub(r"<[^>]+>", " ", comment))
