"""One worker process: how it is started (sandboxed or in the fallback), its output, how it is stopped.

Killing: SIGKILL the PID-namespace init (`child-pid` from --info-fd) through a pidfd, wait for
bwrap, killpg as a fallback, then SIGKILL every task of the slot uid until none is left.

Dying with its host: the kernel ties each process of the bwrap chain to its parent (--die-with-parent),
but the PID-namespace init sets that tie only once its mounts are made, and a parent that died before
has nothing to fire; the "process" fallback has no tie at all. So every worker also holds the read end
of a life pipe whose only write end is this process's (`life_w`, never written, never inherited): the
bootstrap arms it before any submission code runs (boot.py, `arm_life`) so the kernel SIGKILLs the
worker's process group the moment that write end closes, which happens when its host dies by any
signal, and checks once that it is still open. A worker whose host was killed while it started
exits without importing the submission instead of running on as an orphan.

Fallback ("process" mode, when `probe()` says bwrap is unusable), only behind the explicit opt-out
(EXERCISE02_UNSANDBOXED=1, set by `grader grade --no-sandbox`; client.py refuses otherwise): the
same bootstrap, rlimits and cgroup in a plain subprocess with start_new_session; as root it runs as
the slot uid (setpriv) when the interpreter, numpy, the kit and the private folder are reachable by
other users, else as the grader's own uid. No filesystem, network or PID isolation: every output
says NOT SANDBOXED.

Caps for the whole submission: when the slot has a cgroup (cgroup.py) the command starts with a
/bin/sh that joins it and execs bwrap; else the worker refuses forks (boot.py, nproc "no-fork").

Processes are started without preexec_fn (the parent has threads): pass_fds, stdin=DEVNULL,
start_new_session=True and a minimal env. Stdlib + numpy only.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import signal
import subprocess
import threading
import time
from dataclasses import dataclass

from grader.sandbox.activity import Activity
from grader.sandbox.layout import (
    INSIDE,
    RUNTIME_DIR,
    Layout,
    bwrap_path,
    host_env,
    interpreter,
    interpreter_trees,
    reachable_by_others,
    sandbox_env,
)
from grader.sandbox.slot import kill_uid, tasks_of_uid

NPROC = 32
KEEP_OUTPUT = 64 << 10  # per take_output()
PIPE_BYTES = 1 << 20  # the request and reply pipes' buffer (the default is 64 KiB): see widen_pipe
FLOOD_OUTPUT = 4 << 20  # total per worker before it is stopped


@dataclass
class Spec:
    """What a worker is started with: the same for every worker of one SandboxStudent."""

    mode: str  # "bwrap" or "process" (see layout.probe)
    nested: bool  # the nested unprivileged bwrap layer works here
    slot_uid: int | None  # the slot's uid as root, else None
    sub_dir: str  # private folder holding the ONE submission file
    file_name: str  # the submission's file name
    private: str  # the SandboxStudent's private folder (fallback scratch space)
    memory_mb: int
    cpu_seconds: int
    group: object = None  # the slot's cgroup.Group, or None: then the worker refuses forks
    imports: dict | None = None  # the from-scratch rule for boot.py's ImportGuard: {"allowed": [...], "message": ...}


class Output:
    """The submission's output, bounded: at most KEEP_OUTPUT bytes kept between two takes."""

    def __init__(self):
        self.lock = threading.Lock()
        self.kept = bytearray()
        self.dropped = 0

    def absorb(self, worker: "Worker") -> bool:
        """Move what is in the worker's output pipe into the buffer (lock held). False at end of file."""
        while True:
            try:
                chunk = os.read(worker.output_fd, 1 << 16)
            except BlockingIOError:
                return True
            except OSError:
                return False
            if not chunk:
                return False
            worker.total_output += len(chunk)
            room = max(0, KEEP_OUTPUT - len(self.kept))
            self.kept += chunk[:room]
            self.dropped += len(chunk) - min(room, len(chunk))
            if worker.total_output > FLOOD_OUTPUT and not worker.flooded:
                worker.flooded = True
                worker.kill()
                return True

    def take(self, worker: "Worker | None") -> str:
        """What was printed since the last take, control characters escaped."""
        with self.lock:
            if worker is not None and worker.reader is not None and worker.reader.is_alive():
                self.absorb(worker)
            raw, dropped = bytes(self.kept), self.dropped
            self.kept.clear()
            self.dropped = 0
        text = "".join(c if c.isprintable() or c in "\n\t" else repr(c)[1:-1] for c in raw.decode("utf-8", "replace"))
        if dropped:
            text += f"\n[... {dropped} more bytes of output were dropped]"
        return text


class Worker:
    """One running worker: its processes, pipes and output."""

    def __init__(self, generation: int, output: Output):
        self.generation = generation
        self.output = output
        self.process = None
        self.pidfd = None  # of the PID-namespace init (bwrap mode)
        self.rpc_out = self.rpc_in = None  # our ends: requests out, replies in
        self.life_w = None  # the life pipe's write end: closing it (or dying) kills the worker (module docstring)
        self.output_fd = None
        self.reader = None
        self.total_output = 0
        self.flooded = False
        self.killed = False
        self.lock = threading.Lock()
        self.activity = Activity(self.tasks)  # its idle time during a call (host._await)
        self.cheap_cpu = False  # cpu_seconds() is one read of the cgroup's counter (else a scan of /proc)
        self.cpus = os.cpu_count() or 1  # CPUs the submission can use at once: 1 when it cannot start a task

    def kill(self) -> None:
        """Stop everything the worker started; safe from any thread, more than once."""
        with self.lock:
            self.killed = True
            if self.pidfd is not None:
                with contextlib.suppress(OSError):
                    signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            if self.process is not None and self.process.returncode is None:
                with contextlib.suppress(OSError):
                    os.killpg(self.process.pid, signal.SIGKILL)

    def start(self, spec: Spec) -> str:
        """Start the worker process; returns a note for the backend's reason ("" when none)."""
        note = ""
        self.spec = spec
        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()
        widen_pipe(req_w)
        widen_pipe(rep_r)
        os.set_blocking(req_w, False)  # a worker that stops reading cannot hold a request's write past its deadline
        out_r, out_w = os.pipe()
        life_r, life_w = os.pipe()
        info_r, info_w = os.pipe() if spec.mode == "bwrap" else (None, None)
        ours = [req_w, rep_r, out_r, life_w] + ([info_r] if info_r is not None else [])
        theirs = [req_r, rep_w, out_w, life_r] + ([info_w] if info_w is not None else [])
        self.rpc_out, self.rpc_in, self.output_fd, self.life_w = req_w, rep_r, out_r, life_w
        copied: list[int] = []  # the runtime files and the submission, which bwrap copies in from these
        try:
            config = {"rpc_in": req_r, "rpc_out": rep_w, "life": life_r, "memory_mb": spec.memory_mb,
                      "cpu_seconds": spec.cpu_seconds, "nproc": NPROC if spec.group is not None else "no-fork",
                      "imports": spec.imports}
            self.cheap_cpu = spec.group is not None
            if spec.mode == "bwrap":
                config["submission"] = f"{INSIDE}/sub/{spec.file_name}"
                config["slot"] = spec.slot_uid is not None  # its keyrings are the slot's (boot.leave_keyrings)
                if spec.slot_uid is None and spec.group is not None:
                    config["nproc"] = len(tasks_of_uid(os.getuid())) + NPROC + 8
                argv = [interpreter(), "-I", "-B", f"{INSIDE}/boot.py", json.dumps(config)]
                layout = Layout(bwrap_path(), interpreter_trees(), nested=spec.nested, uid=spec.slot_uid)
                command = layout.command(os.path.join(spec.sub_dir, spec.file_name), argv, info_fd=info_w, fds=copied)
                extra = {"env": host_env()}
            else:
                config["submission"] = os.path.join(spec.sub_dir, spec.file_name)
                extra, note, prefix = process_options(spec, config)
                command = prefix + [interpreter(), "-I", "-B", str(RUNTIME_DIR / "boot.py"), json.dumps(config)]
            if config["nproc"] == "no-fork":
                self.cpus = 1  # one process, one thread (boot.py: RLIMIT_NPROC refuses any new task)
            if spec.group is not None:
                command = spec.group.enter_command() + command
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=out_w, stderr=out_w, pass_fds=tuple(theirs + copied),
                close_fds=True, start_new_session=True, **extra,
            )
        except BaseException:
            for fd in ours:
                os.close(fd)
            self.rpc_out = self.rpc_in = self.output_fd = self.life_w = None
            raise
        finally:
            for fd in theirs + copied:
                os.close(fd)
        self.reader = threading.Thread(target=self._drain, daemon=True, name="sandbox-output")
        self.reader.start()
        if info_r is not None:
            try:
                pid = read_child_pid(info_r)
                self.pidfd = os.pidfd_open(pid) if pid else None
            except OSError:
                self.pidfd = None
            finally:
                os.close(info_r)
        return note

    def stop(self, slot_uid: int | None, dying: bool = False):
        """Kill the worker and everything it started; reap it. Returns its exit status (or None).

        dying: the worker closed its pipes by itself, so give it a moment to report its own exit status."""
        if dying and self.process is not None and not self.killed:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(0.5)
        status = self.process.returncode if self.process is not None else None
        self.kill()
        if self.process is not None:
            try:
                self.process.wait(2)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(OSError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if slot_uid is not None:
            kill_uid(slot_uid)
        if getattr(self, "spec", None) is not None and self.spec.group is not None:
            self.spec.group.kill()
        with self.lock:  # kill() may run on another thread (the output reader's, on a flood): it sees a number or None
            ours = (self.rpc_out, self.rpc_in, self.life_w, self.pidfd)
            self.rpc_out = self.rpc_in = self.life_w = self.pidfd = None  # a closed number may soon be another file's
            for fd in ours:
                if fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(fd)
        if self.reader is not None:
            self.reader.join(0.5)
        return status

    def cpu_seconds(self) -> float:
        """CPU time (user + system) of every process of the submission so far: the cgroup's counter,
        else the slot uid's processes, else the worker's process tree (what /proc shows now)."""
        spec = getattr(self, "spec", None)
        if spec is None or self.process is None:
            return 0.0
        if spec.group is not None:
            return spec.group.cpu_seconds()
        return sum(cpu_of(pid) for pid in self.tasks())

    def tasks(self) -> list[int]:
        """The submission's processes now: its cgroup's, else the slot uid's, else the worker's process tree."""
        spec = getattr(self, "spec", None)
        if spec is None or self.process is None:
            return []
        if spec.group is not None:
            return spec.group.pids()
        return tasks_of_uid(spec.slot_uid) if spec.slot_uid is not None else tree_of(self.process.pid)

    def _drain(self) -> None:
        """Read the submission's output into the bounded buffer; stop the worker on a flood.

        Reads happen under the output lock on a non-blocking fd, so take_output() can empty the pipe
        itself: the worker flushes before it replies, so a call's output is complete at that point."""
        fd = self.output_fd
        os.set_blocking(fd, False)
        while True:
            select.select([fd], [], [])
            with self.output.lock:
                if not self.output.absorb(self):
                    break
        os.close(fd)


def process_options(spec: Spec, config: dict) -> tuple[dict, str, list[str]]:
    """Popen options and argv prefix of the fallback: the slot uid when it can reach everything, else our own uid."""
    scratch = os.path.join(spec.private, "scratch")
    os.makedirs(scratch, mode=0o700, exist_ok=True)
    options = {"cwd": scratch, "env": sandbox_env(scratch), "umask": 0o077}
    note, prefix = "", []
    uid = spec.slot_uid
    if uid is not None:
        needed = [interpreter(), RUNTIME_DIR / "boot.py", os.path.dirname(spec.private)] + interpreter_trees()
        if all(reachable_by_others(str(p)) for p in needed):
            for path in (spec.private, scratch):  # mode 0700: the slot uid and root only
                os.chown(path, uid, uid)
            # setpriv in the command (not Popen's user=): the cgroup prefix must still run as root.
            prefix = ["/usr/bin/setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs", "--"]
            config["slot"] = True  # its keyrings are the slot's, not the grader's (boot.leave_keyrings)
        else:
            config["nproc"] = 0  # as root RLIMIT_NPROC means nothing
            note = "; the worker runs as root because the interpreter, numpy, the kit or the private folder " \
                   "is not reachable by other users"
    elif spec.group is not None:
        config["nproc"] = len(tasks_of_uid(os.getuid())) + NPROC + 8
    return options, note, prefix


def widen_pipe(fd: int, size: int = PIPE_BYTES) -> int:
    """Ask for a pipe buffer of `size` bytes; the buffer's size afterwards.

    A performance knob, not a safety mechanism: with the default 64 KiB a large array (the MNIST test's
    training images) crosses in hundreds of hand-offs, each waiting for the other process to be scheduled.
    No limit depends on it: every message's size is checked by protocol.read_message against
    MAX_REPLY_BYTES / MAX_REQUEST_BYTES before anything is allocated, and the deadlines hold for a pipe of
    any size. The kernel may refuse (EPERM once the user's pipe pages are used up, EINVAL above
    fs/pipe-max-size): the pipe then keeps the size it has."""
    with contextlib.suppress(OSError):
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, size)
    try:
        return fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ)
    except OSError:
        return 0


def cpu_of(pid: int) -> float:
    """utime + stime + the reaped children's, of one process, in seconds (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def tree_of(pid: int) -> list[int]:
    """`pid` and its descendants (through /proc/<pid>/task/*/children)."""
    found, todo = [], [pid]
    while todo and len(found) < 4096:
        current = todo.pop()
        found.append(current)
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    todo += [int(c) for c in children.read().split()]
    return found


def read_child_pid(fd: int) -> int | None:
    """The PID-namespace init's pid, from bwrap's --info-fd JSON."""
    data = b""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if not select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
        if len(data) > 4096:
            break
    try:
        pid = json.loads(data.decode()).get("child-pid")
    except ValueError:
        return None
    return pid if isinstance(pid, int) and pid > 1 else None
