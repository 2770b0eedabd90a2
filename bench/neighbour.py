"""Benchmark: does a fork/CPU hog slow its honest neighbour down? (a script, not a test)

    python bench/neighbour.py [--rounds 5] [--children 8] [--kit PATH]

Two sandboxed submissions side by side, as `grader grade -j 2` runs them. The neighbour (a plain
numpy workload behind the RPC: a 784-256-10 forward pass on 2000 rows, 10 times per round) is timed
alone, then next to a hog whose import forks --children processes in new sessions that spin, then
alone again. Prints the neighbour's median wall seconds per round in each phase and the ratio
hog / alone, plus the hog's CPU share (its cgroup's CPU seconds over wall seconds: at most 1.0 when
the per-submission cap holds). Target: ratio within noise of 1.0 on a machine with at least two idle
cores (each submission is capped at one CPU). --kit runs the same against another checkout (e.g.
the kit before the cap) to compare.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

NEIGHBOUR = """
import numpy as np

def work(X, W1, W2):
    for _ in range(10):
        out = np.maximum(X @ W1.T, 0) @ W2.T
    return out.shape
"""

HOG = """
import os, time
for _ in range({children}):
    if os.fork() == 0:
        os.setsid()
        end = time.time() + 600
        while time.time() < end:
            pass
        os._exit(0)

def ping():
    return 1
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--children", type=int, default=8)
    parser.add_argument("--kit", type=Path, default=Path(__file__).resolve().parents[1])
    options = parser.parse_args()
    sys.path.insert(0, str(options.kit.resolve()))
    import numpy as np

    from grader import sandbox

    print(f"kit: {options.kit.resolve()}; sandbox: {' '.join(sandbox.probe())}")
    folder = Path(tempfile.mkdtemp(prefix="bench-neighbour-"))
    (folder / "neighbour.py").write_text(NEIGHBOUR)
    (folder / "hog.py").write_text(HOG.format(children=options.children))
    rng = np.random.default_rng(0)
    X, W1, W2 = rng.standard_normal((2000, 784)), rng.standard_normal((256, 784)), rng.standard_normal((10, 256))
    neighbour = sandbox.SandboxStudent(folder / "neighbour.py", data_dir=None, call_timeout=600)

    def rounds() -> list[float]:
        times = []
        for _ in range(options.rounds):
            started = time.monotonic()
            neighbour.call("work", X, W1, W2)
            times.append(time.monotonic() - started)
        return times

    try:
        neighbour.call("work", X, W1, W2)  # warm up
        alone = rounds()
        hog = sandbox.SandboxStudent(folder / "hog.py", data_dir=None)
        try:
            hog.ping()
            time.sleep(1)
            started = time.monotonic()
            usage = type(hog).__dict__.get("usage", lambda _: {}).__get__(hog)  # none in a kit without caps
            cpu_before = usage().get("cpu_seconds")
            beside = rounds()
            cpu_after = usage().get("cpu_seconds")
            wall = time.monotonic() - started
        finally:
            hog.close()
        after = rounds()
    finally:
        neighbour.close()
    base = statistics.median(alone + after)
    print(f"neighbour alone: median {base:.3f} s per round ({options.rounds} rounds before, {options.rounds} after)")
    print(f"neighbour beside a hog with {options.children} spinning children: median {statistics.median(beside):.3f} s")
    print(f"ratio beside / alone: {statistics.median(beside) / base:.2f}")
    if cpu_before is not None:
        print(f"hog's CPU share while beside (cgroup CPU s / wall s): {(cpu_after - cpu_before) / wall:.2f}")
    else:
        print("hog's CPU share: not measured (no cgroup in this kit or on this machine)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
