"""Shared pytest set-up: the `student` fixture through which every test reaches the submission.

Tests never import the submission. They call it through `student`:

    student.sigmoid(z)                   a module-level function (or class) of the submission
    model = student.MLP([4, 5, 3])       objects stay behind a handle ...
    model.forward(X)                     ... whose methods are called the same way
    model.get("weights")                 attributes are copied out ...
    model.set("weights", Ws)             ... and copied in
    kept = model.keep("forward", X)      a returned value that stays with the submission ...
    student.read(kept)                   ... copied out later: did a later call change it?

Every value that crosses is a copy, so a test behaves the same whether the submission runs in this
process (the default for the public tests: tracebacks point at your own lines and a debugger works)
or in the sandboxed worker the grader uses (`pytest --sandbox`).

This file is pytest's glue only (options, fixtures, hooks). The backends and the from-scratch rule are the
runtime's (grader/sandbox/inprocess.py, client.py, rule.py; the API both backends implement:
grader/sandbox/student.py). It ships to students with the public tests and that runtime (grader/, next
to tests/); together they need numpy and pytest only.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sys
from pathlib import Path

import numpy as np
import pytest

# The runtime next to tests/ (the kit's grader/, or the student bundle's copy of it) goes with this file:
# it comes first on sys.path, so a different `grader` installed elsewhere is not picked up instead.
RUNTIME_ROOT = Path(__file__).resolve().parent.parent
if (RUNTIME_ROOT / "grader" / "sandbox").is_dir() and sys.path[:1] != [str(RUNTIME_ROOT)]:
    sys.path.insert(0, str(RUNTIME_ROOT))

from grader.sandbox.inprocess import InProcessStudent, SubmissionError  # noqa: E402  (the default backend)
from grader.sandbox.rule import ImportRule, RuleError  # noqa: E402  (the from-scratch rule, written once)
from grader.sandbox.student import Student  # noqa: E402  (the API both backends implement)

SUBMISSION_NAMES = ("exercise02_template.py", "exercise02.py")
SANDBOXES = pytest.StashKey[list]()  # the sandboxed students of this run, for the closing line


# --------------------------------------------------------------------------- options


def pytest_addoption(parser):
    group = parser.getgroup("exercise02")
    group.addoption(
        "--submission",
        default=None,
        help="the file to test, or a folder holding exercise02_template.py or exercise02.py "
        "(default: exercise02_template.py next to the tests folder)",
    )
    group.addoption(
        "--sandbox",
        action="store_true",
        help="import the submission in a sandboxed worker process, exactly as the grader does",
    )
    group.addoption(
        "--in-process",
        action="store_true",
        help="import the submission into this process (default for the public tests)",
    )
    group.addoption(
        "--seed",
        type=int,
        default=None,
        help="seed for the random test inputs (default: fixed for the public tests, random per run "
        "for the hidden tests; the value used is printed in the header)",
    )


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "points(n): how many points the test is worth in the grade (hidden suite)"
    )
    if config.getoption("sandbox") and config.getoption("in_process"):
        raise pytest.UsageError("--sandbox and --in-process exclude each other")


def pytest_report_header(config):
    try:
        path = find_submission(config)
    except pytest.UsageError as error:
        return f"submission: {error}"
    return f"submission: {path}"


# --------------------------------------------------------------------------- failure messages


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Turn the submission's errors into one line: what went wrong and where to look."""
    report = yield
    if call.excinfo is None or report.passed:
        return report
    error = call.excinfo.value
    message = getattr(error, "student_message", None)
    if isinstance(error, NotImplementedError) and message is None:
        name = str(error.args[0]) if error.args else item.name
        message = f"not implemented yet: {name}"
    if message is not None:
        report.longrepr = message
    return report


# --------------------------------------------------------------------------- the submission


def find_submission(config) -> Path:
    """The submission file named by --submission (a file or a folder), resolved against cwd or rootdir."""
    option = config.getoption("submission")
    root = Path(config.rootpath)
    if option is None:
        candidates = [root / name for name in SUBMISSION_NAMES]
    else:
        given = Path(option)
        candidates = [given] if given.is_absolute() else [Path.cwd() / given, root / given]
    for path in candidates:
        if path.is_dir():
            for name in SUBMISSION_NAMES:
                if (path / name).is_file():
                    return (path / name).resolve()
        elif path.is_file():
            return path.resolve()
    looked = ", ".join(str(p) for p in candidates)
    raise pytest.UsageError(
        f"no submission file found (looked for {looked}); pass --submission PATH to a file or a folder "
        f"holding {' or '.join(SUBMISSION_NAMES)}"
    )


def choose_backend(config, default: str) -> str:
    if config.getoption("sandbox"):
        return "sandbox"
    if config.getoption("in_process"):
        return "in-process"
    return default


def open_student(config, backend: str) -> Student:
    """A student object for the submission: in this process, or in the sandboxed worker."""
    try:
        path = find_submission(config)
    except pytest.UsageError as error:
        raise SubmissionError(str(error)) from None
    if backend == "in-process":
        return InProcessStudent(path, data_dir=config.rootpath / "data" / "mnist")
    try:
        from grader.sandbox import SandboxStudent
    except ImportError as error:
        raise pytest.UsageError(f"--sandbox needs the kit's grader package ({error})") from None
    rule = read_rule()
    student = SandboxStudent(path, data_dir=Path(config.rootpath) / "data" / "mnist", imports=rule.worker_config(path.name))
    config.stash.setdefault(SANDBOXES, []).append(student)
    return student


def pytest_terminal_summary(terminalreporter, config):
    """Say once, at the end, which backend the sandboxed submission really ran in (and why, if not bwrap)."""
    for student in config.stash.get(SANDBOXES, []):
        terminalreporter.section("sandbox")
        why = f": NOT SANDBOXED ({student.reason})" if student.backend != "bwrap" else " (bubblewrap sandbox)"
        terminalreporter.write_line(f"submission ran in backend {student.backend}{why}")


def read_rule() -> ImportRule:
    """The from-scratch rule of this folder's tests/allowed_imports.txt (grader/sandbox/rule.py)."""
    try:
        return ImportRule.of_folder(RUNTIME_ROOT)
    except RuleError as error:
        raise pytest.UsageError(str(error)) from None


@pytest.fixture(scope="session")
def import_rule():
    """The from-scratch rule (tests/allowed_imports.txt): what may be imported, and the message when not."""
    return read_rule()


@pytest.fixture(scope="session")
def student(request):
    """The submission under test (in-process unless --sandbox)."""
    handle = open_student(request.config, choose_backend(request.config, "in-process"))
    yield handle
    handle.close()


def run_seed(config, default: int | None) -> int:
    seed = config.getoption("seed")
    if seed is None:
        seed = default if default is not None else secrets.randbits(32)
        config.option.seed = seed
    return seed


@pytest.fixture
def rng(request):
    """A generator for test inputs, owned by the test process: seeded per run and per test."""
    seed = run_seed(request.config, default=20261124)
    digest = hashlib.sha256(f"{seed}:{request.node.nodeid}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


# A submission's __main__-style plotting code must never try to open a window during tests.
os.environ.setdefault("MPLBACKEND", "Agg")
