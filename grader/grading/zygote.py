"""A trusted fork server for the Runner's pytest processes: the libraries imported once, one fork per run.

Every run of the suite is a trusted pytest process whose start-up is mostly imports (numpy, pytest and
the modules pytest.main loads, pytest_timeout, the grader's plugin and the sandbox's client side): the
same work for every submission. The zygote is one long-lived process per Runner and process (started
lazily at its first run) that does those imports once, then forks one child per run; the child sets
itself up as a spawned pytest process would be and calls pytest as `python -m pytest` does.

Grader side (`Zygote`): started through the Runner's launcher (dies with the grader: PR_SET_PDEATHSIG, from
a thread of its own that lives as long as the zygote, since the kernel ties that signal to the thread that
forked), in a session of its own, with the runs' fixed environment at interpreter start (PYTHONHASHSEED and
PYTHONDONTWRITEBYTECODE act only there). A run (`Zygote.fork`) sends its argument list, environment and
folder over a unix socket pair only the two ends hold, with two descriptors passed along (SCM_RIGHTS): the
write end of the run's log pipe, and the zygote's end of the run's status socket. On that socket the zygote
answers the child's pid, then its exit status (`Popen.returncode`'s convention) once it ended. The zygote
reaps a child only after the grader closed its end of the status socket (`Forked.release`): until then the
pid, and so the process group the grader may kill, cannot be another process's. Closing it earlier kills
the child's group. When the control socket closes (`Zygote.close`, or the grader died), the zygote kills
every child it has, reaps them (their CPU counts towards the zygote, then towards the grader) and exits.

The child (`begin`): dies with the zygote (PR_SET_PDEATHSIG), new session (the grader kills its group as
before), the log pipe as stdout and stderr, the run's folder and exactly the run's environment,
`tempfile.tempdir` and the import caches reset, numpy's legacy global generator seeded afresh (as a fresh
process seeds it), sys.argv as `python -m pytest` sets it, then `pytest.console_main()` and a normal
interpreter exit (atexit hooks, such as the removal of the sandbox's private folders, run as they would).

A spawned run (spawn_command: Runner(fork=False), or its zygote failed) imports PRELOAD the zygote's way first
(`preload`, then gc frozen), so an import's warning meets the same filters either way. What a process takes only
at its start (start_settings: STARTUP_ENV's variables, umask, resource limits, nice value) a forked child keeps
from the zygote: `Zygote.fork` refuses a run whose own differ (the grader changed them since), which the Runner
then spawns. Both: docs/internals.md, the runner section.

The zygote follows CPython's recipe for a fork server (the gc module's documentation): collection off while
it imports, everything it holds frozen (gc.freeze) before each fork, collection on again in the child. So a
child's collections never walk, and so never copy, the pages of what the zygote imported: without it a
child spent about twice the CPU on collecting the suite. (In a child, gc.get_objects() does not list the
frozen objects; nothing in a run asks for them.)

Why forking is sound here: the zygote is single-threaded (it starts no thread; numpy's BLAS has one
thread), never runs a test, never calls anything that keeps a cache (the probe record, the stand-ins: the
child starts from the state the imports left) and never holds student code: a submission is imported only
by the sandboxed worker, which a child starts, or, with the in-process backend (self-tests only), into the
child itself, which dies after its run. The hidden suite's own modules and conftests are not imported here,
so collection is what it is in a spawned process. A zygote is a speed mechanism, not a safety one: what
the Runner does when one cannot start or dies is in docs/internals.md (runner section).
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

from grader.sandbox.error import GraderError

# Imported once by the zygote: the libraries every run loads before its first test (with pytest's default
# plugin modules, `main`), and what pytest's configuration loads of the standard library (tomllib for the
# kit's pyproject, pdb for its debugging plugin; not readline, whose import may write to the terminal). Not
# the suite's modules or conftests, and not grader.sandbox.inprocess (it imports submissions; no grader
# module does).
PRELOAD = ("numpy", "pytest", "pytest_timeout", "grader.grading.plugin", "grader.sandbox.client",
           "grader.sandbox.student", "grader.sandbox.rule", "grader.sandbox.layout", "grader.sandbox.standin",
           "grader.sandbox.formula", "grader.sandbox.mnist", "grader.sandbox.training", "_pytest._argcomplete",
           "packaging.version", "tomllib", "pdb", "faulthandler", "resource", "secrets", "sysconfig")  # fmt: skip
READY = b"ready"
SPAWNED = "--spawned"  # `python -m grader.grading.zygote --spawned ARGS`: one run in this process (spawn_command)
# Environment variables (prefixes) read only when a process starts: a forked run would keep the zygote's values.
STARTUP_ENV = ("LANG", "LC_", "LD_", "MALLOC_", "GLIBC_", "TZ", "PYTHON", "NPY_", "NUMPY_", "OPENBLAS_", "GOTO",
               "OMP_", "MKL_", "NUMEXPR_", "VECLIB_")  # fmt: skip
REQUEST_BYTES = 1 << 20  # a request (arguments and environment) is at most this long
START_SECONDS = 60.0  # for the zygote's imports, on a loaded machine
REPLY_SECONDS = 30.0  # for a fork's pid, and for the status of a child already killed
OUTPUT_TAIL = 4000  # characters of the zygote's own output kept to explain a failed start


class ZygoteError(GraderError):
    """The zygote could not start, or ended, or did not answer: the run is started the plain way instead."""


class ZygoteSilent(ZygoteError):
    """The zygote runs but did not answer a run in time (stopped, stuck): the runner ends it and starts another."""


class Forked:
    """One run forked by the zygote, as the Runner watches a Popen: pid, stdout (the log pipe), wait()."""

    def __init__(self, pid: int, status: socket.socket, stdout):
        self.pid, self.stdout, self._status, self.returncode = pid, stdout, status, None

    def wait(self, timeout: float | None = None) -> int:
        """The exit status; subprocess.TimeoutExpired after `timeout`; ZygoteError when the zygote ended."""
        if self.returncode is not None:
            return self.returncode
        self._status.settimeout(timeout)
        try:
            message = self._status.recv(4096)
        except TimeoutError:
            raise subprocess.TimeoutExpired("zygote run", timeout) from None
        except OSError as error:
            raise ZygoteError(f"the zygote's status socket failed ({error})") from None
        if not message:
            raise ZygoteError("the zygote ended during the run")
        self.returncode = int(json.loads(message)["status"])
        return self.returncode

    def kill(self) -> None:
        """SIGKILL the run's process group (or the child alone, just forked: see `kill_run`)."""
        kill_run(self.pid)

    def release(self) -> None:
        """Let the zygote reap the child (killing its group first if it still runs); stdout stays open."""
        self._status.close()


class Zygote:
    """The grader's handle on one zygote process (see the module docstring)."""

    def __init__(self, launch: list[str], cwd: Path, env: dict):
        self.launch, self.cwd, self.env = list(launch), Path(cwd), dict(env)
        self.owner = os.getpid()  # a forked copy of the grader never uses its parent's zygote
        self.process: subprocess.Popen | None = None
        self._control: socket.socket | None = None
        self._send = threading.Lock()
        self._output = ""
        self._keeper: threading.Thread | None = None
        self.settings: dict = {}  # start_settings at its start: what every run it forks keeps

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None and self.owner == os.getpid()

    def start(self) -> None:
        """Start the zygote and wait until it has imported PRELOAD (ZygoteError with its output if not)."""
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        started = threading.Event()
        failure: list[BaseException] = []

        def keep() -> None:  # the zygote's parent thread: PR_SET_PDEATHSIG fires when this thread ends
            try:
                self.settings = start_settings(self.env)  # in the thread that starts it (the nice value is a thread's)
                command = [*self.launch, "-m", "grader.grading.zygote", str(theirs.fileno())]
                self.process = subprocess.Popen(command, cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL,
                                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                                pass_fds=(theirs.fileno(),), start_new_session=True)  # fmt: skip
            except OSError as error:
                failure.append(error)
                return
            finally:
                theirs.close()
                started.set()
            tail = bytearray()
            while chunk := os.read(self.process.stdout.fileno(), 65536):
                tail.extend(chunk)
                del tail[:-OUTPUT_TAIL]
            self.process.stdout.close()
            self._output = tail.decode("utf-8", "replace")
            self.process.wait()

        self._keeper = threading.Thread(target=keep, name="zygote", daemon=True)
        self._keeper.start()
        started.wait()
        if failure:
            mine.close()
            raise ZygoteError(f"the zygote could not be started ({failure[0]})")
        self._control = mine
        mine.settimeout(START_SECONDS)
        try:
            ready = mine.recv(64)
        except OSError as error:
            ready = f"{error}".encode()
        if ready != READY:
            self.close()
            raise ZygoteError(f"the zygote did not start (exit status {self.process.returncode}): "
                              f"{self._output.strip()[-OUTPUT_TAIL:] or ready.decode('utf-8', 'replace')}")  # fmt: skip

    def fork(self, args: list[str], env: dict, cwd: Path) -> Forked:
        """Start one run: `python -m pytest ARGS` with exactly `env` in `cwd`, its output in Forked.stdout."""
        if not self.alive() or self._control is None:
            raise ZygoteError("the zygote is not running")
        wanted = start_settings(env)
        changed = sorted(k for k in wanted.keys() | self.settings.keys() if wanted.get(k) != self.settings.get(k))
        if changed:
            raise ZygoteError(f"the run's start-up settings {', '.join(changed)} differ from the zygote's, which a "
                              "forked run would keep")  # fmt: skip
        request = json.dumps({"args": list(args), "env": dict(env), "cwd": str(cwd)}).encode()
        log_read, log_write = os.pipe()
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            with self._send:
                self._control.settimeout(REPLY_SECONDS)
                socket.send_fds(self._control, [request], [log_write, theirs.fileno()])
        except OSError as error:
            mine.close()
            os.close(log_read)
            silent = ZygoteSilent if isinstance(error, TimeoutError) else ZygoteError
            raise silent(f"the zygote took no request ({error})") from None
        finally:
            os.close(log_write)
            theirs.close()
        stdout = os.fdopen(log_read, "rb", buffering=0)
        mine.settimeout(REPLY_SECONDS)
        try:
            reply = json.loads(mine.recv(4096) or b"null")
        except TimeoutError:
            mine.close()
            stdout.close()
            raise ZygoteSilent(f"the zygote did not answer the run within {REPLY_SECONDS:g} s") from None
        except (OSError, ValueError) as error:
            reply = {"error": str(error)}
        if not isinstance(reply, dict) or not isinstance(reply.get("pid"), int):
            mine.close()
            stdout.close()
            raise ZygoteError(f"the zygote did not fork the run ({(reply or {}).get('error', 'it ended')})")
        return Forked(reply["pid"], mine, stdout)

    def close(self, timeout: float = REPLY_SECONDS) -> None:
        """End the zygote: it kills and reaps its children, then exits; wait for that (at most `timeout`)."""
        if self.owner != os.getpid():
            return
        if self._control is not None:
            with contextlib.suppress(OSError):
                self._control.shutdown(socket.SHUT_RDWR)
        if self._keeper is not None and self._keeper is not threading.current_thread():
            self._keeper.join(timeout)
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)  # its children die with it (PR_SET_PDEATHSIG)
            self.process.wait()
        if self._control is not None:
            self._control.close()


def start_settings(env: dict) -> dict:
    """What a process started now, from this thread, with `env` takes at its start (a forked child keeps the
    zygote's), by name: STARTUP_ENV's variables, "umask", each RLIMIT_*, "nice" (a thread's value in Linux)."""
    import resource

    names = sorted((n for n in dir(resource) if n.startswith("RLIMIT_")), reverse=True)  # the first name wins:
    kinds = {getattr(resource, name): name for name in names}  # one per limit (RLIMIT_OFILE is RLIMIT_NOFILE)
    limits = {name: resource.getrlimit(kind) for kind, name in kinds.items()}
    return {**{k: v for k, v in env.items() if k.startswith(STARTUP_ENV)}, **limits, "umask": umask(),
            "nice": os.getpriority(os.PRIO_PROCESS, 0)}  # fmt: skip


def umask() -> str | None:
    """This process's umask, read without setting it (os.umask sets it, for every thread): /proc's Umask line."""
    with contextlib.suppress(OSError):
        return next((line.split()[1] for line in Path("/proc/self/status").read_text().splitlines()
                     if line.startswith("Umask:")), None)  # fmt: skip
    return None


def spawn_command(launch: list[str], args: list[str]) -> list[str]:
    """A run started without a zygote: PRELOAD imported as the zygote imports it, then `pytest ARGS` (see main)."""
    return [*launch, "-m", "grader.grading.zygote", SPAWNED, *args]


# --------------------------------------------------------------------------- the zygote process


class Job:
    """What a forked child runs: pytest's arguments, the environment, the folder, the log descriptor."""

    def __init__(self, args: list[str], env: dict, cwd: str, log: int, parent: int):
        self.args, self.env, self.cwd, self.log, self.parent = args, env, cwd, log, parent


def serve(control: socket.socket) -> Job | None:
    """The zygote's loop: fork a child per request, report its pid and status, reap it once released.

    Returns None in the zygote when the control socket closes (every child killed and reaped first),
    and the child's Job in a forked child (which then runs `begin`).
    """
    wake_read, wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a Python handler, so that SIGCHLD writes to the wakeup fd
    selector = selectors.DefaultSelector()
    selector.register(control, selectors.EVENT_READ, None)
    selector.register(wake_read, selectors.EVENT_READ, None)
    runs: dict[int, socket.socket] = {}  # live or unreaped children -> their status socket
    ended: set[int] = set()  # reported, not yet reaped
    released: set[int] = set()  # the grader closed the status socket
    control.sendall(READY)
    while True:
        for key, _ in selector.select(timeout=1.0):  # the timeout: a look at the children even without SIGCHLD
            if key.fileobj is control:
                try:
                    message, fds, flags, _ = socket.recv_fds(control, REQUEST_BYTES, 2)
                except OSError:
                    message, fds, flags = b"", [], 0
                if not message:
                    for fd in fds:
                        os.close(fd)
                    for pid in runs:
                        kill_run(pid)
                    for pid in runs:
                        with contextlib.suppress(ChildProcessError):
                            os.waitpid(pid, 0)
                    return None
                if len(fds) != 2 or flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
                    for fd in fds:
                        os.close(fd)
                    continue
                log, status = fds[0], socket.socket(fileno=fds[1])
                try:
                    request = json.loads(message)
                    job = Job([str(a) for a in request["args"]], {str(k): str(v) for k, v in request["env"].items()},
                              str(request["cwd"]), log, os.getpid())  # fmt: skip
                    sys.stdout.flush()
                    sys.stderr.flush()
                    gc.freeze()  # what the zygote made since: no collection in the child touches (copies) it
                    pid = os.fork()
                except Exception as error:  # a malformed request, or no fork: that run is told, the others go on
                    os.close(log)
                    with contextlib.suppress(OSError):
                        status.send(json.dumps({"error": f"{type(error).__name__}: {error}"}).encode())
                    status.close()
                    continue
                if pid == 0:  # the child: nothing of the zygote's own stays open in it
                    gc.enable()
                    signal.set_wakeup_fd(-1)
                    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                    selector.close()
                    for fd in (wake_read, wake_write):
                        os.close(fd)
                    for other in (control, status, *runs.values()):
                        other.close()
                    return job
                os.close(log)
                runs[pid] = status
                selector.register(status, selectors.EVENT_READ, pid)
                with contextlib.suppress(OSError):
                    status.send(json.dumps({"pid": pid}).encode())
            elif key.fileobj == wake_read:
                with contextlib.suppress(BlockingIOError):
                    while os.read(wake_read, 4096):
                        pass
            else:  # a status socket: the grader closed it (or sent something it must not): release the child
                pid = key.data
                with contextlib.suppress(OSError):
                    if key.fileobj.recv(4096, socket.MSG_DONTWAIT):
                        pass
                selector.unregister(key.fileobj)
                released.add(pid)
                if pid not in ended:
                    kill_run(pid)
        for pid in [p for p in runs if p not in ended]:
            info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            if info is not None:
                ended.add(pid)
                code = info.si_status if info.si_code == os.CLD_EXITED else -info.si_status
                with contextlib.suppress(OSError):
                    runs[pid].send(json.dumps({"status": code}).encode())
        for pid in ended & released:
            os.waitpid(pid, 0)
            runs.pop(pid).close()
            ended.discard(pid)
            released.discard(pid)


def kill_run(pid: int) -> None:
    """SIGKILL a forked run: its process group, or the child alone while it has none yet.

    The zygote answers a child's pid as soon as it forked, so a kill (the budget's, stop(), a release)
    may come before the child made its own session in `begin`: killpg then finds no group of that id.
    The child has started nothing yet at that point, and its pid is still its own (the zygote reaps it
    only after the release), so killing the pid alone ends the run.
    """
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    except PermissionError:
        pass


def begin(job: Job) -> int:
    """In a forked child: become the run's pytest process (see the module docstring); pytest's exit code."""
    import ctypes
    import importlib
    import tempfile

    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with the zygote
    if os.getppid() != job.parent:
        os._exit(70)
    os.setsid()
    os.dup2(job.log, 1)
    os.dup2(job.log, 2)
    os.close(job.log)
    os.chdir(job.cwd)
    os.environ.clear()
    os.environ.update(job.env)
    tempfile.tempdir = None
    importlib.invalidate_caches()
    if "numpy.random" in sys.modules:
        sys.modules["numpy.random"].seed()  # a fresh process seeds the legacy global generator from the OS
    return run_pytest(job.args)


def run_pytest(args: list[str]) -> int:
    """pytest ARGS in this process, as `python -m pytest ARGS` runs it (its sys.argv); pytest's exit code."""
    import pytest

    sys.argv = [str(Path(pytest.__file__).with_name("__main__.py")), *args]
    return pytest.console_main()


def preload() -> None:
    """Import PRELOAD and the plugin modules pytest.main loads, under the interpreter's own warning filters: in the
    zygote before it forks, and in a spawned run before pytest starts, so that both runs import them alike."""
    import importlib

    import _pytest.config

    for name in PRELOAD:
        importlib.import_module(name)
    for name in (*_pytest.config.essential_plugins, *_pytest.config.default_plugins):  # what pytest.main loads
        importlib.import_module(f"_pytest.{name}")


def main(argv: list[str]) -> int:
    """`python -m grader.grading.zygote FD`: import PRELOAD, then serve the control socket FD;
    `python -m grader.grading.zygote --spawned ARGS`: import PRELOAD the same way, then run pytest ARGS here."""
    gc.disable()  # CPython's recipe for a fork server: no collection in here, everything frozen before a fork
    preload()
    if argv[:1] == [SPAWNED]:  # a spawned run: what a forked child does after the fork
        gc.freeze()
        gc.enable()
        return run_pytest(argv[1:])
    job = serve(socket.socket(fileno=int(argv[0])))
    return 0 if job is None else begin(job)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
