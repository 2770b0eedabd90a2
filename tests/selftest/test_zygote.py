"""The zygote (grader/grading/zygote.py): a forked run is what a spawned one is, and dies as one does."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from classroom import KIT
from poll import gone, wait_until

# What a run's pytest process sees of itself, written by a probe test to $PROBE_OUT (then one test fails).
PROBE = '''
import gc, json, os, signal, sys, tempfile, threading

def test_probe():
    def handler(number):
        value = signal.getsignal(number)
        return value if isinstance(value, int) else getattr(value, "__name__", "python")
    facts = {
        "env": dict(os.environ), "cwd": os.getcwd(), "argv": sys.argv, "path0": sys.path[0],
        "fds": sorted(int(fd) for fd in os.listdir("/proc/self/fd")), "session": os.getsid(0) == os.getpid(),
        "group": os.getpgid(0) == os.getpid(), "tmp": tempfile.gettempdir(), "flags": list(sys.flags),
        "hash": hash("zygote"), "tty": [sys.stdin.isatty(), sys.stdout.isatty(), sys.stderr.isatty()],
        "stdin": os.path.realpath("/proc/self/fd/0"), "threads": threading.active_count(),
        "signals": {n: handler(getattr(signal, n)) for n in ("SIGINT", "SIGTERM", "SIGCHLD", "SIGPIPE", "SIGALRM")},
        "blocked": sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, [])),
        "write_bytecode": sys.dont_write_bytecode, "gc": [gc.isenabled(), gc.get_threshold()],
    }
    with open(os.environ["PROBE_OUT"], "w") as out:
        json.dump(facts, out)
    print("probe written")

def test_fails():
    assert False, "one failure: exit status 1"
'''

HOLD = '''
import os, threading, time

def test_hold():
    partial = os.environ["HOLD_STARTED"] + ".partial"  # written whole, then renamed: never read half-written
    with open(partial, "w") as handle:
        handle.write(str(os.getpid()))
    os.replace(partial, os.environ["HOLD_STARTED"])
    deadline, pause = time.monotonic() + 120, threading.Event()
    while not os.path.exists(os.environ["HOLD_RELEASE"]) and time.monotonic() < deadline:
        pause.wait(0.05)
'''


def base_env(**extra) -> dict:
    from grader.grading.runner import RUN_ENV

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHON"))}
    return {**env, **RUN_ENV, **extra}


def launch() -> list[str]:
    from grader.grading.runner import LAUNCHER

    return [sys.executable, "-I", "-S", "-c", LAUNCHER, str(os.getpid())]


@pytest.fixture
def zygote():
    from grader.grading.zygote import Zygote

    started = Zygote(launch(), KIT, base_env(ZYGOTE_ONLY="1"))  # not in any run's environment: never seen by one
    started.start()
    yield started
    started.close()



def finish(run) -> None:
    run.release()
    run.stdout.close()


def hold(tmp_path: Path) -> tuple[list[str], dict]:
    (tmp_path / "test_hold.py").write_text(textwrap.dedent(HOLD))
    env = base_env(HOLD_STARTED=str(tmp_path / "started"), HOLD_RELEASE=str(tmp_path / "release"))
    return [str(tmp_path / "test_hold.py"), "--rootdir", str(tmp_path), "-p", "no:cacheprovider", "-q"], env


def test_the_zygote_is_one_thread_and_holds_the_libraries_not_the_suite(zygote):
    """Is the zygote single-threaded (so forking it is sound), with pytest loaded and no conftest of the kit?"""
    assert os.listdir(f"/proc/{zygote.pid}/task") == [str(zygote.pid)]
    maps = Path(f"/proc/{zygote.pid}/maps").read_text()
    assert "numpy" in maps  # its compiled core is mapped: numpy was imported once, here
    assert os.getsid(zygote.pid) == zygote.pid  # a session of its own: Ctrl-C on the terminal is the grader's


def test_a_forked_run_sees_what_a_spawned_run_sees(zygote, tmp_path):
    """Do a spawned and a forked pytest process see the same environment, folder, argv, descriptors, session,
    flags, hashing, signals and temporary folder, and end with the same status and output?"""
    (tmp_path / "test_probe.py").write_text(textwrap.dedent(PROBE))
    args = [str(tmp_path / "test_probe.py"), "--rootdir", str(tmp_path), "-p", "no:cacheprovider", "-q"]
    from grader.grading.zygote import spawn_command

    seen = {}
    for way in ("plain", "spawn", "fork"):  # `python -m pytest`, the runner's spawn, a fork
        env = base_env(PROBE_OUT=str(tmp_path / f"{way}.json"), TMPDIR=str(tmp_path))
        if way != "fork":
            command = [*launch(), "-m", "pytest", *args] if way == "plain" else spawn_command(launch(), args)
            done = subprocess.run(command, cwd=KIT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
            status, output = done.returncode, done.stdout
        else:
            run = zygote.fork(args, env, KIT)
            output, status = run.stdout.read(), run.wait(60)
            finish(run)
        facts = json.loads((tmp_path / f"{way}.json").read_text())
        facts["env"].pop("PROBE_OUT")
        seen[way] = (status, output.decode().replace(f"{way}.json", "").split("in ")[0], facts)
    assert seen["plain"][0] == seen["spawn"][0] == seen["fork"][0] == 1
    assert seen["plain"][1] == seen["spawn"][1] == seen["fork"][1] and "1 failed, 1 passed" in seen["fork"][1]
    spawned, forked = seen["spawn"][2], seen["fork"][2]
    assert spawned["tmp"] == str(tmp_path) and spawned["session"] and spawned["group"]
    assert {k: v for k, v in forked.items()} == spawned == seen["plain"][2]


def test_two_forks_draw_different_legacy_random_numbers(zygote, tmp_path):
    """Is numpy's global generator seeded afresh in each child, as in a fresh process (not copied from the zygote)?"""
    (tmp_path / "test_draw.py").write_text("import numpy as np, os\n\ndef test_draw():\n"
                                           "    open(os.environ['DRAW_OUT'], 'w').write(repr(np.random.random()))\n")
    drawn = []
    for number in range(2):
        env = base_env(DRAW_OUT=str(tmp_path / f"{number}.txt"))
        run = zygote.fork([str(tmp_path / "test_draw.py"), "--rootdir", str(tmp_path), "-p", "no:cacheprovider"],
                          env, KIT)  # fmt: skip
        run.stdout.read()
        assert run.wait(60) == 0
        finish(run)
        drawn.append((tmp_path / f"{number}.txt").read_text())
    assert drawn[0] != drawn[1]


def test_a_killed_group_reports_the_signal_and_the_pid_stays_the_childs_until_released(zygote, tmp_path):
    """Killed by its group (as the budget and stop() do), does the run report -9, and is its pid not reaped
    (so not reusable) until the grader closes the run?"""
    args, env = hold(tmp_path)
    run = zygote.fork(args, env, KIT)
    wait_until(lambda: (tmp_path / "started").exists(), 60, "the held test started")
    assert int((tmp_path / "started").read_text()) == run.pid and os.getpgid(run.pid) == run.pid
    with pytest.raises(subprocess.TimeoutExpired):
        run.wait(0.1)
    os.killpg(run.pid, signal.SIGKILL)
    assert run.wait(30) == -signal.SIGKILL
    assert Path(f"/proc/{run.pid}").exists(), "reaped before the grader released it"
    finish(run)
    wait_until(lambda: not Path(f"/proc/{run.pid}").exists(), 30, "the zygote reaped the released child")


def test_a_run_killed_the_moment_it_is_forked_is_killed(zygote, tmp_path):
    """Killed as soon as its pid is known (before the child made its own session, where killpg finds no
    group: stop() or a budget at that moment), does the run end without reaching its test?"""
    args, env = hold(tmp_path)
    for _ in range(3):
        run = zygote.fork(args, env, KIT)
        run.kill()
        assert run.wait(30) == -signal.SIGKILL
        finish(run)
    assert not (tmp_path / "started").exists()


def test_a_run_released_while_running_is_killed(zygote, tmp_path):
    """Does closing a run that still runs (the grader gave up on it) kill its process group?"""
    args, env = hold(tmp_path)
    run = zygote.fork(args, env, KIT)
    wait_until(lambda: (tmp_path / "started").exists(), 60, "the held test started")
    finish(run)
    wait_until(lambda: gone(run.pid), 30, "the released child was killed")


def test_close_kills_the_children_and_ends_the_zygote(zygote, tmp_path):
    """Does closing the zygote kill a child still running, reap it and end the zygote?"""
    args, env = hold(tmp_path)
    run = zygote.fork(args, env, KIT)
    wait_until(lambda: (tmp_path / "started").exists(), 60, "the held test started")
    zygote.close()
    assert zygote.process.returncode == 0 and gone(run.pid)
    from grader.grading.zygote import ZygoteError

    with pytest.raises(ZygoteError, match="zygote ended during the run"):
        run.wait(10)
    finish(run)
    with pytest.raises(ZygoteError, match="not running"):
        zygote.fork(args, env, KIT)


def test_a_killed_zygote_takes_its_children_and_its_runs_say_so(zygote, tmp_path):
    """When the zygote is SIGKILLed, does its child die with it and does the run's wait say the zygote ended?"""
    from grader.grading.zygote import ZygoteError

    args, env = hold(tmp_path)
    run = zygote.fork(args, env, KIT)
    wait_until(lambda: (tmp_path / "started").exists(), 60, "the held test started")
    os.kill(zygote.pid, signal.SIGKILL)
    with pytest.raises(ZygoteError, match="ended during the run"):
        run.wait(30)
    wait_until(lambda: gone(run.pid), 30, "the child died with the zygote (PR_SET_PDEATHSIG)")
    finish(run)


GRADER = '''
import os, sys, threading
sys.path.insert(0, {kit!r})
from grader.grading.zygote import Zygote
zygote = Zygote({launch!r}[:-1] + [str(os.getpid())], {kit!r}, {env!r})
zygote.start()
run = zygote.fork({args!r}, {env!r}, {kit!r})
print(zygote.pid, run.pid, flush=True)
threading.Event().wait(120)
'''


def test_a_sigkilled_grader_leaves_no_zygote_and_no_run(tmp_path):
    """When the process that started the zygote is SIGKILLed mid-run, do the zygote and its run die too?"""
    args, env = hold(tmp_path)
    script = GRADER.format(kit=str(KIT), launch=launch(), env=env, args=args)
    grader = subprocess.Popen([sys.executable, "-c", script], cwd=KIT, stdout=subprocess.PIPE, text=True)
    zygote_pid, run_pid = map(int, grader.stdout.readline().split())
    wait_until(lambda: (tmp_path / "started").exists(), 60, "the held test started")
    grader.kill()
    grader.wait()
    grader.stdout.close()
    wait_until(lambda: gone(zygote_pid) and gone(run_pid), 30, "the zygote and its run died with the grader")


def test_a_zygote_that_cannot_import_says_why(tmp_path):
    """Started where the kit is not importable, does start() fail with the zygote's own error text?"""
    from grader.grading.zygote import Zygote, ZygoteError

    # -I -S kept (no launcher, which would exec a full interpreter): no site, so no installed or editable kit,
    # and no current folder on sys.path: grader cannot be imported, wherever the kit is installed
    broken = Zygote([sys.executable, "-I", "-S"], tmp_path, base_env())
    with pytest.raises(ZygoteError, match="did not start .*No module named 'grader'"):
        broken.start()
    assert broken.process.returncode not in (None, 0)


SHADOW = '''
"""Stands for a numpy release that warns when it is imported (a DeprecationWarning), then hands over to numpy."""
import os, sys, warnings
warnings.warn("numpy.example is deprecated", DeprecationWarning)
_here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]
del sys.modules["numpy"]
import numpy  # the real one, which the import of this package then returns
'''


def test_a_warning_at_import_is_met_alike_forked_and_spawned(tmp_path):
    """A library the zygote imports warns when imported (as a later numpy may), and the suite's conftest imports it
    under pytest's `-W error::DeprecationWarning`: does the runner's spawned run end as the forked one does (same
    status, same output), rather than fail at the import the zygote made before pytest ran?"""
    from grader.grading.zygote import Zygote, spawn_command

    (tmp_path / "shadow" / "numpy").mkdir(parents=True)
    (tmp_path / "shadow" / "numpy" / "__init__.py").write_text(SHADOW)
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "conftest.py").write_text("import numpy\n")
    (suite / "test_one.py").write_text("def test_one():\n    assert True\n")
    env = base_env(PYTHONPATH=str(tmp_path / "shadow"))  # the zygote's and the runs' alike
    args = [str(suite), "-W", "error::DeprecationWarning", "--rootdir", str(suite), "-p", "no:cacheprovider", "-q"]
    zygote = Zygote(launch(), KIT, env)
    zygote.start()
    try:
        run = zygote.fork(args, env, KIT)
        output = run.stdout.read()
        forked = (run.wait(60), output.decode().split(" in ")[0])
        finish(run)
    finally:
        zygote.close()
    done = subprocess.run(spawn_command(launch(), args), cwd=KIT, env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    assert forked[0] == 0 and forked[1].endswith("\n1 passed"), forked
    assert (done.returncode, done.stdout.decode().split(" in ")[0]) == forked, done.stdout.decode()[-2000:]
