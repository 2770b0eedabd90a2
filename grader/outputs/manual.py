"""Manual points: what a tutor gives by hand for the plots and REPORT.md, merged into every output.

`grader grade` writes <out>/manual-template.csv (one row per submission of this run; rewritten only when
that changes, and never over a sheet someone typed into: update_template) and, when it does not exist
yet, <out>/manual.csv with the same blank rows (never replacing one that exists). The tutor fills in
the points there (or in any file given with --manual), and runs `grader grade` again: the automatic
results come from the store in seconds and the manual points are merged into grades.csv, the report,
the feedback pages and the gradebook. A blank cell means "not graded yet".
A bad row never stops grading; it becomes a message in the report and on stderr.

`grader review` writes the same file through save_points (one row changed, every other row and cell
kept as it was, replaced atomically under a lock), so the CSV stays the one record of manual points:
it can be edited by hand, imported and exported whichever way the points were typed.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

# The one place that states the manual parts, their maxima and the rubric a tutor grades them by.
PARTS = {"plots": 6.0, "report": 4.0}
RUBRIC = {
    "plots": [
        "3 per plot (plots/lr_loss_curves.png, plots/lr_accuracy.png):",
        "1: the plot exists and shows what was asked (training loss per epoch, one curve per learning rate; "
        "final validation accuracy against the learning rate)",
        "1: readable: axes labelled, a legend, a log axis where it helps (the learning rate)",
        "1: it agrees with the grader's re-drawing from the submission's own code",
    ],
    "report": [
        "2 per plot in REPORT.md:",
        "1: says what was expected before the run and what was observed (numbers help)",
        "1: an explanation that fits the observation (why a rate diverges, stalls or works)",
    ],
}
TEMPLATE_NAME = "manual-template.csv"
FILLED_NAME = "manual.csv"
COLUMNS = ["submission", "students", *(c for p in PARTS for c in (f"{p}_points", f"{p}_max")), "comment"]
MAX_ROWS = 10_000
MAX_COMMENT = 2000


@dataclass
class Manual:
    points: dict[str, dict[str, float | None]] = field(default_factory=dict)  # submission -> part -> points
    comments: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    source: Path | None = None

    def of(self, submission: str) -> dict[str, float | None]:
        return {part: self.points.get(submission, {}).get(part) for part in PARTS}

    def total(self, submission: str) -> float:
        return sum(v for v in self.of(submission).values() if v is not None)

    def complete(self, submission: str) -> bool:
        return all(v is not None for v in self.of(submission).values())


def sniff_dialect(text: str):
    """The CSV dialect a spreadsheet wrote (",", ";" from German or French Excel, tab); "," when unsure.

    Sniffed from the header line only: cells below (comments) may hold any of these characters.
    """
    header = text.split("\n", 1)[0]
    try:
        return csv.Sniffer().sniff(header, delimiters=",;\t")
    except csv.Error:
        return csv.excel


def max_points() -> float:
    return sum(PARTS.values())


def template_text(rows: list[tuple[str, list[str]]]) -> str:
    """The blank sheet: one row per (submission id, student ids), points and comment blank, maxima filled in."""
    handle = io.StringIO(newline="")
    writer = csv.writer(handle)
    writer.writerow(COLUMNS)
    for submission, students in rows:
        row = [submission, " ".join(students)]
        for maximum in PARTS.values():
            row += ["", f"{maximum:g}"]
        writer.writerow(row + [""])
    return handle.getvalue()


def write_template(path: Path, rows: list[tuple[str, list[str]]], *, keep: bool = False) -> bool:
    """The blank sheet (template_text) written to `path`.

    keep=True creates the file only when it does not exist (O_EXCL: never replaces a sheet a tutor or
    `grader review` wrote, even one created a moment ago); returns whether the file was written.
    """
    try:
        handle = open(path, "x" if keep else "w", newline="", encoding="utf-8")
    except FileExistsError:
        return False
    with handle:
        handle.write(template_text(rows))
    return True


def update_template(path: Path, rows: list[tuple[str, list[str]]]) -> str | None:
    """<out>/manual-template.csv holding this run's blank sheet: replaced (atomically) only when its content
    would change, so an unchanged class leaves the file and its modification time alone; None, or the note
    for the report when the file holds what someone typed (points, a comment, or a spreadsheet's re-save):
    then it is left as it is, never overwritten."""
    text, name = template_text(rows).encode("utf-8"), Path(path).name
    try:
        current = Path(path).read_bytes()
    except FileNotFoundError:
        current = None
    except OSError as error:  # a folder, or a file we may not read, in its place: not ours to replace
        return (f"{name} was not rewritten: {error.strerror or error} there. Move it away to get this run's "
                f"blank sheet; the grader reads manual points from {FILLED_NAME} (or --manual).")
    if current == text:
        return None
    if current is not None and not is_blank(current):
        return (f"{name} was not rewritten: it holds entries someone typed (or a spreadsheet saved it "
                f"in another form). The grader reads manual points from {FILLED_NAME} (or --manual); move your "
                f"entries there, then delete {name} to get this run's blank sheet again.")
    partial = Path(path).with_name(f".{Path(path).name}.{os.getpid()}.partial")
    partial.write_bytes(text)
    os.replace(partial, path)
    return None


def is_blank(data: bytes) -> bool:
    """Is this a blank sheet as template_text writes them (any rows): the grader's columns, comma-separated,
    nothing in a cell but the submission, its students and the maxima? Anything else is someone's work."""
    try:
        rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    except (UnicodeDecodeError, csv.Error):
        return False
    if not rows or rows[0] != COLUMNS:
        return False
    maxima = [f"{maximum:g}" for maximum in PARTS.values()]
    return all(len(row) == len(COLUMNS) and row[2:-1:2] == [""] * len(PARTS) and row[3:-1:2] == maxima and row[-1] == ""
               for row in rows[1:])


def read_manual(path: Path | None, known: set[str]) -> Manual:
    """The filled-in points; every bad row or cell becomes a message (the rest is still used)."""
    manual = Manual(source=path)
    if path is None or not Path(path).is_file():
        return manual
    name = Path(path).name
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            text = handle.read()
        rows = list(csv.DictReader(io.StringIO(text, newline=""), dialect=sniff_dialect(text)))[: MAX_ROWS + 1]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        manual.problems.append(f"{name}: could not be read ({error}); no manual points used")
        return manual
    if len(rows) > MAX_ROWS:
        manual.problems.append(f"{name}: more than {MAX_ROWS} rows; the rest is ignored")
    for number, row in enumerate(rows[:MAX_ROWS], start=2):
        where = f"{name} line {number}"
        submission = (row.get("submission") or "").strip()
        if not submission:
            if any((v or "").strip() for k, v in row.items() if k != "students"):
                manual.problems.append(f"{where}: no submission id; row ignored")
            continue
        if submission not in known:
            manual.problems.append(f"{where}: unknown submission {submission[:60]!r}; row ignored")
            continue
        if submission in manual.points:
            manual.problems.append(f"{where}: {submission} appears twice; the later row is ignored")
            continue
        scores = {}
        for part in PARTS:
            scores[part], problem = check_points(part, row.get(f"{part}_points"))
            if problem:
                manual.problems.append(f"{where}: {part}_points {problem}; left blank")
        manual.points[submission] = scores
        comment = (row.get("comment") or "").strip()
        if comment:
            manual.comments[submission] = comment[:MAX_COMMENT]
    return manual


def check_points(part: str, cell) -> tuple[float | None, str]:
    """A typed cell as points for `part`: (value, "") or (None, "") when blank, or (None, why it is refused)."""
    maximum = PARTS[part]
    text = str(cell or "").strip().replace(",", ".")
    if not text:
        return None, ""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not 0 <= value <= maximum:
        return None, f"{text[:20]!r} is not a number from 0 to {maximum:g}"
    return value, ""


def format_points(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


@contextlib.contextmanager
def locked(path: Path):
    """Hold an exclusive lock on <path>.lock: one read-change-write of the sheet at a time, across processes."""
    lock = Path(path).with_name(f".{Path(path).name}.lock")
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def save_points(path: Path, submission: str, students: list[str], cells: dict[str, str]) -> None:
    """Set some cells of one submission's row (keys: "<part>_points", "comment"), keeping every other row and cell.

    Call it inside locked(path). The row is added when missing; the file is replaced atomically, so a
    reader sees the old sheet or the new one, never half of one. Values are written as given: check them first.
    """
    path = Path(path)
    header, rows, delimiter = list(COLUMNS), [], ","
    if path.is_file():
        with open(path, newline="", encoding="utf-8-sig") as handle:
            text = handle.read()
        dialect = sniff_dialect(text)  # a sheet saved by German or French Excel keeps its ";"
        reader = csv.DictReader(io.StringIO(text, newline=""), dialect=dialect)
        header += [c for c in reader.fieldnames or [] if c and c not in header]
        rows, delimiter = list(reader), dialect.delimiter
    row = next((r for r in rows if (r.get("submission") or "").strip() == submission), None)
    if row is None:
        row = {"submission": submission, "students": " ".join(students)}
        row.update({f"{p}_max": f"{m:g}" for p, m in PARTS.items()})
        rows.append(row)
    row.update(cells)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    with open(partial, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, restval="", extrasaction="ignore", delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)
