"""The sandboxed backend of the `student` fixture: untrusted code computes, trusted code judges.

`SandboxStudent` has the interface of `InProcessStudent` in tests/conftest.py, but the submission
runs in a worker process (grader/sandbox/boot.py) behind a narrow RPC (grader/sandbox/protocol.py). Tests compare
in this process; the worker never sees tests, references or solutions.

Isolation decision (the root / mode-0700 interpreter problem)
-------------------------------------------------------------
The grader often runs as root (here, and on CI), with the interpreter in /root/.pyenv/versions/X
under /root (mode 0700). The sandbox must run as a non-root kernel uid, one per parallel slot,
because RLIMIT_NPROC is ignored for kuid 0 and because kuid 0 still reads root-owned 0600 files.
Options, as measured on this machine (bwrap 0.8.0, kernel 6.18, Python 3.11.7 under /root):

1. setpriv to the slot uid, then bwrap (the notes' command): bwrap cannot reach the interpreter
   through /root ("execvp ...: Permission denied"); it would need a world-readable copy of the
   1.3 GB prefix (or a trimmed 190 MB one) that someone keeps in sync, plus LD_LIBRARY_PATH because
   the binary's RUNPATH points into /root. Rejected: slow to set up, easy to get stale.
2. bwrap as root, no user namespace, `--cap-drop ALL --cap-add CAP_SETUID,CAP_SETGID,CAP_SETPCAP`:
   root does the mounts (so it can bind the prefix at its own path; bwrap's parent dirs are made
   0755 with --perms), then the trusted `setpriv --reuid/--regid=<slot uid> --clear-groups
   --inh-caps=-all --bounding-set=-all --no-new-privs` drops to the slot uid INSIDE the sandbox
   before anything else runs. Works; but unprivileged user namespaces are enabled on the host, so
   the submission could still `unshare -U` (kernel attack surface, notes A37).
3. = 2, plus a nested unprivileged bwrap as the slot uid: `bwrap --unshare-user --disable-userns
   --cap-drop ALL --dev-bind / /` around python (--dev-bind: a plain --bind remounts nodev, and
   then even /dev/null cannot be opened). CHOSEN. Verified inside (tests/selftest/test_sandbox.py
   asserts each): uid/gid = slot uid, no supplementary groups; CapInh/Prm/Eff/Bnd/Amb all 0;
   NoNewPrivs 1; `unshare -U` refused (ENOSPC from max_user_namespaces=0); network unreachable;
   `/` holds only bin dev lib lib64 opt proc root sbin tmp usr (+ etc/ld.so.cache); RLIMIT_NPROC
   stops a fork bomb. Without the nested layer `unshare -U -r` succeeds in the sandbox (measured).
   Cost: lost in the noise (spawn-to-ready medians 172 vs 175 ms, 12 interleaved runs at load 3.6
   on 2 cores; about 120 ms on an idle machine). If the nested bwrap cannot run
   (user namespaces disabled for unprivileged users), nested `unshare -U` is impossible too, so
   the probe falls back to option 2 and says so in `probe()`'s reason.
When the grader is not root, bwrap runs as the grader's own uid with `--unshare-user
--disable-userns --cap-drop ALL` (the interpreter is then readable by that uid by definition);
RLIMIT_NPROC is then set to the uid's current task count + 32, since it is counted per uid.

Everything else follows the course's sandbox design notes (section 4): the interpreter is bound at its
own path (sys.base_prefix, and sys.prefix too when a venv is in use; never the pyenv shim), the kit
files boot.py/protocol.py/mnist.py and ONE submission file (copied into a fresh private dir) and
the MNIST folder read-only under /opt/exercise02, a size-capped private /tmp, --clearenv with
threads pinned to 1, `python -I -B`. Parallel pytest processes take a slot with an flock on
/tmp/exercise02-grader-slots/<k>.lock (uid 61000+k), so they never share a uid.

Killing: SIGKILL the PID-namespace init (`child-pid` from --info-fd) through a pidfd, wait for
bwrap, killpg as a fallback, then SIGKILL every task of the slot uid until none is left.

Fallback ("process" mode, when `probe()` says bwrap is unusable): the same bootstrap and rlimits
in a plain subprocess with start_new_session; as root it runs as the slot uid (Popen user/group,
extra_groups=[]) when the interpreter, numpy and the kit are reachable by other users, else as the
grader's own uid. No filesystem, network or PID isolation: the caller must report it as NOT SANDBOXED.

Processes are started without preexec_fn (the parent has threads): pass_fds, stdin=DEVNULL,
start_new_session=True and a minimal env. Stdlib + numpy only.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pwd
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from grader.sandbox import mnist, protocol
from grader.sandbox.protocol import (
    BadReply,
    CallTimeout,
    DataRef,
    Handle,
    HandleExpired,
    ImportFailed,
    ProtocolError,
    StudentError,
    Unavailable,
    WorkerDied,
    clean_text,
)

KIT_FILES = ("boot.py", "protocol.py", "mnist.py")
GRADER_DIR = Path(__file__).resolve().parent
INSIDE = "/opt/exercise02"  # where the kit files, the submission and the data appear in the sandbox
SLOT_DIR = Path("/tmp/exercise02-grader-slots")
SLOT_UID_BASE = 61000
SLOT_COUNT = 64
NPROC = 32
TMPFS_BYTES = 64 << 20
KEEP_OUTPUT = 64 << 10  # per take_output()
FLOOD_OUTPUT = 4 << 20  # total per worker before it is stopped
THREAD_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
              "VECLIB_MAXIMUM_THREADS", "GOTO_NUM_THREADS", "BLIS_NUM_THREADS")


# --------------------------------------------------------------------------- where things are


def interpreter() -> str:
    """The real interpreter binary: resolved (never a pyenv shim), except in a venv, whose
    bin/python symlink must be kept so that the venv's site-packages are used."""
    if sys.prefix != sys.base_prefix:
        return sys.executable
    return os.path.realpath(sys.executable)


def interpreter_trees() -> list[str]:
    """Folders the worker's Python needs: the base prefix, the venv prefix and numpy's site dir."""
    import numpy

    trees = []
    for path in (sys.base_prefix, sys.prefix, os.path.dirname(os.path.dirname(numpy.__file__))):
        path = os.path.realpath(path)
        if not any(path == t or path.startswith(t + os.sep) for t in trees + ["/usr"]):
            trees.append(path)
    kit = str(GRADER_DIR.parents[1])
    for tree in trees:
        if kit == tree or kit.startswith(tree + os.sep):
            raise RuntimeError(f"the kit ({kit}) lies inside the interpreter folder {tree}; it would be visible")
    return trees


def reachable_by_others(path: str) -> bool:
    """Whether a uid that is neither owner nor in the group can read `path` (every parent searchable)."""
    parts = Path(os.path.realpath(path)).parts
    for i in range(1, len(parts) + 1):
        mode = os.stat(os.path.join(*parts[:i])).st_mode
        if i < len(parts) and not mode & stat.S_IXOTH:
            return False
    return bool(os.stat(path).st_mode & stat.S_IROTH)


# --------------------------------------------------------------------------- probe


_probed: tuple | None = None


def probe() -> tuple[str, str]:
    """("bwrap", how) when the strong path works here, else ("process", why not). Cached per process."""
    global _probed
    if _probed is None:
        _probed = _probe()
    return _probed[0], _probed[1]


def _probe() -> tuple:
    bwrap = shutil.which("bwrap", path="/usr/bin:/bin:/usr/local/bin")
    if bwrap is None:
        return "process", "bubblewrap (bwrap) is not installed", False
    root = os.geteuid() == 0
    if root and shutil.which("setpriv", path="/usr/bin:/bin") is None:
        return "process", "running as root but setpriv (util-linux) is missing, so the sandbox cannot drop to a slot uid", False
    try:
        trees = interpreter_trees()
    except RuntimeError as error:
        return "process", str(error), False
    check = "import numpy, os; print(os.getuid())"
    tries = [True, False] if root else [True]
    failure = ""
    for nested in tries:
        layout = Layout(bwrap, trees, nested=nested, uid=SLOT_UID_BASE + SLOT_COUNT if root else None)
        command = layout.command(None, None, [interpreter(), "-I", "-B", "-c", check])
        try:
            done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, env=host_env(), timeout=30, start_new_session=True)
        except (OSError, subprocess.TimeoutExpired) as error:
            return "process", f"bwrap could not be started ({error})", False
        if done.returncode == 0:
            if not nested:
                return "bwrap", f"bwrap as root, dropping to a slot uid inside; nested bwrap failed ({failure}), " \
                                "so user namespaces are unavailable to the sandbox anyway", False
            how = "bwrap as root, setpriv to a slot uid, nested bwrap --disable-userns" if root else \
                "bwrap as this user with --unshare-user --disable-userns"
            return "bwrap", how, nested
        failure = clean_text(done.stdout.decode(errors="replace").strip().splitlines()[-1:] or [f"exit {done.returncode}"], 200)
    return "process", f"bwrap is installed but cannot run the worker here: {failure}", False


def host_env() -> dict:
    return {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


def sandbox_env(home: str) -> dict:
    env = {"PATH": "/usr/bin:/bin", "HOME": home, "TMPDIR": home, "LANG": "C.UTF-8", "MPLBACKEND": "Agg",
           "MPLCONFIGDIR": home, "PYTHONDONTWRITEBYTECODE": "1"}
    env.update({name: "1" for name in THREAD_ENV})
    return env


class Layout:
    """The bwrap command line: which namespaces, which binds, which uid."""

    def __init__(self, bwrap: str, trees: list[str], nested: bool, uid: int | None):
        self.bwrap, self.trees, self.nested, self.uid = bwrap, trees, nested, uid

    def command(self, sub_dir: str | None, data_dir: str | None, argv: list[str], info_fd: int | None = None) -> list[str]:
        cmd = [self.bwrap, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
               "--die-with-parent", "--new-session"]
        if info_fd is not None:
            cmd += ["--info-fd", str(info_fd)]
        if self.uid is not None:  # root: keep only what setpriv needs to drop to the slot uid
            cmd += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP"]
        else:
            cmd += ["--unshare-user", "--disable-userns", "--cap-drop", "ALL"]
        cmd += ["--ro-bind", "/usr", "/usr"]
        for name in ("bin", "lib", "lib64", "sbin", "lib32", "libx32"):
            path = "/" + name
            if os.path.islink(path):
                cmd += ["--symlink", os.readlink(path), path]
            elif os.path.isdir(path):
                cmd += ["--ro-bind", path, path]
        if os.path.exists("/etc/ld.so.cache"):
            cmd += ["--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache"]
        made = {"/", "/usr", "/tmp", "/proc", "/dev"}
        for tree in self.trees:
            for parent in reversed(Path(tree).parents):
                if str(parent) not in made:
                    made.add(str(parent))
                    cmd += ["--perms", "0755", "--dir", str(parent)]
            cmd += ["--ro-bind", tree, tree]
        cmd += ["--perms", "0755", "--dir", "/opt", "--perms", "0755", "--dir", INSIDE]
        for name in KIT_FILES:
            cmd += ["--ro-bind", str(GRADER_DIR / name), f"{INSIDE}/{name}"]
        if sub_dir is not None:
            cmd += ["--ro-bind", sub_dir, f"{INSIDE}/sub"]
        if data_dir is not None and os.path.isdir(data_dir):
            cmd += ["--ro-bind", data_dir, f"{INSIDE}/data"]
        cmd += ["--proc", "/proc", "--dev", "/dev", "--perms", "01777", "--size", str(TMPFS_BYTES), "--tmpfs", "/tmp",
                "--chdir", "/tmp", "--clearenv"]
        for key, value in sandbox_env("/tmp").items():
            cmd += ["--setenv", key, value]
        cmd.append("--")
        if self.uid is not None:
            cmd += ["/usr/bin/setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups",
                    "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
            if self.nested:
                cmd += [self.bwrap, "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session",
                        "--cap-drop", "ALL", "--dev-bind", "/", "/", "--"]
        return cmd + argv


# --------------------------------------------------------------------------- slots


class Slot:
    """A parallel slot: an flock held for the life of a SandboxStudent and, as root, a uid of its own."""

    def __init__(self):
        self.fd = None
        self.uid = None
        if os.geteuid() != 0:
            return
        SLOT_DIR.mkdir(mode=0o700, exist_ok=True)
        info = os.lstat(SLOT_DIR)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
            raise RuntimeError(f"{SLOT_DIR} is not a folder owned by this user; refusing to use it for slot locks")
        for k in range(SLOT_COUNT):
            uid = SLOT_UID_BASE + k
            with contextlib.suppress(KeyError):
                pwd.getpwuid(uid)
                continue  # a real account has this uid: never kill its processes
            fd = os.open(SLOT_DIR / f"{k}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self.fd, self.uid = fd, uid
            kill_uid(uid)  # leftovers of a grader that crashed while holding this slot
            return
        raise RuntimeError(f"all {SLOT_COUNT} sandbox slots in {SLOT_DIR} are busy")

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def tasks_of_uid(uid: int) -> list[int]:
    """PIDs whose real uid is `uid` (from /proc; threads are covered by their process)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if os.stat(f"/proc/{entry}").st_uid == uid and _real_uid(int(entry)) == uid:
                    found.append(int(entry))
    return found


def _real_uid(pid: int) -> int | None:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("Uid:"):
                return int(line.split()[1])
    return None


def kill_uid(uid: int, seconds: float = 3.0) -> bool:
    """SIGKILL every process of `uid` until none is left (through pidfds, so a reused pid is never hit)."""
    deadline = time.monotonic() + seconds
    while True:
        pids = tasks_of_uid(uid)
        if not pids:
            return True
        if time.monotonic() > deadline:
            return False
        for pid in pids:
            with contextlib.suppress(OSError):
                fd = os.pidfd_open(pid)
                try:
                    if _real_uid(pid) == uid:
                        signal.pidfd_send_signal(fd, signal.SIGKILL)
                finally:
                    os.close(fd)
        time.sleep(0.005)


# --------------------------------------------------------------------------- the worker process


class Worker:
    """One running worker: its processes, pipes and output."""

    def __init__(self, generation: int):
        self.generation = generation
        self.process = None
        self.pidfd = None  # of the PID-namespace init (bwrap mode)
        self.rpc_out = self.rpc_in = None  # our ends: requests out, replies in
        self.output_fd = None
        self.reader = None
        self.total_output = 0
        self.flooded = False
        self.killed = False
        self.lock = threading.Lock()

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


class Remote:
    """An object of the submission (an MLP, say) that stayed in the worker, seen through copies."""

    def __init__(self, backend: "SandboxStudent", handle_id: int, generation: int, type_name: str):
        self._backend = backend
        self._handle_id = handle_id
        self._generation = generation
        self.type_name = type_name

    def get(self, attr: str):
        return self._backend.get_attr(self, attr)

    def set(self, attr: str, value) -> None:
        self._backend.set_attr(self, attr, value)

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args, **kwargs: self._backend.call_method(self, name, args, kwargs)

    def __repr__(self) -> str:
        return f"<{self.type_name} of the submission>"

    def __del__(self):
        with contextlib.suppress(Exception):
            self._backend._released.append((self._generation, self._handle_id))


class SandboxStudent:
    """The submission in a sandboxed worker, with the interface of conftest.InProcessStudent."""

    def __init__(self, path, *, data_dir=None, memory_mb: int = 2048, cpu_seconds: int = 600,
                 call_timeout: float = 60.0, import_timeout: float = 20.0):
        self._path = Path(path)
        self._data_dir = str(Path(data_dir).resolve()) if data_dir is not None else str(mnist.DEFAULT_DIR)
        self._memory_mb, self._cpu_seconds = int(memory_mb), int(cpu_seconds)
        self._call_timeout, self._import_timeout = float(call_timeout), float(import_timeout)
        self._budget = None
        self._mode, self._reason = probe()
        self._nested = _probed[2]
        self._worker = None
        self._generation = 0
        self._import_error = None
        self._released: list = []
        self._request_id = 0
        self._output = bytearray()
        self._dropped = 0
        self._output_lock = threading.Lock()
        self._slot = Slot()
        self._private = tempfile.mkdtemp(prefix="exercise02-sandbox-")
        self._copy_submission()

    backend = property(lambda self: self._mode)
    path = property(lambda self: self._path)
    reason = property(lambda self: self._reason)
    slot_uid = property(lambda self: self._slot.uid)

    # -- the interface shared with conftest.InProcessStudent

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args, **kwargs: self.call(name, *args, **kwargs)

    def call(self, name: str, *args, **kwargs):
        return self._request({"op": "call", "name": name}, (list(args), kwargs), name)

    def call_method(self, target, name: str, args, kwargs):
        handle = self._handle_of(target)
        return self._request({"op": "method", "handle": handle.id, "name": name}, (list(args), dict(kwargs)),
                             f"{target.type_name}.{name}")

    def get_attr(self, target, attr: str):
        handle = self._handle_of(target)
        return self._request({"op": "get", "handle": handle.id, "name": attr}, None, f"{target.type_name}.{attr}")

    def set_attr(self, target, attr: str, value) -> None:
        handle = self._handle_of(target)
        self._request({"op": "set", "handle": handle.id, "name": attr}, value, f"setting {target.type_name}.{attr}")

    def data(self, name: str, rows: tuple[int, int] | None = None) -> DataRef:
        if name not in mnist.NAMES:
            raise ValueError(f"unknown data set {name!r}; known: {', '.join(mnist.NAMES)}")
        return DataRef(name, rows, data_dir=self._data_dir)

    @contextlib.contextmanager
    def limits(self, seconds: float | None = None):
        """Raise the per-call wall budget for the calls in this block (e.g. training on MNIST)."""
        previous = self._budget
        self._budget = seconds if seconds is not None else previous
        try:
            yield self
        finally:
            self._budget = previous

    def take_output(self) -> str:
        """What the submission printed since the last take: at most 64 KiB, control characters escaped."""
        with self._output_lock:
            worker = self._worker
            if worker is not None and worker.reader is not None and worker.reader.is_alive():
                self._absorb(worker)
            raw, dropped = bytes(self._output), self._dropped
            self._output.clear()
            self._dropped = 0
        text = "".join(c if c.isprintable() or c in "\n\t" else repr(c)[1:-1] for c in raw.decode("utf-8", "replace"))
        if dropped:
            text += f"\n[... {dropped} more bytes of output were dropped]"
        return text

    def close(self) -> None:
        self._stop_worker()
        self._slot.release()
        shutil.rmtree(self._private, ignore_errors=True)

    def ping(self) -> float:
        """Seconds for an empty round trip (starts the worker if needed)."""
        start = time.monotonic()
        self._request({"op": "ping"}, None, "ping")
        return time.monotonic() - start

    def __del__(self):
        with contextlib.suppress(Exception):
            self.close()

    # -- requests

    def _request(self, header: dict, args, call: str):
        worker = self._ensure_worker()
        if select.select([worker.rpc_in], [], [], 0)[0]:
            # Data or EOF while no request is outstanding: the submission killed or tampered with its
            # worker after the last reply. Not this call's fault: start afresh (old handles expire).
            self._stop_worker(dying=True)
            worker = self._ensure_worker()
        seconds = self._budget if self._budget is not None else self._call_timeout
        self._request_id += 1
        header = {**header, "id": self._request_id}
        released = [h for g, h in self._released if g == worker.generation]
        self._released.clear()
        if released:
            header["release"] = released
        tree, arrays = protocol.encode(args, handle_of=self._wire_handle)
        header["args"] = tree
        message = protocol.pack(header, arrays)
        del arrays
        reply, arrays = self._exchange(worker, message, seconds, call)
        if reply.get("id") != self._request_id:
            self._stop_worker()
            raise BadReply(f"{call}: the worker's reply does not belong to this request (the submission "
                           "tampered with the worker or its reply channel); the worker was stopped")
        if reply.get("ok") is True:
            try:
                return protocol.decode(reply.get("value"), arrays, handle=self._remote)
            except ProtocolError as error:
                self._stop_worker()
                raise BadReply(f"{call}: the reply was rejected ({error}); the worker was stopped") from None
        raise self._error(call, reply.get("error"))

    def _exchange(self, worker: Worker, message: bytes, seconds: float, call: str):
        deadline = time.monotonic() + seconds
        try:
            protocol.write_message(worker.rpc_out, message, deadline)
            body = protocol.read_message(worker.rpc_in, protocol.MAX_REPLY_BYTES, deadline)
            return protocol.unpack(body)
        except TimeoutError:
            self._stop_worker()
            raise CallTimeout(f"{call} did not return within {seconds:g} s; the worker was stopped") from None
        except (EOFError, OSError):
            status = self._stop_worker(dying=True)
            raise WorkerDied(self._death(worker, status, call)) from None
        except ProtocolError as error:
            self._stop_worker()
            raise BadReply(f"{call}: the reply was rejected ({error}); the worker was stopped") from None

    def _error(self, call: str, error) -> StudentError:
        if not isinstance(error, dict):
            self._stop_worker()
            return BadReply(f"{call}: the error reply has no error description; the worker was stopped")
        kind = error.get("kind")
        if kind == "raised":
            return protocol.raised_error(call, error)
        if kind in ("missing", "unsupported"):
            return Unavailable(clean_text(error.get("message", ""), 300))
        self._stop_worker()
        return BadReply(f"{call}: unknown error kind {clean_text(kind, 40)}; the worker was stopped")

    def _wire_handle(self, value) -> Handle:
        if isinstance(value, Remote):
            return self._handle_of(value)
        raise TypeError(f"cannot send a value of type {type(value).__name__} to the submission")

    def _handle_of(self, target) -> Handle:
        if not isinstance(target, Remote) or target._backend is not self:
            raise TypeError(f"not an object of this submission: {target!r}")
        if self._worker is None or target._generation != self._worker.generation:
            raise HandleExpired(
                f"this {target.type_name} object was made by a worker that has since been stopped "
                "(after a timeout or a crash); create it again"
            )
        return Handle(target._handle_id, target.type_name)

    def _remote(self, handle_id: int, type_name: str) -> Remote:
        return Remote(self, handle_id, self._worker.generation, type_name)

    # -- worker life

    def _ensure_worker(self) -> Worker:
        if self._import_error is not None:
            kind, message = self._import_error
            raise kind(message)
        if self._worker is not None:
            return self._worker
        self._generation += 1
        worker = Worker(self._generation)
        self._worker = worker
        try:
            self._start(worker)
            deadline = time.monotonic() + self._import_timeout
            body = protocol.read_message(worker.rpc_in, protocol.MAX_REPLY_BYTES, deadline)
            ready, _ = protocol.unpack(body)
        except TimeoutError:
            self._stop_worker()
            self._import_error = (ImportFailed, f"importing {self._path.name} did not finish within "
                                  f"{self._import_timeout:g} s; the worker was stopped")
        except (EOFError, OSError):
            status = self._stop_worker(dying=True)
            self._import_error = (ImportFailed, self._death(worker, status, f"importing {self._path.name}"))
        except ProtocolError as error:
            self._stop_worker()
            self._import_error = (ImportFailed, f"importing {self._path.name}: the worker's reply was rejected ({error})")
        else:
            if ready.get("ok") is True and ready.get("ready") is True:
                return worker
            self._stop_worker()
            self._import_error = (ImportFailed, self._import_message(ready.get("error")))
        kind, message = self._import_error
        raise kind(message)

    def _import_message(self, error) -> str:
        name = self._path.name
        if not isinstance(error, dict):
            return f"could not import {name}: the worker sent no reason"
        type_name = clean_text(error.get("type", "?"), 60)
        message = clean_text(error.get("message", ""))
        if type_name == "SyntaxError" or error.get("builtin") == "SyntaxError":
            return f"could not import {name}: SyntaxError at line {error.get('lineno')}: {message}"
        text = f"could not import {name}: {type_name}: {message}"
        if type_name in ("SystemExit", "KeyboardInterrupt"):
            text += " (the file must not exit or stop when it is imported; put such code under if __name__ == '__main__':)"
        frames = error.get("frames") or []
        if frames and isinstance(frames[-1], list) and len(frames[-1]) == 3:
            text += f" (at line {clean_text(frames[-1][0], 10)})"
        return text

    def _death(self, worker: Worker, status, call: str) -> str:
        if worker.flooded:
            return (f"{call}: the submission printed more than {FLOOD_OUTPUT >> 20} MiB of output; "
                    "the worker was stopped")
        code = status
        if code is None:
            return f"{call}: the worker stopped answering and was stopped"
        sig = -code if code < 0 else (code - 128 if self._mode == "bwrap" and 128 < code < 128 + 65 else None)
        if sig:
            name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else f"signal {sig}"
            hint = {
                "SIGKILL": f"; the CPU time budget ({self._cpu_seconds} s per worker) or the memory limit "
                           f"({self._memory_mb} MiB) may have been reached",
                "SIGXCPU": f"; the CPU time budget ({self._cpu_seconds} s per worker) was used up",
                "SIGSEGV": f"; this often means memory ran out inside numpy (limit {self._memory_mb} MiB)",
                "SIGABRT": f"; this often means memory ran out (limit {self._memory_mb} MiB)",
            }.get(name, "")
            return f"{call}: the worker was killed by {name}{hint}"
        return f"{call}: the worker exited with code {code} (os._exit or a fatal error in the submission)"

    def _start(self, worker: Worker) -> None:
        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()
        out_r, out_w = os.pipe()
        info_r, info_w = os.pipe() if self._mode == "bwrap" else (None, None)
        ours = [req_w, rep_r, out_r] + ([info_r] if info_r is not None else [])
        theirs = [req_r, rep_w, out_w] + ([info_w] if info_w is not None else [])
        worker.rpc_out, worker.rpc_in, worker.output_fd = req_w, rep_r, out_r
        try:
            config = {"rpc_in": req_r, "rpc_out": rep_w, "memory_mb": self._memory_mb,
                      "cpu_seconds": self._cpu_seconds, "nproc": NPROC}
            if self._mode == "bwrap":
                config.update(submission=f"{INSIDE}/sub/{self._path.name}", data_dir=f"{INSIDE}/data")
                if self._slot.uid is None:
                    config["nproc"] = len(tasks_of_uid(os.getuid())) + NPROC + 8
                argv = [interpreter(), "-I", "-B", f"{INSIDE}/boot.py", json.dumps(config)]
                layout = Layout(shutil.which("bwrap", path="/usr/bin:/bin:/usr/local/bin"), interpreter_trees(),
                                nested=self._nested, uid=self._slot.uid)
                command = layout.command(self._sub_dir, self._data_dir, argv, info_fd=info_w)
                extra = {"env": host_env()}
            else:
                config.update(submission=os.path.join(self._sub_dir, self._path.name), data_dir=self._data_dir)
                extra = self._process_options(config)
                command = [interpreter(), "-I", "-B", str(GRADER_DIR / "boot.py"), json.dumps(config)]
            worker.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=out_w, stderr=out_w, pass_fds=tuple(theirs),
                close_fds=True, start_new_session=True, **extra,
            )
        except BaseException:
            for fd in ours:
                os.close(fd)
            worker.rpc_out = worker.rpc_in = worker.output_fd = None
            raise
        finally:
            for fd in theirs:
                os.close(fd)
        worker.reader = threading.Thread(target=self._drain, args=(worker,), daemon=True, name="sandbox-output")
        worker.reader.start()
        if info_r is not None:
            try:
                pid = self._read_child_pid(info_r)
                worker.pidfd = os.pidfd_open(pid) if pid else None
            except OSError:
                worker.pidfd = None
            finally:
                os.close(info_r)

    def _process_options(self, config: dict) -> dict:
        """Popen options of the fallback: the slot uid when it can reach everything, else our own uid."""
        scratch = os.path.join(self._private, "scratch")
        os.makedirs(scratch, mode=0o700, exist_ok=True)
        options = {"cwd": scratch, "env": sandbox_env(scratch)}
        uid = self._slot.uid
        if uid is not None:
            needed = [interpreter(), GRADER_DIR / "boot.py", self._sub_dir] + interpreter_trees()
            if all(reachable_by_others(str(p)) for p in needed):
                os.chown(scratch, uid, uid)
                options.update(user=uid, group=uid, extra_groups=[], umask=0o077)
            else:
                config["nproc"] = 0  # as root RLIMIT_NPROC means nothing
                self._reason += ("; the worker runs as root because the interpreter, numpy or the kit is not "
                                 "readable by other users")
        else:
            config["nproc"] = len(tasks_of_uid(os.getuid())) + NPROC + 8
        return options

    def _read_child_pid(self, fd: int) -> int | None:
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

    def _drain(self, worker: Worker) -> None:
        """Read the submission's output into a bounded buffer; stop the worker on a flood.

        Reads happen under the output lock on a non-blocking fd, so take_output() can empty the pipe
        itself: the worker flushes before it replies, so a call's output is complete at that point."""
        fd = worker.output_fd
        os.set_blocking(fd, False)
        while True:
            select.select([fd], [], [])
            with self._output_lock:
                if not self._absorb(worker):
                    break
        os.close(fd)

    def _absorb(self, worker: Worker) -> bool:
        """Move what is in the output pipe into the buffer (lock held). False at end of file."""
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
            room = max(0, KEEP_OUTPUT - len(self._output))
            self._output += chunk[:room]
            self._dropped += len(chunk) - min(room, len(chunk))
            if worker.total_output > FLOOD_OUTPUT and not worker.flooded:
                worker.flooded = True
                worker.kill()
                return True

    def _stop_worker(self, dying: bool = False):
        """Kill the current worker and everything it started; reap it. Returns its exit status (or None).

        dying: the worker closed its pipes by itself, so give it a moment to report its own exit status."""
        worker, self._worker = self._worker, None
        if worker is None:
            return None
        if dying and worker.process is not None and not worker.killed:
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.process.wait(0.5)
        status = worker.process.returncode if worker.process is not None else None
        worker.kill()
        if worker.process is not None:
            try:
                worker.process.wait(2)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(OSError):
                    os.killpg(worker.process.pid, signal.SIGKILL)
                worker.process.wait()
        if self._slot.uid is not None:
            kill_uid(self._slot.uid)
        for fd in (worker.rpc_out, worker.rpc_in):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        if worker.pidfd is not None:
            os.close(worker.pidfd)
        if worker.reader is not None:
            worker.reader.join(0.5)
        return status

    def _copy_submission(self) -> None:
        """A private copy of the ONE file, so nothing next to it (conftest.py, data, other files) is visible."""
        self._sub_dir = os.path.join(self._private, "sub")
        os.mkdir(self._sub_dir, 0o755)
        os.chmod(self._private, 0o755)  # the slot uid of the fallback must reach sub/
        if not self._path.is_file():
            self._import_error = (ImportFailed, f"submission file not found: {self._path}")
            return
        target = os.path.join(self._sub_dir, self._path.name)
        with open(self._path, "rb") as source, open(target, "wb") as copy:
            shutil.copyfileobj(source, copy)
        os.chmod(target, 0o644)
