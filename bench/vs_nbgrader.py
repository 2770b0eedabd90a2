"""The kit against nbgrader on the same generated class, side by side (a script, not a test).

    python bench/vs_nbgrader.py [--n 20] [--jobs CORES] [--reps 1] [--keep DIR]

Builds an nbgrader course for the same work: one notebook whose only cell is a locked autograder
test cell worth 100 points that runs the hidden suite in-process in the kernel with the pytest
invocation of the harness (grader/grading/runner.py): `pytest.main([tests/hidden, *PLUGINS,
"--results-json", ..., "--submission", <the student's file>, "--seed", <the seed the harness gives
that submission>, "--rootdir", KIT, "--assert=plain", "-p", "no:cacheprovider", "-q",
"--in-process"])`, after setting the runner's RUN_ENV in os.environ (PYTEST_DISABLE_PLUGIN_AUTOLOAD
is read by pytest.main); it ends with the points earned (nbgrader's partial credit). The student's
.py file sits beside the notebook and is listed in `Autograde.exclude_overwriting`, so nbgrader does
not replace it with the source copy (nbgrader#940). Then, interleaved, `nbgrader autograde`
(serial: nbgrader cannot grade in parallel), `grader grade -j 1` and `grader grade -j JOBS`, each
on the same class into a fresh folder. Every command runs in the same environment: RUN_ENV (so the
kernel starts with one BLAS thread before it imports numpy) and the bench's own GRADER_CACHE
(bench/cache.py: MNIST's uncompressed copies and the empty gradebook warm for both sides; before
each of the kit's runs, no answer key or gradebook kept from an earlier run). Prints wall and CPU
seconds (machine-wide, from /proc/stat: run it on an otherwise idle machine), the ratios nbgrader / kit, the
verdict `-j 1 >= 1.5x: ok/MISSED` on wall time, and for how many submissions nbgrader's cell ran
the suite to the end. Skips with a message when nbgrader or its Python kernel is not installed.

What makes the comparison unfair, in each direction:
* Neither: both sides run the same suite with the same pytest options, plugins, seed per
  submission and environment; only the backend differs (the kit's runs are sandboxed, the
  suite's default; nbgrader's add `--in-process`).
* For nbgrader: no sandbox (student code runs with the tutor's rights in the kernel, and a
  submission that kills the kernel loses every point), whereas the kit pays the sandbox per
  submission (bwrap, the worker's start and every call's round trip); one kernel per submission
  instead of a pytest process plus a sandboxed worker; no report pages, plots or per-test CSV, and
  its per-test messages are not read (one score per submission).
* For the kit: nbgrader is serial only, so `-j JOBS` uses cores it cannot; a kernel's start-up
  and the notebook's conversion and writing per submission are nbgrader's own costs (the kit has no
  notebook), and so is filling its gradebook per submission (the kit writes its own once per class);
  the kit runs the answer key (the solution, one more suite run per class), which nbgrader does not.
Target (issue 15): `grader grade -j 1` at least 1.5x faster than nbgrader's serial autograde.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KIT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(KIT))
sys.path.insert(0, str(KIT / "bench"))
import cache  # noqa: E402  (bench/cache.py)
import classgen  # noqa: E402
import conditions  # noqa: E402  (bench/conditions.py)
import throughput  # noqa: E402  (the harness's seed per submission)
from grader.grading.runner import PLUGINS, RUN_ENV  # noqa: E402

ASSIGNMENT, NOTEBOOK, CODE = "ex02", "exercise02", "exercise02_template.py"

# The notebook's one cell: the harness's pytest invocation, in the kernel. The seeds are the harness's, by
# student; nbgrader runs the notebook in autograded/<student>/<assignment>/.
CELL = """\
import json, os, sys
sys.path.insert(0, {kit!r})  # this kit's grader plugin and conftest, as `grader grade` uses them
os.environ.update({env!r})  # the runner's RUN_ENV, before pytest.main reads it
import pytest
seed = {seeds!r}[os.path.basename(os.path.dirname(os.getcwd()))]
pytest.main([{suite!r}, *{plugins!r}, "--results-json", "results.json", "--submission", os.path.abspath({code!r}),
             "--seed", str(seed), "--rootdir", {kit!r}, "--assert=plain", "-p", "no:cacheprovider", "-q", "--in-process"])
sum(t["earned"] for t in json.load(open("results.json"))["tests"])
"""


def cell_source(seeds: dict[str, int]) -> str:
    return CELL.format(kit=str(KIT), env=RUN_ENV, seeds=seeds, suite=str(KIT / "tests" / "hidden"),
                       plugins=list(PLUGINS), code=CODE)  # fmt: skip


CONFIG = """\
c = get_config()
c.CourseDirectory.root = {root!r}
c.CourseDirectory.course_id = "bench"
c.ExecutePreprocessor.timeout = 600
c.Autograde.exclude_overwriting = {{"{assignment}": ["{code}"]}}
"""


def notebook(seeds: dict[str, int]) -> dict:
    meta = {"grade": True, "solution": False, "locked": True, "points": 100, "grade_id": "hidden_suite",
            "schema_version": 3}  # fmt: skip
    cell = {"cell_type": "code", "execution_count": None, "metadata": {"nbgrader": meta, "deletable": False,
            "editable": False}, "outputs": [], "source": cell_source(seeds).splitlines(keepends=True)}  # fmt: skip
    return {"cells": [cell], "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
            "nbformat": 4, "nbformat_minor": 5}  # fmt: skip


def environment() -> dict:
    """Every command's environment: the runner's RUN_ENV (nbgrader's kernel inherits it), the bench's GRADER_CACHE."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHON"))}
    env.update(RUN_ENV)
    return env


def busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (psutil: /proc/stat), every process included.

    Not RUSAGE_CHILDREN: the sandboxed workers run under other uids inside bubblewrap and are killed,
    not waited for, at the end of a run, so the process tree's own accounting misses most of their time."""
    import psutil

    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def run(command: list[str], cwd: Path, allowed: tuple[int, ...] = (0,)) -> tuple[float, float]:
    """(wall s, machine-wide CPU s) of one command; exits when its status is not `allowed`."""
    cpu, started = busy_seconds(), time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=environment(), capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode not in allowed:
        sys.exit(f"{' '.join(command[:4])} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return wall, busy_seconds() - cpu


def test_seconds(results: Path) -> float:
    """The summed seconds of every test of every submission in a kit run's store (the answer key left out)."""
    total = 0.0
    for path in results.glob("*.json"):
        if not path.name.startswith("_"):
            total += sum(float(t.get("seconds", 0.0)) for t in json.loads(path.read_text()).get("tests", []))
    return total


def student_of(folder_name: str) -> str:
    return folder_name.replace("-", "_")


def make_course(course: Path, class_dir: Path) -> list[str]:
    """The nbgrader course: config, source, release (generate_assignment) and one submission per student."""
    (course / "source" / ASSIGNMENT).mkdir(parents=True)
    (course / "nbgrader_config.py").write_text(CONFIG.format(root=str(course), assignment=ASSIGNMENT, code=CODE))
    seeds = {student_of(sid): seed for sid, _, seed in throughput.floor_targets(class_dir, course.parent / "seeds")}
    (course / "source" / ASSIGNMENT / f"{NOTEBOOK}.ipynb").write_text(json.dumps(notebook(seeds), indent=1))
    shutil.copyfile(KIT / "exercise02_template.py", course / "source" / ASSIGNMENT / CODE)
    run(["nbgrader", "generate_assignment", ASSIGNMENT, "--force"], course)
    students = []
    for folder in sorted(p for p in class_dir.iterdir() if p.is_dir()):
        student = student_of(folder.name)
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
    if shutil.which("nbgrader") is None or importlib.util.find_spec("ipykernel") is None:
        print("skipped: nbgrader or its Python kernel (ipykernel) is not installed (pip install '.[tutor]')")
        return
    conditions.print_block([throughput.BENCH_CACHE.replace("grading runs", "kit's runs and nbgrader's kernels")])
    work = options.keep or Path(tempfile.mkdtemp(prefix="bench-nbgrader-"))
    cache_dir = cache.use_folder(work / "cache")
    kinds = classgen.write_class(work / "class", options.n)
    print(f"class: {options.n} submissions ({classgen.describe(kinds)}); cores {os.cpu_count()}; "
          f"load average at start {os.getloadavg()[0]:.1f}")  # fmt: skip
    course = work / "course"
    students = make_course(course, work / "class")
    grade = [sys.executable, "-m", "grader", "grade", str(work / "class")]
    times: dict[str, list] = {"nbgrader autograde (serial)": [], "grader grade -j 1": [], f"grader grade -j {options.jobs}": []}
    for rep in range(options.reps):
        order = list(times) if rep % 2 == 0 else list(reversed(times))
        for name in order:
            print(f"{name} ...", file=sys.stderr)
            if name.startswith("nbgrader"):
                shutil.rmtree(course / "autograded", ignore_errors=True)
                # Status 1: some submission could not be autograded (a kernel killed by the submission); the rest were.
                times[name].append(run(["nbgrader", "autograde", ASSIGNMENT, "--force"], course, allowed=(0, 1)))
                ran = [s for s in students if (course / "autograded" / s / ASSIGNMENT / "results.json").is_file()]
            else:
                jobs = name.rsplit(" ", 1)[1]
                cache.forget_class(cache_dir)  # its own answer key and gradebook, as in a first grading
                times[name].append(run([*grade, "--out", str(work / f"out-{rep}-{jobs}"), "-j", jobs], KIT))
    wall = {k: min(w for w, _ in v) for k, v in times.items()}
    cpu = {k: min(c for _, c in v) for k, v in times.items()}
    base = "nbgrader autograde (serial)"
    print(f"\n{'':32}{'wall s':>9}{'CPU s':>9}{'nbgrader/kit wall':>19}{'CPU':>7}")
    for name in times:
        ratio = "" if name == base else f"{wall[base] / wall[name]:18.2f}x{cpu[base] / cpu[name]:6.2f}x"
        print(f"{name:32}{wall[name]:9.1f}{cpu[name]:9.1f}{ratio}")
    print(f"nbgrader's cell ran the suite to the end for {len(ran)} of {len(students)} submissions "
          f"(a submission that ends the process in-process kills the kernel: {', '.join(sorted(set(students) - set(ran))) or 'none'})")
    tests = test_seconds(work / "out-0-1" / "results")
    print(f"the suite's tests alone took {tests:.1f} s in the kit's -j 1 run (sandboxed, the answer key not counted): "
          f"no serial grader running this suite can be more than {wall[base] / tests:.2f}x faster than nbgrader here")
    verdict = wall[base] / wall["grader grade -j 1"]
    print(f"nbgrader / grader grade -j 1, wall: {verdict:.2f}x  -j 1 >= 1.5x: {'ok' if verdict >= 1.5 else 'MISSED'}; "
          f"{conditions.end_line()}")
    if not options.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
