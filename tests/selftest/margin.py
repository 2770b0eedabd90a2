"""The MNIST test's margin: how far above its threshold correct implementations land, over many seeds,
and what the mutants it catches reach (a script, not a test: about 2 s per run, in-process).

    python3 tests/selftest/margin.py [--seeds 10] [--first 1] [--jobs 2] [--mutants] [--also NAME ...]

Runs the hidden test `test_mnist_accuracy` alone, in-process (every subject is a kit file: the solution,
the alternatives in alternatives/, the mutants of mutants.py), with the grader's pytest options and
environment (one BLAS thread), once per subject and seed (--seed first .. first + seeds - 1, the
run seed the grader would pass). The accuracy is the artifact the test records (`mnist_test_accuracy`).
Prints per subject the lowest, median and highest accuracy, then the lowest accuracy of any correct
implementation and its margin over the threshold (read from tests/hidden/test_training.py). With
--mutants, every mutant whose `caught_by` names the MNIST test is run on the first two seeds: its
accuracy (or why none was recorded) and whether the test failed it. --also runs the named mutants on
every seed (default: the bugs that still learn, about 90 % and 85-87 %: the test replays their steps
with the reference gradient and fails them at step 1 on every seed, before any accuracy is recorded).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
KIT = HERE.parents[1]
sys.path[:0] = [str(KIT), str(HERE)]
import mutants  # noqa: E402

from grader.grading.runner import PLUGINS, RUN_ENV  # noqa: E402  (the grader's own pytest options)

TEST = "tests/hidden/test_training.py::test_mnist_accuracy"
TRAINING = KIT / "tests" / "hidden" / "test_training.py"
LEARNING_BUGS = ["backward_no_activation_grad", "ce_grad_mean_over_entries"]  # learn, but less: about 90 % and 85-87 %


def threshold() -> float:
    """MNIST_THRESHOLD as written in the hidden test (read with ast, not imported)."""
    for node in ast.parse(TRAINING.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "MNIST_THRESHOLD" for t in node.targets):
            return float(ast.literal_eval(node.value))
    raise SystemExit(f"no MNIST_THRESHOLD in {TRAINING}")


def run(path: Path, seed: int, out: Path) -> tuple[float | None, str, str]:
    """(accuracy or None, outcome, message) of the MNIST test on `path` with run seed `seed`."""
    command = [sys.executable, "-m", "pytest", TEST, "--in-process", "--submission", str(path), "--seed", str(seed),
               "-q", "-p", "no:cacheprovider", "--assert=plain", *PLUGINS, "--results-json", str(out)]
    done = subprocess.run(command, cwd=KIT, env={**os.environ, **RUN_ENV}, capture_output=True, text=True)
    if not out.is_file():
        return None, "no results", done.stdout[-300:]
    results = json.loads(out.read_text())
    test = results["tests"][0] if results["tests"] else {"outcome": "not run", "message": ""}
    return results["artifacts"].get("mnist_test_accuracy"), test["outcome"], test["message"]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first", type=int, default=1, help="the first run seed")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--mutants", action="store_true", help="also the mutants the MNIST test catches (2 seeds)")
    parser.add_argument("--also", nargs="*", default=None, metavar="NAME",
                        help=f"mutants run on every seed (no names: {' '.join(LEARNING_BUGS)})")
    args = parser.parse_args(argv)
    limit = threshold()
    seeds = range(args.first, args.first + args.seeds)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        subjects = {"solution": KIT / "solutions" / "exercise02.py"}
        subjects |= {f"alternative:{p.stem}": p for p in sorted((HERE / "alternatives").glob("*.py"))}
        caught = [m for m in mutants.MUTANTS + mutants.STATE_MUTANTS + mutants.FAIRNESS_MUTANTS
                  if "test_mnist_accuracy" in m.caught_by] if args.mutants else []
        for mutant in caught:
            subjects[f"mutant:{mutant.name}"] = mutants.write(mutant, folder / mutant.name)
        for name in ([] if args.also is None else args.also or LEARNING_BUGS):
            subjects[f"learns:{name}"] = mutants.write(mutants.by_name(name), folder / name)
        jobs = [(name, seed) for name, path in subjects.items()
                for seed in (seeds if not name.startswith("mutant:") else list(seeds)[:2])]
        with ThreadPoolExecutor(args.jobs) as pool:
            done = dict(zip(jobs, pool.map(lambda job: run(subjects[job[0]], job[1],
                                                           folder / f"{job[0].replace(':', '-')}-{job[1]}.json"), jobs)))
    print(f"MNIST test accuracy (threshold {100 * limit:.1f} %), seeds {seeds.start}..{seeds.stop - 1}")
    lowest = None
    for name in subjects:
        runs = [(seed, *done[(name, seed)]) for s_name, seed in jobs if s_name == name]
        accuracies = [a for _, a, _, _ in runs if a is not None]
        failed = [seed for seed, _, outcome, _ in runs if outcome != "passed"]
        shown = (f"lowest {100 * min(accuracies):.2f}  median {100 * statistics.median(accuracies):.2f}  "
                 f"highest {100 * max(accuracies):.2f}" if accuracies else "no accuracy recorded")
        note = f"; failed on seeds {failed}" if failed else ""
        if name.startswith("mutant:") and not accuracies:
            note += f" ({runs[0][3][:120]})"
        print(f"  {name:40s} {shown}{note}")
        if name.startswith("learns:") and accuracies:
            side = "above" if min(accuracies) >= limit else "below" if max(accuracies) < limit else "ON BOTH SIDES of"
            print(f"  {'':40s} {side} the threshold: {100 * (min(accuracies) - limit):+.2f} / "
                  f"{100 * (max(accuracies) - limit):+.2f} points")
        if not name.startswith(("mutant:", "learns:")) and accuracies:
            lowest = min(accuracies) if lowest is None else min(lowest, min(accuracies))
    if lowest is not None:
        print(f"lowest accuracy of a correct implementation: {100 * lowest:.2f} %, "
              f"margin {100 * (lowest - limit):+.2f} points over the threshold (the issue asks >= 2)")


if __name__ == "__main__":
    main()
