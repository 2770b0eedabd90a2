"""The typed contract between grading and every output: one submission's page data, what a run wrote, the score.

    score(auto, manual, penalty)   the one grade formula: every writer (grades.csv, the pages, Moodle's
                                   worksheet through GradeRow.points, the review app) computes points with it
    SubmissionView                 everything the pages show about one submission (report.html, feedback
                                   pages, the review app); the review snapshot stores it as JSON
    Written                        the files one `grader grade` (or one review save) wrote, and the grade rows
    Absent                         a worksheet row no submission was matched to: a "no submission" row of
                                   grades.csv and of the class page

A SubmissionView is built with every field (a missing one is a TypeError where it is built, or a
SnapshotError where the snapshot is read), and the page templates are checked against its fields when
they are loaded (`check_template`), so a renamed field fails before any page is rendered.
Untrusted strings stay strings here: the templates escape them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from grader.grading.results import DID_NOT_RUN, IMPORT_ERROR
from grader.outputs import manual as manual_points
from grader.outputs.plots import ReportText

UNSANDBOXED = ("process", "in-process", "unsandboxed")  # Result.backend values of code run without bwrap


def score(auto: float, manual: float, penalty: float) -> float:
    """A submission's points: automatic plus manual points, less the late penalty (a fraction of that sum)."""
    return round((auto + manual) * (1 - penalty), 4)


@dataclass
class TestLine:
    """One test as a page shows it: the answer key's test with what the submission earned and lost."""

    id: str
    points: float
    earned: float
    outcome: str
    seconds: float
    doc: str
    message: str  # clipped; for an import error, a pointer to the page's top
    lost: float

    __test__ = False  # not a pytest class


@dataclass
class Figure:
    """One required plot: the submitted PNG (re-encoded, as a data: URI) and the grader's redraw of it."""

    name: str
    submitted: str | None
    submitted_problem: str
    redrawn: str | None


@dataclass
class SubmissionView:
    """Everything the pages show about one submission, manual points included (see `with_manual`)."""

    id: str
    label: str  # the folder's (or LMS entry's) name, untrusted
    members: list[str]
    status: str
    reason: str
    backend: str | None
    seconds: float
    late: str  # how late, in words ("" when on time or unknown)
    penalty: float  # the fraction taken off the total for lateness
    max_points: float
    auto_points: float
    auto_max: float
    tests: list[TestLine]
    problems: list[str]
    ignored: list[str]
    figures: list[Figure]
    history_problem: str
    redraw_note: str  # what the re-drawn plots are: whose code, which rates, how much data ("" without a redraw)
    report: ReportText
    log: str
    stamp: str  # when and with which kit and suite the class was graded
    integrity: list[str]  # similarity hints for the tutor (class page only)
    points: float  # score(auto_points, manual total, penalty)
    manual: list[tuple[str, float | None, float]]  # (part, points or None when not graded yet, maximum)
    manual_comment: str
    people: list[tuple[str, str]]  # (LMS participant number, full name from the worksheet), untrusted names

    @property
    def lost(self) -> list[TestLine]:
        return [t for t in self.tests if t.lost > 0]

    @property
    def unrun(self) -> list[TestLine]:
        """The tests that never ran for this submission: all of them when its file could not be imported, else
        those its stopped run did not reach. One cause, so the pages say it once instead of a row per test."""
        if self.status == IMPORT_ERROR:
            return list(self.tests)
        return [t for t in self.tests if t.outcome == DID_NOT_RUN]

    @property
    def unrun_points(self) -> float:
        return round(sum(t.points for t in self.unrun), 4)

    @property
    def failed(self) -> list[TestLine]:
        """The tests that ran and lost points (each with its own message)."""
        unrun = {t.id for t in self.unrun}
        return [t for t in self.lost if t.id not in unrun]

    @property
    def unsandboxed(self) -> bool:
        return self.backend in UNSANDBOXED

    def with_manual(self, manual: manual_points.Manual) -> "SubmissionView":
        """The same view with the manual points, comment and total of `manual` (the review app re-applies them)."""
        got = manual.of(self.id)
        return dataclasses.replace(
            self,
            points=score(self.auto_points, manual.total(self.id), self.penalty),
            manual=[(part, got[part], maximum) for part, maximum in manual_points.PARTS.items()],
            manual_comment=manual.comments.get(self.id, ""),
        )

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "SubmissionView":
        """The view from its JSON; TypeError, KeyError or ValueError when a field is missing, unknown or malformed."""
        data = dict(data)
        data["tests"] = [TestLine(**t) for t in data["tests"]]
        data["figures"] = [Figure(**f) for f in data["figures"]]
        data["report"] = ReportText(**data["report"])
        data["manual"] = [(str(part), got, float(maximum)) for part, got, maximum in data["manual"]]
        data["people"] = [(str(number), str(name)) for number, name in data["people"]]
        return cls(**data)


@dataclass
class Absent:
    """A student the LMS worksheet lists and no submission was matched to (shown as "no submission").

    points: 0.0 when the upload gives them 0 (--missing-zero), None when it leaves the grade blank, so
    grades.csv and grades-upload.csv say the same; note: why, when the upload does something else.
    """

    participant: str
    name: str  # from the worksheet: untrusted text, escaped by the templates
    email: str
    points: float | None
    note: str = ""


@dataclass
class Written:
    """What one `grader grade` (or one review save) wrote into the output folder, and the grade rows it wrote."""

    report_html: Path
    grades_csv: Path
    results_csv: Path
    gradebook_db: Path
    feedback: Path  # the folder of the feedback pages
    pages: list[Path]  # the feedback pages written (all, or the one a review save rewrote)
    rows: list = field(default_factory=list)  # grades.GradeRow, one per student
    manual_template: Path | None = None  # written by `grader grade`, not by a review save

    def files(self) -> list[Path]:
        """Every file written, for the output folder's manifest (grader.outputs.guard)."""
        files = [*self.pages, self.report_html, self.grades_csv, self.results_csv, self.gradebook_db]
        return files + ([self.manual_template] if self.manual_template is not None else [])


ROOTS = {"v": SubmissionView, "view": SubmissionView, "t": TestLine, "f": Figure}  # a template's names for them


def check_template(env, name: str) -> None:
    """Fail (AttributeError) when the template reads a field SubmissionView, TestLine or Figure does not have.

    Checked when a template is loaded, so a renamed field stops `grader grade` or `grader review`
    before anything is rendered rather than half way through the pages. Names bound to other values
    in the template (rows, bins) are not checked.
    """
    from jinja2 import nodes

    source = env.loader.get_source(env, name)[0]
    missing = set()
    for node in env.parse(source).find_all(nodes.Getattr):
        target = node.node
        kind = ROOTS.get(target.name) if isinstance(target, nodes.Name) else None
        if kind is None and isinstance(target, nodes.Getattr) and isinstance(target.node, nodes.Name):
            if ROOTS.get(target.node.name) is SubmissionView and target.attr == "report":
                kind = ReportText
        if kind is not None and node.attr not in {f.name for f in dataclasses.fields(kind)} and not hasattr(kind, node.attr):
            missing.add(f"{kind.__name__}.{node.attr}")
    if missing:
        raise AttributeError(f"{name} reads {', '.join(sorted(missing))}, which grader/outputs/view.py does not define")
