"""A Moodle class built to Moodle's own formats (see docs/moodle.md): the "download all submissions" zip
and the offline grading worksheet, for the round-trip self-tests.

    101 Ada Lovelace     solo, the reference solution; also an online-text folder (not a submission)
    102 Jörg Müßig       solo, partly wrong, 1 day 2 hours late (Moodle's status text), old folder style "_/"
    103 Grace Hopper     a group: her folder holds one zip with the files and members.txt naming
    104 Alan Turing        Grace by id+email and Alan by full name only (he has no submission of his own)
    105 Zoë Ünal         no submission
    106 =cmd Carol       crashes at import; a name a spreadsheet would run
    107 Øystein Ørn      a code file over the size cap
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

KIT = Path(__file__).resolve().parents[2]
SAMPLES = KIT / "submissions"
HEADER = ["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade", "Grade can be changed",
          "Last modified (submission)", "Online text", "Last modified (grade)", "Feedback comments"]  # fmt: skip
ROWS = [
    ["Participant 101", "Ada Lovelace", "ada@uni.example", "Submitted for grading", "", "20.00", "Yes",
     "Monday, 30 November 2026, 9:15 PM", "<p>see files</p>", "-", ""],
    ["Participant 102", "Jörg Müßig", "joerg@uni.example", "Submitted for grading - 1 day 2 hours late", "", "20.00", "Yes",
     "Wednesday, 2 December 2026, 2:00 AM", "", "-", ""],
    ["Participant 103", "Grace Hopper", "grace@uni.example", "Submitted for grading", "", "20.00", "Yes",
     "Monday, 30 November 2026, 11:00 PM", "", "-", ""],
    ["Participant 104", "Alan Turing", "alan@uni.example", "No submission", "", "20.00", "Yes", "-", "", "-", ""],
    ["Participant 105", "Zoë Ünal", "zoe@uni.example", "No submission", "", "20.00", "Yes", "-", "", "-", ""],
    ["Participant 106", "=cmd Carol", "carol@uni.example", "Submitted for grading", "", "20.00", "Yes",
     "Monday, 30 November 2026, 8:00 PM", "", "-", ""],
    ["Participant 107", "Øystein Ørn", "oystein@uni.example", "Submitted for grading", "", "20.00", "Yes",
     "Monday, 30 November 2026, 8:30 PM", "", "-", ""],
]  # fmt: skip
MEMBERS = "g1003, Grace Hopper, grace@uni.example\nt2004, Alan Turing\n"


def sample(name: str) -> dict[str, bytes]:
    """A committed sample submission's files by relative path."""
    root = SAMPLES / name
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def write_worksheet(path: Path, header=HEADER, rows=ROWS, bom: bool = True, delimiter: str = ",") -> Path:
    import csv

    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes((("\ufeff" if bom else "") + buffer.getvalue()).encode("utf-8"))
    return path


def make_moodle_class(root: Path) -> tuple[Path, Path]:
    """(the download zip, the worksheet) in root."""
    files: dict[str, bytes] = {}
    for rel, data in sample("ada-lovelace").items():
        files[f"Ada Lovelace_101_assignsubmission_file/{rel}"] = data
    files["Ada Lovelace_101_assignsubmission_onlinetext/onlinetext.html"] = b"<p>see files</p>"
    for rel, data in sample("bob-partly-wrong").items():
        files[f"Jörg Müßig_102_assignsubmission_file_/{rel}"] = data
    group = {f"ex02/{rel}": data for rel, data in sample("ada-lovelace").items()}
    group["ex02/members.txt"] = MEMBERS.encode()
    files["Grace Hopper_103_assignsubmission_file/ex02.zip"] = zip_bytes(group)
    for rel, data in sample("carol-crash").items():
        files[f"=cmd Carol_106_assignsubmission_file/{rel}"] = data
    files["Øystein Ørn_107_assignsubmission_file/exercise02_template.py"] = b"# big\n" + b"x = 1\n" * 50_000
    download = root / "EX02-Exercise 02-42.zip"
    download.write_bytes(zip_bytes(files))
    return download, write_worksheet(root / "Grades-EX02-Exercise 02-42.csv")
