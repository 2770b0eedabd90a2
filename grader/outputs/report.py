"""The outputs of `grader grade`: the class report, feedback pages, CSV files and the gradebook.

    report.html              one self-contained page for the tutor (inline images, no script, strict CSP)
    feedback/<id>.html       one page per submission to hand back: every lost point explained
    grades.csv, results.csv  the grade sheets (grader.outputs.grades: one row per student; per student and test)
    gradebook.db             the same grades through nbgrader's Gradebook API (see grader.outputs.gradebook)
    manual-template.csv      the sheet for manual points (see grader.outputs.manual)

Everything a submission supplies (names, text, images, messages) is untrusted: HTML is escaped by
Jinja2's autoescape, images are re-encoded by grader.outputs.plots, CSV cells are neutralised for
spreadsheets. Pages carry a Content-Security-Policy that forbids every script.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import re
import statistics
from pathlib import Path

from grader.outputs import manual as manual_points
from grader.outputs import plots, snapshot
from grader.outputs.grades import GradeRow, grade_rows, participant_of, write_grades_csv, write_results_csv
from grader.outputs.markdown import render_markdown
from grader.outputs.rates import pass_rates
from grader.outputs.view import Absent, Figure, SubmissionView, TestLine, Written, check_template
from grader.grading import roster
from grader.grading.intake import PLOT_NAMES, Submission
from grader.grading.results import GRADED, IMPORT_ERROR, Result

TEMPLATE = "report.html.j2"
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
MESSAGE_CHARS = 1500  # of a test's message on a page
ORDERS = [  # the class table's pre-rendered sort orders (switched by CSS :target, no script)
    ("by-name", "submission A–Z"),
    ("by-points-desc", "points, highest first"),
    ("by-points-asc", "points, lowest first"),
    ("by-status", "status"),
]


def gradebook_draft(out: Path, submissions: list[Submission], course_id: str = "exercise02"):
    """A gradebook.Draft of out's gradebook.db for this class (its people as grade_rows and book_entries will
    name them), or None when a student is in two submissions (which one counts depends on the points)."""
    from grader.outputs import gradebook

    people = {}
    for sub in submissions:
        for student in sub.members if sub.participants is None else list(sub.participants):
            if student in people:
                return None
            participant = participant_of(sub, student)
            name, email = roster.person_of(sub, student, participant)
            people[student] = (student, *gradebook.split_name(name, sub.label), email, participant)
    return gradebook.Draft(out / "gradebook.db", course_id=course_id, people=[people[s] for s in sorted(people)],
                           manual_parts=manual_points.PARTS)  # fmt: skip


# --------------------------------------------------------------------------- pages


def data_uri(png: bytes | None) -> str | None:
    return None if png is None else "data:image/png;base64," + base64.b64encode(png).decode("ascii")


IMAGES = ".images"  # <out>/results/.images/<digest>.json: the PNGs made by earlier runs


class ImageCache:
    """The report's PNGs (re-drawn plots, re-encoded submitted plots) by a digest of their inputs and of plots.py.

    Making them is most of the report's cost (matplotlib draws, Pillow re-encodes); kept here, an
    unchanged class is re-graded without drawing anything. A run removes the entries it did not use.
    """

    def __init__(self, folder: Path | None):
        self.folder, self.used = folder, set()
        self.code = hashlib.sha256(Path(plots.__file__).read_bytes()).digest()

    def get(self, kind: str, payload: bytes, make, dump, load):
        if self.folder is None:
            return make()
        digest = hashlib.sha256(self.code + kind.encode() + b"\0" + payload).hexdigest()
        path = self.folder / f"{digest}.json"
        self.used.add(path.name)
        try:
            return load(json.loads(path.read_text()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass
        value = make()
        self.folder.mkdir(parents=True, exist_ok=True)
        _write_text(path, json.dumps(dump(value)))
        return value

    def redraw(self, histories) -> dict[str, bytes]:
        if not histories:
            return {}
        series = sorted([repr(rate), history] for rate, history in histories.items())
        return self.get("redraw", json.dumps(series, allow_nan=False).encode(), lambda: plots.redraw(histories),
                        lambda pictures: {n: base64.b64encode(png).decode("ascii") for n, png in pictures.items()},
                        lambda data: {n: base64.b64decode(png) for n, png in data.items()})  # fmt: skip

    def check_png(self, path: Path | None) -> plots.Image:
        if path is None:
            return plots.check_png(None)
        return self.get("png", path.read_bytes()[: plots.MAX_BYTES + 1], lambda: plots.check_png(path),
                        lambda image: [None if image.png is None else base64.b64encode(image.png).decode("ascii"),
                                       image.problem, image.size],
                        lambda data: plots.Image(None if data[0] is None else base64.b64decode(data[0]), str(data[1]),
                                                 None if data[2] is None else tuple(data[2])))  # fmt: skip

    def make(self, sub: Submission, result: Result) -> tuple[dict[str, bytes], dict[str, plots.Image]]:
        """One submission's images: the redrawn plots by file name and each submitted plot checked, by plot path."""
        histories, _ = plots.clean_histories(result.artifacts.get("lr_histories"))
        return self.redraw(histories), {plot: self.check_png(sub.plots.get(plot)) for plot in PLOT_NAMES}

    def prune(self) -> None:
        for stale in self.folder.glob("*.json") if self.folder is not None and self.folder.is_dir() else []:
            if stale.name not in self.used and re.fullmatch(r"[0-9a-f]{64}\.json", stale.name):  # only entries it made
                stale.unlink(missing_ok=True)


def submission_view(sub: Submission, result: Result, manual, key, images: ImageCache | None = None, late=None, *,
                    stamp: str = "", integrity: list[str] | None = None) -> SubmissionView:  # fmt: skip
    """Everything the pages show about one submission (untrusted strings stay strings: escaped later).

    late: its grader.grading.lateness.Lateness or None; stamp: date and versions shown on every page;
    integrity: its similarity hints (class page only).
    """
    images = images or ImageCache(None)
    histories, history_problem = plots.clean_histories(result.artifacts.get("lr_histories"))
    redrawn, checked = images.make(sub, result)
    figures = []
    for plot in PLOT_NAMES:
        name = plot.split("/")[-1]
        image = checked[plot]
        figures.append(Figure(name, data_uri(image.png), image.problem, data_uri(redrawn.get(name))))
    auto_max = sum(t.points for t in key)
    tests = [TestLine(t.id, t.points, t.earned, t.outcome, t.seconds, t.doc, _clip(t.message), round(t.points - t.earned, 4))
             for t in result.tests]  # fmt: skip
    if result.status == IMPORT_ERROR:  # one cause, said once at the top of the page, not in every row
        for test in tests:
            test.message = "not run: the file could not be imported (see the top of the page)"
    view = SubmissionView(
        id=sub.id,
        label=sub.label,
        members=sub.members,
        status=result.status,
        reason=result.reason,
        backend=result.backend,
        seconds=result.seconds,
        late=late.describe() if late else "",
        penalty=late.penalty if late else 0.0,
        max_points=round(auto_max + manual_points.max_points(), 4),
        auto_points=result.points,
        auto_max=auto_max,
        tests=tests,
        problems=sub.problems,
        ignored=sub.ignored,
        figures=figures,
        history_problem=history_problem if result.status == GRADED else "",
        redraw_note=plots.describe_redraw(histories, result.artifacts.get("lr_redraw")),
        report=plots.read_report(sub.report),
        log=result.log[-6000:],
        stamp=stamp,
        integrity=list(integrity or []),
        points=0.0,
        manual=[],
        manual_comment="",
        people=[(p, sub.people.get(p, ("", ""))[0]) for p in dict.fromkeys((sub.participants or {}).values())],
    )  # the manual points, comment and total: with_manual
    return view.with_manual(manual)


def class_view(views: list[SubmissionView], key) -> dict:
    totals = [v.points for v in views]
    maximum = views[0].max_points if views else 0
    bins = [0] * 10
    for total in totals:
        bins[min(9, int(10 * total / maximum)) if maximum else 0] += 1
    top = max(bins) or 1
    histogram = [{"label": f"{10 * i}–{10 * (i + 1)} %", "count": c, "height": round(100 * c / top)} for i, c in enumerate(bins)]
    passed = [sum(1 for v in views if v.tests[i].outcome == "passed") for i in range(len(key))]
    rates = pass_rates(key, passed, len(views))  # one line per test function, its cases in a fold
    by = {
        "by-name": sorted(views, key=lambda v: v.id),
        "by-points-desc": sorted(views, key=lambda v: (-v.points, v.id)),
        "by-points-asc": sorted(views, key=lambda v: (v.points, v.id)),
        "by-status": sorted(views, key=lambda v: (v.status, v.id)),
    }
    return {
        "count": len(views),
        "mean": round(statistics.mean(totals), 2) if totals else 0,
        "median": round(statistics.median(totals), 2) if totals else 0,
        "max_points": maximum,
        "histogram": histogram,
        "rates": rates,
        "orders": [(name, label, by[name]) for name, label in ORDERS],
    }


@functools.cache
def environment():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).resolve().parent),
        autoescape=True,  # every value is escaped unless marked safe; only render_markdown's output is
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["markdown"] = render_markdown
    check_template(env, TEMPLATE)  # a field the page reads and the view lacks fails here, before any page
    return env


def write_pages(out: Path, views: list[SubmissionView], key, *, notes: list[str], banner: str | None, manual_problems: list[str],
                manual_source: str | None, only: str | None = None, absent: list[Absent] = ()) -> list[Path]:  # fmt: skip
    """report.html and the feedback pages (with `only`: report.html and that submission's feedback page).

    Returns the feedback pages written; stale ones are left to grader.outputs.guard (it deletes only its own).
    """
    template = environment().get_template(TEMPLATE)
    stamp = views[0].stamp if views else ""  # when and with which kit and suite
    common = {"csp": CSP, "banner": banner, "manual_parts": manual_points.PARTS, "stamp": stamp}
    similarity = (out / "similarity.html").is_file()  # grader.outputs.similarity's page: linked from the class page
    html = template.render(page="class", views=views, overview=class_view(views, key), notes=notes, similarity=similarity, absent=absent,
                           manual_problems=manual_problems, manual_source=manual_source, **common)  # fmt: skip
    _write_text(out / "report.html", html)
    feedback = out / "feedback"
    feedback.mkdir(exist_ok=True)
    pages = []
    for view in views:
        if only is None or view.id == only:
            pages.append(feedback / f"{view.id}.html")
            _write_text(pages[-1], template.render(page="feedback", view=view, **common))
    return pages


def write_all(out: Path, *, submissions: list[Submission], results: dict[str, Result], key, manual,
              notes: list[str], banner: str | None, course_id: str = "exercise02", late=None,
              stamp: str = "", integrity: dict | None = None, images: ImageCache | None = None,
              absent: list[Absent] = (), draft=None, moodle=None) -> Written:  # fmt: skip
    """Every output of `grader grade` into `out`; returns what was written.

    late: submission id -> Lateness (grader.grading.lateness); stamp: date and versions shown on every page;
    integrity: submission id -> [hint] from grader.outputs.similarity (class page only; None: not run);
    images: the ImageCache of out (grader.outputs.warmup fills it while the pool grades); default: a new one;
    absent: the worksheet's students without a submission (grader.outputs.moodle.absent_people);
    draft: the gradebook's structure built while the pool graded (gradebook_draft), or None;
    moodle: what moodle/ is made from (snapshot.MoodleInputs, kept with the snapshot), None without a worksheet."""
    late, integrity = late or {}, integrity or {}
    out.mkdir(parents=True, exist_ok=True)
    kept = manual_points.update_template(out / manual_points.TEMPLATE_NAME, [(s.id, s.members) for s in submissions])
    notes = notes + [kept] if kept else notes  # a sheet someone typed into is left as it is: the report says so
    images = images or ImageCache(out / "results" / IMAGES)
    views = [submission_view(s, results[s.id], manual, key, images, late.get(s.id), stamp=stamp,
                             integrity=integrity.get(s.id, [])) for s in submissions]  # fmt: skip
    images.prune()
    snapshot.write_snapshot(out, submissions=submissions, results=results, key=key, views=views, notes=notes,
                            banner=banner, course_id=course_id, absent=absent, moodle=moodle)  # fmt: skip
    written = write_scored(out, submissions=submissions, results=results, key=key, views=views, manual=manual,
                           notes=notes, banner=banner, course_id=course_id, absent=absent, draft=draft)  # fmt: skip
    written.manual_template = out / manual_points.TEMPLATE_NAME
    return written


def write_scored(out: Path, *, submissions, results, key, views, manual, notes, banner, course_id: str,
                 only: str | None = None, absent: list[Absent] = (), draft=None) -> Written:  # fmt: skip
    """Every output that shows manual points: grades.csv, results.csv, report.html, feedback pages, gradebook.db.

    `grader grade` writes them all; `grader review` after a save passes `only` (that submission's
    feedback page is rewritten, and the gradebook's grades are updated in place rather than rebuilt).
    """
    rows = grade_rows(submissions, results, manual, {v.id: (v.late, v.penalty) for v in views})
    write_grades_csv(out / "grades.csv", rows, absent, sum(t.points for t in key))
    write_results_csv(out / "results.csv", submissions, results, manual)
    views = [v.with_manual(manual) for v in views]
    source = str(manual.source.name) if manual.source and manual.source.is_file() else None
    pages = write_pages(out, views, key, notes=notes, banner=banner, manual_problems=manual.problems,
                        manual_source=source, only=only, absent=absent)  # fmt: skip
    gradebook = write_gradebook_cached(out, rows, key, submissions, course_id, only is not None, draft, absent)
    return Written(report_html=out / "report.html", grades_csv=out / "grades.csv", results_csv=out / "results.csv",
                   gradebook_db=gradebook, feedback=out / "feedback", pages=pages, rows=rows)  # fmt: skip


def write_gradebook_cached(out: Path, rows: list[GradeRow], key, submissions, course_id: str,
                           in_place: bool = False, draft=None, absent: list[Absent] = ()) -> Path:  # fmt: skip
    """gradebook.db from the rows, rebuilt only when its content would change (grader.outputs.gradebook.write_cached;
    in_place: `grader review`'s update; draft: the gradebook.Draft the warm-up built while the pool graded; absent:
    students without a submission, id = participant as in grades.csv)."""
    from grader.outputs import gradebook

    labels = {s.id: s.label for s in submissions}
    book = [gradebook.Entry(r.student, *gradebook.split_name(r.name, labels.get(r.submission, "")), r.email, r.earned, r.manual,
                            r.participant, r.penalty) for r in rows]  # fmt: skip
    missing = [(a.participant, *gradebook.split_name(a.name, ""), a.email, a.participant) for a in absent]
    return gradebook.write_cached(out, book, [(t.id, t.points) for t in key], course_id=course_id,
                                  manual_parts=manual_points.PARTS, in_place=in_place, draft=draft, absent=missing)  # fmt: skip


def _clip(text: str) -> str:
    return text if len(text) <= MESSAGE_CHARS else text[:MESSAGE_CHARS] + " …"


def _write_text(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def sandbox_banner(backends: set[str]) -> str | None:
    """A warning for the report and stderr when submission code did not run in the bwrap sandbox."""
    if backends and backends <= {"bwrap"}:
        return None
    if "in-process" in backends:
        return ("NOT SANDBOXED: submission code ran inside the grading process (--in-process); "
                "a hostile submission could have changed its own grade. Do not publish these grades.")  # fmt: skip
    try:
        from grader.sandbox import probe

        mode, reason = probe()
    except Exception:  # no sandbox module, or it failed: say so rather than guess
        return "sandbox status unknown: grader.sandbox.probe() is not available"
    if "process" in backends or mode != "bwrap":
        return (f"NOT SANDBOXED (--no-sandbox): submissions ran in a separate worker process without the bwrap "
                f"sandbox ({reason}). Results are trustworthy only if no submission attacked the grader.")  # fmt: skip
    return None
