"""WorkerHost (grader/sandbox/host.py) on its own: a composed object that needs only what it is given.

SandboxStudent builds one from explicit arguments (the worker's Spec, the submission's path, the limits);
these tests build one the same way without a SandboxStudent. The limits themselves (CPU, idle, wall,
deaths) are proven through the client in test_sandbox.py and the red team.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from grader.sandbox import protocol, staging  # noqa: E402
from grader.sandbox.host import WALL_EXTRA, WALL_FACTOR, Outgoing, WorkerHost, copy_submission  # noqa: E402
from grader.sandbox.layout import nested_userns, probe  # noqa: E402
from grader.sandbox.protocol import CallTimeout, ImportFailed  # noqa: E402
from grader.sandbox.slot import Slot  # noqa: E402
from grader.sandbox import worker as worker_module  # noqa: E402
from grader.sandbox.worker import PIPE_BYTES, Spec  # noqa: E402


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


def test_the_import_message_bounds_and_escapes_what_the_worker_sent(tmp_path, private):
    """Is every part of the worker's import error that reaches the student's message (type, text, line number,
    frames) one bounded printable line, however the submission forged it?"""
    host = host_for(tmp_path / "exercise02.py", private, None)
    hostile = "\x1b[2J\n<script>" + "9" * 100_000
    for error in ({"type": "SyntaxError", "lineno": hostile, "message": hostile},
                  {"type": hostile, "message": hostile, "frames": [[hostile, hostile, hostile]]}):
        text = host._import_message(error)
        assert text.startswith("could not import exercise02.py: ") and len(text) < 1000, text[:200]
        assert "\x1b" not in text and "\n" not in text, text[:200]


SPINNER = """
import time

def double(x):
    return 2 * x

def spin(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass
    return seconds
"""


@pytest.fixture
def hosted(tmp_path, private, bwrap_sandbox):
    """A host of SPINNER on its own slot (no cgroup: Spec without a group), stopped after the test."""
    path = tmp_path / "exercise02.py"
    path.write_text(SPINNER)
    slot = Slot()
    made = []

    def make(**limits) -> WorkerHost:
        made.append(host_for(path, private, slot.uid, **limits))
        return made[-1]

    yield make
    for host in made:
        host.stop()
    slot.release()


def call(host: WorkerHost, name: str, value, limit: float = 10.0):
    """One call of the submission's `name`(value) through the host, as SandboxStudent makes it."""
    tree, arrays = protocol.encode([[value], {}])
    message = protocol.pack_parts({"op": "call", "name": name, "id": 1, "args": tree}, arrays)
    return host.exchange(host.ensure(), message, limit, name, handle=None)[0]["value"]


def test_the_request_and_reply_pipes_are_widened_and_a_refusal_keeps_the_default(hosted, monkeypatch):
    """Do a worker's request and reply pipes hold PIPE_BYTES (1 MiB, not the kernel's 64 KiB), is the request
    pipe non-blocking on our side, and does a worker whose pipes the kernel refuses to widen still answer?"""
    host = hosted()
    worker = host.ensure()
    sizes = [fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ) for fd in (worker.rpc_out, worker.rpc_in)]
    assert sizes == [PIPE_BYTES, PIPE_BYTES] and not os.get_blocking(worker.rpc_out)
    host.stop()
    real = fcntl.fcntl

    def refuse(fd, command, *args):
        if command == fcntl.F_SETPIPE_SZ:
            raise PermissionError(1, "Operation not permitted")  # the user's pipe pages are used up
        return real(fd, command, *args)

    monkeypatch.setattr(worker_module.fcntl, "fcntl", refuse)
    worker = host.ensure()
    monkeypatch.undo()
    assert fcntl.fcntl(worker.rpc_out, fcntl.F_GETPIPE_SZ) < PIPE_BYTES and call(host, "double", 21) == 42


def test_a_stopped_worker_keeps_no_descriptor_it_closed(hosted):
    """Once stopped, does a worker hold none of the descriptors it closed, so that a late kill() (the output
    reader's, on a flood) or a second stop() leaves alone what now has their numbers: another process's pidfd,
    another pipe?"""
    host = hosted()
    worker = host.ensure()
    numbers = [worker.pidfd, worker.rpc_out, worker.rpc_in, worker.life_w]
    assert None not in numbers, numbers  # bwrap mode: the PID-namespace init's pidfd is held too
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    ends = os.pipe()
    sources = [os.pidfd_open(bystander.pid), ends[0], ends[0], ends[0]]  # opened while the worker's numbers are taken
    taken = []
    try:
        host.stop()
        assert [worker.pidfd, worker.rpc_out, worker.rpc_in, worker.life_w] == [None] * 4
        taken = [os.dup2(source, number) for source, number in zip(sources, numbers)]  # reused, as by the next worker
        worker.kill()
        worker.stop(host.spec.slot_uid)
        assert bystander.poll() is None, f"the stopped worker's kill() signalled the bystander ({bystander.returncode})"
        for number in taken:
            os.fstat(number)  # OSError (EBADF) when the second stop() closed it
    finally:
        bystander.kill()
        bystander.wait()
        for fd in taken + sources[:1] + list(ends):
            with contextlib.suppress(OSError):
                os.close(fd)


def test_a_message_in_parts_arrives_as_the_joined_bytes():
    """Does write_message send pack_parts' buffers (arrays not joined first) as exactly the bytes pack makes?"""
    arrays = [np.arange(300_000, dtype=np.float32).reshape(600, 500), np.zeros(0), np.array([True])]
    tree, arrays = protocol.encode(arrays)
    expected = protocol.pack({"v": tree}, arrays)
    read_fd, write_fd = os.pipe()
    got = bytearray()
    reader = threading.Thread(target=lambda: got.extend(protocol.read_message(read_fd, len(expected))))
    reader.start()
    try:
        os.set_blocking(write_fd, False)
        protocol.write_message(write_fd, protocol.pack_parts({"v": tree}, arrays), time.monotonic() + 30)
        reader.join(30)
        assert bytes(got) == expected[8:]
    finally:
        os.close(write_fd)
        reader.join(30)
        os.close(read_fd)


def test_a_worker_that_stops_reading_cannot_hold_a_request_past_its_deadline(hosted):
    """Does a request bigger than the pipe, sent to a worker that reads nothing (stopped with SIGSTOP), end at
    its wall-clock deadline with the call's timeout message, instead of a write that blocks for good?"""
    host = hosted(wall_timeout=1.0)
    for pid in host.ensure().tasks():
        os.kill(pid, signal.SIGSTOP)
    with pytest.raises(CallTimeout, match="double did not finish within 1 s of wall-clock time"):
        call(host, "double", np.zeros(1 << 20))  # 8 MiB: more than the pipe holds
    assert host.worker is None and host.stops == ["wall"]


def test_a_request_written_as_the_pipe_takes_it_arrives_whole():
    """Does Outgoing (host._await's writes to the non-blocking request pipe) keep every partial writev and every
    refused one (a reader taking 1,000 bytes at a time), and more parts than one writev takes, so the reader gets
    exactly the bytes pack makes?"""
    arrays = [np.arange(300_000, dtype=np.float32)] + [np.full(3, i) for i in range(400)] + [np.zeros(0)]
    tree, arrays = protocol.encode(arrays)
    expected = protocol.pack({"v": tree}, arrays)
    read_fd, write_fd = os.pipe()
    got = bytearray()

    def read_slowly():
        while chunk := os.read(read_fd, 1000):
            got.extend(chunk)

    reader = threading.Thread(target=read_slowly)
    reader.start()
    try:
        os.set_blocking(write_fd, False)
        outgoing = Outgoing(protocol.pack_parts({"v": tree}, arrays))
        assert len(outgoing.chunks) > 1000
        while outgoing.left:
            select.select([], [write_fd], [], 30)
            outgoing.send(write_fd)
    finally:
        os.close(write_fd)
        reader.join(30)
        os.close(read_fd)
    assert bytes(got) == expected


def test_a_worker_slow_to_take_a_request_is_held_to_the_idle_limit(hosted):
    """Does a worker that stops reading (SIGSTOP) while a request bigger than the pipe goes out have the call
    ended by the per-call idle limit, as a worker that waits for its reply does, rather than hold its slot
    until the wall-clock backstop (by default 5 x the CPU limit + 30 s)?"""
    host = hosted(wall_timeout=30.0, idle_call=0.5)
    for pid in host.ensure().tasks():
        os.kill(pid, signal.SIGSTOP)
    with pytest.raises(CallTimeout, match="double waited .* without computing"):
        call(host, "double", np.zeros(1 << 20))  # 8 MiB: more than the pipe holds
    assert host.worker is None and host.stops == ["idle"]


HALF_REPLY = """
import os, time

def half_reply(kind):
    fd = max(int(n) for n in os.listdir("/proc/self/fd") if int(n) >= 900)  # the reply pipe (boot.RPC_FD_FLOOR)
    os.write(fd, bytes([1]))  # the first byte of a reply's size, and no more
    end = time.monotonic() + 60
    while time.monotonic() < end:
        if kind == "sleep":
            time.sleep(1)
"""


def test_a_reply_begun_and_never_finished_is_held_to_the_limits(tmp_path, private, bwrap_sandbox):
    """Does a call that sends the start of a reply and then waits, or computes, end at the per-call idle or CPU
    limit, as it would before replying, rather than at the wall-clock backstop (5 x the CPU limit + 30 s)?"""
    path = tmp_path / "exercise02.py"
    path.write_text(HALF_REPLY)
    slot = Slot()
    host = host_for(path, private, slot.uid, wall_timeout=30.0, idle_call=0.5)
    try:
        for kind, limit, stop in (("sleep", 10.0, "waited .* without computing"), ("spin", 1.0, "used more than 1 s")):
            tree, arrays = protocol.encode([[kind], {}])
            message = protocol.pack_parts({"op": "call", "name": "half_reply", "id": 1, "args": tree}, arrays)
            with pytest.raises(CallTimeout, match=f"half_reply {stop}"):
                host.exchange(host.ensure(), message, limit, "half_reply", handle=None)
        assert host.stops == ["idle", "cpu"]
    finally:
        host.stop()
        slot.release()


def test_without_a_cgroup_a_quick_reply_reads_no_cpu_counter_and_a_spinner_is_still_stopped(hosted, monkeypatch):
    """Without a cgroup (the CPU counter is a scan of /proc), is a call answered within POLL made without reading
    the submission's CPU time, while a call that computes past its limit is still stopped for CPU time and one
    that stays under it is not?"""
    host = hosted()
    reads = []
    real = worker_module.Worker.cpu_seconds
    monkeypatch.setattr(worker_module.Worker, "cpu_seconds", lambda self: reads.append(1) or real(self))
    worker = host.ensure()
    assert not worker.cheap_cpu and worker.cpus == 1  # no cgroup: one task, one thread (no-fork)
    reads.clear()
    assert [call(host, "double", n) for n in range(20)] == [2 * n for n in range(20)]
    assert len(reads) < 5, f"{len(reads)} reads of the CPU counter for 20 quick calls"
    assert call(host, "spin", 0.3, limit=2.0) == 0.3 and reads
    with pytest.raises(CallTimeout, match="spin used more than 1 s of CPU time"):
        call(host, "spin", 30.0, limit=1.0)
    assert host.stops == ["cpu"]
