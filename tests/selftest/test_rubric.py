"""`grader rubric`: the points read statically (ast) from the hidden suite's markers are the points the
answer key grades with (the plugin's collection of the same suite, as `grader grade` runs it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from grader.outputs import manual, rubric

KIT = Path(__file__).resolve().parents[2]
HIDDEN = KIT / "tests" / "hidden"


def answer_key_points(tmp_path: Path) -> dict[str, float]:
    """test function name -> points summed over its cases, as the trusted plugin records them."""
    out = tmp_path / "key.json"
    done = subprocess.run([sys.executable, "-m", "pytest", str(HIDDEN), "--collect-only", "-q", "--in-process",
                           "-p", "grader.grading.plugin", "--results-json", str(out), "-p", "no:cacheprovider"],
                          cwd=KIT, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert out.is_file(), done.stdout[-2000:] + done.stderr[-2000:]
    points: dict[str, float] = {}
    for test in json.loads(out.read_text())["tests"]:
        name = test["id"].split("[", 1)[0]
        points[name] = points.get(name, 0.0) + test["points"]
    return points


def test_static_rubric_matches_the_answer_key(tmp_path):
    """Do the statically read points equal, test by test, the points the answer key uses, and total 100?"""
    static = {item.test: item.points for item in rubric.read_rubric(HIDDEN)}
    key = answer_key_points(tmp_path)
    assert static == key
    assert sum(static.values()) == sum(key.values()) == 100.0


def test_rubric_command_prints_tests_files_and_totals():
    """Does `grader rubric` print every test, each file's sum, the automatic 100, the manual parts and the total?"""
    done = subprocess.run([sys.executable, "-m", "grader", "rubric"], cwd=KIT, capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = {line.rsplit(None, 1)[0].strip(): float(line.rsplit(None, 1)[1]) for line in done.stdout.splitlines()}
    items = rubric.read_rubric(HIDDEN)
    for item in items:
        assert lines[item.test + (f" ({item.cases} cases)" if item.cases > 1 else "")] == item.points
    for file in {i.file for i in items}:
        assert lines[file] == sum(i.points for i in items if i.file == file)
    assert any(i.cases > 1 for i in items)  # parametrized cases are counted
    assert lines[f"automatic: the hidden suite ({sum(i.cases for i in items)} graded cases)"] == 100
    for part, maximum in manual.PARTS.items():
        assert lines[f"manual: {part} (grader/outputs/manual.py)"] == maximum
    assert lines["total"] == 100 + sum(manual.PARTS.values())


def test_unreadable_points_name_the_test(tmp_path):
    """Does a test without a points marker, or with cases that cannot be counted statically, raise naming it?"""
    (tmp_path / "test_a.py").write_text("import pytest\n\ndef test_no_marker():\n    pass\n")
    with pytest.raises(rubric.RubricError, match="test_a.py::test_no_marker: .*no points"):
        rubric.read_rubric(tmp_path)
    (tmp_path / "test_a.py").write_text("import pytest\n\n@pytest.mark.points(1)\n"
                                        "@pytest.mark.parametrize('x', make_cases())\ndef test_dynamic(x):\n    pass\n")
    with pytest.raises(rubric.RubricError, match="test_a.py::test_dynamic: .*cannot read the cases"):
        rubric.read_rubric(tmp_path)
