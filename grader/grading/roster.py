"""The roster: who a submission belongs to, by one documented rule for ids, names and LMS rows.

Ids (from members.txt, from a Moodle folder, from a worksheet) are compared after `normalise_id`:

    surrounding space dropped, case folded          " S1234567 " -> "s1234567"
    a number a spreadsheet turned into a float      "222.0"      -> "222"
    leading zeros of an all-digit id                "00222"      -> "222"

Group members are matched to the rows of an LMS worksheet (Moodle's grading worksheet) in three
steps, each tried only when the one before found nothing:

    1. by id: the participant number ("Participant 222"), or an "ID number"/"Username" column
    2. by email (case folded)
    3. by exact full name (Unicode NFC, spaces collapsed; case and accents must match)

A step that finds two or more rows is a listed problem, never a guess; so is a member that
matches no row (then the id is not valid for the course and gets no grade row).

Names become ASCII for ids through anyascii (ü -> u, ß -> ss, 日本 -> RiBen): letters are kept,
never dropped.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass, field

SLUG_LENGTH = 48
STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")  # a members.txt id, before normalising


def normalise_id(text: str) -> str:
    """The one comparison form of a student or participant id (see the module docstring)."""
    value = unicodedata.normalize("NFKC", str(text)).strip().casefold()
    if re.fullmatch(r"\d+\.0*", value):
        value = value.split(".", 1)[0]
    if value.isdigit():
        value = value.lstrip("0") or "0"
    return value


def normalise_name(text: str) -> str:
    """A full name for exact comparison: NFC, runs of white space as one space."""
    return " ".join(unicodedata.normalize("NFC", str(text)).split())


def slug(name: str) -> str:
    """An ASCII id part from any name: transliterated (anyascii), lower case, [a-z0-9-], at most 48 characters."""
    from anyascii import anyascii

    ascii_name = anyascii(unicodedata.normalize("NFC", str(name)))
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:SLUG_LENGTH].strip("-")


def clean_filename(text: str) -> str:
    """Moodle's clean_filename (clean_param PARAM_FILE, lib/moodlelib.php): control characters and
    & < > " ` | ' : \\ / removed. A download's folder names went through it."""
    text = re.sub(r"[\x00-\x1f\x7f&<>\"`|':\\/]", "", text)
    return "" if text in (".", "..") else text


def escape_name(text: str) -> str:
    """Moodle's format_string on a group name (lib/classes/formatting.php, default settings): an "&" that starts
    no entity becomes "&amp;", tags are stripped, "<" and ">" become "&lt;" "&gt;"."""
    text = re.sub(r"&(?!(?:[a-zA-Z][a-zA-Z0-9]*|#[0-9]+|#x[0-9a-fA-F]+);)", "&amp;", text)
    return re.sub(r"<[A-Za-z/!?][^>]*(>|$)", "", text).replace("<", "&lt;").replace(">", "&gt;")


def team_prefixes(group: str) -> set[str]:
    """The name parts a download may give a team's folder, compared after normalise_name:
    4.1+ (mod/assign/classes/downloader.php get_student_prefix): clean_filename of format_string(name) with
    "_" as " "; 3.x-4.0 (mod/assign/locallib.php download_submissions): clean_filename of the raw name with
    "_" as " ", followed there by "-<member name>". The worksheet may show the name escaped or not."""
    names = {group, html.unescape(group)}
    found = set()
    for name in names:
        for shown in (escape_name(name), name):
            found.add(normalise_name(clean_filename(shown.replace("_", " "))))
    return found


@dataclass
class Person:
    """One row of an LMS roster (a worksheet row): what identity matching may use."""

    participant: str  # the LMS participant number, normalised ("Participant 222" -> "222")
    name: str = ""
    email: str = ""
    ids: tuple[str, ...] = ()  # other ids the LMS shows (ID number, username), normalised


@dataclass
class Claim:
    """Who a submission says it belongs to: the submitter (LMS folder) and the members.txt lines."""

    submission: str
    participant: str = ""  # from the LMS folder name, normalised; "" when not an LMS folder
    name: str = ""  # the submitter's full name from the LMS folder name
    members: list[str] = field(default_factory=list)  # student ids (members.txt, or the default)
    details: dict[str, dict] = field(default_factory=dict)  # member id -> {"name": ..., "email": ...}


@dataclass
class Match:
    """The roster rows a submission was matched to: student id -> row, plus what could not be matched."""

    rows: dict[str, Person] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def find(key_id: str, email: str, name: str, people: list[Person]) -> tuple[list[Person], str]:
    """The rows for one person by id, then email, then exact full name, and the step that found them."""
    wanted = normalise_id(key_id) if key_id else ""
    if wanted:
        hits = [p for p in people if p.participant == wanted or wanted in p.ids]
        if hits:
            return hits, "id"
    mails = {m.casefold().strip() for m in (email, key_id if "@" in (key_id or "") else "") if m}
    if mails:
        hits = [p for p in people if p.email and p.email.casefold().strip() in mails]
        if hits:
            return hits, "email"
    if name:
        wanted_name = normalise_name(name)
        hits = [p for p in people if p.name and normalise_name(p.name) == wanted_name]
        if hits:
            return hits, "full name"
    return [], ""


def match(claim: Claim, people: list[Person]) -> Match:
    """Each member of a submission matched to one roster row, or a problem that says why not."""
    result = Match()
    taken: dict[str, str] = {}  # participant -> member id
    if claim.participant:
        rows, _ = find(claim.participant, "", "", people)
        submitter = rows[0] if len(rows) == 1 else None
    else:
        submitter = None
    for member in claim.members:
        info = claim.details.get(member, {})
        if claim.participant and normalise_id(member) == claim.participant:
            rows, how = ([submitter], "id") if submitter else ([], "")
        else:
            rows, how = find(member, info.get("email", ""), info.get("name", ""), people)
        if len(rows) > 1:
            shown = ", ".join(f"Participant {p.participant}" for p in rows[:5])
            result.problems.append(f"student {member}: matches {len(rows)} worksheet rows by {how} ({shown}); "
                                   "not graded in the worksheet: decide by hand")  # fmt: skip
            continue
        if not rows:
            result.problems.append(f"student {member}: not found in the worksheet (by id, email or full name); "
                                   "no worksheet grade: check members.txt")  # fmt: skip
            continue
        row = rows[0]
        if row.participant in taken:
            result.problems.append(f"students {taken[row.participant]} and {member} are the same worksheet row "
                                   f"(Participant {row.participant})")  # fmt: skip
            continue
        taken[row.participant] = member
        result.rows[member] = row
    if submitter is not None and submitter.participant not in taken:
        result.problems.append(f"the submitter (Participant {submitter.participant}) is not listed in members.txt; "
                               "graded with this submission")  # fmt: skip
        result.rows[submitter.participant] = submitter
    return result


def person_of(sub, student: str, participant: str) -> tuple[str, str]:
    """A student's own full name and email: the worksheet's row (sub.people), else members.txt, else the LMS folder."""
    if participant and participant in sub.people:
        return sub.people[participant]
    details = sub.details.get(student, {})
    if details.get("name") or details.get("email"):
        return details.get("name", ""), details.get("email", "")
    return (sub.name, "") if student == sub.participant and sub.name else ("", "")


def read_members(text: str, max_group: int, problems: list[str]) -> tuple[list[str], dict[str, dict]]:
    """Ids (normalised), and per id the optional full name and email of a line "s123, Ada Lovelace, ada@uni.example"."""
    text = text.lstrip("\ufeff")
    ids, bad, details = [], [], {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip().strip(",;")
        if not line:
            continue
        fields = [f.strip() for f in re.split(r"[,;\t]", line) if f.strip()]
        first = fields[0]
        if STUDENT_ID.match(first):
            student = normalise_id(first)
            if student not in ids:
                ids.append(student)
                extra = {"email": next((f for f in fields[1:] if "@" in f and " " not in f), "")}
                extra["name"] = next((f for f in fields[1:] if f != extra["email"]), "")[:120]
                if any(extra.values()):
                    details[student] = extra
        else:
            bad.append(repr(line[:40]))
    if bad:
        problems.append(f"members.txt: {len(bad)} line(s) are not valid student ids and were skipped: {', '.join(bad[:5])}")
    if len(ids) > max_group:
        problems.append(
            f"members.txt lists {len(ids)} students, more than {max_group}; only the first {max_group} "
            f"are graded (check by hand): {', '.join(ids)}"
        )
        ids = ids[:max_group]
    if not ids:
        problems.append("members.txt holds no valid student id")
    return ids, {k: v for k, v in details.items() if k in ids}
