"""Trusted stand-ins for a submission's activations and losses, so that a unit test of MLP.forward,
MLP.loss or MLP.backward judges those methods alone.

A bug in sigmoid_grad would otherwise also fail every backward test that uses sigmoid: one bug, many
deductions, and messages that point at the wrong function. While such a test runs, the trusted side
asks (op "standin" in the worker, grader/sandbox/boot.py; inprocess.InProcessStudent in this process) to
rebind the module's functions named in the template to the contract's formulas (formula.py): the module
global (`sigmoid`), and every reference to the old function in a module-level dict, list or tuple
(`ACTIVATIONS = {"sigmoid": (sigmoid, sigmoid_grad)}`) or class attribute. `restore` undoes it.
A submission that computes a derivative inline in backward still owns that code: nothing rebinds it.

Not a security boundary by itself: this runs next to the submission, which can ignore it. The trusted
side never judges by it; it only spares honest work from being charged for another function's bug. What
it must never do is hand a submission the formula of a function a later test judges: the worker gets
no formula file (only this module is mounted, layout.GRADER_FILES) and receives, with each request, the
source of the stand-ins it installs and nothing else (`source_of`). The hidden suite orders its tests so
that a function's formula reaches the worker only after every test that judges that function
(`plan`, tests/hidden/conftest.py), and starts a fresh worker when that would not hold.
Stdlib + numpy only: this module also runs inside the sandbox. The grader's only: the student bundle
leaves it out, and formula.py with it.
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

if __package__:  # grader.sandbox.standin: the trusted side (and the in-process backend) holds the formulas
    from grader.sandbox import formula
else:  # inside the worker (boot.py loads this file by its bare name): no formula; they arrive as source (`build`)
    formula = None

NAMES = ("sigmoid", "sigmoid_grad", "tanh", "tanh_grad", "relu", "relu_grad", "leaky_relu", "leaky_relu_grad",
         "elu", "elu_grad", "softmax", "mse_loss", "mse_loss_grad", "cross_entropy_loss", "cross_entropy_loss_grad")
# Judged first, with no stand-in in place (so a submission's relu written as its own leaky_relu(z, 0) is
# charged for leaky_relu's bug too: docs/hidden-suite.md). The others (derivatives, cross-entropy) are
# judged next, with only these standing in.
BASE = ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "softmax", "mse_loss", "mse_loss_grad")
FUNCTIONS = {name: getattr(formula, name) for name in NAMES} if formula is not None else {}


LINE_END = re.compile(r"(?<=\n)|(?<=\r)(?!\n)")  # after each \n, \r\n and lone \r: where ast's line numbers change


@functools.lru_cache(maxsize=1)  # read and parsed once per process
def _formulas() -> tuple[dict, dict]:
    """formula.py's module-level functions: their source by name, and their nodes by name (trusted side).
    Each source is ast.get_source_segment's text, cut from lines split once (that function splits the whole
    file again for every node it is asked about)."""
    return _functions(Path(formula.__file__).read_text(encoding="utf-8"))


def _functions(text: str) -> tuple[dict, dict]:
    """The module-level functions of the module source `text`: their source by name, and their nodes by name."""
    lines = LINE_END.split(text)  # lines as ast numbers them (str.splitlines also ends one at \f, \v, \x85, \u2028, ...)
    defs = {node.name: node for node in ast.parse(text).body if isinstance(node, ast.FunctionDef)}
    return {name: _segment(lines, node) for name, node in defs.items()}, defs


def _segment(lines: list, node) -> str:
    """The source of `node` (ast's positions: 1-based lines, UTF-8 byte columns), as ast.get_source_segment."""
    first, last = node.lineno - 1, node.end_lineno - 1
    if first == last:
        return lines[first].encode()[node.col_offset : node.end_col_offset].decode()
    head = lines[first].encode()[node.col_offset :].decode()
    tail = lines[last].encode()[: node.end_col_offset].decode()
    return "".join([head, *lines[first + 1 : last], tail])


def closure(names) -> frozenset:
    """The formulas `names` and every function of formula.py they call, directly or not: all that
    `source_of(names)` hands the worker (what the trusted side counts as held by it)."""
    return _closure(tuple(sorted({str(n) for n in names if str(n) in NAMES})))


@functools.lru_cache(maxsize=64)  # a run asks for the same few sets dozens of times
def _closure(names: tuple) -> frozenset:
    _, defs = _formulas()
    wanted, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name in wanted:
            continue
        wanted.add(name)
        todo += [n.id for n in ast.walk(defs[name]) if isinstance(n, ast.Name) and n.id in defs]
    return frozenset(wanted)


def source_of(names) -> str:
    """The source of the formulas `names` and of the helpers they call, read from formula.py (trusted side):
    what the worker compiles for these stand-ins, and nothing of the other formulas."""
    return _source_of(closure(names))


@functools.lru_cache(maxsize=64)
def _source_of(wanted: frozenset) -> str:
    sources, _ = _formulas()
    parts = [source for name, source in sources.items() if name in wanted]
    return "import numpy as np\n\n\n" + "\n\n\n".join(parts) + "\n"


@functools.lru_cache(maxsize=8)  # only sources this worker was sent: nothing it does not hold already
def _compiled(source: str):
    return compile(source, "<stand-ins>", "exec")


def build(source: str, names) -> dict:
    """The stand-ins compiled from `source_of`'s text, in a namespace of their own (inside the worker)."""
    namespace: dict = {}
    exec(_compiled(str(source)), namespace)  # noqa: S102 - trusted text from the grader
    return {str(name): namespace[str(name)] for name in names if str(name) in NAMES and str(name) in namespace}


def install(module, names=NAMES, functions=None) -> list:
    """Rebind the module's functions `names` (and every module-level or class-level reference to them)
    to the stand-ins (`functions`, by default the trusted side's own); the undo records for `restore`."""
    functions = FUNCTIONS if functions is None else functions
    old_to_new = {}
    records = []
    for name in names:
        old = getattr(module, name, None)
        if name in functions and callable(old) and old is not functions[name]:
            old_to_new[id(old)] = functions[name]
            records.append((module.__dict__, name, old))
            module.__dict__[name] = functions[name]
    if not old_to_new:
        return records

    def swap(value):
        if isinstance(value, tuple) and any(id(v) in old_to_new for v in value):
            return tuple(old_to_new.get(id(v), v) for v in value)
        return old_to_new.get(id(value), value)

    classes = [v for v in list(vars(module).values()) if isinstance(v, type) and v.__module__ == module.__name__]
    containers = [v for v in list(vars(module).values()) if isinstance(v, (dict, list))]
    containers += [v for cls in classes for v in list(vars(cls).values()) if isinstance(v, (dict, list))]
    for container in containers:
        keys = list(container) if isinstance(container, dict) else range(len(container))
        for key in keys:
            try:
                new = swap(container[key])
                if new is not container[key]:
                    records.append((container, key, container[key]))
                    container[key] = new
            except Exception:  # noqa: BLE001 - a hostile container: leave it
                continue
    for cls in classes:
        for key, value in list(vars(cls).items()):
            target = value.__func__ if isinstance(value, staticmethod) else value
            if id(target) in old_to_new:
                records.append((cls, key, value))
                setattr(cls, key, staticmethod(old_to_new[id(target)]))
    return records


def restore(records: list) -> None:
    """Undo `install`, last change first."""
    for where, key, old in reversed(records):
        try:
            if isinstance(where, type):
                setattr(where, key, old)
            else:
                where[key] = old
        except Exception:  # noqa: BLE001
            continue
