"""The in-process backend of the `student` fixture: the submission imported into THIS process.

`InProcessStudent` implements the student API of grader/sandbox/student.py with the same copy semantics
as the sandboxed `client.SandboxStudent`: every value that crosses is a copy, objects of the submission
stay behind a `Remote` handle, a `Kept` value stays uncopied until `read`. Tracebacks point at the
student's own lines and a debugger works, which is why it is the default of the public tests.

It runs the submission's code in the caller's process, so it is only for a student's own machine and
the grader's explicit opt-out (`grader grade --no-sandbox`, which runs the hidden suite with
`--in-process` in its own pytest process). No trusted module of the grader imports it
(tests/selftest/test_layout.py). Standard library and NumPy only: it ships in the student bundle.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
from pathlib import Path

import numpy as np

from grader.sandbox.error import GraderError
from grader.sandbox.student import check_api_name

NUMERIC_KINDS = "biuf"


class SubmissionError(GraderError):
    """The submission could not be used at all (missing, syntax error, crash at import), or a call named
    something it does not have; `student_message` is the one line the test fails with."""

    def __init__(self, message: str):
        super().__init__(message)
        self.student_message = message


class Remote:
    """An object of the submission (an MLP, say) seen through copies of its values (student.SubmissionObject)."""

    type_name: str  # the submission's class name, for messages

    def __init__(self, backend, target, type_name: str):
        self._backend = backend
        self._target = target
        self.type_name = type_name

    def get(self, attr: str):
        return self._backend.get_attr(self._target, attr)

    def set(self, attr: str, value) -> None:
        self._backend.set_attr(self._target, attr, value)

    def get_attrs(self, names):
        """Copies of the attributes `names`, in order, as `get` would give them one after the other, lazily."""
        return (self._backend.get_attr(self._target, attr) for attr in list(names))

    def set_attrs(self, values: dict) -> None:
        """Set each attribute of `values` in turn, as `set` would (the sandbox sends them in one request)."""
        for attr, value in values.items():
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
    very object. The sandbox's client.Kept behaves the same."""

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
    """The submission imported into this process, with the same copy semantics as the sandbox (student.Student)."""

    backend = "in-process"
    path: Path  # the submission's file

    def __init__(self, path: Path, data_dir: Path | None = None):
        self.path = Path(path)
        self.data_dir = data_dir
        self._module = None

    # -- the student API (grader/sandbox/student.py), shared with client.SandboxStudent

    def __getattr__(self, name: str):
        check_api_name(self, name)
        return lambda *args, **kwargs: self.call(name, *args, **kwargs)

    def call(self, name: str, *args, **kwargs):
        return self._call(name, args, kwargs, keep=False)

    def construct(self, name: str, args, kwargs: dict, attrs: dict):
        """`call(name, *args, **kwargs)`, then `set_attrs(attrs)` on what it returned when that is an object of
        the submission (the sandbox does both in one request)."""
        made = self.call(name, *args, **kwargs)
        if isinstance(made, Remote):
            made.set_attrs(attrs)
        return made

    def keep(self, name: str, *args, **kwargs) -> Kept:
        """Call module function `name`; its return value stays uncopied (read it with `read`)."""
        return self._call(name, args, kwargs, keep=True)

    def read(self, kept: Kept):
        """A copy of a kept value as it is now (after whatever calls came since it was returned)."""
        if not isinstance(kept, Kept):
            raise TypeError(f"not a kept value: {kept!r}")
        return self._export(kept._target)

    def run_epochs(self, model, X, Y, order, batch_size: int, lr, x_divisor: float = 1.0) -> dict:
        """The steps of `train` (forward, loss, backward, update per batch) in the order given; see
        grader/sandbox/training.py. Returns the mean loss per epoch and the states it reports."""
        from grader.sandbox import training  # hidden tests only, like `data`

        with self._naming(f"training {type(self._import(model)).__name__} (forward, loss, backward, update)"):
            return self._export(training.run_epochs(self._import(model), *self._import((X, Y, order)),
                                                batch_size, lr, x_divisor))

    def standin(self, names) -> None:
        """Rebind the submission's functions `names` to trusted stand-ins (grader/sandbox/standin.py), or
        restore them (None); the sandbox's SandboxStudent.standin does the same in the worker."""
        from grader.sandbox import standin  # hidden tests only, like `data`

        wanted = tuple(sorted({str(n) for n in names})) if names else ()
        if getattr(self, "_installed", ()) == wanted:  # this import has exactly these installed (SandboxStudent too)
            return
        standin.restore(getattr(self, "_standins", []))
        self._installed, self._standins = None, []  # unknown until the install below is through
        self._standins = standin.install(self.module(), list(names)) if names else []
        self._held = self.formulas_held | (standin.closure(names) if names else frozenset())
        self._installed = wanted

    @property
    def formulas_held(self) -> frozenset:
        """The functions whose trusted stand-in this import of the submission has been given."""
        return frozenset(getattr(self, "_held", ()))

    def restart(self) -> None:
        """A fresh import of the submission: its objects and module state of before are gone."""
        self._module, self._standins, self._held, self._installed = None, [], frozenset(), ()

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
        self._module, self._installed = None, ()  # a later call imports afresh: nothing installed there

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
