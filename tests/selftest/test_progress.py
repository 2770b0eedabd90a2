"""grader.outputs.progress: the summary line at the end of `grader grade` adds up."""

from __future__ import annotations

import pytest

from grader.outputs.progress import summary


@pytest.mark.parametrize("statuses, reused, said", [
    (["graded"] * 4 + ["syntax-error", "import-error"], 0,
     "6 submissions: 4 graded, 2 could not run (1 import error, 1 syntax error); 0 from earlier runs"),
    (["graded"], 1, "1 submission: 1 graded, 0 could not run; 1 from earlier runs"),
    (["crashed", "timeout", "crashed", "no-code", "graded"], 5,
     "5 submissions: 1 graded, 4 could not run (1 without code, 1 over the time limit, 2 crashed); 5 from earlier runs"),
    ([], 0, "0 submissions: 0 graded, 0 could not run; 0 from earlier runs"),
])  # fmt: skip
def test_summary_adds_up_in_words(statuses, reused, said):
    """Does the summary say the total, graded + could not run = total with the causes counted, and the reused?"""
    assert summary(statuses, reused) == said
