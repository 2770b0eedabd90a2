"""Named textual edits of the reference solution: how the sample class and the mutant catalogue are made.

An edit is (old snippet, new snippet); each old snippet must occur exactly once in the text it is
applied to. When the course author rewords a docstring or a comment that a snippet quotes, the
edit stops matching and `apply_edits` raises `EditMismatch` with everything needed to fix it: the
edit's name, the snippet, how many times it occurs, the closest line of the solution, and which file
to change. Nothing is skipped silently.
"""

from __future__ import annotations

import difflib

from grader.sandbox.error import GraderError


class EditMismatch(GraderError, ValueError):
    """An edit's old snippet does not occur exactly once in the text."""


def apply_edits(text: str, edits, *, owner: str, catalogue: str, source: str = "solutions/exercise02.py") -> str:
    """`text` with each (old, new) of `edits` applied in turn.

    `owner` names the edit's owner in messages ("mutant 'softmax_no_shift'"), `catalogue` the file
    where the snippet is written, `source` the file the text comes from.
    """
    for old, new in edits:
        count = text.count(old)
        if count != 1:
            raise EditMismatch(mismatch_message(text, old, count, owner=owner, catalogue=catalogue, source=source))
        text = text.replace(old, new)
    return text


def mismatch_message(text: str, old: str, count: int, *, owner: str, catalogue: str, source: str) -> str:
    snippet = "\n".join(f"    | {line}" for line in old.splitlines() or [old])
    lines = [f"{owner} no longer matches {source}: its snippet occurs {count} times there (it must occur "
             f"exactly once). The snippet:", snippet]
    if count == 0:
        first = next((line.strip() for line in old.splitlines() if line.strip()), old.strip())
        candidates = [line.strip() for line in text.splitlines() if line.strip()]
        close = difflib.get_close_matches(first, candidates, n=1, cutoff=0.5)
        if close:
            number = next(i for i, line in enumerate(text.splitlines(), 1) if line.strip() == close[0])
            lines += [f"  The closest line of {source} (line {number}):", f"    | {close[0]}"]
        lines.append(f"  Fix: edit this snippet in {catalogue} ({owner}) to match the new text of {source} "
                     f"exactly, or change {source} back.")
    else:
        lines.append(f"  Fix: make this snippet in {catalogue} ({owner}) longer (take in a neighbouring line) "
                     "so that it occurs only once.")
    return "\n".join(lines)
