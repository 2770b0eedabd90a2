"""pytest plugin for the trusted test process: per test its outcome and points into results.json.

Loaded with `-p grader.grading.plugin --results-json PATH` in the pytest process that runs the hidden
suite. That process never imports the submission (the `student` fixture talks to a sandboxed
worker), so everything recorded here comes from trusted code:

* points come from the `points(n)` marker on each test: the markers are the rubric;
* the message is the failure text the tests chose (`pytest.fail(msg, pytrace=False)`, or the
  one-line `student_message` set by tests/conftest.py), else the exception's last line; never a
  traceback, so no hidden test code reaches a feedback page;
* the submission's output and the report's artifacts arrive through `record_property`;
* a parametrized test's question carries its parameters ("...? (activation: relu)"), so a feedback
  list of passed tests says which case passed;
* a test that ends in an exception raised by trusted code (not by the submission, not a chosen
  failure) is an internal error of the suite: outcome "error", with a message that names no kit
  type. The kit's meta-test requires that no submission in its catalogue ever causes one.

The file is written by this process to a path only it was given; nothing reads the stdout or the
exit status of a process that ran submission code.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

MESSAGE_LIMIT = 4000
OUTPUT_LIMIT = 8000


def pytest_addoption(parser):
    parser.getgroup("exercise02").addoption(
        "--results-json", default=None, help="write each test's outcome and points to this JSON file"
    )


def pytest_configure(config):
    path = config.getoption("results_json")
    if path:
        config.pluginmanager.register(ResultsRecorder(Path(path), config), "exercise02-results")


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"\n... [{len(text) - limit} more characters cut]"


def plain(value):
    """A JSON-safe copy: non-finite floats become None, unknown objects their text."""
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)


TIMER_STOP = "timeout"  # results.json "stops": a test cut short by its own time limit (pytest-timeout's wall clock)
TIMER_MESSAGE = ("This test ran over its time limit of {limit:g} s (wall-clock time) and was stopped before it "
                 "finished, so it could not be judged. Expected: the functions it calls finish well within the limit "
                 "(a correct solution takes a few seconds). Likely cause: a loop that never ends, or a slow "
                 "implementation (Python loops over samples, pixels or weights where numpy array operations would "
                 "do). Where to look: the functions this test calls, run on the sizes of the exercise. Wall-clock "
                 "time also depends on how busy the machine was, so this result is not kept: the next grading run "
                 "grades your submission again.")

INTERNAL_MESSAGE = ("The grader could not judge this test: checking what the submission returned raised {kind} in "
                    "the grader itself. This is a fault of the grader, not a verdict on your code; your tutor "
                    "will look at it.")


def question_of(item) -> str:
    """The test's one-line question, with its parameters when it is one case of a parametrized test."""
    doc = (getattr(item, "obj", None).__doc__ or "").strip().splitlines()
    question = doc[0] if doc else ""
    callspec = getattr(item, "callspec", None)
    if callspec is None or not callspec.params:
        return question
    detail = ", ".join(f"{name}: {value}" for name, value in callspec.params.items())
    return f"{question} ({detail})" if question else detail


def submission_files(config) -> set[Path]:
    """Files whose frames are the submission's side: the file(s) --submission names, and the kit's
    training loop, which runs next to the submission's model (in the worker when sandboxed)."""
    from grader.sandbox import training

    side = {Path(training.__file__).resolve()}
    option = config.getoption("submission", None)
    if not option:
        return side
    path = Path(option)
    if not path.is_absolute():
        path = Path.cwd() / path
    if path.is_dir():
        return side | {p.resolve() for p in path.glob("*.py")}
    return side | {path.resolve()}


def raised_by_trusted_code(excinfo, submission: set[Path]) -> bool:
    """An exception that is neither a chosen outcome nor the submission's own (a bug of the suite)."""
    error = excinfo.value
    if isinstance(error, (pytest.fail.Exception, pytest.skip.Exception, pytest.xfail.Exception)):
        return False
    if getattr(error, "student_message", None) is not None or isinstance(error, (KeyboardInterrupt, SystemExit)):
        return False
    for entry in excinfo.traceback:
        try:
            if Path(str(entry.path)).resolve() in submission:
                return False
        except (OSError, ValueError):
            continue
    return True


def time_limit(item) -> float | None:
    """The test's time limit as pytest-timeout applies it: its `timeout` marker (`timeout(5)` or `timeout(timeout=5)`),
    else --timeout, else the ini value."""
    marker = item.get_closest_marker("timeout")
    try:
        ini = item.config.getini("timeout")
    except ValueError:  # pytest-timeout not loaded: no ini value
        ini = None
    marked = (marker.args[0] if marker.args else marker.kwargs.get("timeout")) if marker else None
    for value in (marked, item.config.getoption("timeout", None), ini):
        try:
            if value not in (None, "") and float(value) > 0:
                return float(value)
        except (TypeError, ValueError):
            continue
    return None


def func_only(item) -> bool:
    """Whether the limit times the test function alone (pytest-timeout's func_only), not set-up, call and teardown."""
    marker = item.get_closest_marker("timeout")
    if marker is not None and "func_only" in marker.kwargs:
        return bool(marker.kwargs["func_only"])
    try:
        return bool(item.config.getini("timeout_func_only"))
    except ValueError:
        return False


def cut_by_timer(item, report, elapsed: float) -> float | None:
    """The time limit that cut this test short, else None. Judged by the clock, never by the failure's text (which
    the submission's own exception could imitate): a phase that failed once the test had used its whole limit.
    `elapsed`: the seconds the limit covers up to the end of this phase (pytest-timeout's timer runs across
    set-up, call and teardown together, or over the call alone with func_only). A phase that passed is not timed:
    its limit is not even looked up."""
    if not report.failed:
        return None
    limit = time_limit(item)
    return limit if limit is not None and elapsed >= 0.98 * limit else None


def failure_message(report) -> str:
    longrepr = report.longrepr
    if longrepr is None:
        return ""
    if isinstance(longrepr, str):
        return longrepr
    if isinstance(longrepr, tuple):  # skips: (path, line, reason)
        return str(longrepr[-1])
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None:  # pytest.fail(msg, pytrace=False) reads "Failed: msg"
        return crash.message.removeprefix("Failed: ")
    return "the test failed (no message)"


class ResultsRecorder:
    def __init__(self, path: Path, config):
        self.path = path
        self.config = config
        self.tests: dict[str, dict] = {}
        self.artifacts: dict[str, object] = {}
        self.backend = None
        self.internal: dict[str, str] = {}  # nodeid -> exception type name, for internal errors
        self.submission = submission_files(config)
        self.stops: set[str] = set()  # limits that stopped a worker during the run
        self.usage: dict = {}
        self.timed_out: dict[str, float] = {}  # nodeid -> the time limit that cut it short
        self.elapsed: dict[str, float] = {}  # nodeid -> seconds of its phases so far that its time limit covers

    def pytest_collection_finish(self, session):
        for item in session.items:  # after -k/-m deselection: only what runs
            marker = item.get_closest_marker("points")
            self.tests[item.nodeid] = {
                "id": item.nodeid.split("::", 1)[-1],
                "nodeid": item.nodeid,
                "points": float(marker.args[0]) if marker and marker.args else 0.0,
                "earned": 0.0,
                "outcome": "not run",
                "seconds": 0.0,
                "doc": question_of(item),
                "message": "",
                "output": "",
            }

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item, call):
        report = yield
        if call.excinfo is not None and report.failed and raised_by_trusted_code(call.excinfo, self.submission):
            self.internal[item.nodeid] = type(call.excinfo.value).__name__
        if report.when == "call" or not func_only(item):
            self.elapsed[item.nodeid] = self.elapsed.get(item.nodeid, 0.0) + report.duration
        limit = cut_by_timer(item, report, self.elapsed.get(item.nodeid, 0.0))
        if limit is not None:  # load-dependent: the grader grades the submission again next run (harness.reusable)
            self.stops.add(TIMER_STOP)
            self.timed_out[item.nodeid] = limit
        return report

    def pytest_runtest_logreport(self, report):
        entry = self.tests.get(report.nodeid)
        if entry is None:
            return
        entry["seconds"] = round(entry["seconds"] + report.duration, 4)
        for name, value in report.user_properties:
            if name == "output" and value:
                entry["output"] = clip(entry["output"] + str(value), OUTPUT_LIMIT)
            elif name == "backend":
                self.backend = str(value)
            elif name == "stops" and isinstance(value, list):
                self.stops |= {str(v) for v in value}
            elif name == "usage" and isinstance(value, dict):
                self.usage = value
            elif name.startswith("artifact:"):
                self.artifacts[name.split(":", 1)[1]] = plain(value)
        if report.when == "call" and report.passed and entry["outcome"] == "not run":
            entry["outcome"] = "passed"
        elif report.failed:
            if entry["outcome"] in ("not run", "passed"):
                entry["outcome"] = "error" if report.when == "setup" else "failed"
                entry["message"] = clip(failure_message(report), MESSAGE_LIMIT)
                if report.nodeid in self.timed_out:
                    entry["message"] = TIMER_MESSAGE.format(limit=self.timed_out[report.nodeid])
                if report.nodeid in self.internal:
                    entry["outcome"] = "error"
                    entry["message"] = INTERNAL_MESSAGE.format(kind=self.internal[report.nodeid])
            if report.when == "teardown" and entry["outcome"] != "error":
                entry["outcome"] = "failed"
        elif report.skipped and entry["outcome"] == "not run":
            entry["outcome"] = "skipped"
            entry["message"] = clip(failure_message(report), MESSAGE_LIMIT)

    def pytest_runtest_logfinish(self, nodeid, location):
        self.write()  # after every test, so a run stopped half way still earns what it passed

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session):
        self.write()

    def write(self):
        for entry in self.tests.values():
            entry["earned"] = entry["points"] if entry["outcome"] == "passed" else 0.0
        payload = {
            "version": 1,
            "backend": self.backend,
            "seed": self.config.getoption("seed", None),
            "tests": list(self.tests.values()),
            "artifacts": self.artifacts,
            "stops": sorted(self.stops),
            "usage": self.usage,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(json.dumps(plain(payload), indent=1, allow_nan=False))
        os.replace(partial, self.path)
