"""What `grader grade` keeps across output folders in the user's cache (GRADER_CACHE): the answer key
of a suite version and gradebooks by content. Grades must not change: a class graded without the
cache, with a cold one and with a warm one gives the same results, CSVs and gradebook, on the sample
class and on the benchmarks' generated class (bench/classgen.py, at the smallest size that holds
every kind of submission it makes).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from collections import Counter

from classroom import KIT, STANDIN, make_class

from grader.outputs import shelf

sys.path.insert(0, str(KIT / "bench"))
import classgen  # noqa: E402


def grade(source: Path, out: Path, cache: str, wait: bool = True):
    """`grader grade` with GRADER_CACHE=cache; its stdout, or (wait=False) the running process for `finished`."""
    # --no-similarity: similarity keeps nothing in the user's cache, and its children cost a third of a run
    command = [sys.executable, "-m", "grader", "grade", str(source), "--out", str(out), "--suite", str(STANDIN),
               "--backend", "in-process", "-j", "2", "--no-similarity"]  # fmt: skip
    env = {**__import__("os").environ, "GRADER_CACHE": cache}
    process = subprocess.Popen(command, cwd=KIT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return finished(process) if wait else process


def finished(process: subprocess.Popen) -> str:
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr[-3000:]
    return stdout


def verdicts(out: Path) -> dict:
    kept = {}
    for path in (out / "results").glob("*.json"):
        data = json.loads(path.read_text())
        kept[path.stem] = (data["status"], data["reason"], data["key"], [(t["id"], t["outcome"], t["earned"], t["message"]) for t in data["tests"]])
    return kept


def book(out: Path) -> list[tuple]:
    with sqlite3.connect(out / "gradebook.db") as db:
        return sorted(db.execute(
            "SELECT student.id, base_cell.name, grade.auto_score, grade.manual_score FROM grade "
            "JOIN submitted_notebook ON grade.notebook_id = submitted_notebook.id "
            "JOIN submitted_assignment ON submitted_notebook.assignment_id = submitted_assignment.id "
            "JOIN student ON submitted_assignment.student_id = student.id "
            "JOIN base_cell ON grade.cell_id = base_cell.id"
        ).fetchall())  # fmt: skip


def test_cache_keeps_the_key_and_gradebook_and_changes_no_grade(tmp_path):
    """Without, with a cold and with a warm cache: same grades and gradebook; the warm run reuses the key and the book?"""
    check_reuse(make_class(tmp_path), tmp_path)


def test_cache_changes_no_grade_on_the_benchmark_class(tmp_path):
    """On the benchmarks' class (mutants, alternatives, a slow and two crashing submissions): the same grades?"""
    kinds = lambda n: Counter(kind for _, kind, _ in classgen.plan(n))  # noqa: E731
    n = min(n for n in range(4, 41) if kinds(n).keys() == kinds(40).keys())
    written = classgen.write_class(tmp_path / "bench-class", n)
    assert written.keys() == kinds(40).keys() and sum(written.values()) == n
    check_reuse(tmp_path / "bench-class", tmp_path)


def check_reuse(source: Path, tmp_path: Path) -> None:
    """Grade `source` without the cache, with a cold and with a warm one; assert nothing graded differs."""
    cache = tmp_path / "cache"
    off = grade(source, tmp_path / "off", "off", wait=False)  # side by side with the cold run: nothing shared
    grade(source, tmp_path / "cold", str(cache))
    finished(off)
    keys = list((cache / "answer-keys").glob("*.json"))
    assert len(keys) == 1 and keys[0].name.endswith("-in-process.json")
    grade(source, tmp_path / "warm", str(cache))
    assert verdicts(tmp_path / "off") == verdicts(tmp_path / "cold") == verdicts(tmp_path / "warm")
    reference = lambda out: (out / "results" / "_reference.json").read_text()  # noqa: E731
    assert reference(tmp_path / "warm") == reference(tmp_path / "cold"), "the warm run ran the answer key again"
    grades = lambda out: (out / "grades.csv").read_text()  # noqa: E731
    assert grades(tmp_path / "off") == grades(tmp_path / "cold") == grades(tmp_path / "warm")
    assert book(tmp_path / "off") == book(tmp_path / "cold") == book(tmp_path / "warm") != []
    assert (tmp_path / "warm" / "gradebook.db").read_bytes() == (tmp_path / "cold" / "gradebook.db").read_bytes()
    kept = [p for p in (cache / "gradebooks").glob("*.db") if not p.name.startswith("empty-")]
    assert len(kept) == 1 and len(list((cache / "gradebooks").glob("empty-*.db"))) == 1
    assert shelf.KEPT >= 1
