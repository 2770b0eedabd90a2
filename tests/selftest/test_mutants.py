"""The mutant catalogue and the sample class survive a course author's edit of the solution loudly:
every named edit applies to the current solution, and one that no longer matches says which edit,
which snippet, how often it occurs, and what to change. (Fast: nothing here runs the hidden suite.)"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import mutants  # noqa: E402

from grader.authoring import samples  # noqa: E402
from grader.authoring.edits import EditMismatch  # noqa: E402

SOLUTION_TEXT = mutants.SOLUTION.read_text()


@pytest.mark.parametrize("name", [m.name for m in mutants.MUTANTS + mutants.BENIGN])
def test_mutant_applies_to_the_solution(name):
    """Does every snippet of this mutant occur exactly once in the current solution, and change it?"""
    mutated = mutants.by_name(name).apply(SOLUTION_TEXT)
    assert mutated != SOLUTION_TEXT


def commented_snippet():
    """(mutant, its first snippet, that snippet's comment): the first mutant whose snippet quotes a solution comment."""
    for mutant in mutants.MUTANTS:
        old = mutant.edits[0][0]
        if "  # " in old and "\n" not in old and SOLUTION_TEXT.count(old) == 1:
            return mutant, old, old.split("  # ", 1)[1]
    pytest.fail("no mutant snippet quotes a one-line solution comment any more: this test needs one "
                "(tests/selftest/mutants.py, a snippet such as `code  # comment`)", pytrace=False)


def test_reworded_comment_names_mutant_snippet_and_fix():
    """When a comment a snippet quotes is reworded, does the error name the mutant, show the snippet, count it
    and say what to edit?"""
    mutant, old, comment = commented_snippet()
    reworded = "reworded: " + comment
    edited = SOLUTION_TEXT.replace(old, old.replace(comment, reworded))
    with pytest.raises(EditMismatch) as caught:
        mutant.apply(edited)
    message = str(caught.value)
    assert f"mutant {mutant.name!r}" in message
    assert f"    | {old}" in message  # the snippet, shown as it is written in the catalogue
    assert "occurs 0 times" in message and "exactly once" in message
    assert "tests/selftest/mutants.py" in message and "solutions/exercise02.py" in message
    assert reworded in message  # the closest line of the new solution
    assert "line " in message


def test_ambiguous_snippet_says_to_lengthen_it():
    """When a snippet occurs twice, does the error say so and ask for a longer snippet?"""
    mutant = mutants.Mutant("twice", "a snippet found twice", (("return", "return"),))
    with pytest.raises(EditMismatch) as caught:
        mutant.apply("def f():\n    return 1\n\ndef g():\n    return 2\n")
    assert "mutant 'twice'" in str(caught.value) and "occurs 2 times" in str(caught.value)
    assert "longer" in str(caught.value)


def test_sample_edit_mismatch_names_the_sample_edit():
    """Does a sample-class edit that no longer matches name the edit and grader/authoring/samples.py?"""
    name, (old, _) = next(iter(samples.EDITS.items()))
    edited = SOLUTION_TEXT.replace(old, old.replace(" ", "  ", 1))
    with pytest.raises(EditMismatch) as caught:
        samples.render(edited)
    assert f"sample edit {name!r}" in str(caught.value)
    assert "grader/authoring/samples.py" in str(caught.value)
