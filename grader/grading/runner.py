"""One run of the suite on one submission, in a trusted pytest process of its own: the Runner.

For one submission it stages the code file alone into a private work folder and runs

    pytest <suite> -p pytest_timeout -p grader.grading.plugin --results-json <private>/results.json
        --submission <private>/sub/<code file> --seed <from the submission's key>
        --assert=plain -p no:cacheprovider -q

with the kit as cwd and rootdir (so the kit's pyproject and tests/conftest.py apply; the student's
folder is never rootdir and never on sys.path), one BLAS thread, no plugin but the two named (RUN_ENV
turns pytest's plugin autoloading off), and a wall budget: on overrun the
whole process group is killed (the sandbox's workers die with their parent). The process's own
output is read with a bound and kept only for the tutor's log. Scores come only from the
results.json the plugin writes; without it the submission is "crashed" (or "timeout").

The pytest process is forked from the runner's zygote (grader.grading.zygote: the libraries imported
once per runner instead of once per run), or spawned (zygote.spawn_command: the same imports, then
pytest, in a process of its own; fork=False, and for a run whose zygote could not start, died or could
not give it its own start-up settings: then its log's first line says so). Both die with the grader. A
run whose zygote died under it is started again with what was left of its wall budget.

A Runner that travels to another machine (grader.grading.executor) travels as its portable part
(suite and solution relative to the kit, budget, backend, run version) and is rebuilt there on that
machine's kit by `on_this_machine`, which refuses to run when that kit's run version differs. The run
version is composed in one place, `run_version`, on the coordinator and on every worker alike.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from grader.grading.results import CRASHED, GRADED, TIMEOUT
from grader.grading.store import suite_version
from grader.grading.zygote import Forked, Zygote, ZygoteError, ZygoteSilent, spawn_command
from grader.sandbox import staging
from grader.sandbox.error import GraderError
from grader.sandbox.kit import KIT, SOLUTION

LOG_HEAD = LOG_TAIL = 16 << 10  # bytes of the pytest process's output kept for the tutor
THREAD_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")
BACKEND_FLAGS = {None: [], "sandbox": ["--sandbox"], "in-process": ["--in-process"],  # tests only choose
                 "unsandboxed": ["--sandbox"]}  # --no-sandbox: the worker, in bwrap where it runs, else without it
UNSANDBOXED_ENV = "EXERCISE02_UNSANDBOXED"  # grader.sandbox.client's opt-out; set only for "unsandboxed"
# Every pytest run's fixed environment: one BLAS thread, no display, no bytecode, fixed str hashing, and only
# the plugins PLUGINS names (a third-party pytest plugin installed on the machine never changes a grade; loading
# them all also costs start-up time on every run).
RUN_ENV = {**{name: "1" for name in THREAD_ENV}, "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONHASHSEED": "0", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}  # fmt: skip
PLUGINS = ("-p", "pytest_timeout", "-p", "grader.grading.plugin")
STAGING = "grader-"  # the work folders' prefix in the temporary folder
ZYGOTE_STARTS = 3  # zygotes a Runner starts at most (one, and again after a failure); then every run spawns
KILL_SECONDS = 60  # for a run's status once its group was SIGKILLed

# Started in the child before pytest: die with the grader (PR_SET_PDEATHSIG), even when it is SIGKILLed.
# Run with -I -S (stdlib only, no site-packages): it starts several times faster than a full interpreter.
LAUNCHER = (
    "import ctypes, os, signal, sys\n"
    "try:\n    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)\nexcept Exception:\n    pass\n"
    "if os.getppid() != int(sys.argv[1]):\n    os._exit(70)\n"
    "os.execv(sys.executable, [sys.executable] + sys.argv[2:])\n"
)



class HarnessError(GraderError):
    """The kit itself is broken (the reference run failed): nothing can be graded."""


class KitMismatch(HarnessError):
    """A worker's kit grades with a different suite than the coordinator's: its results would not compare."""



@dataclass
class Runner:
    """What every pytest run shares: where the kit is, which suite, the budget, the backend."""

    kit: Path
    suite: Path
    budget: float = 600.0
    backend: str | None = None  # None: the suite's default (the sandbox); "unsandboxed" (--no-sandbox); tests pass "in-process"
    solution: Path | None = None  # the answer key's code (default: the kit's solutions/exercise02.py)
    fork: bool = True  # fork each run from this runner's zygote (grader.grading.zygote); False: spawn each one

    def __post_init__(self):
        self.solution = Path(self.solution) if self.solution is not None else Path(self.kit) / SOLUTION
        self._live: dict[int, subprocess.Popen] = {}
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self.mismatch = ""  # set on a rebuilt runner whose kit differs from the coordinator's
        self.token = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"  # which coordinator's runs these are
        self._zygote: Zygote | None = None
        self._zygote_lock = threading.Lock()
        self._zygote_failures = 0
        staging.guard_signals()  # SIGTERM removes the runs' work folders (the runs are made in pool threads)

    def __reduce__(self):
        """Pickled (for a worker on another machine) as its portable part, rebuilt there by `on_this_machine`."""
        kit = Path(self.kit)
        if not Path(self.suite).is_relative_to(kit):
            raise HarnessError(f"the suite {self.suite} is not inside the kit {kit}: workers could not find it")
        if not self.solution.is_relative_to(kit):
            raise HarnessError(f"the solution {self.solution} is not inside the kit {kit}: workers could not find it")
        spec = (str(Path(self.suite).relative_to(kit)), str(self.solution.relative_to(kit)), self.budget, self.backend,
                self.version, self.token)  # fmt: skip
        return (on_this_machine, spec)

    @cached_property
    def version(self) -> str:
        """The run version this runner grades for (see `run_version`); every stored result is keyed by it."""
        return run_version(self.kit, self.suite, self.solution, self.backend)

    def run(self, name: str, code: bytes, seed: int) -> tuple[dict | None, str, str, str, float]:
        """Run the suite on one code file's bytes: (results.json content or None, status, reason, log, seconds)."""
        if self.mismatch:
            raise KitMismatch(self.mismatch)
        work = Path(staging.make(STAGING))  # 0700: no other local user reaches the staged copy; never outlives the run
        try:
            (work / "tmp").mkdir(mode=0o700)  # the run's TMPDIR: the sandbox's private folders die with `work`
            sub = work / "sub"
            sub.mkdir(mode=0o755)
            staged = sub / Path(name).name
            staged.write_bytes(code)
            os.chmod(staged, 0o644)
            results_json = work / "out" / "results.json"
            results_json.parent.mkdir(mode=0o700)
            args = [
                str(self.suite), *PLUGINS,
                "--results-json", str(results_json), "--submission", str(staged), "--seed", str(seed),
                "--rootdir", str(self.kit), "--assert=plain", "-p", "no:cacheprovider", "-q",
                *BACKEND_FLAGS[self.backend],
            ]  # fmt: skip
            started = time.monotonic()
            status, reason, log = self._supervise(args, {"TMPDIR": str(work / "tmp")})
            seconds = time.monotonic() - started
            data = None
            if results_json.is_file():
                try:
                    data = json.loads(results_json.read_text())
                except ValueError as error:
                    status, reason = CRASHED, f"results.json unreadable: {error}"
            if data is None and status == GRADED:
                status, reason = CRASHED, (reason + ": " if reason else "") + "the test run ended without writing results (see the log)"
            return data, status, reason, log, seconds
        finally:
            staging.remove(work)

    def _supervise(self, args: list[str], extra_env: dict) -> tuple[str, str, str]:
        """Run `python -m pytest ARGS`: forked by the zygote, else (it cannot start, or ended) spawned."""
        env = self._environment(extra_env)
        from grader.sandbox.layout import PROBED_ENV, probe_record

        env.pop(PROBED_ENV, None)
        if self.backend != "in-process":
            env[PROBED_ENV] = probe_record()  # this machine's probe, made once per grader process (fail closed: "" runs it)
        note, budget = "", self.budget
        if self.fork:
            began = None
            try:
                forked = self._forked(args, env)
                began = time.monotonic()
                return self._watch(forked, budget)
            except ZygoteError as error:  # no fork, or the zygote died during the run (its child with it)
                if self.stopping.is_set():
                    return GRADED, "", ""
                budget -= 0.0 if began is None else time.monotonic() - began  # what the run has used of it
                left = "" if began is None else f", with the {max(budget, 0):.1f} s left of its wall budget"
                note = f"[grader] {error}; this run was started the plain way instead{left}\n"
            if budget <= 0:
                return TIMEOUT, self._over(), note + "[grader] nothing was left of its wall budget to start it again\n"
        process = subprocess.Popen(
            spawn_command(self.launch, args), cwd=self.kit, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
        )  # fmt: skip
        status, reason, log = self._watch(process, budget)
        return status, reason, note + log

    @property
    def launch(self) -> list[str]:
        """The start of every process a run needs (a run's pytest, the zygote): dies with this process."""
        return [sys.executable, "-I", "-S", "-c", LAUNCHER, str(os.getpid())]

    def _environment(self, extra_env: dict) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHON")) and k != UNSANDBOXED_ENV}
        env.update(extra_env)
        if self.backend == "unsandboxed":
            env[UNSANDBOXED_ENV] = "1"
        env.update(RUN_ENV)
        return env

    def _forked(self, args: list[str], env: dict) -> Forked:
        """One run forked by this runner's zygote, started at its first run (and again after a failure)."""
        if self.stopping.is_set():
            raise ZygoteError("the runner is stopping")  # no zygote is started for a run stop() ends anyway
        with self._zygote_lock:
            zygote = self._zygote
            if zygote is None or not zygote.alive():
                if zygote is not None:
                    zygote.close()
                    self._zygote_failures += zygote.process is None or zygote.process.returncode != 0
                if self._zygote_failures >= ZYGOTE_STARTS:
                    raise ZygoteError(f"the zygote failed {self._zygote_failures} times and is not started again")
                self._zygote = zygote = Zygote(self.launch, self.kit, self._environment({}))
                weakref.finalize(self, zygote.close)  # a forgotten runner's zygote ends with it (or at exit)
                try:
                    zygote.start()
                except ZygoteError:
                    self._zygote, self._zygote_failures = None, self._zygote_failures + 1
                    raise
        try:
            return zygote.fork(args, env, self.kit)
        except ZygoteSilent:  # not a fork the zygote answered with an error (no memory, a process limit): that run only
            with self._zygote_lock:  # it runs but did not answer: a failed zygote, never asked again
                stuck = self._zygote is zygote and zygote.alive()
                if stuck:
                    self._zygote, self._zygote_failures = None, self._zygote_failures + 1
            if stuck:
                zygote.close(timeout=0)  # killed (its runs are started again the plain way), not waited for
            raise

    def close(self) -> None:
        """End this runner's zygote (its runs are over); a later run starts another."""
        with self._zygote_lock:
            zygote, self._zygote = self._zygote, None
        if zygote is not None:
            zygote.close()

    def _over(self) -> str:
        return f"ran over the wall budget of {self.budget:g} s and was stopped"

    def _watch(self, process: subprocess.Popen | Forked, budget: float) -> tuple[str, str, str]:
        """Wait for a run within `budget` seconds, reading its output with a bound: (status, reason, log)."""
        with self._lock:
            self._live[process.pid] = process
        if self.stopping.is_set():
            self._kill(process)
        head, tail, total = bytearray(), bytearray(), [0]

        def drain():
            while chunk := os.read(process.stdout.fileno(), 65536):
                total[0] += len(chunk)
                if len(head) < LOG_HEAD:
                    head.extend(chunk[: LOG_HEAD - len(head)])
                tail.extend(chunk)
                del tail[:-LOG_TAIL]

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        status, reason = GRADED, ""
        try:
            code = process.wait(timeout=budget)
            if code not in (0, 1) and not self.stopping.is_set():  # 1: some tests failed
                reason = f"pytest exited with status {code}"
        except subprocess.TimeoutExpired:
            self._kill(process)
            with contextlib.suppress(subprocess.TimeoutExpired, ZygoteError):  # SIGKILLed: its status is not needed
                process.wait(timeout=KILL_SECONDS)
            status, reason = TIMEOUT, self._over()
        finally:
            with self._lock:  # stop() kills under this lock: never a pid the zygote reaped after release()
                self._live.pop(process.pid, None)
                if isinstance(process, Forked):
                    process.release()
            reader.join(timeout=5)
            process.stdout.close()
        log = bytes(head).decode("utf-8", "replace")
        if total[0] > len(head):
            cut = total[0] - len(head) - len(tail)
            log += (f"\n... [{cut} bytes cut] ...\n" if cut > 0 else "") + bytes(tail[-(total[0] - len(head)):]).decode("utf-8", "replace")
        return status, reason, log

    def _kill(self, process: subprocess.Popen | Forked) -> None:
        if isinstance(process, Forked):
            process.kill()  # also when just forked, before the child's own session (Forked.kill)
            return
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self) -> None:
        """Kill every running pytest process (Ctrl-C); the runs in progress are not stored."""
        self.stopping.set()
        with self._lock:
            for process in list(self._live.values()):
                self._kill(process)


def run_version(kit: Path, suite: Path, solution: Path, backend: str | None) -> str:
    """What a result is valid for besides the submission: the suite version and the isolation.

    The one place this is composed: the coordinator keys the store with it and every worker compares
    its own with the coordinator's. Results graded without the sandbox carry `:<backend>`, so they are
    never served to a sandboxed run.
    """
    tag = "" if backend in (None, "sandbox") else f":{backend}"
    return suite_version(kit, suite, solution) + tag


_REBUILT: dict[tuple, Runner] = {}


def on_this_machine(suite: str, solution: str, budget: float, backend: str | None, version: str, token: str) -> Runner:
    """A travelling Runner rebuilt on this machine's kit (one per process and coordinator, so stop() reaches it).

    It refuses to run (KitMismatch, at its first run) when this kit's run version differs.
    """
    spec = (suite, solution, budget, backend, version, token)
    if spec not in _REBUILT:
        runner = Runner(KIT, KIT / suite, budget=budget, backend=backend, solution=KIT / solution)
        runner.token = token
        here = runner.version if (KIT / suite).is_dir() else "<no suite>"
        if here != version:
            runner.mismatch = (
                f"worker {socket.gethostname()} has a different kit (run version {here[:12]}{here[64:]}, the "
                f"coordinator's is {version[:12]}{version[64:]}, kit at {KIT}): install the same kit version on every worker"
            )
        _REBUILT[spec] = runner
    return _REBUILT[spec]


def stop_travelled(token: str) -> int:
    """End one coordinator's rebuilt runners in this process (its runs killed, its zygotes ended); how many runners.

    Called after a stop and after a finished class alike: without it a worker that outlives the coordinator
    (a running cluster) would keep one runner and one zygote process per class it graded."""
    stopped = [spec for spec in list(_REBUILT) if spec[-1] == token]
    for spec in stopped:
        runner = _REBUILT.pop(spec)
        runner.stop()
        runner.close()
    return len(stopped)


def run_code(runner: Runner, name: str, code: bytes, seed: int) -> tuple:
    """What travels to an executor: one run of the suite; returns the run's outcome and the worker's name."""
    return (*runner.run(name, code, seed), f"{socket.gethostname()}:{os.getpid()}")


