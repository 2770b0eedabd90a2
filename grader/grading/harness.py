"""The harness: grades submissions, one trusted pytest process each, scores from results.json only.

For one submission it stages the code file alone into a private work folder and runs

    python -m pytest <suite> -p pytest_timeout -p grader.grading.plugin --results-json <private>/results.json
        --submission <private>/sub/<code file> --seed <from the submission's key>
        --assert=plain -p no:cacheprovider -q

with the kit as cwd and rootdir (so the kit's pyproject and tests/conftest.py apply; the student's
folder is never rootdir and never on sys.path), one BLAS thread, no plugin but the two named (RUN_ENV
turns pytest's plugin autoloading off), and a wall budget: on overrun the
whole process group is killed (the sandbox's workers die with their parent). The process's own
output is read with a bound and kept only for the tutor's log. Scores come only from the
results.json the plugin writes; without it the submission is "crashed" (or "timeout").

The reference run (the solution) is the answer key: its tests and points define max_points, and a
test missing from a submission's results counts as failed, "did not run".

Where the runs happen is the executor's business (grader.grading.executor): grade_class hands
`run_code(runner, name, code bytes, seed)` to any concurrent.futures-style executor, at most `jobs`
at a time, and keeps the store, the answer key and every verdict in this (the coordinator's)
process. A Runner that travels to another machine travels as its portable part (suite and solution
relative to the kit, budget, backend, suite version) and is rebuilt there on that machine's kit,
which must have the same suite version.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import FIRST_COMPLETED, CancelledError, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from grader.grading.intake import Submission
from grader.grading.results import (
    CRASHED,
    DID_NOT_RUN,
    GRADED,
    IMPORT_ERROR,
    NO_CODE,
    SYNTAX_ERROR,
    TIMEOUT,
    Result,
    TestResult,
    against_key,
    unrun,
)
from grader.grading.store import REFERENCE, Store, keep_key, kept_key, submission_key, suite_version

LOG_HEAD = LOG_TAIL = 16 << 10  # bytes of the pytest process's output kept for the tutor
ARTIFACT_LIMIT = 2 << 20  # bytes of artifacts (JSON) kept per submission
THREAD_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")
BACKEND_FLAGS = {None: [], "sandbox": ["--sandbox"], "in-process": ["--in-process"],  # tests only choose
                 "unsandboxed": ["--sandbox"]}  # --no-sandbox: the worker, in bwrap where it runs, else without it
UNSANDBOXED_ENV = "EXERCISE02_UNSANDBOXED"  # grader.sandbox.client's opt-out; set only for "unsandboxed"
# Every pytest run's fixed environment: one BLAS thread, no display, no bytecode, fixed str hashing, and only
# the plugins PLUGINS names (a third-party pytest plugin installed on the machine never changes a grade; loading
# them all cost about 0.6 s a run).
RUN_ENV = {**{name: "1" for name in THREAD_ENV}, "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONHASHSEED": "0", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}  # fmt: skip
PLUGINS = ("-p", "pytest_timeout", "-p", "grader.grading.plugin")

# Started in the child before pytest: die with the grader (PR_SET_PDEATHSIG), even when it is SIGKILLed.
LAUNCHER = (
    "import ctypes, os, signal, sys\n"
    "try:\n    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)\nexcept Exception:\n    pass\n"
    "if os.getppid() != int(sys.argv[1]):\n    os._exit(70)\n"
    "os.execv(sys.executable, [sys.executable] + sys.argv[2:])\n"
)


class HarnessError(Exception):
    """The kit itself is broken (the reference run failed): nothing can be graded."""


class KitMismatch(HarnessError):
    """A worker's kit grades with a different suite than the coordinator's: its results would not compare."""


class Interrupted(Exception):
    """grade_class was stopped (Ctrl-C); what was done is in the store."""

    def __init__(self, done: int, total: int):
        super().__init__(f"stopped after {done} of {total} submissions")
        self.done, self.total = done, total


@dataclass
class Batch:
    results: dict[str, Result]  # submission id -> Result
    key: list[TestResult]  # the answer key's tests
    reference: Result
    graded: int = 0  # run now
    cached: int = 0  # served from the store
    failed: int = 0  # could not be run to the end (no code, syntax error, timeout, crash)
    seconds: float = 0.0
    backends: set = field(default_factory=set)


@dataclass
class Runner:
    """What every pytest run shares: where the kit is, which suite, the budget, the backend."""

    kit: Path
    suite: Path
    budget: float = 600.0
    backend: str | None = None  # None: the suite's default (the sandbox); "unsandboxed" (--no-sandbox); tests pass "in-process"

    version: str = ""  # the suite version runs are for; set by grade_class, checked where a runner travels to

    def __post_init__(self):
        self._live: dict[int, subprocess.Popen] = {}
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self.mismatch = ""  # set on a rebuilt runner whose kit differs from the coordinator's
        self.token = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"  # which coordinator's runs these are

    def __reduce__(self):
        """Pickled (for a worker on another machine) as its portable part, rebuilt there by `on_this_machine`."""
        kit = Path(self.kit)
        if not Path(self.suite).is_relative_to(kit):
            raise HarnessError(f"the suite {self.suite} is not inside the kit {kit}: workers could not find it")
        spec = (str(Path(self.suite).relative_to(kit)), self.budget, self.backend, self.version, self.token)
        return (on_this_machine, spec)

    def run(self, name: str, code: bytes, seed: int) -> tuple[dict | None, str, str, str, float]:
        """Run the suite on one code file's bytes: (results.json content or None, status, reason, log, seconds)."""
        if self.mismatch:
            raise KitMismatch(self.mismatch)
        work = Path(tempfile.mkdtemp(prefix="grader-"))  # 0700: no other local user reaches the staged copy
        try:
            (work / "tmp").mkdir(mode=0o700)  # the run's TMPDIR: the sandbox's private folders die with `work`
            sub = work / "sub"
            sub.mkdir(mode=0o755)
            staged = sub / Path(name).name
            staged.write_bytes(code)
            os.chmod(staged, 0o644)
            results_json = work / "out" / "results.json"
            results_json.parent.mkdir(mode=0o700)
            command = [
                sys.executable, "-c", LAUNCHER, str(os.getpid()),
                "-m", "pytest", str(self.suite), *PLUGINS,
                "--results-json", str(results_json), "--submission", str(staged), "--seed", str(seed),
                "--rootdir", str(self.kit), "--assert=plain", "-p", "no:cacheprovider", "-q",
                *BACKEND_FLAGS[self.backend],
            ]  # fmt: skip
            started = time.monotonic()
            status, reason, log = self._supervise(command, {"TMPDIR": str(work / "tmp")})
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
            shutil.rmtree(work, ignore_errors=True)

    def _supervise(self, command: list[str], extra_env: dict) -> tuple[str, str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHON")) and k != UNSANDBOXED_ENV}
        env.update(extra_env)
        if self.backend == "unsandboxed":
            env[UNSANDBOXED_ENV] = "1"
        env.update(RUN_ENV)
        from grader.sandbox.layout import PROBED_ENV, probe_record

        env.pop(PROBED_ENV, None)
        if self.backend != "in-process":
            env[PROBED_ENV] = probe_record()  # this machine's probe, made once per grader process (fail closed: "" runs it)
        process = subprocess.Popen(
            command, cwd=self.kit, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
        )  # fmt: skip
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
            code = process.wait(timeout=self.budget)
            if code not in (0, 1) and not self.stopping.is_set():  # 1: some tests failed
                reason = f"pytest exited with status {code}"
        except subprocess.TimeoutExpired:
            self._kill(process)
            process.wait()
            status, reason = TIMEOUT, f"ran over the wall budget of {self.budget:g} s and was stopped"
        finally:
            with self._lock:
                self._live.pop(process.pid, None)
        reader.join(timeout=5)
        process.stdout.close()
        log = bytes(head).decode("utf-8", "replace")
        if total[0] > len(head):
            cut = total[0] - len(head) - len(tail)
            log += (f"\n... [{cut} bytes cut] ...\n" if cut > 0 else "") + bytes(tail[-(total[0] - len(head)):]).decode("utf-8", "replace")
        return status, reason, log

    def _kill(self, process: subprocess.Popen) -> None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self) -> None:
        """Kill every running pytest process (Ctrl-C); the runs in progress are not stored."""
        self.stopping.set()
        with self._lock:
            live = list(self._live.values())
        for process in live:
            self._kill(process)


KIT = Path(__file__).resolve().parents[2]  # this machine's kit
SOLUTION = Path("solutions") / "exercise02.py"  # relative to the kit: part of the suite version
_REBUILT: dict[tuple, Runner] = {}


def on_this_machine(suite: str, budget: float, backend: str | None, version: str, token: str) -> Runner:
    """A travelling Runner rebuilt on this machine's kit (one per process and coordinator, so stop() reaches it).

    It refuses to run (KitMismatch, at its first run) when this kit's suite version differs.
    """
    spec = (suite, budget, backend, version, token)
    if spec not in _REBUILT:
        runner = Runner(KIT, KIT / suite, budget=budget, backend=backend, version=version)
        runner.token = token
        here = suite_version(KIT, KIT / suite, KIT / SOLUTION) if (KIT / suite).is_dir() else "<no suite>"
        if here != version:
            runner.mismatch = (
                f"worker {socket.gethostname()} has a different kit (suite version {here[:12]}, the coordinator's is "
                f"{version[:12]}, kit at {KIT}): install the same kit version on every worker"
            )
        _REBUILT[spec] = runner
    return _REBUILT[spec]


def stop_travelled(token: str) -> int:
    """Stop (kill) the runs of one coordinator's rebuilt runners in this process; how many runners."""
    stopped = [spec for spec in list(_REBUILT) if spec[-1] == token]
    for spec in stopped:
        _REBUILT.pop(spec).stop()
    return len(stopped)


def run_code(runner: Runner, name: str, code: bytes, seed: int) -> tuple:
    """What travels to an executor: one run of the suite; returns the run's outcome and the worker's name."""
    return (*runner.run(name, code, seed), f"{socket.gethostname()}:{os.getpid()}")


def syntax_error(code: Path) -> str | None:
    """The first syntax error of a code file, as one line; parsed (never run) in this trusted process."""
    try:
        compile(code.read_bytes(), code.name, "exec", flags=0x400, dont_inherit=True)  # PyCF_ONLY_AST
    except SyntaxError as error:
        return f"SyntaxError at line {error.lineno}: {error.msg}"
    except (ValueError, RecursionError, MemoryError, UnicodeDecodeError) as error:
        return f"{type(error).__name__}: {str(error)[:200]}"
    return None


def seed_of(key: str) -> int:
    return int(key[:8], 16)


def to_result(name: str, key: str, key_tests, data, status, reason, log, seconds, worker: str = "") -> Result:
    if data is None:
        tests = unrun(key_tests, f"did not run: {reason}")
        return Result(name, status, tests, reason, None, round(seconds, 2), log, {}, key, worker)
    raw = data.get("tests") if isinstance(data, dict) else None
    tests = against_key(name, raw if isinstance(raw, list) else [], key_tests)
    if reason:  # a run stopped half way: say why the rest did not run
        for test in tests:
            if test.outcome == DID_NOT_RUN:
                test.message = f"{DID_NOT_RUN}: {reason}"
    artifacts = data.get("artifacts") if isinstance(data.get("artifacts"), dict) else {}
    if len(json.dumps(artifacts)) > ARTIFACT_LIMIT:
        artifacts, reason = {}, (reason + "; " if reason else "") + "artifacts too large; not kept"
    backend = data.get("backend") if isinstance(data.get("backend"), str) else None
    stops = [str(s) for s in data.get("stops", [])][:8] if isinstance(data.get("stops"), list) else []
    usage = {k: v for k, v in data.get("usage", {}).items() if isinstance(v, (int, float))} if isinstance(data.get("usage"), dict) else {}
    messages = [t.message for t in tests if not t.passed]
    if not reason and tests and len(messages) == len(tests) and messages[0].startswith("could not import"):
        reason = messages[0].splitlines()[0][:300]  # the one cause of every failure: say it once, up front
        status = IMPORT_ERROR
    return Result(name, status, tests, reason, backend, round(seconds, 2), log, artifacts, key, worker,
                  stopped=stops, usage=usage)


def to_reference(runner: Runner, key: str, data, status, reason, log, seconds, worker: str = "") -> Result:
    """The answer key from the reference run's outcome; a run without results means the kit is broken."""
    if data is None or not isinstance(data.get("tests"), list) or not data["tests"]:
        raise HarnessError(f"the reference run on the solution produced no results ({reason}):\n{log[-3000:]}")
    tests = [
        TestResult(str(t["id"]), float(t.get("points", 0.0)), float(t.get("earned", 0.0)), str(t.get("outcome")),
                   float(t.get("seconds", 0.0)), str(t.get("doc", "")), str(t.get("message", "")))
        for t in data["tests"]
    ]  # fmt: skip
    backend = data.get("backend") or runner.backend
    return Result(REFERENCE, status, tests, reason, backend, round(seconds, 2), log, data.get("artifacts") or {}, key, worker)


def grade_class(
    submissions: list[Submission],
    *,
    runner: Runner,
    solution: Path,
    store: Store,
    jobs: int | None = None,
    progress=None,
    executor=None,
) -> Batch:
    """Every submission's Result, from the store when its key is unchanged, else by running the suite.

    The runs go to `executor` (any concurrent.futures-style executor; default: a local pool of `jobs`
    threads), never more than `jobs` at a time. progress(done, total, result, cached, in_flight) is
    called after each submission. Raises Interrupted on KeyboardInterrupt, or when the executor
    cancels the runs (its cluster went away), after stopping the running processes; every finished
    result is already stored.
    """
    started = time.monotonic()
    require_sandbox(runner)
    version = runner.version = suite_version(runner.kit, runner.suite, solution) + isolation_tag(runner)
    jobs = max(1, jobs or os.cpu_count() or 1)
    pool = executor or ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="grade")
    running: dict = {}  # future -> (submission or None for the answer key, key)
    queue: list = []  # (submission or None, key, code file) not yet handed to the pool
    reference_key = submission_key([solution], solution.parent, version)
    reference = store.get(REFERENCE, reference_key)
    if reference is None and (reference := kept_key(reference_key, runner.backend)) is not None:
        store.put(reference)  # the same suite version's key from another output folder
    if reference is None:
        queue.append((None, reference_key, solution))  # first, so the other slots start on submissions at once

    def fill() -> None:
        while queue and len(running) < jobs:
            sub, key, code = queue.pop(0)
            running[pool.submit(run_code, runner, code.name, code.read_bytes(), seed_of(key))] = (sub, key)

    batch, waiting = None, []  # waiting: outcomes that finished before the answer key
    try:
        store.prune({s.id for s in submissions})
        kept, early = [], []
        for sub in submissions:
            key = submission_key(sub.files(), sub.folder, version)
            if (result := store.get(sub.id, key)) is not None and reusable(result):
                kept.append(result)
            elif sub.code is None:
                why = sub.code_problem or "no code file in the submission"
                early.append((sub, key, NO_CODE, why, why))
            elif (error := syntax_error(sub.code)) is not None:
                early.append((sub, key, SYNTAX_ERROR, error, error))
            else:
                queue.append((sub, key, sub.code))
        fill()
        while reference is None:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                sub, key = running.pop(future)
                if sub is None:
                    reference = to_reference(runner, key, *_outcome(future))
                    store.put(reference)
                    keep_key(reference, runner.backend)
                else:
                    waiting.append((sub, key, future))
            fill()
        if reference.max_points <= 0:
            raise HarnessError("the reference run found no tests with points (check the suite's points markers)")
        batch = Batch({}, reference.tests, reference)
        for result in kept:
            if result.status in (GRADED, IMPORT_ERROR):
                result.tests = against_key(result.submission, [t.__dict__ for t in result.tests], reference.tests)
            batch.results[result.submission] = result
            batch.cached += 1
        for sub, key, status, reason, why in early:
            result = Result(sub.id, status, unrun(reference.tests, f"did not run: {why}"), reason, key=key)
            batch.results[sub.id] = _store(store, result)
        total, done = len(submissions), 0
        cached_ids = {result.submission for result in kept}
        for result in list(batch.results.values()):
            done += 1
            if progress:
                progress(done, total, result, result.submission in cached_ids, len(running))
        while waiting or running:
            if not waiting:
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                waiting = [(*running.pop(future), future) for future in finished]
                fill()
            sub, key, future = waiting.pop(0)
            outcome = _outcome(future)
            result = to_result(sub.id, key, reference.tests, *outcome)
            result.backend = result.backend or (runner.backend if outcome[0] is not None else None)
            batch.results[sub.id] = _store(store, result)
            batch.graded += 1
            done += 1
            if progress:
                progress(done, total, result, False, len(running))
    except BaseException as error:  # Ctrl-C, a lost cluster, or the answer key failed: stop every run before leaving
        runner.stop()
        for future in running:
            future.cancel()
        if executor is None:
            pool.shutdown(wait=True, cancel_futures=True)
        if isinstance(error, (KeyboardInterrupt, CancelledError)):
            raise Interrupted(len(batch.results) if batch is not None else 0, len(submissions)) from None
        raise
    if executor is None:
        pool.shutdown(wait=True)
    batch.failed = sum(1 for r in batch.results.values() if r.status != GRADED)
    batch.backends = {r.backend for r in batch.results.values() if r.backend} | ({reference.backend} - {None})
    batch.seconds = time.monotonic() - started
    return batch


def require_sandbox(runner: Runner) -> None:
    """Fail closed: HarnessError before anything is graded when the sandbox cannot run and the
    runner was not told to grade without it (--no-sandbox)."""
    if runner.backend not in (None, "sandbox"):
        return
    from grader.sandbox.layout import probe

    mode, reason = probe()
    if mode != "bwrap":
        raise HarnessError(
            f"the sandbox cannot run on this machine, so nothing was graded: {reason}.\n"
            "Fix it: install bubblewrap and util-linux (Debian/Ubuntu: apt-get install bubblewrap util-linux); when "
            "not root, allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, "
            "user.max_user_namespaces > 0). Or grade without isolation, for trusted submissions only: "
            "grader grade --no-sandbox (see docs/security.md)."
        )


def isolation_tag(runner: Runner) -> str:
    """Part of every store key: results graded without the sandbox are never served to a sandboxed run."""
    return "" if runner.backend in (None, "sandbox") else f":{runner.backend}"


def reusable(result: Result) -> bool:
    """A kept result is served again unless a limit or a kill stopped part of its run (then it is graded again)."""
    return result.status not in (TIMEOUT, CRASHED) and not result.stopped


def _outcome(future) -> tuple:
    """A finished run's outcome; a run cancelled by the executor (its cluster went away) is an interruption."""
    if future.cancelled():
        raise CancelledError()
    return future.result()


def _store(store: Store, result: Result) -> Result:
    store.put(result)
    return result
