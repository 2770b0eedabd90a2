"""Benchmark of the sandboxed worker against the in-process backend (a script, not a test).

    python bench/sandbox.py [--starts 10] [--calls 300]

Prints spawn-to-ready (median of N fresh workers: bwrap + setpriv + nested bwrap + python + numpy +
submission import) and the round trip of a small-array call (median and p95), with the in-process
backend measured in the same run as the baseline, and the ratios. Targets: ready within 0.3 s,
round trip within 2 ms.
"""

from __future__ import annotations

import argparse
import importlib.util
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
"""


def in_process_backend():
    spec = importlib.util.spec_from_file_location("exercise02_bench_conftest", ROOT / "tests" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.InProcessStudent


def time_ready(make, starts: int) -> list[float]:
    """Seconds from construction to the first answered call, for `starts` fresh students."""
    times = []
    for _ in range(starts):
        started = time.perf_counter()
        student = make()
        student.forward(np.zeros((1, 2)), np.zeros((3, 2)), np.zeros(3), np.zeros((1, 3)), np.zeros(1))
        times.append(time.perf_counter() - started)
        student.close()
    return times


def time_calls(student, calls: int) -> list[float]:
    """Seconds per forward(X[64x10], W1, b1, W2, b2) call: 5 arrays in, 1 out."""
    rng = np.random.default_rng(0)
    args = (rng.standard_normal((64, 10)), rng.standard_normal((32, 10)), rng.standard_normal(32),
            rng.standard_normal((10, 32)), rng.standard_normal(10))
    student.forward(*args)  # warm up (starts the worker)
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        student.forward(*args)
        times.append(time.perf_counter() - started)
    return times


def time_suite(pytest_args: list[str]) -> tuple[float, float]:
    """Hook for the whole-suite comparison: wall seconds of `pytest <args> --sandbox` and `--in-process`."""
    import subprocess

    seconds = []
    for flag in ("--sandbox", "--in-process"):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *pytest_args, flag],
                       cwd=ROOT, check=False, stdout=subprocess.DEVNULL)
        seconds.append(time.perf_counter() - started)
    return seconds[0], seconds[1]


def p95(values: list[float]) -> float:
    return sorted(values)[int(0.95 * (len(values) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=10)
    parser.add_argument("--calls", type=int, default=300)
    options = parser.parse_args()
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
        finally:
            student.close()
        calls_local = time_calls(InProcessStudent(path), options.calls)
    ms = 1000.0
    print(f"{'':28}{'sandbox':>12}{'in-process':>12}{'ratio':>8}")
    rows = [
        ("spawn-to-ready median", statistics.median(ready_sandbox), statistics.median(ready_local)),
        ("round trip median", statistics.median(calls_sandbox), statistics.median(calls_local)),
        ("round trip p95", p95(calls_sandbox), p95(calls_local)),
    ]
    for name, boxed, local in rows:
        print(f"{name:28}{boxed * ms:10.2f}ms{local * ms:10.3f}ms{boxed / local:7.1f}x")
    ready, trip = statistics.median(ready_sandbox), statistics.median(calls_sandbox)
    print(f"targets: ready {ready * ms:.0f} ms <= 300 ms: {'ok' if ready <= 0.3 else 'MISSED'}; "
          f"round trip {trip * ms:.2f} ms <= 2 ms: {'ok' if trip <= 0.002 else 'MISSED'}")


if __name__ == "__main__":
    main()
