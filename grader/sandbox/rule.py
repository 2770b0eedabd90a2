"""The from-scratch rule: the modules a submission may import, and the message when it imports another.

The rule's one list is tests/allowed_imports.txt (one top-level module name per line, `#` comments);
the Python standard library is always allowed. This module is its only reader, its only import
scanner and the home of the message students see, so the three places that apply the rule agree:

* the public test tests/public/test_from_scratch.py (fixture `import_rule` of tests/conftest.py),
  which tells students early, on their own machine;
* the sandboxed worker's import guard (grader/sandbox/boot.py ImportGuard), configured with
  `ImportRule.worker_config` by tests/conftest.py: an ImportError with the same message;
* the grader's static scan of a class (grader/grading/imports.py), shown in the report.

The scan reads the code with ast and never runs it. It finds import and from-import statements, and
importlib.import_module(...) / __import__(...) calls with a constant name. Standard library only: it
ships in the student bundle with the rest of the sandbox runtime.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

from grader.sandbox.error import GraderError

RULE_FILE = "tests/allowed_imports.txt"  # relative to the kit, and to the student bundle's folder
MESSAGE = (
    "{file} imports {module}, which this exercise does not allow: the network is built from scratch, so a "
    "submission may import only the Python standard library and {allowed} (the list is tests/allowed_imports.txt). "
    "Remove the import and write that part yourself with numpy."
)


class RuleError(GraderError, ValueError):
    """The list holds a line that is not a module name (a ValueError too: a bad value in a file)."""


def imported(source: str) -> list[tuple[str, int]]:
    """(dotted module name, line) of every import the source states, in line order.

    SyntaxError (or ValueError, RecursionError from ast) when the source does not parse."""
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


@dataclass(frozen=True)
class ImportRule:
    """The top-level names a submission may import besides the standard library."""

    allowed: tuple[str, ...]

    @classmethod
    def read(cls, path: Path) -> "ImportRule":
        """The rule from an allowed-imports file (comments and blank lines skipped); RuleError on a bad line."""
        names = []
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            name = line.split("#", 1)[0].strip()
            if name:
                if not name.isidentifier():
                    raise RuleError(f"{path}: {name!r} is not a module name (one top-level name per line)")
                names.append(name)
        return cls(tuple(names))

    @classmethod
    def of_folder(cls, folder: Path) -> "ImportRule":
        """The rule of a kit or a student bundle: its tests/allowed_imports.txt."""
        return cls.read(Path(folder) / RULE_FILE)

    imports = staticmethod(imported)  # the public test's name for the scan

    def allows(self, module: str) -> bool:
        top = module.partition(".")[0]
        return top in self.allowed or top in sys.stdlib_module_names

    def message(self, file: str, module: str) -> str:
        """What a student reads when `file` imports `module` (any dotted name; its top-level name is shown)."""
        return MESSAGE.format(file=file, module=module.partition(".")[0], allowed=", ".join(self.allowed))

    def worker_config(self, file: str) -> dict:
        """What the sandboxed worker's import guard needs: the list, and the message with {module} left open."""
        return {"allowed": list(self.allowed), "message": self.message(file, "{module}")}
