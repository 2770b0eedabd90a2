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

This file ships to students with the public tests; it needs numpy and pytest only.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
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

from grader.sandbox.rule import ImportRule, RuleError  # noqa: E402  (the from-scratch rule, written once)

SUBMISSION_NAMES = ("exercise02_template.py", "exercise02.py")
NUMERIC_KINDS = "biuf"
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


def open_student(config, backend: str):
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


# --------------------------------------------------------------------------- in-process backend


class SubmissionError(Exception):
    """The submission could not be used at all (missing, syntax error, crash at import)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.student_message = message


class Remote:
    """An object of the submission (an MLP, say) seen through copies of its values."""

    def __init__(self, backend, target, type_name: str):
        self._backend = backend
        self._target = target
        self.type_name = type_name

    def get(self, attr: str):
        return self._backend.get_attr(self._target, attr)

    def set(self, attr: str, value) -> None:
        self._backend.set_attr(self._target, attr, value)

    def keep(self, name: str, *args, **kwargs) -> "Kept":
        """Call method `name`; its return value stays with the submission (see InProcessStudent.read)."""
        return self._backend.call_method(self._target, name, args, kwargs, keep=True)

    def keep_attr(self, attr: str) -> "Kept":
        """The attribute's value as it is now, kept uncopied (see InProcessStudent.read)."""
        return self._backend.get_attr(self._target, attr, keep=True)

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args, **kwargs: self._backend.call_method(self._target, name, args, kwargs)

    def __repr__(self) -> str:
        return f"<{self.type_name} of the submission>"


class Kept(Remote):
    """A returned value kept as it was returned (containers rebuilt, arrays and objects by reference):
    `student.read(kept)` copies it out later. Passed back as an argument, the submission gets that
    very object. The sandbox's grader.sandbox.client.Kept behaves the same."""

    def __init__(self, backend, value):
        super().__init__(backend, value, "kept value")

    def __repr__(self) -> str:
        return "<kept value of the submission>"


def held(value):
    """A returned value as the worker keeps it: lists/tuples/dicts rebuilt, everything else by reference."""
    if type(value) in (list, tuple):
        return type(value)(held(v) for v in value)
    if type(value) is dict:
        return {k: held(v) for k, v in value.items()}
    return value


class InProcessStudent:
    """The submission imported into this process, with the same copy semantics as the sandbox."""

    backend = "in-process"

    def __init__(self, path: Path, data_dir: Path | None = None):
        self.path = Path(path)
        self.data_dir = data_dir
        self._module = None

    # -- the interface shared with grader.sandbox.SandboxStudent

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args, **kwargs: self.call(name, *args, **kwargs)

    def call(self, name: str, *args, **kwargs):
        return self._call(name, args, kwargs, keep=False)

    def keep(self, name: str, *args, **kwargs) -> Kept:
        """Call module function `name`; its return value stays uncopied (read it with `read`)."""
        return self._call(name, args, kwargs, keep=True)

    def read(self, kept: Kept):
        """A copy of a kept value as it is now (after whatever calls came since it was returned)."""
        if not isinstance(kept, Kept):
            raise TypeError(f"not a kept value: {kept!r}")
        return self._export(kept._target)

    def run_epochs(self, model, X, Y, order, batch_size: int, lr: float, x_divisor: float = 1.0) -> list:
        """The steps of `train` (forward, loss, backward, update per batch) in the order given; see
        grader/sandbox/training.py. Returns the mean loss per epoch."""
        from grader.sandbox import training  # hidden tests only, like `data`

        with self._naming(f"training {type(self._import(model)).__name__} (forward, loss, backward, update)"):
            return self._export(training.run_epochs(self._import(model), *self._import((X, Y, order)),
                                                batch_size, lr, x_divisor))

    def standin(self, names) -> None:
        """Rebind the submission's functions `names` to trusted stand-ins (grader/sandbox/standin.py), or
        restore them (None); the sandbox's SandboxStudent.standin does the same in the worker."""
        from grader.sandbox import standin  # hidden tests only, like `data`

        standin.restore(getattr(self, "_standins", []))
        self._standins = standin.install(self.module(), list(names)) if names else []

    def call_method(self, target, name: str, args, kwargs, keep: bool = False):
        method = getattr(target, name, None)
        if not callable(method):
            raise SubmissionError(f"{type(target).__name__} has no method {name!r}")
        with self._naming(f"{type(target).__name__}.{name}"):
            return self._out(method(*self._import(args), **self._import(kwargs)), keep)

    def get_attr(self, target, attr: str, keep: bool = False):
        if not hasattr(target, attr):
            raise SubmissionError(f"{type(target).__name__} has no attribute {attr!r}")
        return self._out(getattr(target, attr), keep)

    def set_attr(self, target, attr: str, value) -> None:
        try:
            setattr(target, attr, self._import(value))
        except (AttributeError, TypeError) as error:
            if error.__traceback__.tb_next is not None:  # raised by the submission's own code (a property)
                raise
            raise SubmissionError(f"cannot set {attr} on a {type(target).__name__} object of the submission: "
                                  f"{error}") from None

    def data(self, name: str, rows: tuple[int, int] | None = None):
        from grader.sandbox import mnist  # hidden tests only: the kit's trusted loader

        return mnist.dataset(name, data_dir=self.data_dir, rows=rows)  # only the rows asked for become float64

    @contextlib.contextmanager
    def limits(self, seconds: float | None = None):
        yield self  # in-process calls are bounded by pytest-timeout only

    def take_output(self) -> str:
        return ""

    def close(self) -> None:
        self._module = None

    # -- helpers

    def _call(self, name: str, args, kwargs, keep: bool):
        function = getattr(self.module(), name, None)
        if not callable(function):
            raise SubmissionError(f"{self.path.name} defines no function or class named {name!r}")
        with self._naming(name):
            return self._out(function(*self._import(args), **self._import(kwargs)), keep)

    name_raises = False  # the hidden suite sets it: an exception of the submission becomes one line naming the call

    @contextlib.contextmanager
    def _naming(self, call: str):
        """With name_raises: an exception the submission raises gets the sandbox's one-line message, "<call>
        raised <type>: <message> (at line L in <function>: <source>)"; NotImplementedError stays as it is."""
        try:
            yield
        except Exception as error:
            if self.name_raises and not isinstance(error, NotImplementedError) and \
                    getattr(error, "student_message", None) is None:
                import traceback

                mine = [f for f in traceback.extract_tb(error.__traceback__) if Path(f.filename) == self.path]
                where = f" (at line {mine[-1].lineno} in {mine[-1].name}: {(mine[-1].line or '')[:120]})" if mine else ""
                try:
                    error.student_message = f"{call} raised {type(error).__name__}: {str(error)[:400]}{where}"
                except Exception:  # an exception type that refuses attributes keeps pytest's own text
                    pass
            raise

    def _out(self, value, keep: bool):
        return Kept(self, held(value)) if keep else self._export(value)

    def module(self):
        if self._module is None:
            self._module = self._load()
        return self._module

    def _load(self):
        if not self.path.is_file():
            raise SubmissionError(f"submission file not found: {self.path}")
        name = "submission_" + hashlib.sha256(str(self.path).encode()).hexdigest()[:12]
        spec = importlib.util.spec_from_file_location(name, self.path)
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except SyntaxError as error:
            raise SubmissionError(
                f"could not import {self.path.name}: SyntaxError at line {error.lineno}: {error.msg}"
            ) from error
        except Exception as error:
            raise SubmissionError(
                f"could not import {self.path.name}: {type(error).__name__}: {error}"
            ) from error
        return module

    def _export(self, value):
        """A copy of a value coming out of the submission; other objects stay behind a handle."""
        if isinstance(value, np.ndarray):
            if value.dtype.kind not in NUMERIC_KINDS or value.dtype.fields is not None:
                raise SubmissionError(f"returned an array of dtype {value.dtype}; expected numbers")
            return np.array(value, copy=True, subok=False)
        if isinstance(value, np.generic):
            if value.dtype.kind not in NUMERIC_KINDS:
                raise SubmissionError(f"returned a NumPy scalar of dtype {value.dtype}; expected a number")
            return value.item()
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, list):
            return [self._export(v) for v in value]
        if isinstance(value, tuple):
            return tuple(self._export(v) for v in value)
        if isinstance(value, dict):
            return {self._export(k): self._export(v) for k, v in value.items()}
        return Remote(self, value, type(value).__name__)

    def _import(self, value):
        """A copy of a value going into the submission."""
        if isinstance(value, Remote):
            return value._target
        if isinstance(value, np.ndarray):
            return value.copy()
        if isinstance(value, list):
            return [self._import(v) for v in value]
        if isinstance(value, tuple):
            return tuple(self._import(v) for v in value)
        if isinstance(value, dict):
            return {k: self._import(v) for k, v in value.items()}
        return value


# A submission's __main__-style plotting code must never try to open a window during tests.
os.environ.setdefault("MPLBACKEND", "Agg")
