"""Staging folders (grader/sandbox/staging.py): nothing left after a signal, dead runs swept, live runs kept.

Each scenario runs in a child process with a TMPDIR of the test's own (other graders share /tmp) and
talks to it over its stdin/stdout: it prints the folders it made and then waits for a line.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

KIT = Path(__file__).resolve().parents[2]

MAKER = """
import sys
from grader.sandbox import staging
print(staging.make("exercise02-sandbox-"), flush=True)
sys.stdin.readline()
"""

# The real owner: a SandboxStudent that has run a call (its worker and private copy exist).
STUDENT = """
import sys
from grader.sandbox import SandboxStudent
student = SandboxStudent(sys.argv[1])
assert student.relu(1.0) == 1.0
print(student._private, flush=True)
sys.stdin.readline()
"""


def start(code: str, tmp: Path, *args: str) -> tuple[subprocess.Popen, Path]:
    """A child running `code` with TMPDIR=tmp; returns it and the folder it made (once it said so)."""
    env = {**os.environ, "TMPDIR": str(tmp), "PYTHONDONTWRITEBYTECODE": "1"}
    # SIGINT as a terminal gives it: a run started in the background of a shell without job control inherits
    # it ignored, and Python then never raises KeyboardInterrupt
    child = subprocess.Popen([sys.executable, "-c", code, *args], cwd=KIT, env=env, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    line = child.stdout.readline().strip()
    assert line, f"the child made no folder (exit {child.wait(30)})"
    folder = Path(line)
    assert folder.is_dir() and folder.parent == tmp
    return child, folder


def end(child: subprocess.Popen, how: signal.Signals | None = None) -> int:
    """Let the child finish (or send it `how`); its exit status."""
    if how is not None:
        child.send_signal(how)
    child.stdin.close()
    status = child.wait(60)
    child.stdout.close()
    return status


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_leaves_no_staging_folder(tmp_path, how):
    """Is the folder removed when its process is stopped by SIGTERM or SIGINT (and the process still ends)?"""
    child, folder = start(MAKER, tmp_path)
    status = end(child, how)
    assert status != 0  # it was stopped, not finished
    assert not folder.exists(), f"{folder} survived {how.name}"


def test_a_dead_runs_folder_is_swept_and_a_live_runs_kept(tmp_path):
    """After a SIGKILL the folder stays; the next start removes it, but never a folder a live process owns?"""
    dead, dead_folder = start(MAKER, tmp_path)
    end(dead, signal.SIGKILL)
    assert dead_folder.is_dir()  # SIGKILL: no handler could run
    live, live_folder = start(MAKER, tmp_path)
    legacy = tmp_path / "exercise02-sandbox-legacy"  # no owner lock (an older kit): not provably dead
    legacy.mkdir()
    assert not dead_folder.exists(), "the dead run's folder was not swept at the next start"
    assert live_folder.is_dir() and legacy.is_dir()
    again, again_folder = start(MAKER, tmp_path)  # a third start sweeps too, and keeps the live one
    assert live_folder.is_dir()
    assert end(again) == 0 and end(live) == 0
    assert not live_folder.exists() and not again_folder.exists()  # removed at a normal exit


@pytest.mark.usefixtures("bwrap_sandbox")
def test_sigterm_during_a_sandboxed_run_leaves_no_copy(tmp_path):
    """Stopping a process that holds a sandboxed submission (worker running) leaves no copy of it behind?"""
    child, folder = start(STUDENT, tmp_path, str(KIT / "solutions" / "exercise02.py"))
    assert (folder / "sub" / "exercise02.py").is_file()
    assert end(child, signal.SIGTERM) == -signal.SIGTERM
    assert list(tmp_path.iterdir()) == [], f"left behind: {list(tmp_path.iterdir())}"


FORKER = """
import os, signal, sys
from grader.sandbox import staging
folder = staging.make("exercise02-sandbox-")
pid = os.fork()
if pid == 0:  # a forked child ends the ways a pool worker does: a normal exit, then (in a second child) SIGTERM
    sys.exit(0)
os.waitpid(pid, 0)
pid = os.fork()
if pid == 0:
    os.kill(os.getpid(), signal.SIGTERM)
    os._exit(3)
_, status = os.waitpid(pid, 0)
print(folder, flush=True)
print(os.path.isdir(folder), os.WIFSIGNALED(status), flush=True)
sys.stdin.readline()
"""


def test_a_forked_child_never_removes_its_parents_folder(tmp_path):
    """Does a forked child that exits, or is ended by SIGTERM, leave its parent's staging folder in place?"""
    child, folder = start(FORKER, tmp_path)
    assert child.stdout.readline().split() == ["True", "True"], "a forked child removed its parent's folder"
    assert end(child) == 0
    assert not folder.exists(), "the parent did not remove its own folder when it ended"


DIES_WHILE_REMOVING = """
import os, sys
from grader.sandbox import staging
folder = staging.make("exercise02-sandbox-")
for name in ("a", "b", "c"):
    open(os.path.join(folder, name), "w").close()
os.mkdir(os.path.join(folder, "d"))
open(os.path.join(folder, "d", "e"), "w").close()
left = int(sys.argv[1])

def dying(real):
    def call(*args, **kwargs):
        global left
        if left == 0:
            os._exit(0)  # killed half-way through the removal: no atexit, no cleanup
        left -= 1
        return real(*args, **kwargs)
    return call

os.unlink, os.rmdir, os.rename = dying(os.unlink), dying(os.rmdir), dying(os.rename)
print(folder, flush=True)
staging.remove(folder)
"""


@pytest.mark.parametrize("deletions", range(9))
def test_a_removal_cut_short_leaves_what_a_sweep_finishes(tmp_path, deletions):
    """When the process dies after any number of the deletions of `remove` (a SIGTERM while a pool thread removes a
    finished run's folder), does the folder keep its OWNER until the end, so the next sweep removes what is left?"""
    env = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1"}
    child = subprocess.run([sys.executable, "-c", DIES_WHILE_REMOVING, str(deletions)], cwd=KIT, env=env,
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert child.returncode == 0, child.stderr[-2000:]
    assert Path(child.stdout.strip()).parent == tmp_path  # the folder it made (and the only thing there)
    from grader.sandbox import staging

    staging.sweep("exercise02-sandbox-", folder=str(tmp_path))
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    assert not left, f"left after the sweep: {left}"


def test_a_sweep_leaves_an_empty_folder_it_did_not_make(tmp_path):
    """Does a sweep leave alone an empty folder whose name merely starts with the prefix (a tutor's /tmp/grader-out,
    made an hour ago), while it removes an empty one that a removal cut short left (named <name>.removing)?"""
    from grader.sandbox import staging

    theirs, cut = tmp_path / "grader-out", tmp_path / "grader-k2j4x_9q.removing"
    for folder in (theirs, cut):
        folder.mkdir()
        os.utime(folder, (time.time() - 3600,) * 2)
    assert staging.sweep("grader-", folder=str(tmp_path)) == [str(cut)]
    assert theirs.is_dir() and not cut.exists()
