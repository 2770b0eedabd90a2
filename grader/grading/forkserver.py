"""The zygote process itself, a trusted fork server: PRELOAD imported once, then one forked pytest process per run.

`python -m grader.grading.forkserver FD` is the zygote that grader.grading.zygote's `Zygote` starts and talks to
over the control socket FD; `python -m grader.grading.forkserver --spawned ARGS` is one run started without a
zygote (`zygote.spawn_command`), which imports PRELOAD the same way first. Nothing here imports the grader's
side: that side imports this module (its wire constants and `kill_run`).

The loop (`serve`): per request (arguments, environment, folder, with the write end of the run's log pipe and
the zygote's end of the run's status socket passed along), fork a child, answer its pid on the status socket,
then its exit status (`Popen.returncode`'s convention) once it ended; reap it only after the grader closed its
end of the status socket, so that until then the pid, and so the process group the grader may kill, cannot be
another process's. A status socket closed earlier kills the child's group. When the control socket closes,
kill every child, reap them (their CPU counts towards the zygote, then towards the grader) and exit.

The child (`begin`): dies with the zygote (PR_SET_PDEATHSIG), new session (the grader kills its group as
before), the log pipe as stdout and stderr, the run's folder and exactly the run's environment,
`tempfile.tempdir` and the import caches reset, numpy's legacy global generator seeded afresh (as a fresh
process seeds it), sys.argv as `python -m pytest` sets it, then `pytest.console_main()` and a normal
interpreter exit (atexit hooks, such as the removal of the sandbox's private folders, run as they would).

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
import sys
from pathlib import Path

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
SPAWNED = "--spawned"  # `python -m grader.grading.forkserver --spawned ARGS`: one run in this process (spawn_command)
REQUEST_BYTES = 1 << 20  # a request (arguments and environment) is at most this long


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
    """`python -m grader.grading.forkserver FD`: import PRELOAD, then serve the control socket FD;
    `python -m grader.grading.forkserver --spawned ARGS`: import PRELOAD the same way, then run pytest ARGS here."""
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
