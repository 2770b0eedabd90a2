"""Benchmark: what the hidden suite costs, in MNIST epochs of the reference solution.

    python bench/suite_cost.py [--reps 1] [--sandbox] [--seed 20261124]

The unit of cost is one epoch of the solution's own `train` on all 60,000 MNIST training images
(784-128-10 ReLU, cross-entropy, batch 32, lr 0.1, float64), timed in this process. The suite is
`pytest tests/hidden --in-process` on the solution in a child process, with the grader's pytest options
and environment (grader.grading.runner: no plugin autoload, plain asserts); its CPU seconds come from
RUSAGE_CHILDREN (the child is waited for, and with one BLAS thread it is the only process doing the
work). Both run with one BLAS thread and are interleaved, so load hits both alike; the figure is
the ratio of the medians, suite CPU / epoch CPU (target <= 2.0). pytest's slowest durations of the
last run show where the cost is.

--sandbox also times the suite with `--sandbox` (wall seconds, the worker being killed rather than
waited for; the run is handed this process's probe of the machine, as the grader hands it to its runs),
alternating with the in-process run, and prints the ratio sandboxed / in-process: what
spawning the worker and the RPC round trips of the unit tests cost per submission; and the CPU of a
sandboxed run (pytest's, plus the worker's as its cgroup counted it, from results.json) against the
in-process run's: the sandbox's own CPU per run; and, from the last sandboxed run, the requests made to the
worker per test file and the workers started (bench/tally.py, a plugin that only reads counters).
The machine's load average is printed with the figures; take final figures on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[name] = "1"

KIT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(KIT), str(KIT / "bench")]
import conditions  # noqa: E402  (bench/conditions.py)
from mnist_epoch import load_solution  # noqa: E402

from grader.grading.runner import PLUGINS, RUN_ENV  # noqa: E402  (the grader's own pytest options)
from grader.sandbox.layout import PROBED_ENV, probe_record  # noqa: E402

ENV = {**os.environ, **RUN_ENV}


def epoch_cpu(ref, X, Y, seed: int) -> float:
    """CPU seconds of one epoch of the solution's train on (X, Y)."""
    model = ref.MLP([784, 128, 10], activation="relu", output_activation="identity", loss="cross_entropy", seed=seed)
    started = time.process_time()
    ref.train(model, X, Y, epochs=1, lr=0.1, batch_size=32, seed=seed)
    return time.process_time() - started


def suite_run(backend: str, seed: int, out: Path) -> tuple[float, float, str, float]:
    """(CPU seconds of the child, wall seconds, pytest's slowest durations, the sandboxed worker's CPU seconds as
    its cgroup counted them: 0 in-process) of the hidden suite on the solution. A sandboxed run also writes its
    requests per test file to `out` with the suffix .tally (bench/tally.py)."""
    command = [sys.executable, "-m", "pytest", "tests/hidden", f"--{backend}", "--submission",
               str(KIT / "solutions" / "exercise02.py"), "--seed", str(seed), "-q", "-p", "no:cacheprovider",
               "--assert=plain", *PLUGINS, "--results-json", str(out), "--durations=6", "--durations-min=0.2"]
    env = ENV
    if backend == "sandbox":
        command += ["-p", "bench.tally"]  # imported from the kit's folder, the child's current folder
        # this process's probe of the machine, handed over as the grader hands it to every graded run (Runner):
        # without it the run starts a trial worker of its own first, which no graded run does (about 0.1 s of CPU,
        # in the run's wall time; not in its CPU figure: RUSAGE_CHILDREN does not see through bwrap, no cgroup counts it)
        env = {**ENV, "TALLY_OUT": str(out.with_suffix(".tally")), PROBED_ENV: probe_record()}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=KIT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if not out.is_file():
        raise SystemExit(f"the hidden suite wrote no results (exit {done.returncode}):\n{done.stdout[-2000:]}")
    results = json.loads(out.read_text())
    failed = [t["id"] for t in results["tests"] if t["outcome"] != "passed"]
    if failed:
        raise SystemExit(f"the solution failed hidden tests ({backend}): {failed}")
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    lines = done.stdout.splitlines()
    start = next((i for i, line in enumerate(lines) if "slowest" in line), len(lines))
    worker = float((results.get("usage") or {}).get("cpu_seconds") or 0.0)
    return cpu, wall, "\n".join(line for line in lines[start + 1 : start + 8] if line.strip() and "passed" not in line), worker


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=1, help="suite runs (and epochs) per backend")
    parser.add_argument("--sandbox", action="store_true", help="also time the sandboxed suite (wall seconds)")
    parser.add_argument("--seed", type=int, default=20261124)
    args = parser.parse_args(argv)
    conditions.print_block(["the epoch runs in this process, the suite in a child with the grader's pytest options"])

    ref = load_solution()
    X, y, _, _ = ref.load_mnist(KIT / "data" / "mnist")
    Y = ref.one_hot(y)
    epochs, cpus, walls, sandboxed, sandboxed_cpu, slowest, tally = [], [], [], [], [], "", None
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.reps):
            epochs.append(epoch_cpu(ref, X, Y, rep))
            print(f"epoch {rep + 1}: {epochs[-1]:.2f} s CPU", flush=True)
            backends = ["in-process", "sandbox"] if args.sandbox else ["in-process"]
            for backend in backends if rep % 2 == 0 else backends[::-1]:  # order swapped every repetition
                cpu, wall, shown, worker = suite_run(backend, args.seed + rep, Path(tmp) / f"{backend}-{rep}.json")
                if backend == "sandbox":
                    sandboxed.append(wall)
                    sandboxed_cpu.append(cpu + worker)
                    print(f"suite sandboxed {rep + 1}: {wall:.2f} s wall, {cpu:.2f} s CPU of pytest + {worker:.2f} s of "
                          "the worker", flush=True)
                    tally = json.loads((Path(tmp) / f"{backend}-{rep}.tally").read_text())
                    continue
                cpus.append(cpu)
                walls.append(wall)
                slowest = shown
                print(f"suite in-process {rep + 1}: {cpu:.2f} s CPU, {wall:.2f} s wall", flush=True)
    epoch, suite = statistics.median(epochs), statistics.median(cpus)
    print(f"\nslowest parts of the last in-process run (wall seconds):\n{slowest}")
    print(f"\n{conditions.end_line()} on {os.cpu_count()} CPUs; one BLAS thread")
    print(f"one epoch of train (60000 images, 784-128-10, batch 32): median {epoch:.2f} s CPU")
    print(f"hidden suite on the solution, in-process: median {suite:.2f} s CPU ({statistics.median(walls):.2f} s wall)")
    print(f"suite / epoch = {suite / epoch:.2f} (target <= 2.0; ideally <= 1.0)")
    if sandboxed:
        ratio = statistics.median(sandboxed) / statistics.median(walls)
        print(f"sandboxed per submission: median {statistics.median(sandboxed):.2f} s wall; "
              f"sandboxed / in-process = {ratio:.2f}")
        print(f"sandboxed per submission: median {statistics.median(sandboxed_cpu):.2f} s CPU (pytest + the worker's "
              f"cgroup); the sandbox's own CPU per run: {statistics.median(sandboxed_cpu) - suite:+.2f} s")
    if tally:
        files = ", ".join(f"{Path(name).stem} {count}" for name, count in sorted(tally["files"].items()))
        print(f"requests to the worker in the last sandboxed run: {tally['requests']} ({files}); "
              f"workers started: {tally['workers']}")


if __name__ == "__main__":
    main()
