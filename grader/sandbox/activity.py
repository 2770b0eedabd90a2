"""How long a submission waits without computing: its idle time while the trusted side awaits a reply.

CPU-time limits alone let a submission that sleeps (or blocks on a pipe, a lock, `input()`) hold its
grading slot for as long as the wall-clock backstop allows while using no CPU at all. Idle time is
the wall time in which none of the submission's tasks was on a CPU or waiting in a run queue for one.
The kernel keeps both figures per task (`/proc/<pid>/task/<tid>/schedstat`: nanoseconds on a CPU,
nanoseconds runnable but waiting, time slices; `sched_info`). Waiting for a CPU is load, not
idleness, so a busy machine never makes an honest submission idle: a verdict built on idle time
does not depend on load. On a kernel without schedstat, a task counts as active for a whole sample
interval when it is running or runnable (state R) or in uninterruptible sleep (D) at the sample.

Stdlib only (ships with the sandbox runtime).
"""

from __future__ import annotations

import os
import time
from typing import Callable, Iterable

STOP = "idle"  # the stop kind (SandboxStudent.stops, results.json "stops") of a call stopped for idling


class Activity:
    """Idle seconds of a set of tasks since `start()`; call `sample()` now and then.

    One per worker, kept across calls: `start()` costs nothing, so a call answered before the first
    sample reads nothing from /proc. The first sample of a call credits what the tasks did since the
    previous call's last sample (or since they were born), never more than that first interval: at
    most one polling interval per call goes unmeasured."""

    def __init__(self, tasks: Callable[[], Iterable[int]]):
        self._tasks = tasks  # the submission's processes now (pids; their threads are read from /proc)
        self._seen: dict[tuple[int, str], float] = {}
        self.idle = 0.0
        self._last = time.monotonic()

    def start(self) -> None:
        """Count idle time from now (a new call)."""
        self.idle = 0.0
        self._last = time.monotonic()

    def sample(self) -> float:
        """Add the idle part of the time since the previous sample; return the idle seconds so far."""
        now = time.monotonic()
        interval = now - self._last
        active = self._active_since_last(interval=interval)
        self.idle += max(0.0, interval - active)
        self._last = now
        return self.idle

    def _active_since_last(self, interval: float) -> float:
        """Seconds the tasks spent on a CPU or waiting for one since the previous sample (summed over tasks)."""
        active = 0.0
        for pid in self._tasks():
            try:
                threads = os.listdir(f"/proc/{pid}/task")
            except OSError:
                continue
            for tid in threads:
                busy = busy_seconds(pid, tid)
                if busy is None:  # no schedstat here: judge by the state at this sample
                    if task_state(pid, tid) in ("R", "D"):
                        active += interval
                    continue
                previous = self._seen.get((pid, tid))
                self._seen[(pid, tid)] = busy
                active += busy - previous if previous is not None else busy  # a new task: all of its time
        return active


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
