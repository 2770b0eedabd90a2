"""The kit against nbgrader on the same generated class, side by side (a script, not a test).

    python bench/vs_nbgrader.py [--n 20] [--jobs CORES] [--reps 1] [--keep DIR]

Builds an nbgrader course for the same work: one notebook whose only cell is a locked autograder
test cell worth 100 points that runs the hidden suite in-process in the kernel
(`pytest.main([tests/hidden, "--in-process", "--submission", <the student's file>, ...])`) and ends
with the points earned (nbgrader's partial credit); the student's .py file sits beside the notebook
and is listed in `Autograde.exclude_overwriting`, so nbgrader does not replace it with the source
copy (nbgrader#940). Then, interleaved, `nbgrader autograde` (serial: nbgrader cannot grade in
parallel), `grader grade -j 1` and `grader grade -j JOBS`, each on the same class into a fresh
folder, with GRADER_CACHE=off (no answer key or gradebook kept from an earlier run). Prints wall
and CPU seconds (CPU of the whole process tree, sandboxes included) and the ratios nbgrader / kit.
Skips with a message when nbgrader (or its kernel) is not installed.

What makes the comparison unfair, in each direction:
* For nbgrader: no sandbox (student code runs with the tutor's rights in the kernel, and a
  submission that kills the kernel loses every point), one process for the whole suite (no pytest
  start-up per submission besides the kernel's), no report pages, plots or per-test CSV, and its
  per-test messages are not read (one score per submission).
* For the kit: nbgrader is serial only, so `-j JOBS` uses cores it cannot; nbgrader also converts
  and writes a notebook per submission and fills its own gradebook, which the kit's runs do not.
Target (issue 15): `grader grade -j 1` at least 1.5x faster than nbgrader's serial autograde.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KIT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(KIT / "bench"))
import classgen  # noqa: E402

ASSIGNMENT, NOTEBOOK, CODE = "ex02", "exercise02", "exercise02_template.py"

CELL = f"""\
import json, os, sys
sys.path.insert(0, {str(KIT)!r})  # this kit's grader plugin and conftest, as `grader grade` uses them
import pytest
pytest.main([{str(KIT / "tests" / "hidden")!r}, "--in-process", "--submission", os.path.abspath({CODE!r}),
             "--rootdir", {str(KIT)!r}, "-p", "grader.grading.plugin", "--results-json", "results.json",
             "--assert=plain", "-p", "no:cacheprovider", "-q", "--seed", "1"])
sum(t["earned"] for t in json.load(open("results.json"))["tests"])
"""

CONFIG = """\
c = get_config()
c.CourseDirectory.root = {root!r}
c.CourseDirectory.course_id = "bench"
c.ExecutePreprocessor.timeout = 600
c.Autograde.exclude_overwriting = {{"{assignment}": ["{code}"]}}
"""


def notebook() -> dict:
    meta = {"grade": True, "solution": False, "locked": True, "points": 100, "grade_id": "hidden_suite",
            "schema_version": 3}  # fmt: skip
    cell = {"cell_type": "code", "execution_count": None, "metadata": {"nbgrader": meta, "deletable": False,
            "editable": False}, "outputs": [], "source": CELL.splitlines(keepends=True)}  # fmt: skip
    return {"cells": [cell], "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
            "nbformat": 4, "nbformat_minor": 5}  # fmt: skip


def environment() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHON"))}
    env.update(GRADER_CACHE="off", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg")
    return env


def run(command: list[str], cwd: Path) -> tuple[float, float]:
    """(wall s, CPU s of the process tree) of one command; exits on failure."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu, started = usage.ru_utime + usage.ru_stime, time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=environment(), capture_output=True, text=True)
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command[:4])} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return wall, usage.ru_utime + usage.ru_stime - cpu


def make_course(course: Path, class_dir: Path) -> list[str]:
    """The nbgrader course: config, source, release (generate_assignment) and one submission per student."""
    (course / "source" / ASSIGNMENT).mkdir(parents=True)
    (course / "nbgrader_config.py").write_text(CONFIG.format(root=str(course), assignment=ASSIGNMENT, code=CODE))
    (course / "source" / ASSIGNMENT / f"{NOTEBOOK}.ipynb").write_text(json.dumps(notebook(), indent=1))
    shutil.copyfile(KIT / "exercise02_template.py", course / "source" / ASSIGNMENT / CODE)
    run(["nbgrader", "generate_assignment", ASSIGNMENT, "--force"], course)
    students = []
    for folder in sorted(p for p in class_dir.iterdir() if p.is_dir()):
        student = folder.name.replace("-", "_")
        target = course / "submitted" / student / ASSIGNMENT
        target.mkdir(parents=True)
        shutil.copyfile(course / "release" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", target / f"{NOTEBOOK}.ipynb")
        shutil.copyfile(folder / CODE, target / CODE)
        students.append(student)
    return students


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20, help="submissions in the class (default 20)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="the kit's parallel jobs (default: cores)")
    parser.add_argument("--reps", type=int, default=1, help="interleaved repetitions (default 1)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the class, course and outputs here")
    options = parser.parse_args()
    if shutil.which("nbgrader") is None:
        print("skipped: nbgrader is not installed (pip install '.[tutor]')")
        return
    work = options.keep or Path(tempfile.mkdtemp(prefix="bench-nbgrader-"))
    kinds = classgen.write_class(work / "class", options.n)
    print(f"class: {options.n} submissions ({classgen.describe(kinds)}); cores {os.cpu_count()}; "
          f"load average at start {os.getloadavg()[0]:.1f}")  # fmt: skip
    course = work / "course"
    make_course(course, work / "class")
    grade = [sys.executable, "-m", "grader", "grade", str(work / "class")]
    times: dict[str, list] = {"nbgrader autograde (serial)": [], "grader grade -j 1": [], f"grader grade -j {options.jobs}": []}
    for rep in range(options.reps):
        order = list(times) if rep % 2 == 0 else list(reversed(times))
        for name in order:
            print(f"{name} ...", file=sys.stderr)
            if name.startswith("nbgrader"):
                shutil.rmtree(course / "autograded", ignore_errors=True)
                times[name].append(run(["nbgrader", "autograde", ASSIGNMENT, "--force"], course))
            else:
                jobs = name.rsplit(" ", 1)[1]
                times[name].append(run([*grade, "--out", str(work / f"out-{rep}-{jobs}"), "-j", jobs], KIT))
    wall = {k: min(w for w, _ in v) for k, v in times.items()}
    cpu = {k: min(c for _, c in v) for k, v in times.items()}
    base = "nbgrader autograde (serial)"
    print(f"\n{'':32}{'wall s':>9}{'CPU s':>9}{'nbgrader/kit wall':>19}{'CPU':>7}")
    for name in times:
        ratio = "" if name == base else f"{wall[base] / wall[name]:18.2f}x{cpu[base] / cpu[name]:6.2f}x"
        print(f"{name:32}{wall[name]:9.1f}{cpu[name]:9.1f}{ratio}")
    verdict = wall[base] / wall["grader grade -j 1"]
    print(f"target: grader grade -j 1 at least 1.5x faster than nbgrader: {verdict:.2f}x "
          f"{'ok' if verdict >= 1.5 else 'MISSED'}; load average at end {os.getloadavg()[0]:.1f}")
    if not options.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
