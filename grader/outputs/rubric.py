"""The rubric, read statically from the hidden suite: each test's `@pytest.mark.points(n)` markers.

    grader rubric [--suite tests/hidden]

The test files are parsed with ast, never imported or run. A test's points come from its own
`points(n)` marker or, per parametrized case, from `pytest.param(..., marks=pytest.mark.points(n))`;
the cases of a parametrize list are counted through list literals, comprehensions over module-level
literal lists and dicts, and names bound to those. Anything else raises RubricError naming the test,
so the listing is never silently short. The manual parts (plots, REPORT.md) come from
grader/outputs/manual.py. tests/selftest/test_rubric.py checks that this total is the answer key's.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from grader.outputs.manual import PARTS
from grader.sandbox.error import GraderError


class RubricError(GraderError, ValueError):
    """A test's points cannot be read statically."""


@dataclass(frozen=True)
class Item:
    file: str  # test file name, e.g. test_mlp.py
    test: str  # test function name
    cases: int  # parametrized cases (1 when not parametrized)
    points: float  # all cases together


def points_of(call) -> float | None:
    """n of a `pytest.mark.points(n)` call node, else None."""
    if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "points":
        if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, (int, float)):
            return float(call.args[0].value)
        raise RubricError(f"line {call.lineno}: points(...) needs one number")
    return None


def marks_of(node) -> list:
    """The marker nodes in `marks=` of a pytest.param (one mark or a list/tuple of marks)."""
    for keyword in getattr(node, "keywords", []):
        if keyword.arg == "marks":
            value = keyword.value
            return list(value.elts) if isinstance(value, (ast.List, ast.Tuple)) else [value]
    return []


class Reader:
    """Evaluates, without running anything, how many cases a parametrize list has and their points."""

    def __init__(self, tree: ast.Module):
        self.names = {}
        for node in tree.body:  # module-level NAME = value
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                self.names[node.targets[0].id] = node.value

    def length(self, node) -> int:
        if isinstance(node, ast.Name) and node.id in self.names:
            return self.length(self.names[node.id])
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            return len(node.elts)
        if isinstance(node, ast.Dict):
            return len(node.keys)
        if isinstance(node, (ast.ListComp, ast.GeneratorExp)):
            if any(g.ifs for g in node.generators):
                raise RubricError(f"line {node.lineno}: a filtered comprehension cannot be counted statically")
            count = 1
            for generator in node.generators:
                count *= self.length(generator.iter)
            return count
        raise RubricError(f"line {getattr(node, 'lineno', '?')}: cannot count the cases of {ast.unparse(node)!r}")

    def cases(self, node, default: float | None) -> list[float | None]:
        """Points per case of a parametrize argument list (None: no marker on that case)."""
        if isinstance(node, ast.Name) and node.id in self.names:
            return self.cases(self.names[node.id], default)
        if isinstance(node, (ast.List, ast.Tuple)):
            return [self.case(element, default) for element in node.elts]
        if isinstance(node, (ast.ListComp, ast.GeneratorExp)):
            return [self.case(node.elt, default)] * self.length(node)
        raise RubricError(f"line {getattr(node, 'lineno', '?')}: cannot read the cases of {ast.unparse(node)!r}")

    @staticmethod
    def case(element, default: float | None) -> float | None:
        is_param = isinstance(element, ast.Call) and getattr(element.func, "attr", None) == "param"
        if is_param:
            for mark in marks_of(element):
                if (points := points_of(mark)) is not None:
                    return points
        return default


def read_file(path: Path) -> list[Item]:
    tree = ast.parse(path.read_text(), filename=str(path))
    reader = Reader(tree)
    items = []
    for node in tree.body:
        if not (isinstance(node, ast.FunctionDef) and node.name.startswith("test")):
            continue
        own = None
        parametrize = []
        for decorator in node.decorator_list:
            if (points := points_of(decorator)) is not None:
                own = points
            elif isinstance(decorator, ast.Call) and getattr(decorator.func, "attr", None) == "parametrize":
                if len(decorator.args) < 2:
                    raise RubricError(f"{path.name}::{node.name}: parametrize without a literal argument list")
                parametrize.append(decorator.args[1])
        try:
            per_case = [own]
            for argument in parametrize:  # stacked parametrize: every combination
                per_case = [c if c is not None else p for p in per_case for c in reader.cases(argument, p)]
        except RubricError as error:
            raise RubricError(f"{path.name}::{node.name}: {error}") from None
        if any(p is None for p in per_case):
            raise RubricError(f"{path.name}::{node.name}: a test (or one of its cases) has no points(n) marker")
        items.append(Item(path.name, node.name, len(per_case), sum(per_case)))
    return items


def read_rubric(suite: Path) -> list[Item]:
    """Every test of the suite's test_*.py files, in file order (RubricError when one cannot be read or parsed)."""
    try:
        return [item for path in sorted(suite.glob("test_*.py")) for item in read_file(path)]
    except (OSError, SyntaxError) as error:
        raise RubricError(f"cannot read the suite {suite}: {error}") from None


def render(items: list[Item]) -> str:
    """The rubric as plain text: per test, per file, the automatic total, the manual parts, the total."""
    rows: list[tuple[str, str]] = []  # (label, figure)
    for file in dict.fromkeys(i.file for i in items):
        mine = [i for i in items if i.file == file]
        rows.append((file, f"{sum(i.points for i in mine):g}"))
        rows += [(f"  {i.test}" + (f" ({i.cases} cases)" if i.cases > 1 else ""), f"{i.points:g}") for i in mine]
    automatic = sum(i.points for i in items)
    rows.append((f"automatic: the hidden suite ({sum(i.cases for i in items)} graded cases)", f"{automatic:g}"))
    rows += [(f"manual: {part} (grader/outputs/manual.py)", f"{maximum:g}") for part, maximum in PARTS.items()]
    rows.append(("total", f"{automatic + sum(PARTS.values()):g}"))
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label:<{width}}  {figure:>5}" for label, figure in rows)
