"""The from-scratch rule, checked by the trusted process: the forbidden imports of every submission.

The rule itself (the list tests/allowed_imports.txt, the ast scan, the students' message) lives once in
grader/sandbox/rule.py, which the public test and the sandboxed worker's import guard use too. This
module applies it to a class: the code is read, never run, and every forbidden import becomes a problem
of the submission, shown in the class report and on its feedback page.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from grader.grading.intake import Submission
from grader.sandbox.rule import RULE_FILE, ImportRule, imported


@dataclass(frozen=True)
class Forbidden:
    module: str  # the top-level name, e.g. "torch"
    line: int

    def hint(self, allowed: tuple[str, ...]) -> str:
        return (f"imports {self.module} (line {self.line}), which the from-scratch rule does not allow: only the standard "
                f"library and {', '.join(allowed)} may be imported ({RULE_FILE})")  # fmt: skip


def read_allowed(kit: Path) -> tuple[str, ...]:
    """The allowed top-level names of the kit's rule; RuleError (a ValueError) on a line that is no module name."""
    return ImportRule.of_folder(kit).allowed


def forbidden(source: str, allowed: tuple[str, ...]) -> list[Forbidden]:
    """The imports outside the rule, first occurrence of each module; [] when the code does not parse."""
    try:
        found = imported(source)
    except (SyntaxError, ValueError, RecursionError):
        return []  # such a file cannot be imported at all; grading says so
    rule, seen, bad = ImportRule(allowed), set(), []
    for module, line in found:
        top = module.partition(".")[0]
        if not rule.allows(top) and top not in seen:
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
