"""Benchmark of the sandboxed worker against the in-process backend (a script, not a test).

    python bench/sandbox.py [--starts 10] [--calls 300] [--suite-reps 3] [--quick]

Prints spawn-to-ready (median of N fresh workers: bwrap + setpriv + nested bwrap + python + numpy +
submission import), the round trip of a small-array call (median and p95) and of a call carrying the
MNIST test's training images (15,000 x 784 float32, 47 MB, one way), each with the CPU seconds per call
of this process and of the worker (its cgroup's counter), with the in-process backend measured in the
same run as the baseline, and the ratios. Then the whole hidden suite on
the solution, `pytest tests/hidden -p grader.grading.plugin` with the harness's options and environment,
`--sandbox` and `--in-process` alternating (order swapped every repetition), wall seconds per
repetition and the ratio of the medians, plus per test file (from results.json) where the
difference goes. Targets: ready within 0.3 s, round trip within 2 ms, whole suite within 1.15x.
--quick: 5 starts, 100 calls, 2 suite repetitions (about 1.5 min); --suite-reps 0 skips the suite.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from grader import sandbox  # noqa: E402

SUBMISSION = """
import numpy as np

def forward(X, W1, b1, W2, b2):
    return np.maximum(X @ W1.T + b1, 0) @ W2.T + b2

def rows(X):
    return X.shape[0]
"""


def in_process_backend():
    from grader.sandbox.inprocess import InProcessStudent

    return InProcessStudent


def time_ready(make, starts: int) -> list[float]:
    """Seconds from construction to the first answered call, for `starts` fresh students."""
    times = []
    for _ in range(starts):
        started = time.perf_counter()
        student = make()
        student.call("forward", np.zeros((1, 2)), np.zeros((3, 2)), np.zeros(3), np.zeros((1, 3)), np.zeros(1))
        times.append(time.perf_counter() - started)
        student.close()
    return times


def time_calls(student, calls: int, bulk: bool = False) -> tuple[list[float], float, float]:
    """Seconds per forward(X[64x10], W1, b1, W2, b2) call (5 arrays in, 1 out), or with `bulk` per rows(X) of
    a 47 MB X; and the CPU seconds per call of this process and of the worker (0 in-process)."""
    rng = np.random.default_rng(0)
    args = (rng.standard_normal((64, 10)), rng.standard_normal((32, 10)), rng.standard_normal(32),
            rng.standard_normal((10, 32)), rng.standard_normal(10))
    call = (lambda: student.call("forward", *args)) if not bulk else \
        (lambda X=rng.standard_normal((15000, 784)).astype(np.float32): student.call("rows", X))
    call()  # warm up (starts the worker)
    group = getattr(student, "_group", None)
    worker_cpu = group.cpu_seconds if group is not None else (lambda: 0.0)
    times, own, theirs = [], own_cpu(), worker_cpu()
    for _ in range(calls):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return times, (own_cpu() - own) / calls, (worker_cpu() - theirs) / calls


def time_messages(calls: int = 3000) -> float:
    """CPU seconds of the message handling of one forward call (5 arrays in, 1 out) on both sides together:
    the request packed and unpacked, the reply packed and checked, in this process (best of 5 loops)."""
    from grader.sandbox import protocol

    rng = np.random.default_rng(0)
    tree, arrays = protocol.encode(([rng.standard_normal(s) for s in ((64, 10), (32, 10), (32,), (10, 32), (10,))],
                                    {}))
    out = rng.standard_normal((64, 32))
    reply = protocol.pack({"id": 1, "ok": True, "value": {"array": 0}}, [out])[8:]
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        for _ in range(calls):
            request = protocol.pack_parts({"op": "call", "name": "forward", "id": 1, "args": tree}, arrays)
            protocol.unpack(b"".join(request)[8:])
            protocol.pack({"id": 1, "ok": True, "value": {"array": 0}}, [out])
            protocol.unpack_reply(reply, {"id", "ok", "value", "error"})
        best = min(best, (time.process_time() - started) / calls)
    return best


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def time_suite(pytest_args: list[str]) -> tuple[float, float]:
    """Hook for the whole-suite comparison: wall seconds of `pytest <args> --sandbox` and `--in-process`."""
    return suite_run(pytest_args, "--sandbox")[0], suite_run(pytest_args, "--in-process")[0]


def suite_run(pytest_args: list[str], flag: str) -> tuple[float, dict]:
    """(wall seconds, {test file: summed test seconds}) of one pytest run, with the harness's environment."""
    import json
    import os
    import subprocess

    from grader.grading.runner import PLUGINS, RUN_ENV

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHON"))}
    env.update(RUN_ENV)
    with tempfile.TemporaryDirectory() as folder:
        results = Path(folder) / "results.json"
        command = [sys.executable, "-m", "pytest", *pytest_args, *PLUGINS, "--results-json", str(results),
                   "--rootdir", str(ROOT), "--assert=plain", "-p", "no:cacheprovider", "-q", flag]  # fmt: skip
        started = time.perf_counter()
        subprocess.run(command, cwd=ROOT, env=env, check=False, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        seconds = time.perf_counter() - started
        files = {}
        if results.is_file():
            for test in json.loads(results.read_text())["tests"]:
                name = Path(test["nodeid"].split("::", 1)[0]).stem
                files[name] = files.get(name, 0.0) + test["seconds"]
        files["(start-up, collection, exit)"] = seconds - sum(files.values())
    return seconds, files


def compare_suite(reps: int) -> None:
    """The hidden suite on the solution, sandboxed vs in-process, interleaved; prints the ratio of medians."""
    args = ["tests/hidden", "--submission", "solutions/exercise02.py", "--seed", "20261124"]
    walls = {"--sandbox": [], "--in-process": []}
    files = {"--sandbox": [], "--in-process": []}
    for rep in range(reps):
        for flag in (("--sandbox", "--in-process") if rep % 2 == 0 else ("--in-process", "--sandbox")):
            seconds, per_file = suite_run(args, flag)
            walls[flag].append(seconds)
            files[flag].append(per_file)
            print(f"  suite {flag:13} rep {rep + 1}: {seconds:.1f} s", file=sys.stderr)
    boxed, local = statistics.median(walls["--sandbox"]), statistics.median(walls["--in-process"])
    print(f"\nwhole hidden suite on the solution, {reps} interleaved repetitions (wall s per repetition)")
    print(f"  sandbox:    {' '.join(f'{s:6.1f}' for s in walls['--sandbox'])}")
    print(f"  in-process: {' '.join(f'{s:6.1f}' for s in walls['--in-process'])}")
    pairs = [a / b for a, b in zip(walls["--sandbox"], walls["--in-process"])]
    print(f"  ratio of medians {boxed / local:.2f}x (per repetition: {' '.join(f'{r:.2f}' for r in pairs)}); "
          f"target <= 1.15x: {'ok' if boxed / local <= 1.15 else 'MISSED'}")  # fmt: skip
    names = sorted({n for d in files["--sandbox"] + files["--in-process"] for n in d})
    print(f"  {'median seconds per test file':32}{'sandbox':>9}{'in-proc':>9}{'diff':>8}")
    for name in names:
        a = statistics.median(d.get(name, 0.0) for d in files["--sandbox"])
        b = statistics.median(d.get(name, 0.0) for d in files["--in-process"])
        print(f"  {name:32}{a:9.2f}{b:9.2f}{a - b:+8.2f}")


def p95(values: list[float]) -> float:
    return sorted(values)[int(0.95 * (len(values) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=10)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--suite-reps", type=int, default=3, help="whole-suite repetitions per backend (0: skip)")
    parser.add_argument("--quick", action="store_true", help="--starts 5 --calls 100 --suite-reps 2")
    options = parser.parse_args()
    if options.quick:
        options.starts, options.calls, options.suite_reps = 5, 100, 2
    mode, reason = sandbox.probe()
    print(f"sandbox backend: {mode} ({reason})")
    InProcessStudent = in_process_backend()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "exercise02_template.py"
        path.write_text(SUBMISSION)
        ready_sandbox = time_ready(lambda: sandbox.SandboxStudent(path, data_dir=None), options.starts)
        ready_local = time_ready(lambda: InProcessStudent(path), options.starts)
        student = sandbox.SandboxStudent(path, data_dir=None)
        try:
            calls_sandbox = time_calls(student, options.calls)
            bulk_sandbox = time_calls(student, max(3, options.calls // 20), bulk=True)
        finally:
            student.close()
        calls_local = time_calls(InProcessStudent(path), options.calls)
        bulk_local = time_calls(InProcessStudent(path), max(3, options.calls // 20), bulk=True)
    ms = 1000.0
    print(f"{'':28}{'sandbox':>12}{'in-process':>12}{'ratio':>8}   CPU per call: this process + the worker")
    rows = [
        ("spawn-to-ready median", ready_sandbox, ready_local, statistics.median, None),
        ("round trip median", calls_sandbox[0], calls_local[0], statistics.median, calls_sandbox[1:]),
        ("round trip p95", calls_sandbox[0], calls_local[0], p95, None),
        ("47 MB request median", bulk_sandbox[0], bulk_local[0], statistics.median, bulk_sandbox[1:]),
    ]
    for name, boxed, local, figure, cpu in rows:
        boxed, local = figure(boxed), figure(local)
        spent = f"   {cpu[0] * ms:.3f} + {cpu[1] * ms:.3f} ms" if cpu else ""
        print(f"{name:28}{boxed * ms:10.2f}ms{local * ms:10.3f}ms{boxed / local:7.1f}x{spent}")
    print(f"{'message handling of a call':28}{time_messages() * ms:10.3f}ms of CPU (both sides' packing and "
          "unpacking of a 5-in/1-out call, in this process)")
    ready, trip = statistics.median(ready_sandbox), statistics.median(calls_sandbox[0])
    print(f"targets: ready {ready * ms:.0f} ms <= 300 ms: {'ok' if ready <= 0.3 else 'MISSED'}; "
          f"round trip {trip * ms:.2f} ms <= 2 ms: {'ok' if trip <= 0.002 else 'MISSED'}")
    if options.suite_reps > 0:
        compare_suite(options.suite_reps)


if __name__ == "__main__":
    main()
