"""Idle time (grader/sandbox/activity.py): waiting without computing counts, waiting for a CPU does not."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from grader.sandbox.activity import Activity, cpu_share

SPIN = "import os\nos.sched_setaffinity(0, {0})\nprint('spinning', flush=True)\nwhile True:\n    pass\n"


def measure(pids: list[int], seconds: float) -> tuple[float, float]:
    """(idle seconds, elapsed seconds) of `pids`, sampled every 20 ms for `seconds` (a polling loop)."""
    activity = Activity(lambda: pids)
    activity.sample()  # the figures so far (start-up, which under load waits long for a CPU) are not this call's
    activity.start()
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        activity.sample()
        select_timeout(0.02)
    activity.sample()
    return activity.idle, time.monotonic() - start


def select_timeout(seconds: float) -> None:
    import select

    select.select([], [], [], seconds)


@pytest.fixture
def processes():
    started = []

    def start(code: str) -> int:
        """A child running `code`; returns once it printed its first line (its start-up is over)."""
        started.append(subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True))
        assert started[-1].stdout.readline()
        return started[-1].pid

    yield start
    for process in started:
        process.kill()
        process.wait()
        process.stdout.close()


def test_a_sleeping_process_is_idle(processes):
    """Does a process blocked in sleep count as idle for (nearly) all of the time?"""
    pid = processes("import time\nprint('asleep', flush=True)\ntime.sleep(600)\n")
    idle, elapsed = measure([pid], 1.5)
    assert idle >= 0.8 * elapsed, (idle, elapsed)


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs sched_setaffinity")
def test_a_process_starved_of_cpu_is_not_idle(processes):
    """Three spinners on one CPU each get a fraction of it: is none of the waiting counted as idle?"""
    pids = [processes(SPIN) for _ in range(3)]
    before = cpu_share(pids[0])
    idle, elapsed = measure([pids[0]], 1.5)
    share = (cpu_share(pids[0]) - before) / elapsed
    assert share < 0.7, f"no contention to measure (the spinner got {share:.0%} of a CPU)"
    assert idle <= 0.1 * elapsed, (idle, elapsed, share)
