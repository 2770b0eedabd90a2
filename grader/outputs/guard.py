"""The output folder's guard: one `grader grade` at a time, and a manifest of what it wrote.

Lock: an exclusive, non-blocking flock on the --out folder itself (no lock file is created, so a
run that stops early leaves the folder exactly as it was). The kernel releases it when the process
ends, however it ends; a second run into the same folder stops at once with `Busy`.

Manifest: <out>/.grader-manifest.json lists every file the last run wrote (paths relative to
--out). A run deletes only files that the previous manifest lists and that it did not write again
(a stale feedback page of a submission that left the class, say). A file it never wrote is never
deleted, whatever its name.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

from grader.sandbox.error import GraderError

NAME = ".grader-manifest.json"


class Busy(GraderError):
    """Another process holds the lock on this output folder."""


class Guard:
    def __init__(self, out: Path):
        self.out = Path(out)
        self.fd: int | None = None
        self.written: set[str] = set()

    def lock(self) -> None:
        """Take the folder's lock (again is fine); raises Busy when another run holds it."""
        if self.fd is not None:
            return
        fd = os.open(self.out, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise Busy(f"another `grader grade` is writing into {self.out} right now; wait for it to finish, "
                       "or give another --out") from None  # fmt: skip
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def previous(self) -> set[str]:
        """What the last run's manifest lists (empty when there is none or it is damaged)."""
        try:
            data = json.loads((self.out / NAME).read_text())
            return {str(p) for p in data.get("files", []) if isinstance(p, str)}
        except (OSError, ValueError, AttributeError):
            return set()

    def record(self, *paths: Path) -> None:
        for path in paths:
            self.written.add(str(Path(path).resolve().relative_to(self.out.resolve())))

    def finish(self) -> list[str]:
        """Delete what the last run wrote and this one did not; write the new manifest; returns the deleted paths."""
        deleted = []
        root = self.out.resolve()
        for rel in sorted(self.previous() - self.written):
            path = root / rel
            if not path.is_symlink() and path.resolve().is_relative_to(root) and path.is_file():
                path.unlink()
                deleted.append(rel)
        partial = self.out / f".{NAME}.partial"
        partial.write_text(json.dumps({"files": sorted(self.written)}, indent=1))
        os.replace(partial, self.out / NAME)
        return deleted
