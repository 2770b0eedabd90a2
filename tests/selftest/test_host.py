"""WorkerHost (grader/sandbox/host.py) on its own: a composed object that needs only what it is given.

SandboxStudent builds one from explicit arguments (the worker's Spec, the submission's path, the limits);
these tests build one the same way without a SandboxStudent. The limits themselves (CPU, idle, wall,
deaths) are proven through the client in test_sandbox.py and the red team.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from grader.sandbox import protocol, staging  # noqa: E402
from grader.sandbox.host import WALL_EXTRA, WALL_FACTOR, WorkerHost, copy_submission  # noqa: E402
from grader.sandbox.layout import nested_userns, probe  # noqa: E402
from grader.sandbox.protocol import ImportFailed  # noqa: E402
from grader.sandbox.slot import Slot  # noqa: E402
from grader.sandbox.worker import Spec  # noqa: E402


def host_for(path: Path, private: str, slot_uid, **limits) -> WorkerHost:
    mode, reason = probe()
    spec = Spec(mode=mode, nested=nested_userns(), slot_uid=slot_uid, sub_dir=copy_submission(path, private),
                file_name=path.name, private=private, memory_mb=1024, cpu_seconds=60)
    options = {"import_timeout": 20.0, "wall_timeout": None, "idle_call": 5.0, "idle_total": 15.0, **limits}
    return WorkerHost(spec, path, reason, **options)


@pytest.fixture
def private():
    folder = staging.make("exercise02-host-test-")
    yield folder
    staging.remove(folder)


def test_a_missing_file_is_refused_at_every_call_without_a_worker(tmp_path, private):
    """Does a host given a file that does not exist refuse each call with 'submission file not found', never starting a worker?"""
    host = host_for(tmp_path / "absent.py", private, slot_uid=None)
    for _ in range(2):
        with pytest.raises(ImportFailed, match="submission file not found: .*absent.py"):
            host.ensure()
    assert host.generation == 0 and host.worker is None and os.listdir(os.path.join(private, "sub")) == []


@pytest.mark.parametrize("fixed", [None, 7.5])
def test_the_wall_backstop_follows_the_given_limit(tmp_path, private, fixed):
    """Is the wall-clock backstop WALL_FACTOR x the CPU limit + WALL_EXTRA, unless a fixed one is given?"""
    host = host_for(tmp_path / "a.py", private, None, wall_timeout=fixed)
    assert host.wall(2.0) == (fixed if fixed is not None else WALL_FACTOR * 2.0 + WALL_EXTRA)


def test_a_host_runs_and_stops_a_worker_on_its_own(tmp_path, private, bwrap_sandbox):
    """Does a host built from explicit arguments start a worker, answer a call, and stop it (a new generation after)?"""
    path = tmp_path / "exercise02.py"
    path.write_text("print('hello from the import')\n\ndef double(x):\n    return 2 * x\n")
    slot = Slot()
    host = host_for(path, private, slot.uid)
    try:
        worker = host.ensure()
        assert host.ensure() is worker and host.generation == 1
        tree, arrays = protocol.encode([[21], {}])
        message = protocol.pack({"op": "call", "name": "double", "id": 1, "args": tree}, arrays)
        reply, _ = host.exchange(worker, message, 10.0, "double", handle=None)
        assert reply["ok"] is True and reply["value"] == 42 and reply["id"] == 1
        assert "hello from the import" in host.take_output()
        host.stop()
        assert host.worker is None and host.stops == []
        assert host.ensure() is not worker and host.generation == 2
    finally:
        host.stop()
        slot.release()
