"""Moodle's offline grading worksheet: read in the tutor's language, and written back with grades and comments.

The worksheet is what Moodle's assignment offers under "Download grading worksheet" (feedback
type "Offline grading worksheet"): a UTF-8 CSV with a byte-order mark, one row per participant,
columns in Moodle's order but read here by header, in any order:

    Identifier ("Participant 222")  Full name  Email address  [ID number ...]  Status  Grade
    Maximum Grade  Grade can be changed  Last modified (submission)  Last modified (grade)
    Feedback comments

`write_upload` writes the same file back (same columns, same order, same rows, the BOM) with
Grade and Feedback comments filled in for the participants given; Moodle's "Upload grading
worksheet" reads it. "Last modified (grade)" is copied unchanged: Moodle's importer needs the
column and skips a row whose grade was changed in Moodle after the download.

Sources and details: docs/moodle.md.
"""

from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from grader.outputs import language
from grader.grading.roster import Person, normalise_id
from grader.outputs.manual import sniff_dialect
from grader.sandbox.error import InputError

BOM = "\ufeff"
IDENTIFIER, FULL_NAME, EMAIL, STATUS = "Identifier", "Full name", "Email address", "Status"
GRADE, MAX_GRADE, FEEDBACK = "Grade", "Maximum Grade", "Feedback comments"
SUBMITTED, GRADED_AT = "Last modified (submission)", "Last modified (grade)"
TEAM = "Group"  # present with team submissions: then a folder's number is the group's id, not a participant
OTHER_IDS = ("ID number", "Username")  # identity fields a site may add to the worksheet
REQUIRED = (IDENTIFIER, GRADE, GRADED_AT)  # what Moodle's importer needs to take the file back
KNOWN = (IDENTIFIER, FULL_NAME, EMAIL, STATUS, GRADE, MAX_GRADE, FEEDBACK, SUBMITTED, GRADED_AT, "Grade can be changed",
         TEAM, *OTHER_IDS)  # fmt: skip
MAX_BYTES = 20 << 20


class WorksheetError(InputError):
    """The file is not a Moodle grading worksheet this kit can fill in (the message says why)."""


@dataclass
class Row:
    person: Person
    cells: dict[str, str]  # column key (a KNOWN name, whatever its case in the file, else the header) -> text
    line: int


@dataclass
class Worksheet:
    path: Path
    header: list[str]  # as in the file
    rows: list[Row]
    keys: list[str] = field(default_factory=list)  # per column: its KNOWN name or its header
    delimiter: str = ","
    bom: bool = True
    problems: list[str] = field(default_factory=list)
    team_folders: dict[str, tuple[str, str]] = field(default_factory=dict)  # submission -> (group, group id), 4.1+ teams
    unmatched: list[str] = field(default_factory=list)  # submissions that reach no worksheet row
    raw_header: list[str] = field(default_factory=list)  # the header cells byte for byte, written back as they came
    words: language.Language = language.ENGLISH  # Moodle's strings in the worksheet's language

    def people(self) -> list[Person]:
        return [r.person for r in self.rows]

    def row(self, participant: str) -> Row | None:
        return next((r for r in self.rows if r.person.participant == participant), None)


def read_worksheet(path: Path, columns: language.Language | None = None) -> Worksheet:
    """The worksheet's header and rows; raises WorksheetError when it cannot be used at all.

    The headers are Moodle's in the tutor's language (grader/outputs/language.py: English, German), or
    the ones `columns` (--columns) gives.
    """
    path = Path(path)
    try:
        data = path.read_bytes()[: MAX_BYTES + 1]
    except OSError as error:
        raise WorksheetError(f"{path}: cannot be read ({error.strerror})") from None
    if len(data) > MAX_BYTES:
        raise WorksheetError(f"{path}: larger than {MAX_BYTES >> 20} MB; not a grading worksheet")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise WorksheetError(f"{path}: not UTF-8 text; download the worksheet from Moodle again "
                             "(a spreadsheet may have re-saved it in another encoding)") from None  # fmt: skip
    bom = text.startswith(BOM)
    text = text.removeprefix(BOM)
    dialect = sniff_dialect(text)
    lines = list(csv.reader(io.StringIO(text, newline=""), dialect))
    if not lines:
        raise WorksheetError(f"{path}: empty")
    header = [h.strip() for h in lines[0]]
    words = columns or language.detect(header) or language.ENGLISH
    known = {language.fold(k): k for k in KNOWN} | {language.fold(v): k for k, v in words.headers.items()}
    keys = [known.get(language.fold(h), h) for h in header]
    missing = [words.headers.get(c, c) for c in REQUIRED if c not in keys]
    if missing:
        raise WorksheetError(f"{path}: no column {', '.join(repr(m) for m in missing)}; expected Moodle's grading worksheet "
                             f"(English: Identifier, ..., Grade, ..., Last modified (grade); German: ID, ..., Bewertung, ..., "
                             f"Zuletzt geändert (Bewertung)); found {header[:12]}. Another language: give its headers "
                             "with --columns recordid=...,gradenoun=...,lastmodifiedgrade=...,maxgrade=...")  # fmt: skip
    if MAX_GRADE not in keys:
        raise WorksheetError(f"{path}: no {words.headers[MAX_GRADE]!r} column (an assignment graded with a scale?); "
                             "the kit needs a point grade")  # fmt: skip
    sheet = Worksheet(path, header, [], keys, dialect.delimiter, bom, raw_header=list(lines[0]), words=words)
    seen: dict[str, int] = {}
    for number, cells in enumerate(lines[1:], start=2):
        if not any(c.strip() for c in cells):
            continue
        values = {k: (cells[i] if i < len(cells) else "") for i, k in enumerate(keys)}
        found = re.search(r"(\d+)\s*$", values[IDENTIFIER])
        if not found:
            sheet.problems.append(f"worksheet line {number}: Identifier {values[IDENTIFIER][:40]!r} has no participant number; row left as it is")
            participant = ""
        else:
            participant = normalise_id(found.group(1))
            if participant in seen:
                sheet.problems.append(f"worksheet line {number}: Participant {participant} also on line {seen[participant]}; "
                                      "only the first row is filled in")  # fmt: skip
                participant = ""
            else:
                seen[participant] = number
        ids = tuple(normalise_id(values[c]) for c in OTHER_IDS if values.get(c, "").strip())
        person = Person(participant, values.get(FULL_NAME, "").strip(), values.get(EMAIL, "").strip(), ids)
        sheet.rows.append(Row(person, values, number))
    return sheet


def max_grade(row: Row) -> float | None:
    """The row's Maximum Grade as a number ("100.00", "100,00"); None when it is not one."""
    text = row.cells.get(MAX_GRADE, "").strip().replace(" ", "").replace(",", ".")
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value > 0 else None


def scale(points: float, maximum: float, grade_max: float) -> str:
    """The kit's points on the worksheet's scale, rounded half up to 2 decimals (Moodle's default)."""
    value = Decimal(repr(points)) / Decimal(repr(maximum)) * Decimal(repr(grade_max))
    return str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def write_upload(path: Path, sheet: Worksheet, updates: dict[str, tuple[str | None, str]]) -> None:
    """The worksheet again, with Grade and Feedback comments set for each participant in `updates`.

    updates: participant -> (grade text or None to leave the grade as it was, feedback comment).
    """
    header, keys = list(sheet.raw_header or sheet.header), list(sheet.keys)
    if FEEDBACK not in keys:
        header, keys = header + [sheet.words.headers[FEEDBACK]], keys + [FEEDBACK]
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=",", lineterminator="\n")
    writer.writerow(header)
    for row in sheet.rows:
        cells = dict(row.cells)
        cells.setdefault(FEEDBACK, "")
        if row.person.participant in updates:
            grade, comment = updates[row.person.participant]
            if grade is not None:
                cells[GRADE] = grade
            cells[FEEDBACK] = comment
        writer.writerow([cells.get(k, "") for k in keys])
    write_atomic(path, (BOM + buffer.getvalue()).encode("utf-8"))


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    os.replace(partial, path)


# --------------------------------------------------------------------------- the class against the worksheet
