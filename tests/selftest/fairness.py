"""Where a mutant loses its points: per mutant, the points lost in the whole hidden suite, and whether
each lost test's message names the function that holds the bug.

A mutant's function is the one its first edit lands in (found with `ast` in the solution), or the
`function` it names itself. A message names it when the bare name occurs as a word ("sigmoid_grad",
"backward" for MLP.backward). The figures are the ones the issue asks for: median and maximum points
lost per mutant, and the share of lost tests whose message names the buggy function.

    python3 tests/selftest/fairness.py [-k NAME ...] [--skip TEST ...] [--jobs 1]

By default the two long learning tests (MNIST, the learning-rate experiment: about 90 s per run) are
left out, so the whole catalogue takes minutes; `--skip none` keeps them.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
KIT = HERE.parents[1]
sys.path.insert(0, str(HERE))
import mutants  # noqa: E402

LONG = ("test_mnist_accuracy", "test_learning_rate_experiment_histories")


def functions_of(source: str) -> list[tuple[int, int, str]]:
    """(first line, last line, name) of every function and method of the solution, innermost last."""
    spans = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            spans.append((node.lineno, node.end_lineno, node.name))
    return sorted(spans, key=lambda s: (s[0], -s[1]))


def owner(mutant, source: str | None = None) -> str:
    """The function holding the mutant's bug: its own `function`, else where its first edit lands."""
    if getattr(mutant, "function", ""):
        return mutant.function
    source = source if source is not None else mutants.SOLUTION.read_text()
    line = source[: source.index(mutant.edits[0][0])].count("\n") + 1
    inside = [name for first, last, name in functions_of(source) if first <= line <= last]
    return inside[-1] if inside else "?"


def names(message: str, function: str) -> bool:
    return re.search(rf"(?<![\w.]){re.escape(function)}\b|MLP\.{re.escape(function)}\b", message) is not None


def run(mutant, folder: Path, skip: tuple, seed: int) -> dict:
    path = mutants.write(mutant, folder)
    out = folder / "results.json"
    command = [sys.executable, "-m", "pytest", "tests/hidden", "--submission", str(path), "--in-process",
               "-p", "grader.grading.plugin", "--results-json", str(out), "-q", "-p", "no:cacheprovider",
               "--seed", str(seed)]
    if skip:
        command += ["-k", " and ".join(f"not {s}" for s in skip)]
    subprocess.run(command, cwd=KIT, capture_output=True, text=True, timeout=1200,
                   env={"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg",
                        "PATH": "/usr/bin:/bin", "HOME": str(folder)})
    return json.loads(out.read_text())


def summarise(results: dict) -> dict:
    """mutant -> (function, points lost, [(test, names it?, message)])."""
    source = mutants.SOLUTION.read_text()
    table = {}
    for mutant in mutants.MUTANTS:
        if mutant.name not in results:
            continue
        function = owner(mutant, source)
        lost = [t for t in results[mutant.name]["tests"] if t["outcome"] != "passed" and t["points"]]
        table[mutant.name] = (function, sum(t["points"] for t in lost),
                              [(t["id"], names(t["message"], function), t["message"]) for t in lost])
    return table


def figures(table: dict) -> str:
    points = [lost for _, lost, _ in table.values()]
    tests = [hit for _, _, rows in table.values() for _, hit, _ in rows]
    return (f"{len(table)} mutants; points lost per mutant: median {statistics.median(points):g}, "
            f"max {max(points):g}; lost tests naming the buggy function: {sum(tests)}/{len(tests)} "
            f"({100 * sum(tests) / max(1, len(tests)):.0f} %)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", nargs="*", default=None, help="mutant names (default: the whole catalogue)")
    parser.add_argument("--skip", nargs="*", default=list(LONG), help="hidden tests left out ('none': none)")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--json", help="write mutant -> [function, points lost, rows] here")
    args = parser.parse_args(argv)
    skip = () if args.skip == ["none"] else tuple(args.skip)
    chosen = [m for m in mutants.MUTANTS if args.k is None or m.name in args.k]
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(args.jobs) as pool:
        futures = {m.name: pool.submit(run, m, Path(tmp) / m.name, skip, args.seed) for m in chosen}
        results = {name: f.result() for name, f in futures.items()}
    table = summarise(results)
    for name, (function, lost, rows) in table.items():
        print(f"{name} [{function}] -{lost:g}")
        for test, hit, message in rows:
            print(f"    {'ok ' if hit else 'NO '} {test}: {message[:200]!r}")
    if args.json:
        Path(args.json).write_text(json.dumps(table, indent=1))
    print(figures(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
