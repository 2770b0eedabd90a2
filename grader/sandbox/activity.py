"""How long a submission waits without computing: its idle time while the trusted side awaits a reply.

CPU-time limits alone let a submission that sleeps (or blocks on a pipe, a lock, `input()`) hold its
grading slot for as long as the wall-clock backstop allows while using no CPU at all. Idle time is
the wall time in which none of the submission's tasks was on a CPU or waiting in a run queue for one.
The kernel keeps both figures per task (`/proc/<pid>/task/<tid>/schedstat`: nanoseconds on a CPU,
nanoseconds runnable but waiting, time slices; `sched_info`). Waiting for a CPU is load, not
idleness, so a busy machine never makes an honest submission idle: a verdict built on idle time
does not depend on load (tests/selftest/test_activity.py starves a process of CPU to show it). On a
kernel without schedstat, a task counts as active for a sample interval when it is running or
runnable (state R) or in uninterruptible sleep (D) at the sample's end.

Stdlib only (ships with the sandbox runtime).
"""

from __future__ import annotations

import os
import time
from typing import Callable, Iterable

STOP = "idle"  # the stop kind (SandboxStudent.stops, results.json "stops") of a call stopped for idling


class Activity:
    """Idle seconds of a set of tasks since `start()`; call `sample()` now and then.

    idle = time since start - the active time of the most active task. Per task, active time is the
    growth of its schedstat figures since the call started, capped at the call's length: the kernel
    adds a wait for a CPU only when the task gets one, so it lands late and in lumps, and is counted
    whole; capping keeps a task from being active for longer than the call lasted. Taking the most
    active task (not the sum) means many tasks waiting for one CPU cannot bank time against a later
    sleep; an honest worker is one thread, so nothing is lost there.

    One per worker, kept across calls: `start()` reads nothing, so a call answered before the first
    sample costs nothing; the first sample of a call measures from the previous call's last sample (or
    a task's birth), capped at the call's length like everything else."""

    def __init__(self, tasks: Callable[[], Iterable[int]]):
        self._tasks = tasks  # the submission's processes now (pids; their threads are read from /proc)
        self._seen: dict[tuple[int, str], float] = {}  # a task's schedstat figure at the last sample
        self._active: dict[tuple[int, str], float] = {}  # a task's active seconds in this call
        self.idle = 0.0
        self._start = self._last = time.monotonic()

    def start(self) -> None:
        """Count idle time from now (a new call)."""
        self.idle = 0.0
        self._active = {}
        self._start = self._last = time.monotonic()

    def sample(self) -> float:
        """Look at the tasks now; return the idle seconds of this call so far."""
        now = time.monotonic()
        elapsed, interval, self._last = now - self._start, now - self._last, now
        for pid in self._tasks():
            try:
                threads = os.listdir(f"/proc/{pid}/task")
            except OSError:
                continue
            for tid in threads:
                key = (pid, tid)
                busy = busy_seconds(pid, tid)
                if busy is None:  # no schedstat here: running or runnable now counts as active since the last sample
                    if task_state(pid, tid) in ("R", "D"):
                        self._active[key] = min(elapsed, self._active.get(key, 0.0) + interval)
                    continue
                previous = self._seen.get(key)
                self._seen[key] = busy
                grown = busy - previous if previous is not None else busy  # a new task: all of its time
                self._active[key] = min(elapsed, self._active.get(key, 0.0) + grown)
        self.idle = max(0.0, elapsed - max(self._active.values(), default=0.0))
        return self.idle


def busy_seconds(pid: int, tid: str) -> float | None:
    """A task's seconds on a CPU plus seconds waiting for one (schedstat), or None when unreadable."""
    try:
        with open(f"/proc/{pid}/task/{tid}/schedstat") as stat:
            on_cpu, waiting = stat.read().split()[:2]
        return (int(on_cpu) + int(waiting)) / 1e9
    except (OSError, ValueError):
        return None


def task_state(pid: int, tid: str) -> str:
    """The task's scheduler state letter (R running or runnable, S sleeping, D uninterruptible, ...)."""
    try:
        with open(f"/proc/{pid}/task/{tid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "?"


def cpu_share(pid: int) -> float:
    """Seconds a process's main thread has spent on a CPU so far (schedstat; 0 when unreadable)."""
    try:
        with open(f"/proc/{pid}/schedstat") as stat:
            return int(stat.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0
