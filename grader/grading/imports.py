"""The from-scratch rule, checked by the trusted process: the forbidden imports of every submission.

The rule itself (the list tests/allowed_imports.txt, the ast scan, the students' message) lives once in
grader/sandbox/rule.py, which the public test and the sandboxed worker's import guard use too. This
module applies it to a class: the code is read, never run, and every forbidden import becomes a problem
of the submission, shown in the class report and on its feedback page. What each code file states is
kept by its content (Scan), so a class graded again is not parsed again.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from grader.grading.intake import Submission
from grader.sandbox import rule
from grader.sandbox.rule import RULE_FILE, ImportRule, imported

KEPT = ".import-scan"  # in <out>/results/ (JSON: {content key: [[module, line], ...]}; not *.json, which are results)


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
    return outside(stated(source), allowed)


def stated(source: str) -> list[tuple[str, int]]:
    """(module, line) of every import the source states; [] when it does not parse (such a file cannot be imported
    at all; grading says so)."""
    try:
        return imported(source)
    except (SyntaxError, ValueError, RecursionError):
        return []


def outside(found: list[tuple[str, int]], allowed: tuple[str, ...]) -> list[Forbidden]:
    """The Forbidden among stated imports: the first occurrence of each top-level module the rule does not allow."""
    rule_, seen, bad = ImportRule(allowed), set(), []
    for module, line in found:
        top = module.partition(".")[0]
        if not rule_.allows(top) and top not in seen:
            seen.add(top)
            bad.append(Forbidden(top, line))
    return bad


class Scan:
    """The imports each code file states, kept by the file's content and the scanner's code in <folder>/.import-scan.

    A kept entry is used only when its key (a hash of both) matches and its shape is right; anything
    else is scanned again. keep() writes the entries this run used (and only those)."""

    def __init__(self, folder: Path | None = None):
        self.folder = folder
        self.version = hashlib.sha256(Path(rule.__file__).read_bytes()).hexdigest()[:16]
        self.known = self._read()
        self.used: dict[str, list] = {}

    def stated(self, data: bytes) -> list[tuple[str, int]]:
        key = hashlib.sha256(self.version.encode() + b"\0" + data).hexdigest()[:32]
        if key not in self.known:
            self.known[key] = stated(data.decode("utf-8", errors="replace"))
        self.used[key] = self.known[key]
        return self.known[key]

    def keep(self) -> None:
        """Write the entries used so far (nothing without a folder); a failure to write only costs the next run time."""
        if self.folder is None:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            partial = self.folder / f".{KEPT}.{os.getpid()}.partial"
            partial.write_text(json.dumps({k: [list(item) for item in v] for k, v in self.used.items()}), encoding="utf-8")
            os.replace(partial, self.folder / KEPT)
        except OSError:
            pass

    def _read(self) -> dict:
        try:
            data = json.loads((self.folder / KEPT).read_text(encoding="utf-8")) if self.folder is not None else {}
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        fit = lambda v: isinstance(v, list) and all(isinstance(i, list) and len(i) == 2 and isinstance(i[0], str)  # noqa: E731
                                                    and type(i[1]) is int for i in v)  # fmt: skip
        return {k: [(m, n) for m, n in v] for k, v in data.items() if fit(v)}


def check_class(submissions: list[Submission], allowed: tuple[str, ...], scan: Scan | None = None) -> dict[str, list[Forbidden]]:
    """Scan every submission's code; each forbidden import becomes one of its problems. Returns {id: found}.
    scan: what the files state, kept by content (default: every file parsed, nothing kept)."""
    scan = scan or Scan()
    found = {}
    for sub in submissions:
        if sub.code is None:
            continue
        bad = outside(scan.stated(sub.code.read_bytes()), allowed)
        if bad:
            found[sub.id] = bad
            sub.problems.extend(item.hint(allowed) for item in bad)
    return found
