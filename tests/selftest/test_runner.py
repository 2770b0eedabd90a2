"""The Runner: one run version composed in one place, the same on the coordinator and on every worker; runs\nforked from its zygote grade as spawned ones do, and are killed, stopped and replaced as those are."""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import sys
import threading
from pathlib import Path

import pytest

from classroom import KIT, STANDIN, Gate
from poll import gone, wait_until

BACKENDS = (None, "sandbox", "in-process", "unsandboxed")


@pytest.mark.parametrize("backend", BACKENDS)
def test_runner_version_round_trips_for_each_backend(backend):
    """Does a Runner of each backend, pickled and rebuilt on this kit, carry the same run version and no mismatch?"""
    from grader.grading.runner import Runner, run_version

    runner = Runner(KIT, STANDIN, budget=7.0, backend=backend)
    assert runner.version == run_version(KIT, STANDIN, KIT / "solutions" / "exercise02.py", backend)
    same = pickle.loads(pickle.dumps(runner))
    assert (same.version, same.mismatch, same.backend, same.solution) == (runner.version, "", backend, runner.solution)


def test_run_version_separates_isolation():
    """Are results graded without the sandbox keyed apart from sandboxed ones (and the default equal to the sandbox)?"""
    from grader.grading.runner import run_version

    solution = KIT / "solutions" / "exercise02.py"
    versions = {b: run_version(KIT, STANDIN, solution, b) for b in BACKENDS}
    assert versions[None] == versions["sandbox"]
    assert len({versions[b] for b in ("sandbox", "in-process", "unsandboxed")}) == 3
    assert versions["unsandboxed"].endswith(":unsandboxed")


def test_runner_travels_as_its_portable_part_and_refuses_another_kit(tmp_path):
    """Is a Runner rebuilt on this machine's kit, and does one built for another suite version refuse to run?"""
    from grader.grading.runner import HarnessError, KitMismatch, Runner

    runner = Runner(KIT, STANDIN, budget=7.0, backend="sandbox")
    same = pickle.loads(pickle.dumps(runner))
    assert (same.kit, same.suite, same.budget, same.backend, same.mismatch) == (KIT, STANDIN, 7.0, "sandbox", "")
    assert same is not runner and same.token == runner.token
    runner.version = "0" * 64
    other = pickle.loads(pickle.dumps(runner))
    with pytest.raises(KitMismatch, match="different kit .*install the same kit version on every worker"):
        other.run("exercise02.py", b"x = 1\n", 1)
    outside = Runner(KIT, tmp_path)
    with pytest.raises(HarnessError, match="not inside the kit"):
        pickle.dumps(outside)


# --------------------------------------------------------------------------- the zygote: forked runs


def submissions() -> dict[str, bytes]:
    """The answer key, a one-bug mutant, a submission that crashes, one that exits at import."""
    from mutants import SOLUTION, by_name

    return {"key": SOLUTION.read_bytes(),
            "mutant": by_name("sigmoid_grad_of_preactivation").apply(SOLUTION.read_text()).encode(),
            "crash": (KIT / "submissions" / "carol-crash" / "exercise02_template.py").read_bytes(),
            "exits": SOLUTION.read_bytes() + b"\nimport os\nos._exit(3)\n"}  # fmt: skip


def verdicts(outcome: tuple) -> tuple:
    """What a grade rests on: the run's status and each test's outcome, points and message (not seconds)."""
    data, status, reason, _log, _seconds = outcome
    tests = [(t["id"], t["outcome"], t["points"], t["earned"], t["message"]) for t in (data or {}).get("tests", [])]
    return status, reason, tests


def compare_both_ways(suite: Path, backend) -> dict:
    from grader.grading.runner import Runner

    spawned, forked = Runner(KIT, suite, budget=300, backend=backend, fork=False), Runner(KIT, suite, budget=300, backend=backend)
    seen = {}
    try:
        for name, code in submissions().items():  # interleaved: the same machine state for both ways
            seen[name] = [verdicts(runner.run("exercise02.py", code, 1234)) for runner in (spawned, forked)]
        assert forked._zygote is not None and forked._zygote.alive() and spawned._zygote is None
    finally:
        forked.close()
    return seen


def test_forked_runs_grade_as_spawned_runs_with_the_stand_in_suite():
    """Do the answer key, a mutant, a crash and an exit at import get test by test the same outcome, points and
    message whether each run is spawned or forked from the zygote (the stand-in suite, in-process)?"""
    seen = compare_both_ways(STANDIN, "in-process")
    for name, (spawned, forked) in seen.items():
        assert spawned == forked, name
    assert [t[3] for t in seen["key"][0][2]] == [t[2] for t in seen["key"][0][2]]  # full marks
    assert 0 < sum(t[3] for t in seen["mutant"][0][2]) < sum(t[2] for t in seen["mutant"][0][2])
    assert seen["exits"][0][0] == "crashed"


def test_forked_runs_grade_as_spawned_runs_with_the_hidden_suite(bwrap_sandbox):
    """The same with the hidden suite, sandboxed: the grader's real runs."""
    seen = compare_both_ways(KIT / "tests" / "hidden", None)
    for name, (spawned, forked) in seen.items():
        assert spawned == forked, name
    assert all(t[3] == t[2] for t in seen["key"][0][2]) and seen["key"][0][0] == "graded"
    assert any(t[3] < t[2] for t in seen["mutant"][0][2])


def held(gate, name: str) -> bytes:
    return gate.holding(name).encode()


def run_in_thread(runner, code: bytes) -> tuple[threading.Thread, list]:
    outcome = []
    thread = threading.Thread(target=lambda: outcome.append(runner.run("exercise02.py", code, 1)), daemon=True)
    thread.start()
    return thread, outcome


@pytest.fixture
def gate(tmp_path, monkeypatch) -> Gate:
    """Runs of a submission written by `gate.holding(NAME)` wait before their first test until released."""
    held = Gate(tmp_path / "gate")
    monkeypatch.setenv(Gate.ENV, str(held.folder))
    return held


@pytest.fixture
def runner():
    """A runner of the stand-in suite (in-process) that forks its runs; its zygote ends with the test."""
    from grader.grading.runner import Runner

    made = Runner(KIT, STANDIN, budget=300, backend="in-process")
    yield made
    made.close()


def test_the_budget_kills_a_forked_run_and_the_zygote_serves_the_next(gate, runner):
    """Does a forked run held past the wall budget end as a timeout with its process gone, and the next run fork?"""
    runner.budget = 3
    data, status, reason, log, _ = runner.run("exercise02.py", held(gate, "over"), 1)
    pid = gate.started("over")
    assert (data, status) == (None, "timeout") and "wall budget of 3 s" in reason and "[grader]" not in log
    wait_until(lambda: gone(pid), 30, "the forked run killed at its budget is gone")
    again = runner.run("exercise02.py", (KIT / "solutions" / "exercise02.py").read_bytes(), 1)
    assert again[1] == "graded" and "[grader]" not in again[3]


def test_stop_kills_a_forked_run(gate, runner):
    """Does stop() (Ctrl-C) kill a forked run in progress at once, leaving no process of it?"""
    thread, outcome = run_in_thread(runner, held(gate, "stopped"))
    pid = wait_until(lambda: gate.started("stopped"), 60, "the held run started")
    assert os.getppid() != pid and Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1] == str(runner._zygote.pid)
    runner.stop()
    thread.join(60)
    assert outcome and outcome[0][1] == "crashed" and not thread.is_alive()
    wait_until(lambda: gone(pid), 30, "the stopped run is gone")


def test_stop_the_moment_a_run_is_forked_kills_it(gate, runner, monkeypatch):
    """Does stop() coming just after the zygote answered a run's pid (its child not yet in a group of its own)
    end that run at once, instead of letting it run to its end?"""
    from grader.grading.zygote import Zygote

    forked = Zygote.fork

    def fork_then_stop(zygote, *args):
        run = forked(zygote, *args)
        runner.stop()
        return run

    monkeypatch.setattr(Zygote, "fork", fork_then_stop)
    thread, outcome = run_in_thread(runner, held(gate, "early"))
    thread.join(60)
    assert not thread.is_alive() and outcome[0][1] == "crashed" and gate.started("early") is None


def test_a_zygote_that_cannot_start_leaves_the_runs_to_the_plain_spawn(tmp_path, monkeypatch):
    """When the zygote cannot start, is each run spawned as before with a line in its log, and after
    ZYGOTE_STARTS failures is it no longer tried?"""
    from grader.grading import runner as runner_module
    from grader.grading.zygote import Zygote

    class Elsewhere(Zygote):  # started where the kit is not importable: its import of grader fails (-I -S: no
        def __init__(self, launch, cwd, env):  # site, so no installed kit; no current folder on sys.path)
            super().__init__([sys.executable, "-I", "-S"], tmp_path, env)

    monkeypatch.setattr(runner_module, "Zygote", Elsewhere)
    runner = runner_module.Runner(KIT, STANDIN, budget=300, backend="in-process")
    code = (KIT / "solutions" / "exercise02.py").read_bytes()
    logs = []
    for _ in range(runner_module.ZYGOTE_STARTS + 1):
        data, status, reason, log, _ = runner.run("exercise02.py", code, 1)
        assert status == "graded" and all(t["outcome"] == "passed" for t in data["tests"])
        logs.append(log)
    assert all("did not start" in log and "No module named 'grader'" in log for log in logs[:-1])
    assert "is not started again" in logs[-1] and all("started the plain way instead" in log for log in logs)


def test_a_zygote_killed_mid_run_has_the_run_started_again_plainly(gate, runner):
    """When the zygote dies during a run (its child dies with it), is the run started again the plain way,
    graded, with a line in its log; and does the next run get a new zygote?"""
    thread, outcome = run_in_thread(runner, held(gate, "orphan"))
    pid = wait_until(lambda: gate.started("orphan"), 60, "the held run started")
    first = runner._zygote.pid
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: gone(pid), 30, "the forked run died with its zygote")
    gate.release("orphan")
    thread.join(120)
    data, status, _, log, _ = outcome[0]
    assert status == "graded" and "the zygote ended during the run" in log and "plain way" in log
    again = runner.run("exercise02.py", (KIT / "solutions" / "exercise02.py").read_bytes(), 1)
    assert again[1] == "graded" and "[grader]" not in again[3] and runner._zygote.pid != first


def test_a_zygote_that_does_not_answer_is_replaced(runner, monkeypatch):
    """When the zygote runs but does not answer a run (stopped, stuck), is that run started the plain way and the
    zygote ended and replaced, instead of every later run waiting for it in turn?"""
    from grader.grading import zygote as zygote_module

    code = (KIT / "solutions" / "exercise02.py").read_bytes()
    assert runner.run("exercise02.py", code, 1)[1] == "graded"
    stuck = runner._zygote.pid
    monkeypatch.setattr(zygote_module, "REPLY_SECONDS", 1.0)
    os.kill(stuck, signal.SIGSTOP)
    try:
        first = runner.run("exercise02.py", code, 1)
        assert first[1] == "graded" and "did not answer the run within 1 s" in first[3] and "plain way" in first[3]
        wait_until(lambda: gone(stuck), 30, "the zygote that did not answer was ended")
        again = runner.run("exercise02.py", code, 1)
        assert again[1] == "graded" and "[grader]" not in again[3] and runner._zygote.pid != stuck
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(stuck, signal.SIGCONT)


def test_close_ends_the_zygote(runner):
    """Does Runner.close() end its zygote, so that a finished class leaves no process behind?"""
    assert runner.run("exercise02.py", (KIT / "solutions" / "exercise02.py").read_bytes(), 1)[1] == "graded"
    zygote = runner._zygote.pid
    runner.close()
    assert gone(zygote) and runner._zygote is None


class Clock:
    """The runner's clock, moved on by the test: what a run has used of its budget, without waiting for it."""

    def __init__(self):
        import time

        self.real, self.skipped = time.monotonic, 0.0

    def monotonic(self) -> float:
        return self.real() + self.skipped


def test_a_run_started_again_after_its_zygote_died_gets_only_what_is_left_of_its_budget(gate, runner, monkeypatch):
    """When the zygote dies under a run that has used all but 8 s of its wall budget, is the run started again
    the plain way held to those 8 s (a timeout, its process gone), not given a whole budget again?"""
    from grader.grading import runner as runner_module

    clock = Clock()
    monkeypatch.setattr(runner_module, "time", clock)
    thread, outcome = run_in_thread(runner, held(gate, "late"))
    forked = wait_until(lambda: gate.started("late"), 60, "the held run started")
    clock.skipped = runner.budget - 8
    os.kill(runner._zygote.pid, signal.SIGKILL)
    try:
        again = wait_until(lambda: gate.started("late") not in (None, forked) and gate.started("late"), 60,
                           "the run was started again the plain way")  # fmt: skip
        thread.join(60)  # never released: only the budget left ends it
        assert not thread.is_alive(), "the run started again got more than what was left of its budget"
    finally:
        gate.release("late")
        thread.join(60)
    data, status, reason, log, _ = outcome[0]
    assert (data, status) == (None, "timeout") and f"wall budget of {runner.budget:g} s" in reason
    assert "the zygote ended during the run" in log and "s left of its wall budget" in log
    wait_until(lambda: gone(again), 30, "the run started again was killed at the budget left")


def test_a_run_whose_budget_is_used_up_when_its_zygote_dies_is_not_started_again(gate, runner, monkeypatch):
    """When the zygote dies under a run that has used its whole wall budget, is the run a timeout at once,
    without a second start?"""
    from grader.grading import runner as runner_module

    clock = Clock()
    monkeypatch.setattr(runner_module, "time", clock)
    thread, outcome = run_in_thread(runner, held(gate, "spent"))
    forked = wait_until(lambda: gate.started("spent"), 60, "the held run started")
    clock.skipped = runner.budget + 1
    os.kill(runner._zygote.pid, signal.SIGKILL)
    try:
        thread.join(60)
        assert not thread.is_alive(), "the run was started again with a budget of its own"
    finally:
        gate.release("spent")
        thread.join(60)
    data, status, reason, log, _ = outcome[0]
    assert (data, status) == (None, "timeout") and "nothing was left of its wall budget" in log
    assert gate.started("spent") == forked  # no second start reached the gate


PROBE = '''
import json as _json, locale as _locale, os as _os, resource as _resource
with open(_os.environ["PROBE_OUT"], "w") as _out:
    _status = open("/proc/self/status").read().splitlines()
    _json.dump({"ctype": _locale.setlocale(_locale.LC_CTYPE), "nofile": _resource.getrlimit(_resource.RLIMIT_NOFILE),
                "umask": next(line.split()[1] for line in _status if line.startswith("Umask:")),
                "nice": _os.getpriority(_os.PRIO_PROCESS, 0)}, _out)
'''


def test_a_run_whose_start_up_settings_changed_sees_its_own(runner, tmp_path, monkeypatch):
    """When the grader's locale, umask, a resource limit and its thread's nice value change after its zygote
    started, does a run see its own, as a spawned run does (not the zygote's, which a fork would keep), and does
    its log say why it was not forked?"""
    import json
    import resource

    from grader.grading.runner import Runner

    code = (KIT / "solutions" / "exercise02.py").read_bytes() + PROBE.encode()
    monkeypatch.setenv("PROBE_OUT", str(tmp_path / "zygote.json"))
    assert runner.run("exercise02.py", code, 1)[1] == "graded"  # the zygote starts with the settings of now
    before = json.loads((tmp_path / "zygote.json").read_text())
    spawned = Runner(KIT, STANDIN, budget=300, backend="in-process", fork=False)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    mask = os.umask(0o027)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft - 1, hard))
    monkeypatch.setenv("LC_ALL", "C")
    seen = {}
    try:
        for name, way in (("forked", runner), ("spawned", spawned)):
            monkeypatch.setenv("PROBE_OUT", str(tmp_path / f"{name}.json"))
            done = []

            def nicer_run(way=way, done=done):  # a thread's nice value is its own (Linux): raised for this run only
                os.setpriority(os.PRIO_PROCESS, 0, os.getpriority(os.PRIO_PROCESS, 0) + 1)
                done.append(way.run("exercise02.py", code, 1))

            thread = threading.Thread(target=nicer_run)
            thread.start()
            thread.join(120)
            seen[name] = (json.loads((tmp_path / f"{name}.json").read_text()), done[0][1], done[0][3])
    finally:
        os.umask(mask)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert seen["spawned"][0] == {"ctype": "C", "nofile": [soft - 1, hard], "umask": "0027", "nice": before["nice"] + 1}
    assert seen["forked"][0] == seen["spawned"][0] and seen["forked"][1] == seen["spawned"][1] == "graded"
    log = seen["forked"][2]
    assert "start-up settings LC_ALL, RLIMIT_NOFILE, nice, umask differ from the zygote's" in log and "plain way" in log
