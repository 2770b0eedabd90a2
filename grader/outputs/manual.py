"""Manual points: what a tutor gives by hand for the plots and REPORT.md, merged into every output.

`grader grade` writes <out>/manual-template.csv (one row per submission). The tutor copies it to
<out>/manual.csv (or any path given with --manual), fills in the points, and runs `grader grade`
again: the automatic results come from the store in seconds and the manual points are merged into
grades.csv, the report, the feedback pages and the gradebook. A blank cell means "not graded yet".
A bad row never stops grading; it becomes a message in the report and on stderr.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

# The one place that states the manual parts and their maxima.
PARTS = {"plots": 6.0, "report": 4.0}
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


def write_template(path: Path, rows: list[tuple[str, list[str]]]) -> None:
    """One row per (submission id, student ids), points blank, maxima filled in."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for submission, students in rows:
            row = [submission, " ".join(students)]
            for maximum in PARTS.values():
                row += ["", f"{maximum:g}"]
            writer.writerow(row + [""])


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
        for part, maximum in PARTS.items():
            cell = (row.get(f"{part}_points") or "").strip().replace(",", ".")
            if not cell:
                scores[part] = None
                continue
            try:
                value = float(cell)
            except ValueError:
                value = math.nan
            if not math.isfinite(value) or not 0 <= value <= maximum:
                manual.problems.append(f"{where}: {part}_points {cell[:20]!r} is not a number from 0 to {maximum:g}; left blank")
                scores[part] = None
            else:
                scores[part] = value
        manual.points[submission] = scores
        comment = (row.get("comment") or "").strip()
        if comment:
            manual.comments[submission] = comment[:MAX_COMMENT]
    return manual
