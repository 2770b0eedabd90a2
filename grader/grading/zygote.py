"""The grader's side of the runs' fork server: start a zygote, fork a run from it, watch that run as a Popen.

Every run of the suite is a trusted pytest process whose start-up is mostly imports (numpy, pytest and
the modules pytest.main loads, pytest_timeout, the grader's plugin and the sandbox's client side): the
same work for every submission. The zygote is one long-lived process per Runner and process (started
lazily at its first run) that does those imports once, then forks one child per run; the child sets
itself up as a spawned pytest process would be and calls pytest as `python -m pytest` does. The zygote
process itself (its loop, the child's set-up, why forking is sound) is grader.grading.forkserver; this
module only starts it and talks to it.

`Zygote`: started through the Runner's launcher (dies with the grader: PR_SET_PDEATHSIG, from a thread of its
own that lives as long as the zygote, since the kernel ties that signal to the thread that forked), in a
session of its own, with the runs' fixed environment at interpreter start (PYTHONHASHSEED and
PYTHONDONTWRITEBYTECODE act only there). A run (`Zygote.fork`) sends its argument list, environment and
folder over a unix socket pair only the two ends hold, with two descriptors passed along (SCM_RIGHTS): the
write end of the run's log pipe, and the zygote's end of the run's status socket. On that socket the zygote
answers the child's pid, then its exit status once it ended (`Forked.wait`). The zygote reaps a child only
after the grader closed its end of the status socket (`Forked.release`): until then the pid, and so the
process group the grader may kill, cannot be another process's. Closing it earlier kills the child's group.
When the control socket closes (`Zygote.close`, or the grader died), the zygote kills every child it has,
reaps them and exits.

A spawned run (spawn_command: Runner(fork=False), or its zygote failed) imports PRELOAD the zygote's way first
(`forkserver.preload`, then gc frozen), so an import's warning meets the same filters either way. What a
process takes only at its start (start_settings: STARTUP_ENV's variables, umask, resource limits, nice value)
a forked child keeps from the zygote: `Zygote.fork` refuses a run whose own differ (the grader changed them
since), which the Runner then spawns. Both: docs/internals.md, the runner section.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
from pathlib import Path

from grader.grading.forkserver import READY, SPAWNED, kill_run
from grader.sandbox.error import GraderError

# Environment variables (prefixes) read only when a process starts: a forked run would keep the zygote's values.
STARTUP_ENV = ("LANG", "LC_", "LD_", "MALLOC_", "GLIBC_", "TZ", "PYTHON", "NPY_", "NUMPY_", "OPENBLAS_", "GOTO",
               "OMP_", "MKL_", "NUMEXPR_", "VECLIB_")  # fmt: skip
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
                command = [*self.launch, "-m", "grader.grading.forkserver", str(theirs.fileno())]
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
    return [*launch, "-m", "grader.grading.forkserver", SPAWNED, *args]
