"""The student API: what a test can do with the submission, whichever backend runs it.

Tests reach the submission only through the `student` fixture (tests/conftest.py). Two backends
implement this API with the same copy semantics: `client.SandboxStudent` (the submission in a
sandboxed worker, behind an RPC) and `inprocess.InProcessStudent` (the submission imported into the
test process). `Student` names what both provide, `SubmissionObject` what their handles (an object of
the submission, or a kept value) provide. tests/selftest/test_student.py checks with `inspect` that
both backends and their handles have every member below with a compatible signature.

Standard library only: it ships in the student bundle with the rest of the runtime.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

from grader.sandbox.kit import KIT, TEMPLATE


@functools.lru_cache(maxsize=1)  # read once per process
def read_api_names() -> frozenset[str] | None:
    """The names `student.<name>` calls: the module-level functions and classes of the template, which the
    solution generates (the contract's names, listed in one place). Read with ast, never imported.

    None when the template cannot be parsed: in the student bundle the template is the student's own
    work file, and a syntax error there must reach the student as the submission's import error (what
    the first call reports), not as an error of the kit's plumbing; every public name is then handed on."""
    try:
        tree = ast.parse((KIT / TEMPLATE).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return None
    return frozenset(node.name for node in tree.body
                     if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"))  # fmt: skip


def check_api_name(owner: object, name: str) -> None:
    """For a backend's `__getattr__`: AttributeError unless `name` is a function or class of the student API.

    Anything else is a missing attribute of the backend itself (a typo, or one of its own properties that
    raised AttributeError), never a call into the submission; `call(name)` reaches any other name."""
    names = read_api_names()
    if name.startswith("_") or (names is not None and name not in names):
        raise AttributeError(f"{type(owner).__name__} has no attribute {name!r}, and {name!r} is not a function or "
                             f"class of the student API ({TEMPLATE}); to call another name of the submission, use "
                             f"call({name!r}, ...)")  # fmt: skip


class SubmissionObject(Protocol):
    """An object of the submission (an MLP, say), or a value it returned and that was kept, seen through
    copies: `remote.<method>(...)` calls a method, every value that crosses is a copy."""

    type_name: str  # the submission's class name ("kept value" for a kept value), for messages

    def get(self, attr: str) -> Any:
        """A copy of the attribute's value."""

    def set(self, attr: str, value: Any) -> None:
        """Set the attribute to a copy of `value`."""

    def get_attrs(self, names: Any) -> Iterator[Any]:
        """Copies of the attributes `names`, in order, as one `get` after the other would give them (the sandbox
        asks in one request); the iterator raises, where an attribute could not be got, that get's error."""

    def set_attrs(self, values: dict) -> None:
        """Set each attribute of `values` in the dict's order to a copy of its value, as one `set` after the
        other would (the sandbox sends them in one request); stops at the first that raises."""

    def keep(self, name: str, *args: Any, **kwargs: Any) -> SubmissionObject:
        """Call method `name`; its return value stays with the submission (copy it out with Student.read)."""

    def keep_attr(self, attr: str) -> SubmissionObject:
        """The attribute's value as it is now, kept uncopied (copy it out with Student.read)."""

    def __getattr__(self, name: str) -> Callable[..., Any]:
        """`remote.forward(X)`: a method of the object, called with copies of the arguments."""


class Student(Protocol):
    """The submission under test, as the `student` fixture gives it to every test."""

    name_raises: bool  # an exception of the submission becomes one line naming the call (always so in the sandbox)

    @property
    def backend(self) -> str:
        """Where the submission runs: "in-process", "bwrap" or "process" (the unsandboxed fallback)."""

    @property
    def path(self) -> Path:
        """The submission's file."""

    def __getattr__(self, name: str) -> Callable[..., Any]:
        """`student.sigmoid(z)`: the submission's module-level function or class `name`, called with copies; only
        for a name of the student API (read_api_names), AttributeError for any other (check_api_name)."""

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Call the module-level function or class `name`; a copy of what it returns (a handle for an object)."""

    def construct(self, name: str, args: Any, kwargs: dict, attrs: dict) -> Any:
        """`call(name, *args, **kwargs)`, then, when it returned an object of the submission, `set_attrs(attrs)`
        on it (the sandbox sends both in one request); what it returned."""

    def keep(self, name: str, *args: Any, **kwargs: Any) -> SubmissionObject:
        """Call module function `name`; its return value stays with the submission, uncopied."""

    def read(self, kept: SubmissionObject) -> Any:
        """A copy of a kept value as it is now (after whatever calls came since it was returned)."""

    def run_epochs(self, model: SubmissionObject, X: Any, Y: Any, order: Any, batch_size: int, lr: Any,
                   x_divisor: float = 1.0) -> dict:
        """The given train's steps (grader/sandbox/training.py) next to `model`, in the batch order given
        (or a schedule: a list of orders and a list of as many rates, one after the other on X and Y sent
        once); {"losses": the mean loss per epoch, "states": the parameters at checkpoint_steps} (untrusted:
        tests/hidden/trajectory.py checks them)."""

    def standin(self, names: Any) -> None:
        """Rebind the submission's functions `names` to trusted stand-ins (grader/sandbox/standin.py), or
        restore them (None)."""

    @property
    def formulas_held(self) -> frozenset:
        """The functions whose trusted formula has reached the submission since it was last (re)started."""

    def restart(self) -> None:
        """Start the submission afresh (a new worker; in-process a new import): nothing of before survives."""

    def data(self, name: str, rows: tuple[int, int] | None = None) -> Any:
        """A data set read by the trusted reader (grader/sandbox/mnist.py); it reaches the submission only as
        an argument."""

    def limits(self, seconds: float | None = None) -> AbstractContextManager:
        """A block whose calls get `seconds` as their budget (in-process: bounded by pytest-timeout only)."""

    def take_output(self) -> str:
        """What the submission printed since the last take ("" in-process: it printed to the terminal)."""

    def close(self) -> None:
        """Let the submission go (stop its worker, remove its private folder)."""
