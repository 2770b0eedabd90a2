"""Hostile submissions against the sandboxed worker: each attack fails or is contained, with a clear message.

Every case checks the same things after the attack: the next call (or the next worker) still works,
nothing was written outside the sandbox (a canary folder and the attack folder are unchanged), no
process of the slot uid outlives close(), the output kept is bounded, and this (trusted) process's
memory stayed bounded. The attack files are in tests/selftest/redteam/; ids refer to the notes' list.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import select
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from poll import wait_until

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from grader.sandbox import protocol
from grader import sandbox  # noqa: E402

REDTEAM = Path(__file__).resolve().parent / "redteam"
KIT = Path(__file__).resolve().parents[2]
KIT_IN_ATTACKS = "/work/main"  # the attack files aim at this kit path; each run aims them at the real one
CANARY = Path("/tmp/exercise02-canary")
MODE, REASON = sandbox.probe()
strong = pytest.mark.usefixtures("bwrap_sandbox")  # fails without bwrap unless EXERCISE02_SKIP_SANDBOX_TESTS=1
pytestmark = strong


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        digest.update(str(path).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.fixture
def listener():
    """A TCP listener on the host's loopback; records whether anything connected."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.setblocking(False)
    yield server
    server.close()


@pytest.fixture
def canary():
    """A folder outside the sandbox that attacks try to write to (fixed path, shared by parallel runs)."""
    CANARY.mkdir(exist_ok=True)
    secret = CANARY / "secret.txt"
    if not secret.exists():
        with contextlib.suppress(FileExistsError):
            descriptor = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(descriptor, b"canary\n")
            os.close(descriptor)
    yield
    assert sorted(p.name for p in CANARY.iterdir()) == ["secret.txt"], "something was written into the canary folder"
    assert secret.read_bytes() in (b"", b"canary\n")


@pytest.fixture
def attack(canary, tmp_path):
    """Run one hostile submission; afterwards check containment, cleanup and bounds."""
    opened = []
    folder = tmp_path / "attacks"  # the attacks as run: aimed at this checkout of the kit
    folder.mkdir()
    for source in REDTEAM.glob("*.py"):
        (folder / source.name).write_text(source.read_text().replace(KIT_IN_ATTACKS, str(KIT)))
    redteam_before = tree_digest(folder)
    rss_before = rss_mib()

    def start(name: str, **options) -> sandbox.SandboxStudent:
        options.setdefault("call_timeout", 10.0)
        options.setdefault("import_timeout", 10.0)
        student = sandbox.SandboxStudent(folder / f"{name}.py", data_dir=options.pop("data_dir", None), **options)
        opened.append(student)
        return student

    yield start
    for student in opened:
        uid = student.slot_uid
        output = student.take_output()
        assert len(output) <= 4 * 64 * 1024 + 100, "kept output is not bounded (4 characters per escaped byte)"
        student.close()
        if uid is not None:
            assert sandbox.tasks_of_uid(uid) == [], f"processes of slot uid {uid} outlived close()"
    assert tree_digest(folder) == redteam_before, "the attack folder changed"
    assert not (KIT / "results.json").exists()
    assert rss_mib() - rss_before < 150, "the trusted process grew by more than 150 MiB"
    # The batch goes on: a fresh worker for an honest submission still works.
    honest = sandbox.SandboxStudent(REDTEAM / "keyboard_interrupt.py", data_dir=None)
    try:
        assert honest.sigmoid(np.array([0.0]))[0] == 0.5
    finally:
        honest.close()


def next_call_works(student) -> None:
    np.testing.assert_allclose(student.sigmoid(np.array([0.0, 2.0])), [0.5, 1 / (1 + np.exp(-2.0))])


# --------------------------------------------------------------------------- exits and interrupts


@pytest.mark.parametrize(
    "name, fragment",
    [
        ("exit_at_import", "SystemExit: 0 (the file must not exit"),
        ("os_exit_at_import", "the worker exited with code 0"),
        ("slow_import", "used more than 2 s of CPU time; the worker was stopped; code that runs experiments"),
    ],
    ids=["A01-sys.exit-at-import", "A02-os._exit-at-import", "A48-slow-import"],
)
def test_import_attacks_fail_the_import_only(attack, name, fragment):
    student = attack(name, import_timeout=2.0)
    with pytest.raises(protocol.ImportFailed) as failure:
        student.sigmoid(np.zeros(1))
    assert fragment in failure.value.student_message
    assert failure.value.student_message.startswith(("could not import", "importing"))
    starts = student._host.generation  # workers started so far
    with pytest.raises(protocol.ImportFailed):  # the failure is remembered, not retried per call
        student.sigmoid(np.zeros(1))
    assert student._host.generation == starts, "the failed import was tried again in a new worker"


@pytest.mark.parametrize(
    "name, fragment",
    [
        ("keyboard_interrupt", "relu raised KeyboardInterrupt"),
        ("system_exit", "relu raised SystemExit: 0"),
        ("pytest_exit", "relu raised Exit: all good"),
    ],
    ids=["A03-KeyboardInterrupt", "A04-SystemExit", "A04-pytest.exit"],
)
def test_exits_in_a_call_become_an_error_of_that_call(attack, name, fragment):
    student = attack(name)
    with pytest.raises(protocol.SubmissionRaised) as failure:
        student.relu(np.zeros(1))
    assert not isinstance(failure.value, (KeyboardInterrupt, SystemExit))
    assert failure.value.student_message.startswith(fragment)
    assert "(at line" in failure.value.student_message
    next_call_works(student)


# --------------------------------------------------------------------------- lying about results


def test_A09_patched_numpy_cannot_change_the_verdict(attack):
    student = attack("patch_numpy")
    got = student.relu(np.array([-1.0, 2.0]))
    assert not np.allclose(got, [0.0, 2.0])  # the comparison runs here, with this process's numpy
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(got, [0.0, 2.0])
    assert abs(-3) == 3
    next_call_works(student)


def test_A05_fake_pytest_and_summary_lines_are_only_output(attack):
    import pytest as real_pytest

    student = attack("fake_pytest")
    got = student.relu(np.array([1.0]))
    assert got.tolist() == [-1.0]
    assert sys.modules["pytest"] is real_pytest
    output = student.take_output()
    assert "4 passed" in output
    assert "\x1b" not in output and "\\x1b[32m" in output  # terminal escapes are shown, not obeyed
    next_call_works(student)


@strong
def test_A06_fake_results_stay_inside(attack, tmp_path):
    student = attack("fake_results")
    written = student.relu(0)
    assert set(written) <= {"results.json", "/tmp/results.json"}  # the private tmpfs only
    assert not (tmp_path / "attacks" / "results.json").exists() and not (tmp_path / "attacks" / "conftest.py").exists()
    assert not (KIT / "tests" / "conftest.py").read_text().startswith('{"score"')
    next_call_works(student)


def test_A07_files_next_to_the_submission_are_not_visible(attack, tmp_path):
    source = (REDTEAM / "conftest_next_to.py").read_text()
    (tmp_path / "exercise02_template.py").write_text(source)
    (tmp_path / "conftest.py").write_text("raise SystemExit('conftest was imported')\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = -p no:terminal\n")
    (tmp_path / "sitecustomize.py").write_text("raise SystemExit\n")
    student = sandbox.SandboxStudent(tmp_path / "exercise02_template.py", data_dir=None)
    try:
        assert student.relu(0) == ["exercise02_template.py"]
    finally:
        student.close()
    next_call_works(attack("conftest_next_to"))


# --------------------------------------------------------------------------- reading secrets


@strong
def test_A14_hidden_tests_solutions_and_root_files_are_out_of_reach(attack, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "secret.txt").write_text("root only\n")
    os.chmod(data / "secret.txt", 0o600)  # root-owned 0600, visible through the data mount (A35)
    student = attack("read_secrets", data_dir=data)
    facts = student.relu(0)
    assert facts["readable"] == []
    assert all(path.startswith("/opt/exercise02/") for path in facts["found"]), facts["found"]
    assert not any("hidden" in path or "solution" in path or "tests" in path for path in facts["found"])
    assert facts["init"] == "/usr/bin/bwrap" and facts["pids"] < 10  # its own PID namespace
    next_call_works(student)


# --------------------------------------------------------------------------- hangs and resources


@pytest.mark.parametrize("name", ["infinite_loop", "sleep_forever"], ids=["A19-busy-loop", "A20-sleep-ignoring-signals"])
def test_hangs_time_out_and_the_next_call_gets_a_new_worker(attack, name):
    student = attack(name, call_timeout=1.0, wall_timeout=20.0 if name == "infinite_loop" else 2.0)
    with pytest.raises(protocol.CallTimeout) as failure:
        student.relu(0)
    assert failure.value.student_message == {  # a busy loop meets the CPU limit, a sleep the wall backstop
        "infinite_loop": "relu used more than 1 s of CPU time; the worker was stopped",
        "sleep_forever": "relu did not finish within 2 s of wall-clock time (the backstop of its 1 s CPU-time limit; "
                         "it used 0.0 s of CPU meanwhile); the worker was stopped",
    }[name]
    assert student.stops == [{"infinite_loop": "cpu", "sleep_forever": "wall"}[name]]
    if student.slot_uid is not None:
        assert sandbox.tasks_of_uid(student.slot_uid) == []
    next_call_works(student)


def test_without_a_cgroup_the_worker_may_not_fork(attack, monkeypatch):
    """No cgroup to cap the submission as a whole: then no fork or thread succeeds at all."""
    from grader.sandbox import cgroup

    monkeypatch.setenv("EXERCISE02_NO_CGROUP", "1")
    monkeypatch.setattr(cgroup, "_found", None)
    student = attack("fork_bomb")
    assert "no cgroup (EXERCISE02_NO_CGROUP=1 is set), so the worker may not start processes" in student.reason
    assert set(student.usage()) == {"idle_seconds"}  # no cgroup counters
    assert student.relu(0) == 0
    next_call_works(student)


def test_A21_memory_bomb_hits_the_memory_limit(attack):
    student = attack("memory_bomb", memory_mb=512)
    with pytest.raises(MemoryError) as failure:
        student.relu(0)
    assert failure.value.student_message.startswith("relu raised MemoryError")
    next_call_works(student)


@strong
def test_A22_fork_bomb_is_stopped_by_the_process_limit(attack):
    student = attack("fork_bomb")
    assert student.relu(0) < sandbox.NPROC
    next_call_works(student)


@strong
def test_A23_thread_flood_is_stopped_by_the_process_limit(attack):
    student = attack("thread_flood")
    assert student.relu(0) < sandbox.NPROC
    next_call_works(student)


@strong
def test_A24_double_forked_daemon_dies_with_the_worker(attack):
    student = attack("daemon")
    assert student.relu(0) > 1
    uid = student.slot_uid
    if uid is not None:
        assert len(sandbox.tasks_of_uid(uid)) >= 3  # inner bwrap, the worker and the daemon
    student.close()
    if uid is not None:
        assert sandbox.tasks_of_uid(uid) == []


def test_A25_output_flood_stops_the_worker_and_keeps_64_KiB(attack):
    student = attack("output_flood")
    rss = rss_mib()
    with pytest.raises(protocol.WorkerDied) as failure:
        student.relu(0)
    assert "printed more than 4 MiB of output" in failure.value.student_message
    output = student.take_output()
    assert 64 * 1024 <= len(output) <= 64 * 1024 + 100 and output.endswith("bytes of output were dropped]")
    assert rss_mib() - rss < 50
    next_call_works(student)


@strong
def test_A26_disk_filling_hits_the_tmpfs_and_file_size_caps(attack):
    student = attack("disk_fill")
    result = student.relu(0)
    assert {"ENOSPC", "EFBIG"} <= set(result["errors"]) and "EROFS" in result["errors"]
    next_call_works(student)


@strong
def test_A27_fd_exhaustion_stops_at_the_open_files_limit(attack):
    student = attack("fd_exhaustion")
    assert 0 < student.relu(0) < 64
    next_call_works(student)


# --------------------------------------------------------------------------- escape attempts


@strong
def test_A28_no_network_to_the_host_loopback_or_outside(attack, listener):
    student = attack("network")
    results = student.relu(listener.getsockname()[1])
    assert results["127.0.0.1"] != "connected" and results["192.0.2.1"] != "connected"
    assert "unreachable" in results["192.0.2.1"]
    with pytest.raises(BlockingIOError):
        listener.accept()  # nothing reached the listener on the host
    next_call_works(student)


def test_A13_forged_npy_header_in_a_reply_is_rejected_before_allocating(attack):
    student = attack("forged_reply")
    rss = rss_mib()
    with pytest.raises(protocol.BadReply) as failure:
        student.relu(np.zeros(2))
    assert "array header claims shape (1000000000000,)" in failure.value.student_message
    assert rss_mib() - rss < 50
    next_call_works(student)


def test_A13b_forged_replies_never_raise_in_the_grader(attack):
    """Does a forged reply the decoder cannot make sense of (a zero-size array with impossible axes, an error whose
    frames are not triples) end as the call's rejected reply or the submission's own error, never as an exception
    of the trusted process (an internal error of the suite)?"""
    student = attack("forged_replies")
    with pytest.raises(protocol.BadReply) as rejected:
        student.relu(np.zeros(2))
    assert "is larger than any message can carry" in rejected.value.student_message
    next_call_works(student)
    with pytest.raises(protocol.SubmissionRaised) as raised:
        student.tanh(np.zeros(2))
    assert isinstance(raised.value, ValueError) and raised.value.frames == [(7, "tanh", "raise ValueError")]
    assert raised.value.student_message.startswith("tanh raised ValueError: forged (at line 7 in tanh")
    # tanh's real reply follows its forged one: the next call finds it waiting and starts a fresh worker. Sent
    # before it arrives, the next call would read it as its own reply and reject it (the submission's doing,
    # a BadReply, not a grader error): wait for it so that this test asserts the first case every time.
    worker = student._host.worker
    wait_until(lambda: select.select([worker.rpc_in], [], [], 0)[0], 30, "tanh's real reply after its forged one")
    next_call_works(student)


@strong
def test_A38_tiocsti_cannot_reach_a_terminal(attack):
    student = attack("tiocsti")
    assert "injected" not in student.relu(0).values()
    next_call_works(student)


@strong
def test_A37_nested_user_namespaces_are_refused(attack):
    student = attack("nested_userns")
    results = student.relu(0)
    assert results["libc"] != 0 and results["tool"][0] != 0
    next_call_works(student)


def test_A29_A30_poisoned_worker_state_does_not_change_replies(attack):
    student = attack("poison_state")
    assert student.relu(0) == "poisoned"
    next_call_works(student)  # json, sys.modules, sys.path and cwd were changed in the worker only


@strong
def test_kill_minus_one_only_hits_the_sandbox(attack):
    # The bystander echoes each line: alive, it answers; SIGKILLed (a pending SIGKILL never lets it run
    # again), its pipe ends and the read gets EOF. kill(-1) queues its signals before the call returns.
    bystander = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        student = attack("kill_all")
        with contextlib.suppress(protocol.WorkerDied):
            student.relu(0)  # its reply may or may not get out before the worker dies
        try:
            bystander.stdin.write("still here?\n")
            bystander.stdin.flush()
            answer = bystander.stdout.readline()
        except BrokenPipeError:
            answer = ""
        assert answer == "still here?\n"  # a process outside the sandbox survived kill(-1)
        worker = student._host.worker  # None when the call already saw the worker die
        if worker is not None:  # the reply got out first; the worker dies with its parent: its pipe then reads EOF
            wait_until(lambda: select.select([worker.rpc_in], [], [], 0)[0], 30, "the worker's end after kill(-1)")
        next_call_works(student)  # a worker that died between calls is replaced
    finally:
        bystander.kill()
        bystander.communicate()


@pytest.mark.parametrize(
    "kind, error, fragment",
    [
        ("object", protocol.Unavailable, "returned an array of dtype object; expected numbers"),
        ("deep", protocol.Unavailable, "returned nested deeper than 32 levels"),
        ("huge", protocol.Unavailable, "returned 96 MiB of data; at most 63 MiB can cross"),
        ("evil", protocol.SubmissionRaised, "relu raised Evil: <message could not be shown>"),
    ],
    ids=["object-array", "deep-nesting", "too-much-data", "hostile-__str__"],
)
def test_values_that_cannot_cross_fail_the_call(attack, kind, error, fragment):
    student = attack("bad_returns")
    with pytest.raises(error) as failure:
        student.relu(kind)
    assert failure.value.student_message.startswith(fragment)
    next_call_works(student)
