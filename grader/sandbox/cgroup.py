"""Caps for a whole submission: one control group per slot (memory, one CPU, tasks), v1 or v2.

rlimits are per process: a submission that forks 32 children gets 32 times the memory and, in new
sessions, most of the machine's CPU. A control group bounds all of a submission's processes
together. Which kind is used depends on what the host mounts and lets the grader write:

* cgroup v2 (current distributions): the unified mount at /sys/fs/cgroup whose own cgroup.controllers
  lists memory, cpu and pids; the grader makes <its own group>/exercise02-grader/slot-<k> and
  enables the controllers for the children (writable as root, or in a delegated subtree);
* cgroup v1 (older hosts, this kit's development and CI machines): the memory, cpu, cpuacct and
  pids hierarchies, each mounted on its own; the same folder under the grader's own group in each.

Limits: memory.max / memory.limit_in_bytes = the per-process address-space limit (RLIMIT_AS, 2 GiB)
plus HEADROOM_MB (swap the same where it can be set), so a single process meets its own clean
MemoryError first and the group's cap stops many processes together (at the cap the kernel kills
the group's largest process); a CPU quota of one CPU (100 ms per 100 ms); at most TASKS tasks. The group's CPU counter is the
clock of the per-call and import limits (see client.py), so they measure the submission's CPU time,
not the wall clock of a busy machine. A worker joins its group before it runs anything: the command
starts with a tiny /bin/sh that writes its own pid into the group and then execs bwrap.

`find()` says which kind works here, or why none does; then the worker refuses forks instead
(RLIMIT_NPROC at the current task count, see boot.py). Stdlib only.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import time
from pathlib import Path

MOUNT = Path("/sys/fs/cgroup")
FOLDER = "exercise02-grader"
TASKS = 64
HEADROOM_MB = 512  # the group's cap is the per-process address-space limit plus this
PERIOD_US = 100_000
V1_CONTROLLERS = ("memory", "cpu", "cpuacct", "pids")

_found: tuple | None = None


def find() -> tuple[str | None, str]:
    """("v2" | "v1", where) when a writable cgroup hierarchy with the needed controllers exists,
    else (None, why not). Cached per process."""
    global _found
    if _found is None:
        _found = _find()
    return _found[0], _found[1]


def _own_path(controller: str) -> str:
    """This process's group in one hierarchy ("" for v2's unified line), from /proc/self/cgroup."""
    with open("/proc/self/cgroup") as lines:
        for line in lines:
            number, names, path = line.rstrip("\n").split(":", 2)
            if (controller == "" and number == "0") or controller in names.split(","):
                return path
    raise LookupError(controller)


def _find() -> tuple:
    if os.environ.get("EXERCISE02_NO_CGROUP") == "1":
        return None, "EXERCISE02_NO_CGROUP=1 is set", None
    unified = MOUNT / "cgroup.controllers"
    if unified.is_file():  # a pure v2 host
        try:
            base = MOUNT / _own_path("").lstrip("/")
            parent = base / FOLDER
            parent.mkdir(exist_ok=True)
            if not {"memory", "cpu", "pids"} <= set((parent / "cgroup.controllers").read_text().split()):
                return None, f"cgroup v2 at {base} does not offer memory, cpu and pids to the grader", None
            (parent / "cgroup.subtree_control").write_text("+memory +cpu +pids")
            return "v2", str(parent), parent
        except (OSError, LookupError) as error:
            return None, f"cgroup v2 is mounted but not writable by the grader ({error.__class__.__name__}: {error})", None
    roots = {}
    for controller in V1_CONTROLLERS:
        mount = MOUNT / controller
        if not (mount / "cgroup.procs").is_file():
            return None, f"no cgroup v2 with controllers and no cgroup v1 {controller} hierarchy at {mount}", None
        try:
            parent = mount / _own_path(controller).lstrip("/") / FOLDER
            parent.mkdir(exist_ok=True)
        except (OSError, LookupError) as error:
            return None, f"cgroup v1 {controller} is not writable by the grader ({error.__class__.__name__}: {error})", None
        roots[controller] = parent
    return "v1", "cgroup v1 (memory, cpu, cpuacct, pids)", roots


class Group:
    """The control group of one slot: made fresh when the slot is taken, removed when it is released."""

    def __init__(self, name: str, memory_bytes: int):
        kind, _ = find()
        if kind is None:
            raise OSError("no usable cgroup hierarchy")
        self.kind = kind
        where = _found[2]
        self.dirs = [where / name] if kind == "v2" else sorted({where[c] / name for c in V1_CONTROLLERS})
        self.by = {c: (where / name if kind == "v2" else where[c] / name) for c in V1_CONTROLLERS}
        self._cpu_fd = None  # the CPU counter's file, kept open (cpu_seconds)
        self.remove()  # leftovers of a grader that crashed while holding this slot
        for folder in self.dirs:
            folder.mkdir()
        if kind == "v2":
            folder = self.dirs[0]
            _write(folder / "memory.max", memory_bytes)
            _write(folder / "memory.swap.max", 0, optional=True)
            _write(folder / "cpu.max", f"{PERIOD_US} {PERIOD_US}")
            _write(folder / "pids.max", TASKS)
        else:
            _write(self.by["memory"] / "memory.limit_in_bytes", memory_bytes)
            _write(self.by["memory"] / "memory.memsw.limit_in_bytes", memory_bytes, optional=True)
            _write(self.by["cpu"] / "cpu.cfs_period_us", PERIOD_US)
            _write(self.by["cpu"] / "cpu.cfs_quota_us", PERIOD_US)
            _write(self.by["pids"] / "pids.max", TASKS)

    def enter_command(self) -> list[str]:
        """argv prefix that moves the new process into this group, then execs the rest of argv."""
        targets = sorted({str(d / "cgroup.procs") for d in self.dirs})
        script = " && ".join(f"echo $$ > {shlex.quote(t)}" for t in targets) + ' && exec "$@"'
        return ["/bin/sh", "-c", script, "exercise02-cgroup"]

    def cpu_seconds(self) -> float:
        """CPU time used by every process that was ever in the group (user + system). One pread of a file
        kept open (the kernel writes it afresh at offset 0): every call's CPU baseline is read here."""
        with contextlib.suppress(OSError, ValueError):
            if self._cpu_fd is None:
                where = self.dirs[0] / "cpu.stat" if self.kind == "v2" else self.by["cpuacct"] / "cpuacct.usage"
                self._cpu_fd = os.open(where, os.O_RDONLY | os.O_CLOEXEC)
            text = os.pread(self._cpu_fd, 4096, 0)
            if self.kind == "v1":
                return int(text) / 1e9
            for line in text.splitlines():
                if line.startswith(b"usage_usec "):
                    return int(line.split()[1]) / 1e6
        return 0.0

    def peak_bytes(self) -> int:
        """The highest memory use of the group's processes together (0 when the kernel does not say)."""
        name = "memory.peak" if self.kind == "v2" else "memory.max_usage_in_bytes"
        with contextlib.suppress(OSError, ValueError):
            return int((self.by["memory"] / name).read_text())
        return 0

    def pids(self) -> list[int]:
        found = set()
        for folder in self.dirs:
            with contextlib.suppress(OSError, ValueError):
                found |= {int(p) for p in (folder / "cgroup.procs").read_text().split()}
        return sorted(found)

    def kill(self, seconds: float = 3.0) -> bool:
        """SIGKILL every process in the group until none is left."""
        if self.kind == "v2" and (self.dirs[0] / "cgroup.kill").exists():
            _write(self.dirs[0] / "cgroup.kill", 1, optional=True)
        deadline = time.monotonic() + seconds
        while pids := self.pids():
            if time.monotonic() > deadline:
                return False
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.005)
        return True

    def remove(self) -> None:
        if self._cpu_fd is not None:
            os.close(self._cpu_fd)
            self._cpu_fd = None
        for folder in self.dirs:
            if folder.is_dir():
                self.kill()
                with contextlib.suppress(OSError):
                    folder.rmdir()


def _write(path: Path, value, optional: bool = False) -> None:
    try:
        path.write_text(str(value))
    except OSError:
        if not optional:
            raise


_groups = 0


def open_group(slot_uid: int | None, memory_mb: int) -> Group | None:
    """The cgroup that caps every process of one submission together, or None where none can be made."""
    global _groups
    if find()[0] is None:
        return None
    _groups += 1
    name = f"slot-{slot_uid}" if slot_uid is not None else f"pid-{os.getpid()}-{_groups}"
    try:
        return Group(name, (memory_mb + HEADROOM_MB) << 20)
    except OSError:
        return None
