"""A worker dies with its host (grader/sandbox/worker.py, "Dying with its host"; boot.py `arm_life`).

The host (the trusted pytest run) can be killed at any moment: by the grader's budget, by SIGTERM to
`grader grade`, or by the zygote's end. bwrap's --die-with-parent chain has a gap while the sandbox is being
set up (its PID-namespace init ties itself to its parent only after the mounts), and the "process"
fallback has no tie at all; a submission that sleeps at import then ran on as an orphan of a slot uid.
The life pipe closes that class: these tests kill or close the host's end while the submission sleeps
and look for any process left.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from poll import gone, wait_until

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from grader.sandbox import staging  # noqa: E402
from grader.sandbox.host import copy_submission  # noqa: E402
from grader.sandbox.layout import nested_userns, probe  # noqa: E402
from grader.sandbox.slot import Slot, tasks_of_uid  # noqa: E402
from grader.sandbox.worker import Output, Spec, Worker  # noqa: E402

ASLEEP_AT_IMPORT = "print('asleep', flush=True)\nimport time\ntime.sleep(300)\n"


@pytest.fixture
def private():
    folder = staging.make("exercise02-life-test-")
    yield folder
    staging.remove(folder)


def test_closing_the_host_end_kills_a_sandboxed_worker_asleep_at_import(tmp_path, private, bwrap_sandbox):
    """With the host alive and nothing killed by it, does closing the life pipe's write end end every process of
    the worker (all of the slot uid's, and bwrap) while the submission sleeps in its import?"""
    path = tmp_path / "exercise02.py"
    path.write_text(ASLEEP_AT_IMPORT)
    slot = Slot()
    mode, _ = probe()
    spec = Spec(mode=mode, nested=nested_userns(), slot_uid=slot.uid, sub_dir=copy_submission(path, private),
                file_name=path.name, private=private, memory_mb=1024, cpu_seconds=60)
    worker = Worker(1, Output())
    try:
        worker.start(spec)
        said = []
        wait_until(lambda: said.append(worker.output.take(worker)) or "asleep" in "".join(said), 60, "the import's print")
        assert tasks_of_uid(slot.uid) if slot.uid is not None else worker.tasks(), "no worker process is running"
        os.close(worker.life_w)
        worker.life_w = None
        assert wait_until(lambda: worker.process.poll() is not None, 20, "bwrap's exit") is True
        if slot.uid is not None:
            assert wait_until(lambda: not tasks_of_uid(slot.uid), 20, "no process of the slot uid"), tasks_of_uid(slot.uid)
    finally:
        worker.stop(slot.uid)
        slot.release()


HOST = """
import json, sys
sys.path.insert(0, sys.argv[1])
from grader.sandbox import layout
layout._probed = ("process", "forced by the test", False)
from grader.sandbox.client import SandboxStudent
student = SandboxStudent(sys.argv[2], import_timeout=60.0, call_timeout=600.0, idle_call=600.0, idle_total=600.0)
print(json.dumps({"pid": student._host.ensure().process.pid}), flush=True)
student.call("nap", 300, sys.argv[3])
"""


def test_a_worker_outside_bwrap_dies_when_its_host_is_killed(tmp_path):
    """In the "process" fallback (no PID namespace, no --die-with-parent), does SIGKILL of the host (a process
    that runs a SandboxStudent) end the worker while the submission sleeps in a call, rather than leave it
    running as an orphan?"""
    path = tmp_path / "exercise02.py"
    path.write_text("import time\nfrom pathlib import Path\n\n"
                    "def nap(seconds, marker):\n    Path(marker).write_text('napping')\n    time.sleep(seconds)\n")
    shared = Path(tempfile.mkdtemp(prefix="exercise02-life-test-"))  # the worker may run as a slot uid
    shared.chmod(0o777)
    marker = shared / "napping"
    env = {**os.environ, "EXERCISE02_UNSANDBOXED": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    host = subprocess.Popen([sys.executable, "-c", HOST, str(ROOT), str(path), str(marker)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
    pid = None
    try:
        line = host.stdout.readline()
        assert line, f"the host ended before its worker started:\n{host.stderr.read()[-2000:]}"
        pid = json.loads(line)["pid"]
        wait_until(lambda: marker.exists() or host.poll() is not None, 60, "the submission asleep in its call")
        assert host.poll() is None and not gone(pid), host.stderr.read()[-2000:] if host.poll() is not None else ""
        host.kill()
        host.wait(30)
        assert wait_until(lambda: gone(pid), 20, f"the worker {pid} gone after its host was killed")
    finally:
        if host.poll() is None:
            host.kill()
        host.communicate()
        if pid is not None and not gone(pid):
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(shared, ignore_errors=True)
