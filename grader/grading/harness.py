"""The harness: grades submissions, one trusted pytest process each, scores from results.json only.

For one submission it stages the code file alone into a private work folder and runs

    python -m pytest <suite> -p grader.grading.plugin --results-json <private>/results.json
        --submission <private>/sub/<code file> --seed <from the submission's key>
        --assert=plain -p no:cacheprovider -q

with the kit as cwd and rootdir (so the kit's pyproject and tests/conftest.py apply; the student's
folder is never rootdir and never on sys.path), one BLAS thread, and a wall budget: on overrun the
whole process group is killed (the sandbox's workers die with their parent). The process's own
output is read with a bound and kept only for the tutor's log. Scores come only from the
results.json the plugin writes; without it the submission is "crashed" (or "timeout").

The reference run (the solution) is the answer key: its tests and points define max_points, and a
test missing from a submission's results counts as failed, "did not run".
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
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
from grader.grading.store import REFERENCE, Store, submission_key, suite_version

LOG_HEAD = LOG_TAIL = 16 << 10  # bytes of the pytest process's output kept for the tutor
ARTIFACT_LIMIT = 2 << 20  # bytes of artifacts (JSON) kept per submission
THREAD_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")
BACKEND_FLAGS = {None: [], "sandbox": ["--sandbox"], "in-process": ["--in-process"]}  # tests only choose

# Started in the child before pytest: die with the grader (PR_SET_PDEATHSIG), even when it is SIGKILLed.
LAUNCHER = (
    "import ctypes, os, signal, sys\n"
    "try:\n    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)\nexcept Exception:\n    pass\n"
    "if os.getppid() != int(sys.argv[1]):\n    os._exit(70)\n"
    "os.execv(sys.executable, [sys.executable] + sys.argv[2:])\n"
)


class HarnessError(Exception):
    """The kit itself is broken (the reference run failed): nothing can be graded."""


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
    backend: str | None = None  # None: the suite's default (the sandbox); tests pass "in-process"

    def __post_init__(self):
        self._live: dict[int, subprocess.Popen] = {}
        self._lock = threading.Lock()
        self.stopping = threading.Event()

    def run(self, code: Path, seed: int) -> tuple[dict | None, str, str, float]:
        """Run the suite on one code file: (results.json content or None, status, reason, log)."""
        work = Path(tempfile.mkdtemp(prefix="grader-"))
        try:
            os.chmod(work, 0o711)
            sub = work / "sub"
            sub.mkdir(mode=0o755)
            staged = sub / code.name
            shutil.copyfile(code, staged)
            os.chmod(staged, 0o644)
            results_json = work / "out" / "results.json"
            results_json.parent.mkdir(mode=0o700)
            command = [
                sys.executable, "-c", LAUNCHER, str(os.getpid()),
                "-m", "pytest", str(self.suite), "-p", "grader.grading.plugin",
                "--results-json", str(results_json), "--submission", str(staged), "--seed", str(seed),
                "--rootdir", str(self.kit), "--assert=plain", "-p", "no:cacheprovider", "-q",
                *BACKEND_FLAGS[self.backend],
            ]  # fmt: skip
            started = time.monotonic()
            status, reason, log = self._supervise(command)
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

    def _supervise(self, command: list[str]) -> tuple[str, str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHON"))}
        env.update({name: "1" for name in THREAD_ENV})
        env.update(MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1", PYTHONHASHSEED="0")
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


def to_result(name: str, key: str, key_tests, data, status, reason, log, seconds) -> Result:
    if data is None:
        tests = unrun(key_tests, f"did not run: {reason}")
        return Result(name, status, tests, reason, None, round(seconds, 2), log, {}, key)
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
    messages = [t.message for t in tests if not t.passed]
    if not reason and tests and len(messages) == len(tests) and messages[0].startswith("could not import"):
        reason = messages[0].splitlines()[0][:300]  # the one cause of every failure: say it once, up front
        status = IMPORT_ERROR
    return Result(name, status, tests, reason, backend, round(seconds, 2), log, artifacts, key)


def answer_key(runner: Runner, solution: Path, store: Store, version: str) -> Result:
    """The reference run: the solution graded like a submission (and kept like one)."""
    key = submission_key([solution], solution.parent, version)
    kept = store.get(REFERENCE, key)
    if kept is not None:
        return kept
    data, status, reason, log, seconds = runner.run(solution, seed_of(key))
    if data is None or not isinstance(data.get("tests"), list) or not data["tests"]:
        raise HarnessError(f"the reference run on {solution.name} produced no results ({reason}):\n{log[-3000:]}")
    tests = [
        TestResult(str(t["id"]), float(t.get("points", 0.0)), float(t.get("earned", 0.0)), str(t.get("outcome")),
                   float(t.get("seconds", 0.0)), str(t.get("doc", "")), str(t.get("message", "")))
        for t in data["tests"]
    ]  # fmt: skip
    reference = Result(REFERENCE, status, tests, reason, data.get("backend") or runner.backend, round(seconds, 2), log, data.get("artifacts") or {}, key)
    store.put(reference)
    return reference


def grade_class(
    submissions: list[Submission],
    *,
    runner: Runner,
    solution: Path,
    store: Store,
    jobs: int | None = None,
    progress=None,
) -> Batch:
    """Every submission's Result, from the store when its key is unchanged, else by running the suite.

    progress(done, total, result, cached) is called after each submission. Raises Interrupted on
    KeyboardInterrupt after killing the running processes; every finished result is already stored.
    """
    started = time.monotonic()
    version = suite_version(runner.kit, runner.suite, solution)
    pool = ThreadPoolExecutor(max_workers=max(1, jobs or os.cpu_count() or 1), thread_name_prefix="grade")
    # The answer key is the pool's first task, so the other slots start on submissions at once.
    reference_future = pool.submit(answer_key, runner, solution, store, version)

    def key_tests() -> list[TestResult]:
        return reference_future.result().tests

    def grade(sub: Submission, key: str) -> Result | None:
        if runner.stopping.is_set():
            return None
        outcome = runner.run(sub.code, seed_of(key))
        if runner.stopping.is_set():
            return None  # killed by stop(): not a result
        result = to_result(sub.id, key, key_tests(), *outcome)
        result.backend = result.backend or (runner.backend if outcome[0] is not None else None)
        return _store(store, result)

    batch = None
    try:
        store.prune({s.id for s in submissions})
        todo, kept, early = [], [], []
        for sub in submissions:
            key = submission_key(sub.files(), sub.folder, version)
            if (result := store.get(sub.id, key)) is not None:
                kept.append(result)
            elif sub.code is None:
                why = sub.code_problem or "no code file in the submission"
                early.append((sub, key, NO_CODE, why, why))
            elif (error := syntax_error(sub.code)) is not None:
                early.append((sub, key, SYNTAX_ERROR, error, error))
            else:
                todo.append((sub, key))
        futures = [pool.submit(grade, sub, key) for sub, key in todo]
        reference = reference_future.result()
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
                progress(done, total, result, result.submission in cached_ids)
        for future in as_completed(futures):
            result = future.result()
            if result is None:
                continue
            batch.results[result.submission] = result
            batch.graded += 1
            done += 1
            if progress:
                progress(done, total, result, False)
    except BaseException as error:  # Ctrl-C, or the answer key failed: stop every run before leaving
        runner.stop()
        pool.shutdown(wait=True, cancel_futures=True)
        if isinstance(error, KeyboardInterrupt):
            raise Interrupted(len(batch.results) if batch is not None else 0, len(submissions)) from None
        raise
    pool.shutdown(wait=True)
    batch.failed = sum(1 for r in batch.results.values() if r.status != GRADED)
    batch.backends = {r.backend for r in batch.results.values() if r.backend} | ({reference.backend} - {None})
    batch.seconds = time.monotonic() - started
    return batch


def _store(store: Store, result: Result) -> Result:
    store.put(result)
    return result
