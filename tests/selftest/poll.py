"""Waiting in the self-tests: poll a condition until a deadline (never a fixed sleep that load can outlast)."""

from __future__ import annotations

import threading
import time

EVERY = 0.05  # seconds between two looks


def wait_until(check, seconds: float, what: str, every: float = EVERY):
    """The first truthy value of check() within `seconds`; an AssertionError naming `what` when the deadline passes."""
    deadline = time.monotonic() + seconds
    pause = threading.Event()  # never set: wait() is the pause between two looks
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {seconds:g} s: {what}")
        pause.wait(every)


def gone(pid: int) -> bool:
    """Whether process `pid` has ended (no longer there, or a zombie not yet reaped): what a test waits for."""
    from pathlib import Path

    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return True
