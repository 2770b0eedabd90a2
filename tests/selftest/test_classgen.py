"""bench/classgen.py, the benchmarks' generated class: one folder per submission, whatever its size."""

from __future__ import annotations

import sys
from collections import Counter

from classroom import KIT

sys.path.insert(0, str(KIT / "bench"))
import classgen  # noqa: E402


def test_plan_names_and_contents_every_submission_once_past_the_catalogue():
    """Does a class of 300 (more mutants than the catalogue holds) get 300 distinct folder names and code files?"""
    rows = classgen.plan(300)
    names = Counter(name for name, _, _ in rows)
    texts = Counter(text for _, _, text in rows)
    assert len(rows) == 300
    assert [name for name, count in names.items() if count > 1] == []
    assert max(texts.values()) == 1
    assert Counter(kind for _, kind, _ in rows)["mutant"] > len(classgen.mutants.MUTANTS), "no mutant repeats at 300"


def test_plan_numbers_no_folder_while_the_catalogue_suffices():
    """At the benchmarks' sizes (up to 40) is every mutant folder named after its mutant alone?"""
    rows = classgen.plan(40)
    catalogue = {f"mutant-{m.name.replace('_', '-')}" for m in classgen.mutants.MUTANTS}
    mutant_names = [name for name, kind, _ in rows if kind == "mutant"]
    assert mutant_names and set(mutant_names) <= catalogue
