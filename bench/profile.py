"""Where the grader's time goes: one submission end to end, and the batch's fixed costs (a script, not a test).

    python bench/profile.py [--reps 3]

One submission (the reference solution, graded exactly as `grader grade` does, sandboxed):
  python + numpy + pytest import; pytest start-up and collection of the hidden suite; the whole run
  through grader.grading.runner.Runner (what one submission costs the pool), split by test file from results.json
  (the sandbox's worker start is inside the first test that uses `student`; the worker's MNIST read
  inside test_training); the rest (start-up, collection, result writing, process exit);
  the trusted MNIST reader, train + test, from the .gz (GRADER_CACHE=off) and from its copy.
The batch's fixed costs, on the sample class (submissions/) after it is graded once:
  the answer key (one run; 0 when kept from another output folder), the outputs (report pages,
  CSVs, images, gradebook) written into a fresh folder without the cache and with it, and the
  import of nbgrader alone.
Each figure is the median of --reps runs in fresh processes; the machine may be shared, so the
load average is printed. Takes ~5 min on 2 idle cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

KIT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(KIT))
from grader.grading.runner import PLUGINS, RUN_ENV, Runner, run_code  # noqa: E402
from grader.outputs.report import IMAGES  # noqa: E402

SUITE = KIT / "tests" / "hidden"
SOLUTION = KIT / "solutions" / "exercise02.py"


def env(cache: str | None = None) -> dict:
    values = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHON"))}
    values.update(RUN_ENV)
    if cache is not None:
        values["GRADER_CACHE"] = cache
    return values


def timed(command: list[str], **kwargs) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=KIT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, **kwargs)
    return time.perf_counter() - started


def median_of(reps: int, measure) -> float:
    return statistics.median(measure() for _ in range(reps))


def one_submission(reps: int, rows: list) -> None:
    python = [sys.executable, "-c", "import numpy, pytest"]
    rows.append(("python + numpy + pytest import", median_of(reps, lambda: timed(python, env=env()))))
    collect = [sys.executable, "-m", "pytest", str(SUITE), "--collect-only", "-q", *PLUGINS,
               "--rootdir", str(KIT), "--assert=plain", "-p", "no:cacheprovider"]  # fmt: skip
    rows.append(("pytest start-up + collection", median_of(reps, lambda: timed(collect, env=env()))))
    runner = Runner(KIT, SUITE)
    runs = []
    for _ in range(reps):
        data, status, reason, log, seconds, _ = run_code(runner, SOLUTION.name, SOLUTION.read_bytes(), 1)
        if data is None:
            sys.exit(f"the run failed: {status} {reason}\n{log[-2000:]}")
        by_file = defaultdict(float)
        for test in data["tests"]:
            by_file[Path(test.get("nodeid", "?").split("::")[0]).stem] += float(test.get("seconds", 0.0))
        runs.append((seconds, by_file))
    total = statistics.median(s for s, _ in runs)
    rows.append(("whole run through the harness (sandboxed)", total))
    files = sorted({f for _, b in runs for f in b})
    for name in files:
        rows.append((f"  tests in {name}", statistics.median(b.get(name, 0.0) for _, b in runs)))
    rows.append(("  rest: start-up, collection, results, exit", statistics.median(s - sum(b.values()) for s, b in runs)))
    read = [sys.executable, "-c", "from grader.sandbox import mnist; mnist.load()"]
    cache = tempfile.mkdtemp(prefix="bench-profile-cache-")
    try:
        rows.append(("trusted MNIST read (train + test), from .gz", median_of(reps, lambda: timed(read, env=env("off")))))
        timed(read, env=env(cache))  # makes the copies
        rows.append(("trusted MNIST read (train + test), from the copy", median_of(reps, lambda: timed(read, env=env(cache)))))
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def fixed_costs(reps: int, rows: list, work: Path) -> None:
    graded = work / "graded"
    command = [sys.executable, "-m", "grader", "grade", str(KIT / "submissions"), "-j", "2"]
    subprocess.run([*command, "--out", str(graded)], cwd=KIT, env=env("off"), capture_output=True, check=True)
    key = json.loads((graded / "results" / "_reference.json").read_text())["seconds"]
    rows.append(("answer key: one run (0 when kept across folders)", key))
    cache = work / "cache"

    def outputs(cache_value: str) -> float:
        out = work / f"out-{time.monotonic_ns()}"
        shutil.copytree(graded / "results", out / "results")  # every result cached: only the outputs are made
        (out / "results" / ".gradebook-key").unlink(missing_ok=True)
        shutil.rmtree(out / "results" / IMAGES, ignore_errors=True)  # plots are redrawn, PNGs re-encoded
        return timed([*command, "--out", str(out)], env=env(cache_value))

    rows.append(("outputs into a new folder, no cache", median_of(reps, lambda: outputs("off"))))
    outputs(str(cache))
    rows.append(("outputs into a new folder, warm cache", median_of(reps, lambda: outputs(str(cache)))))
    nbgrader = [sys.executable, "-c", "import warnings; warnings.simplefilter('ignore'); import nbgrader.api"]
    rows.append(("  of which: import nbgrader.api", median_of(reps, lambda: timed(nbgrader, env=env()))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    options = parser.parse_args()
    print(f"cores {os.cpu_count()}; load average at start {os.getloadavg()[0]:.1f}; median of {options.reps}")
    rows: list = []
    work = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    try:
        one_submission(options.reps, rows)
        rows.append(("", None))
        fixed_costs(options.reps, rows, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for label, seconds in rows:
        print(f"{label:55}{'' if seconds is None else f'{seconds:8.2f} s'}")
    print(f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
