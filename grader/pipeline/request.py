"""What `grader grade` was asked to do, typed, and the checks that refuse bad input before anything is touched."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from grader.sandbox.error import InputError


@dataclass
class Request:
    """The options of `grader grade` (names as the CLI's); paths relative to the current folder."""

    submissions: Path  # a folder of submission folders, or an LMS zip
    out: Path
    kit: Path  # the kit whose solution, suite and rules grade
    suite: Path
    jobs: int | None = None
    budget: float = 600.0
    cluster: str | None = None
    manual: Path | None = None  # default <out>/manual.csv
    backend: str | None = None  # None: the sandbox; "unsandboxed" (--no-sandbox); self-tests: "in-process"
    worksheet: Path | None = None
    columns: dict | None = None  # the worksheet's headers in another language (language.parse_columns)
    upload_pending: bool = False  # grades with manual points pending go into the upload too
    missing_zero: bool = False
    deadline: object = None  # datetime from lateness.parse_deadline
    timezone: object = None  # the course's zone for --deadline and the worksheet's times
    late_penalty: object = None  # lateness.Policy
    compare_with: list[Path] = field(default_factory=list)
    similarity_threshold: float = 0.5
    no_similarity: bool = False
    retry_timeouts: bool = False  # grade again the kept results stopped only for idling

    @classmethod
    def from_options(cls, options, **fixed) -> "Request":
        """From an argparse namespace: every field of the same name, plus `fixed` (the kit)."""
        names = {f.name for f in dataclasses.fields(cls)} - set(fixed)
        return cls(**{name: getattr(options, name) for name in names if hasattr(options, name)}, **fixed)


@dataclass
class Checked:
    """What the checks read: the output folder (absolute), the from-scratch rule, the worksheet or None."""

    out: Path
    allowed: tuple[str, ...]
    sheet: object = None  # moodle.Worksheet


def check(request: Request) -> Checked:
    """Refuse (InputError) what cannot be graded, before the output folder or anything else is touched."""
    from grader.grading import imports, intake
    from grader.outputs import worksheet

    if not request.submissions.exists():
        raise InputError(f"{request.submissions} does not exist (give a folder of submissions or an LMS zip)")
    out = request.out.resolve()
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {request.out} is a file, not a folder")
    if intake.out_inside(request.submissions, out):
        raise InputError(f"--out {request.out} is inside the submissions folder {request.submissions}; "
                         "give an --out outside it (its files would be read as submissions)")  # fmt: skip
    absent = next((p for p in request.compare_with if not p.exists()), None)
    if absent is not None:
        raise InputError(f"--compare-with {absent} does not exist")
    try:
        allowed = imports.read_allowed(request.kit)  # the from-scratch rule: tests/allowed_imports.txt
    except (OSError, ValueError) as error:
        raise InputError(f"cannot read the from-scratch rule: {error}") from None
    sheet = worksheet.read_worksheet(request.worksheet, request.columns) if request.worksheet else None
    return Checked(out, allowed, sheet)
