"""A worker reads no kernel key it was not given (grader/sandbox/boot.py, `leave_keyrings`).

A process inherits its parent's session keyring through fork, exec and bwrap, and as its possessor may read
every key linked there, whatever its uid or user namespace: the worker inherited the grader's (a tutor's login
session keyring holds what their tools put there: a Kerberos ticket cache, say). And a uid's user,
user-session and persistent keyrings belong to the uid in its user namespace, not to a process: without the
sandbox's nested user namespace (the probe's fallback when it cannot be made) they outlived the worker, so a
worker read what the slot's earlier worker left there (a stand-in's source, stashed before the restart that
precedes the integration tests; another submission's data on a reused slot).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CALLS = {"x86_64": (250, 248), "aarch64": (219, 217)}  # keyctl(2), add_key(2)

SUBMISSION = '''
import ctypes, os

libc = ctypes.CDLL(None, use_errno=True)
KEYCTL, ADD_KEY = {"x86_64": (250, 248), "aarch64": (219, 217)}[os.uname().machine]
SESSION, USER, USER_SESSION = -3, -4, -5


def keyctl(*args):
    return libc.syscall(KEYCTL, *[a if isinstance(a, ctypes.Array) else ctypes.c_long(a) for a in args])


def payloads(keyring, depth=0):
    """The payloads of the keys linked in `keyring`, and in the keyrings linked there."""
    ids = (ctypes.c_int32 * 512)()
    count = max(keyctl(11, keyring, ids, 2048), 0) // 4  # KEYCTL_READ of a keyring: its keys' ids
    found = []
    for key in list(ids)[:count]:
        description = ctypes.create_string_buffer(512)
        keyctl(6, key, description, 512)  # KEYCTL_DESCRIBE
        if description.value.startswith(b"keyring;"):
            found += payloads(key, depth + 1) if depth < 3 else []
            continue
        data = ctypes.create_string_buffer(512)
        size = keyctl(11, key, data, 512)
        if size >= 0:
            found.append(data.raw[:size].decode(errors="replace"))
    return found


def rings():
    persistent = keyctl(22, -1, SESSION)  # KEYCTL_GET_PERSISTENT: this uid's, linked into the session keyring
    return [SESSION, USER, USER_SESSION] + ([persistent] if persistent >= 0 else [])


def readable():
    return sorted({text for ring in rings() for text in payloads(ring)})


def stash(text):
    data = text.encode()
    for ring in rings():
        libc.syscall(ADD_KEY, b"user", b"stash%d" % ring, data, ctypes.c_long(len(data)), ctypes.c_long(ring))
    return readable()
'''

HOST = """
import ctypes, json, sys
sys.path.insert(0, sys.argv[1])
keyctl, add_key = int(sys.argv[4]), int(sys.argv[5])
libc = ctypes.CDLL(None, use_errno=True)
assert libc.syscall(keyctl, ctypes.c_long(1), None) >= 0, "no session keyring of its own"  # KEYCTL_JOIN_SESSION_KEYRING
secret = b"the tutor's ticket"
assert libc.syscall(add_key, b"user", b"krb5cc", secret, ctypes.c_long(len(secret)), ctypes.c_long(-3)) >= 0
from grader.sandbox import client
client.nested_userns = lambda: sys.argv[3] == "nested"
student = client.SandboxStudent(sys.argv[2])
try:
    first = student.call("readable")
    stashed = student.call("stash", "a stand-in's source")
    student.restart()
    print(json.dumps({"first": first, "stashed": stashed, "after_restart": student.call("readable")}))
finally:
    student.close()
"""


@pytest.mark.parametrize("layer", ["nested", "without the nested user namespace"])
def test_a_worker_reads_no_key_of_the_grader_or_of_an_earlier_worker(tmp_path, layer, bwrap_sandbox):
    """With a key in the grading process's session keyring, does the submission find none of it in any keyring it
    can reach, and does a key it stashes in its own uid's keyrings (which it can read back) reach no later worker
    of the same slot, with and without the sandbox's nested user namespace?"""
    calls = CALLS.get(os.uname().machine)
    if calls is None:
        pytest.skip(f"this test knows the keyctl and add_key system call numbers of {sorted(CALLS)} only")
    path = tmp_path / "exercise02.py"
    path.write_text(SUBMISSION)
    done = subprocess.run([sys.executable, "-c", HOST, str(ROOT), str(path), layer, *map(str, calls)],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["first"] == [], f"the submission read keys it was not given: {seen['first']}"
    assert "a stand-in's source" in seen["stashed"], f"the stash did not work, so the test proves nothing: {seen}"
    assert seen["after_restart"] == [], f"the next worker read what the earlier one left: {seen['after_restart']}"


def test_a_worker_that_cannot_leave_the_keyrings_imports_nothing(tmp_path, monkeypatch):
    """Where the worker cannot leave the grader's keyrings (a Python without ctypes, a machine whose keyctl number it
    does not know), is the submission left unimported, with a ready reply that says why?"""
    sys.path.insert(0, str(ROOT))
    from grader.sandbox import boot, protocol

    monkeypatch.setitem(sys.modules, "ctypes", None)  # an interpreter without ctypes: the import raises
    assert "has no ctypes" in (boot.leave_keyrings(slot=False) or "")
    monkeypatch.undo()
    monkeypatch.setattr(boot, "KEYCTL", {})
    refusal = boot.leave_keyrings(slot=True)
    assert refusal is not None and "keyctl" in refusal and os.uname().machine in refusal
    marker = tmp_path / "imported"
    path = tmp_path / "exercise02.py"
    path.write_text(f"open({str(marker)!r}, 'w').close()\n")
    ready = boot.Worker(protocol, -1, -1, {"submission": str(path)}, refusal=refusal).import_submission()
    assert ready["ok"] is False and ready["error"]["message"] == refusal and not marker.exists()
