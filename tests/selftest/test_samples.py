"""The sample class in submissions/: generated from the solution, and graded end to end by the real suite."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

from grader.authoring import samples

KIT = Path(__file__).resolve().parents[2]


def test_samples_are_not_stale():
    """Are the committed sample code files exactly the solution with their named edits?"""
    assert samples.stale(KIT) == [], "run `python3 -m grader samples` (--plots for the plots) to regenerate submissions/"


def test_samples_check_command_agrees():
    """Does `grader samples --check` say the committed samples are up to date, with exit status 0?"""
    done = subprocess.run([sys.executable, "-m", "grader", "samples", "--check"], cwd=KIT, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    said = "the sample class in submissions/ is up to date (code only: the plots are not checked; " \
           "`grader samples --check --plots` redraws and compares them)"
    assert (done.returncode, done.stdout.strip()) == (0, said), done


def test_samples_check_plots_finds_a_plot_the_solution_no_longer_draws(tmp_path):
    """With one committed sample plot changed by a pixel, does `stale_plots` (what `--check --plots` adds) name
    exactly that plot after redrawing the solution's quick experiment?"""
    import shutil

    from PIL import Image

    kit = tmp_path / "kit"
    shutil.copytree(KIT / "solutions", kit / "solutions")
    shutil.copytree(KIT / "submissions", kit / "submissions")
    shutil.copytree(KIT / "data", kit / "data", symlinks=True)
    changed = kit / "submissions" / "bob-partly-wrong" / "plots" / "lr_accuracy.png"
    with Image.open(changed) as image:
        image = image.convert("RGB")
        image.putpixel((5, 5), (255, 0, 0))
        image.save(changed)
    assert samples.stale_plots(kit) == ["bob-partly-wrong/plots/lr_accuracy.png"]


def test_grade_sample_class_with_hidden_suite(tmp_path):
    """Does `grader grade` on the sample class, with the hidden suite and the sandbox, give the expected grades?"""
    out = tmp_path / "report"
    done = subprocess.run([sys.executable, "-m", "grader", "grade", "--out", str(out), "-j", "2"],
                          cwd=KIT, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "graded 5, from cache 0, failed to run 2 (of 6)" in done.stdout  # mallory (syntax error), carol (import error)
    kept = {p.stem: json.loads(p.read_text()) for p in (out / "results").glob("*.json")}
    points = {name: sum(t["earned"] for t in r["tests"]) for name, r in kept.items()}
    assert points["_reference"] == points["ada-lovelace"] == points["group-eve-frank"] == 100
    assert 0 < points["bob-partly-wrong"] < 100 and 0 < points["dave-no-plots"] < 100
    assert points["carol-crash"] == 0 and "could not import" in kept["carol-crash"]["reason"]
    assert kept["mallory-syntax"]["status"] == "syntax-error"
    with open(out / "grades.csv", newline="") as handle:
        students = {r["student"] for r in csv.DictReader(handle)}
    assert {"s1234567", "s7654321"} <= students and len(students) == 7
