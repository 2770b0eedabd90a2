"""Generate the student template from the reference solution (nbgrader's solution-region rules).

Every region between `### BEGIN SOLUTION` and `### END SOLUTION` becomes a stub at the indentation
of its BEGIN line:

    # YOUR CODE HERE
    raise NotImplementedError("MLP.forward")

naming the function that encloses the region. Everything outside the regions (docstrings, given
code) is copied unchanged. A nested BEGIN, an END without BEGIN, or a BEGIN without END is an error.
"""

from __future__ import annotations

import re

from grader.sandbox.error import GraderError

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
DEF = re.compile(r"^(\s*)(?:async\s+)?(def|class)\s+(\w+)")


class TemplateError(GraderError, ValueError):
    """The solution's markers are unbalanced."""


def enclosing_name(lines: list[str], index: int, indent: int) -> str:
    """The dotted name (Class.method) of the defs that enclose line `index` at indentation `indent`."""
    names = []
    for line in reversed(lines[:index]):
        match = DEF.match(line)
        if match and len(match.group(1)) < indent:
            names.append(match.group(3))
            indent = len(match.group(1))
            if indent == 0:
                break
    if not names:
        raise TemplateError(f"line {index + 1}: a solution region must be inside a function")
    return ".".join(reversed(names))


def render(solution: str) -> str:
    """The template text for the solution text."""
    lines = solution.splitlines(keepends=True)
    out: list[str] = []
    begin = None  # index of the open BEGIN line
    for index, line in enumerate(lines):
        marker = line.strip()
        if marker == BEGIN:
            if begin is not None:
                raise TemplateError(f"line {index + 1}: {BEGIN} inside the region opened at line {begin + 1}")
            begin = index
            pad = line[: len(line) - len(line.lstrip())]
            name = enclosing_name(lines, index, len(pad))
            out.append(f"{pad}# YOUR CODE HERE\n")
            out.append(f'{pad}raise NotImplementedError("{name}")\n')
        elif marker == END:
            if begin is None:
                raise TemplateError(f"line {index + 1}: {END} without {BEGIN}")
            begin = None
        elif begin is None:
            out.append(line)
    if begin is not None:
        raise TemplateError(f"line {begin + 1}: {BEGIN} is never closed by {END}")
    return "".join(out)


def regions(solution: str) -> list[str]:
    """The names of the functions that hold a solution region, in file order."""
    template = render(solution)
    return re.findall(r'raise NotImplementedError\("([\w.]+)"\)', template)
