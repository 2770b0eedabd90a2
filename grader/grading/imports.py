"""The from-scratch rule, checked by the trusted process: which modules a submission's code imports.

The rule's one list is tests/allowed_imports.txt (the standard library is always allowed); the
sandboxed worker enforces it at import time (grader/sandbox/boot.py ImportGuard, configured by
tests/conftest.py) and the public test tests/public/test_from_scratch.py tells students early. This
module reads the code with ast, never runs it, and turns every forbidden import into a problem of the
submission, shown in the class report and on its feedback page. Found: import and from-import
statements, and importlib.import_module(...) / __import__(...) with a constant name. A self-test
checks that this scan and the public test's (tests/conftest.py ImportRule.imports) agree.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

from grader.grading.intake import Submission

RULE_FILE = Path("tests") / "allowed_imports.txt"  # relative to the kit


@dataclass(frozen=True)
class Forbidden:
    module: str  # the top-level name, e.g. "torch"
    line: int

    def hint(self, allowed: tuple[str, ...]) -> str:
        return (f"imports {self.module} (line {self.line}), which the from-scratch rule does not allow: only the standard "
                f"library and {', '.join(allowed)} may be imported ({RULE_FILE.as_posix()})")  # fmt: skip


def read_allowed(kit: Path) -> tuple[str, ...]:
    """The allowed top-level names from the kit's tests/allowed_imports.txt (comments and blanks skipped)."""
    names = []
    for line in (Path(kit) / RULE_FILE).read_text(encoding="utf-8").splitlines():
        name = line.split("#", 1)[0].strip()
        if name:
            if not name.isidentifier():
                raise ValueError(f"{RULE_FILE}: {name!r} is not a module name (one top-level name per line)")
            names.append(name)
    return tuple(names)


def imported(source: str) -> list[tuple[str, int]]:
    """(dotted module name, line) of every import the source states; SyntaxError when it does not parse."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module, node.lineno))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            function = node.func
            name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
            value = node.args[0].value
            if name in ("import_module", "__import__") and isinstance(value, str) and not value.startswith("."):
                found.append((value, node.lineno))
    return sorted(found, key=lambda item: item[1])


def forbidden(source: str, allowed: tuple[str, ...]) -> list[Forbidden]:
    """The imports outside the rule, first occurrence of each module; [] when the code does not parse."""
    try:
        found = imported(source)
    except (SyntaxError, ValueError, RecursionError):
        return []  # such a file cannot be imported at all; grading says so
    seen, bad = set(), []
    for module, line in found:
        top = module.partition(".")[0]
        if top not in allowed and top not in sys.stdlib_module_names and top not in seen:
            seen.add(top)
            bad.append(Forbidden(top, line))
    return bad


def check_class(submissions: list[Submission], allowed: tuple[str, ...]) -> dict[str, list[Forbidden]]:
    """Scan every submission's code; each forbidden import becomes one of its problems. Returns {id: found}."""
    found = {}
    for sub in submissions:
        if sub.code is None:
            continue
        bad = forbidden(sub.code.read_bytes().decode("utf-8", errors="replace"), allowed)
        if bad:
            found[sub.id] = bad
            sub.problems.extend(item.hint(allowed) for item in bad)
    return found
