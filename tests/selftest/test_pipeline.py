"""The grading pipeline (grader/pipeline/) driven in-process with a fake executor: no pytest run, no sandbox.

The fake executor answers each run with a canned results.json for the stand-in suite's tests,
chosen by a marker in the code file, so these tests prove what the pipeline does with results
(the steps' order, the outputs, an interruption, refused input), not what the suite decides.
"""

from __future__ import annotations

import csv
import json
import shutil
import threading
from concurrent.futures import Executor, Future
from pathlib import Path

import pytest

from classroom import KIT, STANDIN

SOLUTION = (KIT / "solutions" / "exercise02.py").read_bytes()
TESTS = [("test_sigmoid_values", 10.0), ("test_softmax_rows", 20.0), ("test_mlp_shapes", 30.0)]


class FakeExecutor(Executor):
    """Runs nothing: each submitted run_code(runner, name, code, seed) gets canned results at once.

    The solution passes every test; other code passes the tests whose names it contains; code
    containing "CANCEL" comes back cancelled, as a run does when its cluster goes away.
    """

    def __init__(self):
        self.runs: list[bytes] = []

    def submit(self, fn, runner, name, code, seed):
        self.runs.append(code)
        future = Future()
        if b"CANCEL" in code:
            future.cancel()
            future.set_running_or_notify_cancel()  # as an executor does: waiters see it done
            return future
        passed = {test for test, _ in TESTS if code == SOLUTION or test.encode() in code}
        tests = [{"id": test, "points": points, "earned": points if test in passed else 0.0,
                  "outcome": "passed" if test in passed else "failed", "doc": f"Does {test} hold?",
                  "message": "" if test in passed else f"{test}: expected 1, got 2"} for test, points in TESTS]  # fmt: skip
        future.set_result(({"version": 1, "backend": "fake", "tests": tests, "artifacts": {}}, "graded", "", "log", 0.5,
                           "fake:1"))  # fmt: skip
        return future


def make_class(root: Path, codes: dict[str, str]) -> Path:
    source = root / "class"
    for name, code in codes.items():
        (source / name).mkdir(parents=True)
        (source / name / "exercise02.py").write_text(code)
    return source


def request_for(source: Path, out: Path, **options):
    from grader.pipeline.request import Request

    return Request(submissions=source, out=out, kit=KIT, suite=STANDIN, jobs=2, **{"backend": "fake", **options})


@pytest.fixture(scope="session")
def empty_gradebook(tmp_path_factory) -> Path:
    """nbgrader's empty gradebook, made once: making it runs nbgrader's alembic subprocess (seconds)."""
    from grader.outputs import gradebook, shelf

    root = tmp_path_factory.mktemp("cache-seed")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRADER_CACHE", str(root))
        shelf.copy_empty(root / "made.db", "exercise02", gradebook.api().Gradebook)
    return next((root / "gradebooks").glob("empty-*.db"))


@pytest.fixture(autouse=True)
def no_user_cache(monkeypatch, tmp_path, empty_gradebook):
    """The fake answer key must never reach the user's cache of answer keys (or its gradebooks): each test has a
    cache folder of its own, which holds only nbgrader's empty gradebook when the test starts."""
    cache = tmp_path / "user-cache"
    (cache / "gradebooks").mkdir(mode=0o700, parents=True)
    cache.chmod(0o700)
    shutil.copyfile(empty_gradebook, cache / "gradebooks" / empty_gradebook.name)
    monkeypatch.setenv("GRADER_CACHE", str(cache))


def test_pipeline_grades_a_class_with_a_fake_executor(tmp_path):
    """Does the pipeline run the answer key first, grade each submission once, and write grades, pages and manifest?"""
    from grader.pipeline import flow

    source = make_class(tmp_path, {"ann": "x = 1  # test_sigmoid_values test_mlp_shapes\n", "bob": "y = 2\n",
                                   "eve": "def broken(:\n"})  # fmt: skip
    said, fake = [], FakeExecutor()
    done = flow.grade_class(request_for(source, tmp_path / "out", no_similarity=True), say=said.append, executor=fake)
    assert fake.runs[0] == SOLUTION and len(fake.runs) == 3  # the key, ann, bob; eve's syntax error is never run
    assert (done.batch.graded, done.batch.cached, done.batch.failed, done.count) == (2, 0, 1, 3)
    with open(done.written.grades_csv, newline="") as handle:
        points = {row["student"]: (row["auto_points"], row["status"]) for row in csv.DictReader(handle)}
    assert points == {"ann": ("40", "graded; manual points pending"), "bob": ("0", "graded; manual points pending"),
                      "eve": ("0", "syntax-error; manual points pending")}  # fmt: skip
    manifest = json.loads((tmp_path / "out" / ".grader-manifest.json").read_text())["files"]
    assert {"report.html", "grades.csv", "feedback/ann.html", "manual-template.csv"} <= set(manifest)
    assert not (tmp_path / "out" / "similarity.html").exists() and said == []
    again = flow.grade_class(request_for(source, tmp_path / "out", no_similarity=True), say=said.append, executor=fake)
    assert (again.batch.graded, again.batch.cached) == (0, 3) and len(fake.runs) == 3  # kept results: nothing run



def test_a_run_leaves_an_unchanged_manual_template_alone_and_never_overwrites_one_typed_into(tmp_path):
    """Does a run of an unchanged class leave manual-template.csv untouched (its modification time too), and a run
    after a tutor typed points into it keep them (and keep it in the manifest), saying so in report.html?"""
    import os

    from grader.pipeline import flow

    source = make_class(tmp_path, {"ann": "x = 1\n", "bob": "y = 2\n"})
    out, fake = tmp_path / "out", FakeExecutor()
    flow.grade_class(request_for(source, out, no_similarity=True), say=print, executor=fake)
    template, old = out / "manual-template.csv", 1_000_000_000_000_000_000
    os.utime(template, ns=(old, old))
    flow.grade_class(request_for(source, out, no_similarity=True), say=print, executor=fake)
    assert template.stat().st_mtime_ns == old and "was not rewritten" not in (out / "report.html").read_text()
    typed = template.read_bytes().replace(b"ann,ann,,6,,4,", b"ann,ann,5,6,3,4,nice plots")
    template.write_bytes(typed)
    (source / "cy").mkdir()
    (source / "cy" / "exercise02.py").write_text("z = 3\n")  # a new submission: the blank sheet would change
    flow.grade_class(request_for(source, out, no_similarity=True), say=print, executor=fake)
    assert template.read_bytes() == typed
    assert "manual-template.csv was not rewritten" in (out / "report.html").read_text()
    assert "manual-template.csv" in json.loads((out / ".grader-manifest.json").read_text())["files"]

class GatedExecutor(FakeExecutor):
    """FakeExecutor whose last run of the class answers only once `gate` is set (or after `seconds`), from a thread:
    what the pipeline does while that run is still going shows in the order of events."""

    def __init__(self, runs: int, gate, seconds: float = 20.0):
        super().__init__()
        self.total, self.gate, self.seconds = runs, gate, seconds

    def submit(self, fn, runner, name, code, seed):
        done = super().submit(fn, runner, name, code, seed)
        if len(self.runs) < self.total:
            return done
        pending = Future()

        def answer():
            self.gate.wait(self.seconds)
            pending.set_result(done.result())

        threading.Thread(target=answer, daemon=True).start()
        return pending


def test_similarity_compares_the_code_beside_the_pool_and_writes_its_page_between_warm_up_and_report(tmp_path,
                                                                                                     monkeypatch):
    """Does the similarity check start comparing code while the pool's last run is still going (once the pool's
    queue is empty), and are the steps still warm-up -> similarity page -> report, sharing the warm-up's ImageCache?"""
    from grader.grading import harness
    from grader.outputs import report, similarity, warmup
    from grader.pipeline import flow

    order, caches, started = [], [], threading.Event()
    finish, compare, write, code = warmup.Warmup.finish, similarity.write_safely, report.write_all, similarity.Comparison._run
    pool = harness.grade_class

    def comparing_code(self):
        order.append("similarity compares code")
        started.set()  # lets the pool's last run answer
        return code(self)

    def grading(*args, **options):
        batch = pool(*args, **options)
        order.append("pool finished")
        return batch

    def finishing(self):
        order.append("warm-up finished")
        return finish(self)

    def comparing(out, submissions, **options):
        order.append("similarity page")
        caches.append(options["images"])
        return compare(out, submissions, **options)

    def writing(out, **options):
        order.append("report")
        caches.append(options["images"])
        return write(out, **options)

    monkeypatch.setattr(similarity.Comparison, "_run", comparing_code)
    monkeypatch.setattr(harness, "grade_class", grading)
    monkeypatch.setattr(warmup.Warmup, "finish", finishing)
    monkeypatch.setattr(similarity, "write_safely", comparing)
    monkeypatch.setattr(report, "write_all", writing)
    source = make_class(tmp_path, {"ann": "x = 1\n", "bob": "x = 1\n", "cid": "y = 2\n"})
    fake = GatedExecutor(runs=4, gate=started)  # the key and three submissions, two at a time (jobs=2)
    flow.grade_class(request_for(source, tmp_path / "out"), say=lambda line: None, executor=fake)
    assert order == ["similarity compares code", "pool finished", "warm-up finished", "similarity page", "report"]
    assert caches[0] is caches[1] and isinstance(caches[0], report.ImageCache)
    assert (tmp_path / "out" / "similarity.html").is_file()  # its content: the next test (same page as without the overlap)


def test_the_similarity_check_gives_the_same_page_beside_the_pool_as_after_it(tmp_path):
    """Is similarity.json the same whether the code was compared beside the pool (the pipeline) or in one step
    after it (write_similarity, as before the overlap)?"""
    from grader.grading import intake
    from grader.outputs import similarity
    from grader.pipeline import flow

    body = SOLUTION.decode().replace("def ", "def  ")  # the same code for the fingerprints: a flagged pair
    source = make_class(tmp_path, {"ann": body, "bob": body, "cid": "y = 2\n"})
    flow.grade_class(request_for(source, tmp_path / "out"), say=lambda line: None, executor=FakeExecutor())
    submissions, _ = intake.collect(source, tmp_path / "intake")
    similarity.write_similarity(tmp_path / "alone", submissions, kit=KIT, jobs=2, imports={})
    piped, alone = (json.loads((tmp_path / d / "similarity.json").read_text()) for d in ("out", "alone"))
    assert piped["pairs"] and piped == alone


def test_an_interrupted_run_keeps_its_results_and_releases_the_folder(tmp_path):
    """When the executor cancels a run: is it Interrupted (exit 130), with finished results kept and the lock released?"""
    from grader.grading.harness import Interrupted
    from grader.outputs import guard
    from grader.pipeline import flow

    source = make_class(tmp_path, {"ann": "x = 1\n", "zed": "CANCEL\n"})
    with pytest.raises(Interrupted, match=r"stopped: 1 of 2 submissions are graded and kept in .*results") as stop:
        flow.grade_class(request_for(source, tmp_path / "out"), say=lambda line: None, executor=FakeExecutor())
    assert stop.value.exit_code == 130
    assert (tmp_path / "out" / "results" / "ann.json").is_file() and not (tmp_path / "out" / "report.html").exists()
    lock = guard.Guard(tmp_path / "out")
    lock.lock()  # free again
    lock.release()


def test_bad_input_is_refused_before_the_output_folder_is_touched(tmp_path):
    """Is an --out inside the submissions folder, or a missing --compare-with, an InputError with nothing written?"""
    from grader.pipeline import flow
    from grader.sandbox.error import InputError

    source = make_class(tmp_path, {"ann": "x = 1\n"})
    fake = FakeExecutor()
    with pytest.raises(InputError, match="inside the submissions folder"):
        flow.grade_class(request_for(source, source / "out"), say=print, executor=fake)
    with pytest.raises(InputError, match="--compare-with .*does not exist"):
        flow.grade_class(request_for(source, tmp_path / "out", compare_with=[tmp_path / "nope"]), say=print, executor=fake)
    assert fake.runs == [] and not (source / "out").exists() and not (tmp_path / "out").exists()


def test_request_takes_the_cli_options_by_name():
    """Does Request.from_options take every field from the CLI's parsed options (so a new option cannot be dropped)?"""
    import dataclasses

    from grader import cli
    from grader.pipeline.request import Request

    options = cli.build_parser().parse_args(["grade", "--no-similarity", "-j", "3"])
    request = Request.from_options(options, kit=KIT)
    assert request.no_similarity and request.jobs == 3 and request.kit == KIT
    missing = {f.name for f in dataclasses.fields(Request)} - set(vars(options)) - {"kit"}
    assert not missing, f"Request fields the CLI does not set: {missing}"


@pytest.mark.parametrize("missing_zero", [False, True])
def test_worksheet_students_without_a_submission_are_rows_of_grades_csv_and_the_report(tmp_path, missing_zero):
    """Does a worksheet's student without a submission get a "no submission" row in grades.csv and report.html, with
    the points the Moodle upload gives them (blank, or 0 with --missing-zero), and does the report show each
    participant's worksheet name, escaped?"""
    from grader.pipeline import flow

    source = make_class(tmp_path, {"Ada Lovelace_101_assignsubmission_file_": "x = 1  # test_sigmoid_values\n"})
    sheet = tmp_path / "worksheet.csv"
    with open(sheet, "w", newline="", encoding="utf-8") as handle:
        rows = [["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade", "Grade can be changed",
                 "Last modified (grade)"],
                ["Participant 101", "Ada <i>Lovelace</i>", "ada@uni.example", "Submitted for grading", "", "20.00", "Yes", "-"],
                ["Participant 102", "<b>Bob</b> & Co", "bob@uni.example", "No submission", "", "20.00", "Yes", "-"]]  # fmt: skip
        csv.writer(handle).writerows(rows)
    out = tmp_path / "out"
    done = flow.grade_class(request_for(source, out, no_similarity=True, worksheet=sheet, missing_zero=missing_zero),
                            say=lambda line: None, executor=FakeExecutor())  # fmt: skip
    with open(done.written.grades_csv, newline="") as handle:
        grades = {row["participant"]: row for row in csv.DictReader(handle)}
    assert set(grades) == {"101", "102"} and grades["101"]["status"].startswith("graded")
    bob = grades["102"]
    assert (bob["student"], bob["submission"], bob["status"]) == ("102", "", "no submission")
    assert (bob["points"], bob["auto_points"]) == (("0", "0") if missing_zero else ("", ""))
    assert bob["max_points"] == grades["101"]["max_points"]
    with open(out / "moodle" / "grades-upload.csv", newline="", encoding="utf-8-sig") as handle:
        upload = {row["Identifier"]: row["Grade"] for row in csv.DictReader(handle)}
    assert upload["Participant 102"] == ("0.00" if missing_zero else "")  # grades.csv says what the upload does
    page = (out / "report.html").read_text()
    assert "<b>Bob</b>" not in page and "<i>Lovelace</i>" not in page
    row = page.split('<tr class="absent">', 1)[1].split("</tr>", 1)[0]
    assert "Participant 102" in row and "&lt;b&gt;Bob&lt;/b&gt; &amp; Co" in row and "no submission" in row
    assert "Participant 101 · Ada &lt;i&gt;Lovelace&lt;/i&gt;" in page  # the name next to the participant number


def book_contents(path: Path) -> dict:
    """Every table of a gradebook, rows sorted, nbgrader's random ids masked (they differ between any two writes)."""
    import re
    import sqlite3

    hexid = re.compile(r"[0-9a-f]{32}")
    with sqlite3.connect(path) as db:
        tables = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: sorted((tuple("<id>" if isinstance(v, str) and hexid.fullmatch(v) else v for v in row)
                           for row in db.execute(f"SELECT * FROM {t}")), key=repr) for t in tables}  # fmt: skip


def test_the_gradebook_drafted_beside_the_pool_holds_what_a_whole_write_holds(tmp_path, monkeypatch):
    """Is the gradebook whose structure the warm-up built while the pool graded (only the scores added after it) the
    same, table by table, as the gradebook written whole after the pool, manual points included, and is the
    draft's partial file gone?"""
    import sqlite3

    from grader.outputs import gradebook, manual, report
    from grader.pipeline import flow

    source = make_class(tmp_path, {"ann": "x = 1  # test_sigmoid_values test_mlp_shapes\n", "bob": "y = 2\n",
                                   "eve": "def broken(:\n"})  # fmt: skip
    sheet = tmp_path / "marks.csv"
    sheet.write_text(",".join(manual.COLUMNS) + "\nann,ann,5,6,3,4\n")
    finished, finish = [], gradebook.Draft.finish
    monkeypatch.setattr(gradebook.Draft, "finish", lambda self, **kw: finished.append(finish(self, **kw)) or finished[-1])
    flow.grade_class(request_for(source, tmp_path / "drafted", no_similarity=True, manual=sheet), say=print,
                     executor=FakeExecutor())  # fmt: skip
    assert finished == [True]  # the draft was built and used
    monkeypatch.setattr(report, "gradebook_draft", lambda out, submissions: None)
    for kept in (tmp_path / "user-cache" / "gradebooks").glob("*.db"):  # not the drafted one's copy: written whole
        if not kept.name.startswith("empty-"):
            kept.unlink()
    flow.grade_class(request_for(source, tmp_path / "whole", no_similarity=True, manual=sheet), say=print,
                     executor=FakeExecutor())  # fmt: skip
    assert finished == [True]  # no draft this time: written whole
    drafted, whole = (book_contents(tmp_path / d / "gradebook.db") for d in ("drafted", "whole"))
    assert drafted == whole and len(drafted["grade"]) == 3 * (len(TESTS) + len(manual.PARTS))
    with sqlite3.connect(tmp_path / "drafted" / "gradebook.db") as db:
        assert (5.0,) in db.execute("SELECT manual_score FROM grade").fetchall(), "ann's manual points are in it"
    assert not list((tmp_path / "drafted").glob("*.partial"))


def test_a_draft_that_does_not_fit_the_final_rows_is_not_used_and_is_removed(tmp_path):
    """When the final rows name another student (or other tests) than the draft was built for: does finish() refuse,
    leaving no gradebook, and does discard() remove the draft's partial file?"""
    from grader.outputs import gradebook

    people = [("ann", "Ann", "Lee", "", "")]
    draft = gradebook.Draft(tmp_path / "gradebook.db", course_id="exercise02", people=people, manual_parts={"plots": 6.0})
    draft.build([("test_a", 1.0)])
    assert draft.partial.is_file()
    other = gradebook.Entry("bob", "Bob", "Ray", "", {"test_a": 1.0}, {"plots": None})
    ann = gradebook.Entry("ann", "Ann", "Lee", "", {"test_a": 1.0}, {"plots": None})
    assert not draft.finish(course_id="exercise02", tests=[("test_a", 1.0)], rows=[other], manual_parts={"plots": 6.0})
    assert not draft.finish(course_id="exercise02", tests=[("test_b", 1.0)], rows=[ann], manual_parts={"plots": 6.0})
    assert not (tmp_path / "gradebook.db").exists()
    draft.discard()
    assert not draft.partial.exists()
    assert draft.finish(course_id="exercise02", tests=[("test_a", 1.0)], rows=[ann], manual_parts={"plots": 6.0}) is False


def test_a_draft_never_makes_the_empty_gradebook(tmp_path, monkeypatch):
    """Without nbgrader's empty gradebook in the cache, does the draft build nothing (making one runs nbgrader's
    alembic with PATH changed, which only the whole write after the pool may do), and leave no partial file?"""
    from grader.outputs import gradebook

    monkeypatch.setenv("GRADER_CACHE", str(tmp_path / "bare-cache"))
    draft = gradebook.Draft(tmp_path / "gradebook.db", course_id="exercise02", people=[("ann", "", "", "", "")],
                            manual_parts={"plots": 6.0})  # fmt: skip
    draft.build([("test_a", 1.0)])
    assert draft.tests is None and not draft.partial.exists()
    assert not (tmp_path / "bare-cache" / "gradebooks").exists()


class Recorder:
    """A progress display that records each result's arrival into `order`."""

    def __init__(self, order: list):
        self.order = order

    def update(self, done, total, result, cached, in_flight=0, workers=None):
        self.order.append("result")

    def finish(self):
        pass


def test_the_warm_up_begins_when_the_first_run_starts_and_not_when_every_result_is_kept(tmp_path, monkeypatch):
    """Does the warm-up begin nbgrader's import as soon as the first run is handed to the pool, before the answer
    key's result arrives (the runs' start leaves a core idle), and begin nothing on a re-grade where every result
    is kept?"""
    from grader.outputs import warmup
    from grader.pipeline import flow

    order, begun = [], threading.Event()
    preload = warmup._preload_gradebook

    def importing():
        order.append("nbgrader import")
        begun.set()  # lets the runs answer
        preload()

    monkeypatch.setattr(warmup, "_preload_gradebook", importing)
    source = make_class(tmp_path, {"ann": "x = 1\n", "bob": "y = 2\n"})
    fake = GatedExecutor(runs=1, gate=begun, seconds=5)  # every run answers once the import has begun (or after 5 s)
    request = request_for(source, tmp_path / "out", no_similarity=True)
    flow.grade_class(request, say=lambda line: None, executor=fake, progress=Recorder(order))
    assert order == ["nbgrader import", "result", "result"]
    order.clear()
    again = flow.grade_class(request, say=lambda line: None, executor=fake, progress=Recorder(order))
    assert again.batch.cached == 2 and order == ["result", "result"]  # nothing run: no import, no draft


def test_the_sandbox_probe_runs_beside_the_intake_and_still_decides(tmp_path, monkeypatch):
    """Is the sandbox's probe (a trial worker) started before the class is taken in, so that it runs beside the
    intake rather than at the pool's start, and does the pool still fail closed on its verdict?"""
    from grader.grading import harness, intake
    from grader.pipeline import flow
    from grader.sandbox import layout

    order, probed, verdict = [], threading.Event(), [("bwrap", "a stand-in probe")]
    collect = intake.collect

    def probing():
        order.append("probe")
        probed.set()
        return verdict[0]

    def collecting(*args, **options):
        probed.wait(5)  # the probe's thread has begun by now (old code: it never had, and the wait runs out)
        order.append("intake")
        return collect(*args, **options)

    monkeypatch.setattr(layout, "probe", probing)
    monkeypatch.setattr(intake, "collect", collecting)
    source = make_class(tmp_path, {"ann": "x = 1\n"})
    request = request_for(source, tmp_path / "out", no_similarity=True, backend=None)
    flow.grade_class(request, say=lambda line: None, executor=FakeExecutor())
    assert order[:2] == ["probe", "intake"] and "probe" in order[2:]  # the pool asks again (the real one is cached)
    verdict[0] = ("process", "bwrap is not installed")
    with pytest.raises(harness.HarnessError, match="the sandbox cannot run on this machine"):
        flow.grade_class(request_for(source, tmp_path / "out2", no_similarity=True, backend=None),
                         say=lambda line: None, executor=FakeExecutor())  # fmt: skip
