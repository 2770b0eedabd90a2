"""Moodle's words in the tutor's language: the grading worksheet's headers, its numbers and dates, the labels quoted.

Moodle's worksheet importer (mod/assign/feedback/offline/importgradeslib.php, init) finds its columns by
comparing each header cell exactly with the *uploading user's* language strings, and the download writes
them in the downloading user's language. So a German Moodle writes and expects German headers. The
strings below are Moodle's own (keys as in Moodle):

    English: mod/assign/lang/en/assign.php, lang/en/moodle.php, lang/en/grades.php (gradenoun),
             mod/assign/feedback/comments/lang/en/assignfeedback_comments.php (pluginname),
             mod/assign/feedback/offline/lang/en/assignfeedback_offline.php (ignoremodified),
             lang/en/langconfig.php (decsep, strftimedaydatetime)
    German:  the AMOS language pack (mirrored in projectestac/moodle-langpacks): de/assign.php,
             de/moodle.php, de/assignfeedback_comments.php, de/assignfeedback_offline.php, de/langconfig.php

Any other language: `--columns recordid=...,gradenoun=...,lastmodifiedgrade=...` gives the headers.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

# The kit's own names for the columns (its keys everywhere) and Moodle's string for each.
KEYS = {
    "Identifier": "recordid",
    "Full name": "fullname",
    "Email address": "email",
    "Status": "status",
    "Group": "submissionteam",
    "Grade": "gradenoun",
    "Maximum Grade": "maxgrade",
    "Grade can be changed": "gradecanbechanged",
    "Last modified (submission)": "lastmodifiedsubmission",
    "Last modified (grade)": "lastmodifiedgrade",
    "Feedback comments": "feedbackcomments",
}


@dataclass(frozen=True)
class Language:
    code: str
    headers: dict[str, str]  # kit key -> Moodle's header text
    hiddenuser: str  # the identifier's prefix ("Participant " / "Teilnehmer/in"), stripped by length on import
    decsep: str = "."
    yes: tuple[str, ...] = ("yes",)
    submitted: tuple[str, ...] = ("submitted",)  # the status text's start for a submission (submissionstatus_submitted)
    defaultteam: str = "Default group"
    ignoremodified: str = ""  # the upload form's override, quoted in warnings
    days: tuple[str, ...] = ()  # weekday names (German dates)
    months: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)


ENGLISH = Language(
    "en",
    {k: k for k in KEYS} | {"Maximum Grade": "Maximum grade"},  # 3.x: "Maximum Grade"; headers match ignoring case
    hiddenuser="Participant ",
    ignoremodified="Allow updating records that have been modified more recently in Moodle than in the spreadsheet.",
)
GERMAN = Language(
    "de",
    {
        "Identifier": "ID",  # recordid
        "Full name": "Vollständiger Name",  # fullname
        "Email address": "E-Mail-Adresse",  # email
        "Status": "Status",  # status
        "Group": "Gruppe",  # submissionteam
        "Grade": "Bewertung",  # gradenoun
        "Maximum Grade": "Bestwertung",  # maxgrade
        "Grade can be changed": "Bewertung kann geändert werden",  # gradecanbechanged
        "Last modified (submission)": "Zuletzt geändert (Abgabe)",  # lastmodifiedsubmission
        "Last modified (grade)": "Zuletzt geändert (Bewertung)",  # lastmodifiedgrade
        "Feedback comments": "Feedback als Kommentar",  # assignfeedback_comments pluginname
    },
    hiddenuser="Teilnehmer/in",  # no trailing space in the German pack
    decsep=",",
    yes=("ja",),
    submitted=("zur bewertung abgegeben", "submitted"),  # submissionstatus_submitted
    defaultteam="Standard-Gruppe",
    ignoremodified="Update von Datensätzen zulassen, die seit dem letzten Upload angepasst wurden.",
    days=("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"),
    months=("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
            "November", "Dezember"),  # fmt: skip
)
LANGUAGES = (ENGLISH, GERMAN)


def fold(text: str) -> str:
    """A header for comparison: runs of space as one, case folded (Moodle versions differ in case)."""
    return " ".join(str(text).split()).casefold()


def detect(header: list[str]) -> Language | None:
    """The language whose Identifier, Grade and Last modified (grade) headers are all in the header row."""
    cells = {fold(h) for h in header}
    for language in LANGUAGES:
        needed = ("Identifier", "Grade", "Last modified (grade)")
        if all(fold(language.headers[k]) in cells for k in needed):
            return language
    return None


def parse_columns(text: str) -> Language:
    """--columns "recordid=Identificador,gradenoun=Calificación,lastmodifiedgrade=...,hiddenuser=Participante ,decsep=,"
    (Moodle's string keys): the English table with these headers replaced; raises ValueError."""
    by_string = {v: k for k, v in KEYS.items()}
    language = ENGLISH
    headers = dict(ENGLISH.headers)
    for part in [p for p in str(text).split(";" if ";" in str(text) else ",") if p.strip()]:
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep:
            raise ValueError(f"{part!r} is not KEY=HEADER (e.g. gradenoun=Calificación)")
        if key in by_string:
            headers[by_string[key]] = value.strip()
        elif key in ("hiddenuser", "decsep", "defaultteam", "ignoremodified"):
            language = replace(language, **{key: value if key == "hiddenuser" else value.strip()})
        else:
            raise ValueError(f"unknown key {key!r}; use Moodle's string keys: {', '.join(sorted(by_string))}, "
                             "hiddenuser, decsep, defaultteam, ignoremodified")  # fmt: skip
    return replace(language, code="custom", headers=headers)


def parse_date(text: str, words: Language = ENGLISH):
    """A worksheet time as Moodle's userdate() writes it (strftimedaydatetime), naive (the course's time zone):
    "Monday, 30 November 2026, 9:15 PM" or "Montag, 30. November 2026, 21:15"; None when it is not one ("-")."""
    import re
    from datetime import datetime

    text = " ".join(str(text).split())
    if words.months:
        found = re.fullmatch(r"\w+, (\d{1,2})\. (\w+) (\d{4}), (\d{1,2}):(\d{2})", text)
        if found and found[2] in words.months:
            day, month, year, hour, minute = int(found[1]), words.months.index(found[2]) + 1, int(found[3]), int(found[4]), int(found[5])
            try:
                return datetime(year, month, day, hour, minute)
            except ValueError:
                return None
    try:
        return datetime.strptime(text, "%A, %d %B %Y, %I:%M %p")
    except ValueError:
        return None
