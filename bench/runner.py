"""Benchmark: the CPU of a run through Runner.run, spawned (python -m pytest) vs forked from the zygote.

    python bench/runner.py [--n 10] [--suite tests/hidden] [--backend sandbox|in-process]

N runs of the suite on the solution each way, interleaved (the order alternates each round), in this one
process, after one unmeasured run each way (this process's sandbox probe, first imports). A spawned run's
CPU is the RUSAGE_CHILDREN difference around it (its pytest process and everything that process reaped);
the forked runs' CPU is the zygote's whole CPU, its start and its reaped children, which reaches
RUSAGE_CHILDREN when the runner is closed and the zygote reaped: so the zygote's start-up (its imports, once
per runner) is counted in the forked figure, spread over the N runs as a class spreads it over its runs.
The grader's own CPU (this process: the log reader, the zygote's socket) is printed beside it. What the
sandboxed worker spends outside these processes (its cgroup) is the same both ways and not counted here.
Printed: per-run CPU both ways, the zygote's own share, the ratio forked / spawned and the machine's load.
Take final figures on an idle machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

KIT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(KIT))

from grader.grading.runner import Runner  # noqa: E402

SOLUTION = KIT / "solutions" / "exercise02.py"


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def zygote_own_cpu(pid: int) -> float:
    """The zygote's own CPU (not its children's), from /proc: its imports and its serving."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10, help="runs each way")
    parser.add_argument("--suite", default="tests/hidden")
    parser.add_argument("--backend", default=None, choices=(None, "sandbox", "in-process"))
    options = parser.parse_args()
    suite, code = KIT / options.suite, SOLUTION.read_bytes()
    spawning = Runner(KIT, suite, backend=options.backend, fork=False)
    for warm in (spawning, Runner(KIT, suite, backend=options.backend)):
        assert warm.run(SOLUTION.name, code, 1)[1] == "graded"
        warm.close()
    forking = Runner(KIT, suite, backend=options.backend)
    spawned, spawned_self, forked_self, forked_wall, spawned_wall = [], [], [], [], []
    load = os.getloadavg()
    before = children_cpu()
    for round_ in range(options.n):
        for runner in (spawning, forking) if round_ % 2 == 0 else (forking, spawning):
            children, mine, wall = children_cpu(), own_cpu(), time.monotonic()
            data, status, reason, log, _ = runner.run(SOLUTION.name, code, 1 + round_)
            assert status == "graded" and "[grader]" not in log, (status, reason, log[-2000:])
            if runner is spawning:
                spawned.append(children_cpu() - children)
                spawned_self.append(own_cpu() - mine)
                spawned_wall.append(time.monotonic() - wall)
            else:
                forked_self.append(own_cpu() - mine)
                forked_wall.append(time.monotonic() - wall)
    zygote_own = zygote_own_cpu(forking._zygote.pid)
    forking.close()  # the zygote is reaped: its CPU and its children's reach RUSAGE_CHILDREN
    forked_total = children_cpu() - before - sum(spawned)
    forked = forked_total / options.n
    mean = statistics.mean
    print(f"load average at the start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, at the end "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()) + f"; {os.cpu_count()} cores")  # fmt: skip
    print(f"{options.n} runs each way of {options.suite} ({options.backend or 'sandbox'}) on the solution, interleaved")
    print(f"spawned: {mean(spawned):.3f} s CPU per run (median {statistics.median(spawned):.3f}, "
          f"min {min(spawned):.3f}, max {max(spawned):.3f}); grader {mean(spawned_self):.3f} s; wall {mean(spawned_wall):.2f} s")
    print(f"forked:  {forked:.3f} s CPU per run (the zygote's own {zygote_own:.3f} s in all, its imports once, "
          f"included); grader {mean(forked_self):.3f} s; wall {mean(forked_wall):.2f} s")
    print(f"ratio forked / spawned: {forked / mean(spawned):.3f} (with the grader's own CPU: "
          f"{(forked + mean(forked_self)) / (mean(spawned) + mean(spawned_self)):.3f}); "
          f"saved per run {mean(spawned) - forked:.3f} s CPU")


if __name__ == "__main__":
    main()
