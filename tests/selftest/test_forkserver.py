"""The zygote process (grader/grading/forkserver.py): its kill, and a run started without a zygote.

Its loop and the forked child are driven through the grader's handle in test_zygote.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

from classroom import KIT
from poll import gone, wait_until

HOLD = "import sys; sys.stdin.read()"  # runs until its stdin closes


def test_kill_run_kills_a_child_that_has_no_group_yet():
    """A run killed before it made its own session (killpg finds no group of its pid): is the child killed alone?"""
    from grader.grading.forkserver import kill_run

    with subprocess.Popen([sys.executable, "-c", HOLD], stdin=subprocess.PIPE) as child:
        try:
            assert os.getpgid(child.pid) != child.pid
            kill_run(child.pid)
            assert child.wait(30) == -signal.SIGKILL
        finally:
            child.kill()


def test_kill_run_kills_the_whole_group_of_a_run():
    """A run in its own session: does kill_run end what the run started too (its process group)?"""
    from grader.grading.forkserver import kill_run

    starter = f"import subprocess, sys; c = subprocess.Popen([sys.executable, '-c', {HOLD!r}]); print(c.pid, flush=True); sys.stdin.read()"
    with subprocess.Popen([sys.executable, "-c", starter], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          start_new_session=True, text=True) as run:  # fmt: skip
        try:
            grandchild = int(run.stdout.readline())
            kill_run(run.pid)
            assert run.wait(30) == -signal.SIGKILL
            wait_until(lambda: gone(grandchild), 30, "the run's own child was killed with its group")
        finally:
            run.kill()


def test_a_spawned_run_imports_the_preload_first_and_freezes_it(tmp_path):
    """Does `-m grader.grading.forkserver --spawned ARGS` run pytest ARGS with PRELOAD already imported and
    frozen, and collection on, as a forked child starts?"""
    (tmp_path / "test_spawned.py").write_text(textwrap.dedent('''
        import gc, sys
        from grader.grading.forkserver import PRELOAD

        def test_preloaded():
            assert [name for name in PRELOAD if name not in sys.modules] == []
            assert gc.isenabled() and gc.get_freeze_count() > 0
    '''))
    done = subprocess.run([sys.executable, "-m", "grader.grading.forkserver", "--spawned", str(tmp_path / "test_spawned.py"),
                           "--rootdir", str(tmp_path), "-p", "no:cacheprovider", "-q"], cwd=KIT, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "1 passed" in done.stdout
