"""The harness: grades a class, one Runner run per submission (grader.grading.runner), scores from results.json only.

The reference run (the solution) is the answer key: its tests and points define max_points, and a
test missing from a submission's results counts as failed, "did not run".

Where the runs happen is the executor's business (grader.grading.executor): grade_class hands
`run_code(runner, name, code bytes, seed)` to any concurrent.futures-style executor, at most `jobs`
at a time, and keeps the store, the answer key and every verdict in this (the coordinator's)
process. A Runner that travels to another machine travels as its portable part (suite and solution
relative to the kit, budget, backend, run version) and is rebuilt there on that machine's kit,
which must have the same run version (runner.run_version).
"""

from __future__ import annotations

import json
import os
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
from grader.grading.runner import HarnessError, Runner, run_code
from grader.grading.store import REFERENCE, Store, keep_key, kept_key, submission_key
from grader.sandbox.activity import STOP as IDLE_STOP
from grader.sandbox.error import GraderError

ARTIFACT_LIMIT = 2 << 20  # bytes of artifacts (JSON) kept per submission


class Interrupted(GraderError):
    """grade_class was stopped (Ctrl-C, or the cluster cancelled the runs); what was done is in the store."""

    exit_code = 130

    def __init__(self, done: int, total: int, folder: Path | None = None):
        super().__init__(f"stopped: {done} of {total} submissions are graded and kept in {folder}; run the same "
                         "command again to continue")  # fmt: skip
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
    store: Store,
    jobs: int | None = None,
    progress=None,
    executor=None,
    retry_timeouts: bool = False,
    on_run=None,
) -> Batch:
    """Every submission's Result, from the store when its key is unchanged, else by running the suite.

    The runs go to `executor` (any concurrent.futures-style executor; default: a local pool of `jobs`
    threads), never more than `jobs` at a time. progress(done, total, result, cached, in_flight) is
    called after each submission. Raises Interrupted on KeyboardInterrupt, or when the executor
    cancels the runs (its cluster went away), after stopping the running processes; every finished
    result is already stored. retry_timeouts: grade again the kept results stopped for idling (see reusable).
    on_run(): called once, from this thread, when the first run is handed to the executor (never when every result
    is kept): the caller may start work that only a run makes worthwhile while the first runs start.
    """
    started = time.monotonic()
    require_sandbox(runner)
    version, solution = runner.version, runner.solution
    jobs = max(1, jobs or os.cpu_count() or 1)
    pool = executor or ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="grade")
    running: dict = {}  # future -> (submission or None for the answer key, key)
    queue: list = []  # (submission or None, key, code file) not yet handed to the pool
    begun: list = []  # on_run was called
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
            if on_run is not None and not begun:
                begun.append(True)
                on_run()

    batch, waiting = None, []  # waiting: outcomes that finished before the answer key
    try:
        store.prune({s.id for s in submissions})
        kept, early = [], []
        for sub in submissions:
            key = submission_key(sub.files(), sub.folder, version)
            if (result := store.get(sub.id, key)) is not None and reusable(result, retry_timeouts):
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
        runner.close()
        if isinstance(error, (KeyboardInterrupt, CancelledError)):
            raise Interrupted(len(batch.results) if batch is not None else 0, len(submissions), store.folder) from None
        raise
    if executor is None:
        pool.shutdown(wait=True)
    runner.close()  # every run is over: its zygote ends (a runner that grades again starts another)
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


def reusable(result: Result, retry_timeouts: bool = False) -> bool:
    """Whether a kept result is served again for unchanged code.

    Not when the run was cut short by something that may depend on the machine's load (its wall budget,
    a wall-clock backstop, a crash or kill, a CPU limit, a test's own time limit: grader.grading.plugin's
    TIMER_STOP): then it is graded again. A run whose only stops
    were for idling (the submission waited without computing; grader.sandbox.activity, which load does
    not change) keeps its verdict, unless `retry_timeouts` (`grader grade --retry-timeouts`)."""
    if result.status in (TIMEOUT, CRASHED):
        return False
    return not result.stopped or (set(result.stopped) == {IDLE_STOP} and not retry_timeouts)


def _outcome(future) -> tuple:
    """A finished run's outcome; a run cancelled by the executor (its cluster went away) is an interruption."""
    if future.cancelled():
        raise CancelledError()
    return future.result()


def _store(store: Store, result: Result) -> Result:
    store.put(result)
    return result
