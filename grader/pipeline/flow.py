"""`grader grade` as explicit steps: take the class, match it, grade it, finish the images, compare it, write it.

Each step is a function of what the earlier ones produced, so the order is in the code: similarity
and the report take the ImageCache that only `finish_images` hands out (after the warm-up thread has
finished writing it), and the output folder's manifest is written last, once every file is recorded.
The sandbox's probe (a trial worker) runs in a thread of its own while the class is taken in. Two kinds of work
overlap the grading: the warm-up (once the first run is handed to the pool: nbgrader's, matplotlib's
and Pillow's imports, the pages' templates; once a result that was not kept arrives, the gradebook's structure as
a gradebook.Draft; then each result's images as it arrives), and the similarity check's costly part (fingerprinting and comparing the code, and the shown
pairs' spans, which need no result), started in a thread of its own as soon as the pool's queue is
empty, so its children take the cores the last runs leave idle; its pages are written after the
warm-up, from the finished images. The report finishes the draft (the scores) or, when it does not fit,
writes the whole gradebook; an unused draft is removed with the intake folder. A step that fails raises a GraderError (or KeyboardInterrupt); `grade_class` then
cancels the warm-up and the similarity check, releases the folder's lock and removes the intake
folder, leaving the results kept so far.
"""

from __future__ import annotations

import datetime
import threading
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from grader.grading import harness, imports, intake, store
from grader.grading import executor as engines
from grader.grading.runner import Runner
from grader.outputs import guard, manual, moodle, report, similarity, snapshot, warmup
from grader.outputs.view import Written
from grader.pipeline.request import Checked, Request, check
from grader.sandbox import staging
from grader.sandbox.error import GraderError
from grader.sandbox.kit import SOLUTION


@dataclass
class Class:
    """The class as taken in: its submissions (copied into the intake folder), notes for the report, what was found."""

    submissions: list
    notes: list[str]
    forbidden: dict  # submission id -> imports the from-scratch rule forbids
    late: dict = field(default_factory=dict)  # submission id -> lateness.Lateness
    absent: list = field(default_factory=list)  # view.Absent: the worksheet's students without a submission
    scan: imports.Scan | None = None  # what each code file imports, kept by content into <out>/results/ (keep())


@dataclass
class Outcome:
    """What a run did: the batch's counts, the files written, the sandbox warning, the LMS files."""

    batch: harness.Batch
    count: int
    written: Written
    banner: str | None
    lms: list[Path]
    unmatched: list[str] = field(default_factory=list)  # submissions no worksheet row matches (they get no LMS grade)


def grade_class(request: Request, *, say, progress=None, executor=None) -> Outcome:
    """Grade the class of `request` into its output folder.

    say(line): a line for the tutor (the CLI prints it on stderr); progress: an object with
    update(done, total, result, cached, in_flight, workers) and finish() (grader.outputs.progress);
    executor: a concurrent.futures executor for the runs (tests pass a fake one); default: the
    engine of request.cluster (the local pool without one).
    """
    checked = check(request)
    out = checked.out
    probing = start_probe(request)  # beside the intake: the pool's first step waits for it
    lock, work = guard.Guard(out), Path(staging.make("grader-intake-"))  # intake outside --out
    warm = comparison = draft = None
    try:
        if out.is_dir():
            lock.lock()  # before intake: a second run into this folder stops at once
        klass = take_class(request, checked, work, say)
        out.mkdir(parents=True, exist_ok=True)
        lock.lock()
        klass.scan.keep()  # once the folder is this run's
        match_people(request, checked, klass, say)
        draft = report.gradebook_draft(out, klass.submissions)  # built by the warm-up, finished by write_all
        warm = warmup.Warmup(report.ImageCache(out / "results" / report.IMAGES), klass.submissions, draft=draft)
        comparison = start_comparison(request, out, klass)
        batch = run_class(request, klass, out, warm, progress, executor, comparison)
        images = finish_images(warm, say)
        points = read_points(request, out, klass, say)
        integrity = compare_class(request, out, klass, images, say, comparison)
        written = report.write_all(out, submissions=klass.submissions, results=batch.results, key=batch.key,
                                   manual=points, notes=klass.notes, banner=report.sandbox_banner(batch.backends),
                                   late=klass.late, stamp=stamp(request),
                                   integrity=integrity.flags if integrity else None, images=images,
                                   absent=klass.absent, draft=draft, moodle=lms_inputs(request, checked))  # fmt: skip
        lock.record(*written.files())
        start_sheet(request, out, klass)  # after the pages: they still say "not graded yet"
        lock.record(*(out / name for name in similarity.OUTPUTS if integrity and integrity.flags is not None))
        lms = write_lms(request, checked, out, batch, written, points, say)
        lock.record(*lms)
        lock.finish()
    finally:
        if warm is not None:
            warm.cancel()  # nothing of it may run once the lock is released and the intake folder is gone
        if comparison is not None:
            comparison.cancel()
        if draft is not None:
            draft.discard()  # a gradebook.db.partial of this run's, unless write_all moved it into place
        lock.release()
        staging.remove(work)
        if probing is not None:
            probing.join()  # no trial worker outlives the command (it is over by the pool's start)
    unmatched = list(checked.sheet.unmatched) if checked.sheet is not None else []
    return Outcome(batch, len(klass.submissions), written, report.sandbox_banner(batch.backends), lms, unmatched)


def start_probe(request: Request) -> threading.Thread | None:
    """The sandbox's probe (grader.sandbox.layout.probe: a trial worker, bwrap, Python and numpy, a share of a second
    of wall; cached per process) started in a thread of its own when the runs are sandboxed, so that it runs while
    the class is taken in and matched, on a core that is idle then, instead of at the pool's start
    (harness.require_sandbox), where the first runs wait for it. Its verdict is the same: the pool asks for it
    there, fails closed there, and the runs are handed it."""
    if request.backend not in (None, "sandbox"):
        return None
    from grader.sandbox import layout

    def run() -> None:
        try:
            layout.probe()
        except Exception:  # noqa: BLE001 - asked again by the pool, which then raises it in its own thread
            pass

    thread = threading.Thread(target=run, name="probe", daemon=True)
    thread.start()
    return thread


def take_class(request: Request, checked: Checked, work: Path, say) -> Class:
    """The submissions copied into `work`, the intake's notes (said), the forbidden imports; none: GraderError."""
    submissions, notes = intake.collect(request.submissions, work)
    scan = imports.Scan(checked.out / "results")  # an unchanged file is not parsed again
    forbidden = imports.check_class(submissions, checked.allowed, scan)
    for note in notes:
        say(f"note: {note}")
    if not submissions:
        raise GraderError(f"no submissions found in {request.submissions}; nothing was graded and {request.out} "
                          "was not changed")  # fmt: skip
    return Class(submissions, notes, forbidden, scan=scan)


def match_people(request: Request, checked: Checked, klass: Class, say) -> None:
    """The worksheet's participants matched to the submissions, and each submission's lateness (said, and notes
    for the report)."""
    if checked.sheet is not None:
        matched = moodle.match_class(checked.sheet, klass.submissions)
        for problem in matched:
            say(f"worksheet: {problem}")
        klass.notes += matched
        klass.absent = moodle.absent_people(checked.sheet, klass.submissions, request.missing_zero)
    klass.late, how_late = moodle.late_class(klass.submissions, checked.sheet, request.deadline, request.late_penalty,
                                             request.timezone)  # fmt: skip
    if how_late:
        say(f"note: {how_late}")
        klass.notes.append(how_late)
    if request.late_penalty:
        penalised = sum(1 for lateness in klass.late.values() if lateness.penalty)
        klass.notes.append(f"late penalty: {request.late_penalty.describe()}; applied to {penalised} submission(s)")


def run_class(request: Request, klass: Class, out: Path, warm: warmup.Warmup, progress, executor,
              comparison=None) -> harness.Batch:  # fmt: skip
    """Every submission's Result (kept or run now); the warm-up begins its imports once the first run is handed to
    the pool (the runs' start leaves a core idle: the fork server's imports) and makes each result's images as it
    arrives, and the similarity check compares the code once the pool's queue is empty, so that its children take
    the cores the last runs leave idle."""
    runner = Runner(request.kit, request.suite.resolve(), budget=request.budget, backend=request.backend)

    def on_result(done, total, result, cached, in_flight=0, workers=None):
        if progress is not None:
            progress.update(done, total, result, cached, in_flight, workers)
        warm.add(result, cached)  # its images are made while the pool grades the rest
        if comparison is not None and done + in_flight >= total:
            comparison.start()  # the queue is empty: every run left is running (the answer key came first)

    kept = store.Store(out / "results")
    try:
        if executor is not None:
            return harness.grade_class(klass.submissions, runner=runner, store=kept, jobs=request.jobs,
                                       progress=on_result, executor=executor, retry_timeouts=request.retry_timeouts,
                                       on_run=warm.begin)  # fmt: skip
        return engines.grade_class(request.cluster, klass.submissions, runner=runner, store=kept, jobs=request.jobs,
                                   progress=on_result, retry_timeouts=request.retry_timeouts,
                                   on_run=warm.begin)  # fmt: skip
    finally:
        if progress is not None:
            progress.finish()


def finish_images(warm: warmup.Warmup, say) -> report.ImageCache:
    """Wait for the warm-up; its ImageCache is what similarity and the report may use from now on."""
    images = warm.finish()
    for failure in warm.failures:
        say(f"note: preparing the outputs early failed ({failure}); they are made now instead")
    return images


def read_points(request: Request, out: Path, klass: Class, say) -> manual.Manual:
    points = manual.read_manual(request.manual or out / manual.FILLED_NAME, {s.id for s in klass.submissions})
    for problem in points.problems:
        say(f"manual points: {problem}")
    return points


def start_sheet(request: Request, out: Path, klass: Class) -> None:
    """<out>/manual.csv with blank points when it does not exist (the default sheet only), so the tutor fills it
    in without a copy step. Never replaced, and not in the manifest, so no later run deletes it."""
    if request.manual is None:
        manual.write_template(out / manual.FILLED_NAME, [(s.id, s.members) for s in klass.submissions], keep=True)


def start_comparison(request: Request, out: Path, klass: Class) -> similarity.Comparison | None:
    """The similarity check of the class, not started yet (None with --no-similarity)."""
    if request.no_similarity:
        return None
    return similarity.Comparison(out, klass.submissions, kit=request.kit, compare_with=request.compare_with,
                                 threshold=request.similarity_threshold, jobs=request.jobs)  # fmt: skip


def compare_class(request: Request, out: Path, klass: Class, images: report.ImageCache, say, comparison=None):
    """similarity.html and .json (None with --no-similarity), from the comparison started beside the pool; its
    problems are said, never fatal."""
    if request.no_similarity:
        return None
    integrity = similarity.write_safely(out, klass.submissions, comparison=comparison, kit=request.kit,
                                       compare_with=request.compare_with, jobs=request.jobs,
                                       threshold=request.similarity_threshold, imports=klass.forbidden,
                                       images=images)  # fmt: skip
    for problem in integrity.problems:
        say(f"similarity: {problem}")
    return integrity


def lms_inputs(request: Request, checked: Checked) -> snapshot.MoodleInputs | None:
    """What moodle/ is made from besides the grades (None without a worksheet): report.write_all keeps it with the
    review snapshot, so that a save in `grader review` writes moodle/ again as write_lms does."""
    if checked.sheet is None:
        return None
    return snapshot.MoodleInputs(request.worksheet, request.columns, request.missing_zero, request.upload_pending,
                                 dict(checked.sheet.team_folders))  # fmt: skip


def write_lms(request: Request, checked: Checked, out: Path, batch, written: Written, points: manual.Manual,
              say) -> list[Path]:  # fmt: skip
    """<out>/moodle/: the worksheet to upload and the feedback zip (nothing without a worksheet); the files."""
    if checked.sheet is None:
        return []
    files, problems = moodle.write_class(out, checked.sheet, written, batch.results, batch.key, points.comments,
                                         request.missing_zero, request.upload_pending)  # fmt: skip
    for problem in problems:
        say(f"worksheet: {problem}")
    return files


def stamp(request: Request) -> str:
    """The date and the versions every page shows: when, which kit, which suite (a hash of what decides grades)."""
    try:
        kit = tomllib.loads((request.kit / "pyproject.toml").read_text())["project"]["version"]
    except (OSError, ValueError, KeyError):
        kit = "unknown"
    suite = store.suite_version(request.kit, request.suite.resolve(), request.kit / SOLUTION)[:12]
    return f"graded {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z} · kit {kit} · suite {suite}"
