"""The sandboxed backend: same behaviour as in-process, validated wire format, isolation verified inside.

Each test builds its own tiny submission and its own SandboxStudent (not the session fixture).
"""

from __future__ import annotations

import gzip
import json
import math
import mmap
import os
import shutil
import socket
import struct
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from grader.sandbox import mnist, protocol
from grader import sandbox  # noqa: E402
from grader.sandbox.inprocess import InProcessStudent  # noqa: E402  (the reference behaviour)

REDTEAM = Path(__file__).resolve().parent / "redteam"
MODE, REASON = sandbox.probe()
strong = pytest.mark.usefixtures("bwrap_sandbox")  # fails without bwrap unless EXERCISE02_SKIP_SANDBOX_TESTS=1

SUBMISSION = '''
import time
import numpy as np

COUNTER = [0]

def relu(z):
    return np.maximum(z, 0)

def echo(*args, **kwargs):
    return args, kwargs

def scalars():
    return np.float64(1.5), np.int32(7), np.bool_(True), np.arange(3.0).view(np.matrix)

def boom(x):
    return helper(x)

def helper(x):
    raise ValueError(f"x must be positive, got {x}")

def stub(z):
    raise NotImplementedError("stub")

def bare_stub(z):
    raise NotImplementedError

def nap(seconds):
    time.sleep(seconds)
    return seconds

def spin(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass
    return seconds

def shout(text):
    print(text)
    return len(text)

def count():
    COUNTER[0] += 1
    return COUNTER[0]

def rows(X, Y):
    return X.shape, Y.shape, float(X.sum()), Y.argmax(axis=1)[:5]

class MLP:
    def __init__(self, layer_sizes, activation="sigmoid"):
        if activation not in ("sigmoid", "relu"):
            raise ValueError(f"activation must be one of sigmoid, relu; got {activation!r}")
        self.weights = [np.ones((b, a)) for a, b in zip(layer_sizes[:-1], layer_sizes[1:])]

    def forward(self, X):
        for W in self.weights:
            X = X @ W.T
        return X

def train(model, X):
    return model.forward(X).sum()
'''




@pytest.fixture
def submission(tmp_path):
    path = tmp_path / "exercise02_template.py"
    path.write_text(SUBMISSION)
    return path


@pytest.fixture
def student(submission, bwrap_sandbox):
    handle = sandbox.SandboxStudent(submission, data_dir=ROOT / "data" / "mnist", call_timeout=5)
    yield handle
    handle.close()


@pytest.fixture(params=["sandbox", "in-process"])
def both(request, submission):
    """The same submission on each backend; tests using it must pass on both."""
    if request.param == "sandbox":
        request.getfixturevalue("bwrap_sandbox")
        handle = sandbox.SandboxStudent(submission, data_dir=ROOT / "data" / "mnist", call_timeout=5)
    else:
        handle = InProcessStudent(submission, data_dir=ROOT / "data" / "mnist")
    yield handle
    handle.close()


# --------------------------------------------------------------------------- same behaviour on both backends


def test_values_cross_with_their_types(both):
    values = (np.arange(6, dtype=np.int32).reshape(2, 3), 3, 2.5, math.inf, True, "text", None, [1, (2, 3)],
              {1: "int", 1.5: "float", "k": [np.zeros(2, dtype=bool)], False: None})
    args, kwargs = both.call("echo", *values, key=np.float32(0.5))
    assert type(args) is tuple and type(args[7]) is list and type(args[7][1]) is tuple
    assert args[0].dtype == np.int32 and args[0].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert args[1:7] == (3, 2.5, math.inf, True, "text", None)
    assert type(args[1]) is int and type(args[2]) is float
    assert list(args[8]) == [1, 1.5, "k", False] and args[8][1] == "int" and args[8]["k"][0].dtype == bool
    assert [type(key) for key in args[8]] == [int, float, str, bool]
    assert kwargs == {"key": 0.5} and isinstance(kwargs["key"], float)
    nan = both.call("echo", math.nan)[0][0]
    assert math.isnan(nan)


def test_numpy_scalars_and_subclasses_come_back_plain(both):
    value, integer, flag, matrix = both.call("scalars")
    assert (type(value), type(integer), type(flag)) == (float, int, bool)
    assert type(matrix) is np.ndarray


def test_arrays_are_copies_both_ways(both):
    z = np.array([-1.0, 2.0])
    out = both.relu(z)
    out[0] = 99.0
    assert z.tolist() == [-1.0, 2.0] and both.relu(z).tolist() == [0.0, 2.0]


def test_objects_stay_behind_a_handle(both):
    model = both.MLP([3, 4, 2])
    assert model.type_name == "MLP" and repr(model) == "<MLP of the submission>"
    assert model.forward(np.ones((2, 3))).tolist() == [[12.0, 12.0], [12.0, 12.0]]
    assert [w.shape for w in model.get("weights")] == [(4, 3), (2, 4)]
    model.set("weights", [np.zeros((4, 3)), np.full((2, 4), 2.0)])
    assert model.forward(np.ones((1, 3))).tolist() == [[0.0, 0.0]]
    assert both.train(model, np.ones((1, 3))) == 0.0  # a handle passed back in as an argument


def test_exceptions_keep_their_builtin_type_and_message(both):
    with pytest.raises(ValueError, match="x must be positive, got -1"):
        both.call("boom", -1)
    with pytest.raises(ValueError, match="activation must be one of"):
        both.MLP([2, 2], activation="tanh")
    with pytest.raises(NotImplementedError):
        both.call("stub", 0)


def test_missing_names_fail_with_a_message(both):
    with pytest.raises(Exception) as missing:
        both.call("no_such_function", 1)
    assert missing.value.student_message == "exercise02_template.py defines no function or class named 'no_such_function'"
    model = both.MLP([2, 2])
    with pytest.raises(Exception) as method:
        model.backward(1)
    assert method.value.student_message == "MLP has no method 'backward'"
    with pytest.raises(Exception) as attribute:
        model.get("grad_weights")
    assert attribute.value.student_message == "MLP has no attribute 'grad_weights'"


def test_data_sets_are_loaded_by_the_trusted_reader(both):
    X = both.data("mnist/train/X", rows=(0, 100))
    Y = both.data("mnist/train/Y", rows=(0, 100))
    x_shape, y_shape, total, labels = both.call("rows", X, Y)
    reference = mnist.dataset("mnist/train/X", rows=(0, 100))
    assert (x_shape, y_shape) == ((100, 784), (100, 10))
    assert total == pytest.approx(reference.sum())
    assert labels.tolist() == mnist.dataset("mnist/train/y")[:5].tolist()
    assert np.asarray(X).shape == (100, 784)
    with pytest.raises(ValueError, match="unknown data set"):
        both.data("mnist/validation/X")


# --------------------------------------------------------------------------- sandbox-only behaviour


def test_messages_for_raised_errors(student):
    with pytest.raises(protocol.SubmissionRaised) as raised:
        student.call("boom", -1)
    assert raised.value.student_message == (
        "boom raised ValueError: x must be positive, got -1 "
        '(at line 20 in helper <- line 17 in boom: raise ValueError(f"x must be positive, got {x}"))'
    )
    with pytest.raises(protocol.NotImplementedYet) as stub:
        student.call("stub", 0)
    assert stub.value.student_message == "not implemented yet: stub"
    with pytest.raises(protocol.NotImplementedYet) as bare:
        student.call("bare_stub", 0)
    assert bare.value.student_message == "not implemented yet: bare_stub"


def test_timeout_stops_the_worker_and_expires_its_handles(submission, bwrap_sandbox):
    student = sandbox.SandboxStudent(submission, data_dir=None, call_timeout=1, wall_timeout=60)
    napper = sandbox.SandboxStudent(submission, data_dir=None, call_timeout=1, wall_timeout=3)
    try:
        model = student.MLP([2, 2])
        assert student.call("count") == 1
        with pytest.raises(protocol.CallTimeout) as timeout:
            student.call("spin", 30)
        assert timeout.value.student_message == "spin used more than 1 s of CPU time; the worker was stopped"
        assert student.call("count") == 1  # a fresh worker: module state starts over
        with pytest.raises(protocol.HandleExpired, match="create it again"):
            model.forward(np.ones((1, 2)))
        assert student.stops == ["cpu"]
        with pytest.raises(protocol.CallTimeout, match="nap did not finish within 3 s of wall-clock time .the backstop of its 1 s CPU-time limit"):
            napper.call("nap", 30)  # waiting uses no CPU: the wall-clock backstop stops it
        assert napper.stops == ["wall"]
    finally:
        student.close()
        napper.close()


@strong
def test_waiting_without_computing_is_bounded_per_call_and_per_run(submission):
    """Is a call that only waits stopped after its idle allowance, and once the run's allowance is spent,
    is every further call refused at once (while an honest call before stays unaffected)?"""
    student = sandbox.SandboxStudent(submission, data_dir=None, call_timeout=60, idle_call=1.0, idle_total=2.5)
    try:
        assert student.relu(np.array([-1.0, 2.0])).tolist() == [0.0, 2.0]
        for _ in range(2):  # the figure is the idle time measured when the host looked: 1.0 s or a little more
            with pytest.raises(protocol.CallTimeout, match=r"nap waited 1\.\d s without computing .*at most 1 s"):
                student.call("nap", 600)
        assert student.stops == ["idle", "idle"]
        starts = student._host.generation  # workers started so far
        with pytest.raises(protocol.CallTimeout, match="not run: the submission has used up its allowance of 2.5 s"):
            student.relu(np.array([1.0]))  # less than 0.5 s left: an honest call would be stopped for noise
        assert student._host.generation == starts, "refused, but only after starting a worker"
        assert 2.0 <= student.usage()["idle_seconds"] < 3.0
    finally:
        student.close()


@strong
def test_limits_raise_the_budget_for_one_block(submission):
    student = sandbox.SandboxStudent(submission, data_dir=None, call_timeout=0.5)
    try:
        with student.limits(seconds=5):
            assert student.call("spin", 1.0) == 1.0
        with pytest.raises(protocol.CallTimeout, match="more than 0.5 s of CPU time"):
            student.call("spin", 1.0)
    finally:
        student.close()


@strong
def test_import_errors_name_the_line(tmp_path):
    path = tmp_path / "exercise02_template.py"
    path.write_text("import numpy as np\n\ndef relu(z)\n    return z\n")
    student = sandbox.SandboxStudent(path, data_dir=None)
    try:
        with pytest.raises(protocol.ImportFailed) as failure:
            student.relu(1)
        assert failure.value.student_message.startswith("could not import exercise02_template.py: SyntaxError at line 3:")
    finally:
        student.close()


@strong
def test_missing_submission_file(tmp_path):
    student = sandbox.SandboxStudent(tmp_path / "nothing.py", data_dir=None)
    try:
        with pytest.raises(protocol.ImportFailed, match="submission file not found"):
            student.relu(1)
    finally:
        student.close()


def test_output_is_taken_per_call_and_escaped(student):
    assert student.call("shout", "hello \x1b[31mred\x1b[0m") == 18
    assert student.take_output() == "hello \\x1b[31mred\\x1b[0m\n"
    assert student.take_output() == ""


def test_backend_names_the_mode(student):
    assert student.backend == MODE and MODE in ("bwrap", "process")


@strong
def test_parallel_students_get_distinct_slots(submission):
    first = sandbox.SandboxStudent(submission, data_dir=None)
    second = sandbox.SandboxStudent(submission, data_dir=None)
    try:
        if os.geteuid() == 0:
            assert first.slot_uid != second.slot_uid and None not in (first.slot_uid, second.slot_uid)
        assert first.call("count") == 1 and second.call("count") == 1  # separate workers
    finally:
        first.close()
        second.close()


@strong
def test_one_worker_answers_every_round_trip(submission):
    """Does the first ping start the worker and do 50 more go to that same worker? (How fast: bench/sandbox.py,
    which prints the start and the round trip against their targets; a test asserts no timing.)"""
    student = sandbox.SandboxStudent(submission, data_dir=None)
    try:
        assert student._host.generation == 0
        trips = [student.ping() for _ in range(51)]
        assert student._host.generation == 1 and all(trip >= 0 for trip in trips)
    finally:
        student.close()


# --------------------------------------------------------------------------- isolation, seen from inside


@strong
def test_isolation_inside_the_sandbox():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    from grader.sandbox.layout import interpreter_trees

    student = sandbox.SandboxStudent(REDTEAM / "introspect.py", data_dir=ROOT / "data" / "mnist")
    paths = sorted({p for tree in interpreter_trees() for p in (tree, str(Path(tree).parent))})
    try:
        facts = student.relu(server.getsockname()[1], paths)
    finally:
        student.close()
        server.close()
    assert facts["uid"] != 0 and facts["euid"] == facts["uid"] and facts["gid"] != 0 and facts["groups"] == []
    if os.geteuid() == 0:
        assert facts["uid"] == student.slot_uid
    for key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(facts[key], 16) == 0, key
    assert facts["NoNewPrivs"] == "1"
    assert facts["unshare"] != 0
    assert facts["loopback"] != "connected" and facts["interfaces"] == ["lo"]
    # The view is derived from where this interpreter lives (a venv under /tmp, pyenv under /root, conda...).
    expected = {"bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "opt", "proc", "sbin", "tmp", "usr"}
    expected |= {Path(tree).parts[1] for tree in interpreter_trees()}
    assert set(facts["root"]) <= expected
    for tree in interpreter_trees():  # each folder is there, but nothing else beside it
        assert facts["trees"][tree] == sorted(os.listdir(tree)), tree
        parent = str(Path(tree).parent)
        if parent not in ("/", "/tmp"):
            assert facts["trees"][parent] == sorted(Path(t).name for t in interpreter_trees()
                                                    if str(Path(t).parent) == parent), parent
    # no data folder: no MNIST test split; the runtime modules' bytecode beside them (grader/sandbox/bytecode.py)
    assert facts["opt"] == ["__pycache__", "boot.py", "error.py", "npy.py", "protocol.py", "standin.py", "sub", "training.py"]
    assert facts["cwd"] == "/tmp"
    # No host path in the mount table: the runtime and the submission are copies in a read-only tmpfs; only
    # the system folders and the interpreter's folders are bound, each at its own path.
    host = [root for root, point in facts["mounts"] if root not in ("/", "/newroot") and root != point
            and not point.startswith(("/dev/", "/proc/"))]
    assert host == [], f"mounts that name a host path inside the sandbox: {host}"
    names = " ".join(root + " " + point for root, point in facts["mounts"])
    assert str(ROOT) not in names and "exercise02-sandbox-" not in names and "grader-" not in names
    assert not facts["runtime_writable"]
    assert facts["nproc"][0] <= 32 + len(sandbox.tasks_of_uid(os.getuid())) + 8
    assert facts["as"][0] == 2048 << 20 and facts["cpu"] == (600, 601) and facts["nofile"] == (64, 64)
    assert "OPENBLAS_NUM_THREADS" in facts["env"] and not any(k.startswith(("SSH", "GIT", "PYTEST")) for k in facts["env"])


# --------------------------------------------------------------------------- fallback


def test_process_fallback_runs_the_same_bootstrap(submission, monkeypatch):
    from grader.sandbox import layout

    monkeypatch.setattr(layout, "_probed", ("process", "forced by the test", False))
    monkeypatch.setenv("EXERCISE02_UNSANDBOXED", "1")  # the explicit opt-out (grader grade --no-sandbox sets it)
    student = sandbox.SandboxStudent(submission, data_dir=ROOT / "data" / "mnist", call_timeout=1)
    try:
        assert student.backend == "process" and student.reason.startswith("forced by the test")
        assert student.relu(np.array([-1.0, 1.0])).tolist() == [0.0, 1.0]
        assert student.call("shout", "hi") == 2 and student.take_output() == "hi\n"
        with pytest.raises(protocol.CallTimeout):
            student.call("spin", 10)
        assert student.call("count") == 1
        assert student.call("rows", student.data("mnist/test/X", rows=(0, 3)), student.data("mnist/test/Y", rows=(0, 3)))[0] == (3, 784)
    finally:
        student.close()


def test_without_the_sandbox_nothing_runs_unless_asked(submission, monkeypatch):
    """Fail closed: when the probe finds no usable bwrap, SandboxStudent refuses and says what to do."""
    from grader.sandbox import layout

    monkeypatch.setattr(layout, "_probed", ("process", "bubblewrap (bwrap) is not installed", False))
    monkeypatch.delenv("EXERCISE02_UNSANDBOXED", raising=False)
    with pytest.raises(sandbox.SandboxUnavailable) as refused:
        sandbox.SandboxStudent(submission, data_dir=None)
    text = str(refused.value)
    assert "bubblewrap (bwrap) is not installed" in text and "apt-get install bubblewrap" in text
    assert "--no-sandbox" in text and "EXERCISE02_UNSANDBOXED=1" in text


# --------------------------------------------------------------------------- the wire format


def message(header: dict, blobs: list[bytes]) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<I", len(text)) + text + b"".join(struct.pack("<Q", len(b)) + b for b in blobs)


def npy(header: str, data: bytes = b"", magic: bytes = b"\x93NUMPY\x01\x00") -> bytes:
    raw = header.encode()
    raw += b" " * (63 - (10 + len(raw)) % 64) + b"\n"
    return magic + struct.pack("<H", len(raw)) + raw + data


@pytest.mark.parametrize(
    "header, blobs, fragment",
    [
        ({"id": 1, "ok": True, "value": None, "padding": "x"}, [], "unknown reply field padding"),
        ({"id": 1, "ok": True, "value": None}, [npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", bytes(8))],
         "carries 1 arrays but its value refers to 0"),
        ({"id": 1, "ok": True, "value": {"list": [{"array": 0}, {"array": 0}]}},
         [npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", bytes(8))], "refers to 2"),
        ({"id": 1, "ok": True, "value": "x" * (protocol.MAX_REPLY_HEADER + 1)}, [], "over the limit"),
    ],
    ids=["unknown-key", "unreferenced-array", "array-twice", "header-too-big"],
)
def test_replies_are_checked_for_shape_before_their_arrays_are_parsed(header, blobs, fragment, monkeypatch):
    parsed = []
    monkeypatch.setattr(protocol, "load_npy", lambda blob: parsed.append(blob))
    with pytest.raises(protocol.ProtocolError, match=fragment):
        protocol.unpack_reply(message(header, blobs), {"id", "ok", "value", "error"})
    assert parsed == []  # rejected before any array was parsed


def test_round_trip_of_every_value_kind():
    value = [np.arange(4.0).reshape(2, 2), np.array([True]), np.uint8(3), -2, 1e300, -math.inf, "é", None,
             (1, [2]), {2: 1, 2.5: 2, "s": 3, False: 4}]
    tree, arrays = protocol.encode(value)
    body = protocol.pack({"v": tree}, arrays)[8:]
    header, arrays = protocol.unpack(body)
    back = protocol.decode(header["v"], arrays)
    assert back[0].tolist() == [[0.0, 1.0], [2.0, 3.0]] and back[1].dtype == bool
    assert back[2:8] == [3, -2, 1e300, -math.inf, "é", None]
    assert back[8] == (1, [2]) and back[9] == {2: 1, 2.5: 2, "s": 3, False: 4}
    assert len(back) == 10
    with pytest.raises(protocol.ProtocolError, match="unknown value tag"):  # no data-set tag: data crosses as arrays
        protocol.decode({"data": "mnist/test/y", "rows": None}, [])


@pytest.mark.parametrize(
    "blob, fragment",
    [
        (npy("{'descr': '<f8', 'fortran_order': False, 'shape': (10**12,), }", b"\0" * 16), "bad .npy header"),
        (npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,), }", b"\0" * 16), "claims shape"),
        (npy("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", b"\0" * 16), "claims shape"),
        (npy("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", b"\0" * 8), "not a plain number type"),
        (npy("{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (1,), }", b"\0" * 8), "not a plain number"),
        (npy("{'descr': '<c16', 'fortran_order': False, 'shape': (1,), }", b"\0" * 16), "not a plain number type"),
        (npy("{'descr': '<U3', 'fortran_order': False, 'shape': (1,), }", b"\0" * 12), "not a plain number type"),
        (npy("{'descr': '<f8', 'fortran_order': True, 'shape': (1,), }", b"\0" * 8), "Fortran"),
        (npy("{'descr': '<f8', 'fortran_order': False, 'shape': (-1,), }", b""), "not made of sizes"),
        (npy("__import__('os').system('true')"), "bad .npy header"),
        (npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", b"\0" * 8, b"\x93NUMPY\x09\x00"), "version"),
        (b"PK\x03\x04 a zip, not an array", "bad .npy header"),
        # zero bytes of data, as the shape claims, but axes beside the 0 that NumPy cannot index (19 and 18 digits)
        (npy("{'descr': '<f8', 'fortran_order': False, 'shape': (0, 1000000000000000000, 1000000000000000000), }"),
         "larger than any message"),
        (npy("{'descr': '<f8', 'fortran_order': False, 'shape': (0, 999999999999999999, 999999999999999999), }"),
         "larger than any message"),
    ],
    ids=["huge-shape-expr", "huge-shape", "short-data", "object", "structured", "complex", "unicode", "fortran",
         "negative", "code", "version", "not-npy", "zero-size-huge-axes", "zero-size-huge-axes-18-digits"],
)
def test_forged_arrays_are_rejected_before_allocating(blob, fragment):
    with pytest.raises(protocol.ProtocolError, match=fragment):
        protocol.unpack(message({"value": {"array": 0}}, [blob]))


def received(*arrays, header_pad: int = 0) -> bytes:
    """A message body carrying `arrays` as pack writes them; header_pad spaces more in the last .npy header
    (a writer other than pack: its data then starts wherever the padding puts it)."""
    tree, arrays = protocol.encode(list(arrays))
    body = bytearray(protocol.pack({"value": tree}, arrays)[8:])
    if header_pad:
        *_, last = protocol.split(bytes(body))[1]
        start = len(body) - len(last)  # the last blob: magic, version, header length, header, data
        (size,) = struct.unpack_from("<H", body, start + 8)
        body[start + 10 + size - 1 : start + 10 + size - 1] = b" " * header_pad  # before the header's newline
        struct.pack_into("<H", body, start + 8, size + header_pad)
        struct.pack_into("<Q", body, start - 8, len(last) + header_pad)
    return bytes(body)


def test_npy_headers_are_numpys_layout_for_every_offset_the_second_time_too():
    """Do the .npy headers written (and read back) through their caches equal what numpy's own reader finds,
    with the data aligned at every offset of the body, on a repeated pass (cache hits) as on the first?"""
    import io

    from grader.sandbox import npy

    arrays = [np.zeros(shape, dtype=dtype) for dtype in ("<f8", ">f8", "<f4", "|u1", "|b1", "<i8", ">i2", "<c16")
              for shape in ((), (0,), (3,), (2, 3), (1, 0, 4))]
    for _ in range(2):
        for array in arrays:
            for offset in range(0, 40, 3):
                head = npy.header(array, offset)
                stream = io.BytesIO(head)
                np.lib.format.read_magic(stream)
                expected = np.lib.format.read_array_header_1_0(stream)
                assert (offset + len(head)) % npy.ALIGN == 0 and stream.tell() == len(head)
                assert npy.fields(memoryview(head + array.tobytes())) == (*expected, len(head)), (array.dtype, offset)


def test_a_large_message_is_read_into_memory_mapped_at_once():
    """Is a message body from POPULATE_BYTES on read into an anonymous mapping (its pages made in one call) holding
    exactly the bytes sent, and a smaller one into a bytearray?"""
    large = bytes(range(256)) * ((protocol.npy.POPULATE_BYTES >> 8) + 3)
    read, write = os.pipe()
    writer = threading.Thread(target=lambda: [protocol.write_message(write, struct.pack("<Q", len(b)) + b)
                                              for b in (large, b"small")])  # fmt: skip
    writer.start()
    try:
        bodies = [protocol.read_message(read, protocol.MAX_REQUEST_BYTES) for _ in range(2)]
    finally:
        writer.join()
        os.close(read)
        os.close(write)
    assert type(bodies[0]) is mmap.mmap and bodies[0][:] == large
    assert type(bodies[1]) is bytearray and bodies[1] == b"small"


def test_received_arrays_are_writable_native_aligned_and_their_own():
    """Is every array decoded from a received message (large ones included, which a decoder may use where they
    lie) writable, in native byte order, aligned, equal to what was sent, sharing memory with no other array,
    and unchanged when a later message is received and changed, whether the body is fresh or read-only bytes?"""
    big = np.arange(1 << 18, dtype=np.float64)  # 2 MiB
    sent = [big, big[::-1].astype(">f8"), np.arange(3.0), big + 0.5]
    read, write = os.pipe()
    bodies = [received(*sent), received(*sent, header_pad=5)]  # the last array's data 5 bytes off alignment
    writer = threading.Thread(target=lambda: [protocol.write_message(write, struct.pack("<Q", len(b)) + b)
                                              for b in bodies])  # fmt: skip
    writer.start()
    try:
        got = []
        for _ in bodies:
            header, arrays = protocol.unpack(protocol.read_message(read, protocol.MAX_REQUEST_BYTES))
            got.append(protocol.decode(header["value"], arrays))
    finally:
        writer.join()
        os.close(read)
        os.close(write)
    got.append(protocol.decode(*(lambda h, a: (h["value"], a))(*protocol.unpack(bodies[0]))))  # a read-only body
    for values in got:
        for value, expected in zip(values, sent, strict=True):
            assert value.dtype.isnative and value.flags.writeable and value.flags.aligned and value.flags.c_contiguous
            assert np.array_equal(value, expected)
        assert not any(np.may_share_memory(a, b) for i, a in enumerate(values) for b in values[i + 1 :])
    first, second = got[0], got[1]
    for value in second:
        value[...] = -1  # the later message's arrays changed in place
    assert all(np.array_equal(value, expected) for value, expected in zip(first, sent, strict=True))
    assert not any(np.may_share_memory(a, b) for a in first for b in second)


def test_error_replies_with_malformed_frames_still_name_the_call():
    """Does an error reply whose frames are not [line, function, source] triples (a forged reply) still become the
    submission's error for that call, keeping the well-formed frames, instead of an exception of the grader?"""
    good = [3, "relu", "raise ValueError('bad')"]
    for frames in ([["x", "relu", "src"]], [[1, 2]], 5, "abc", {"abc": 1}, [[None, "f", "s"]], [good, "xyz"],
                   [good, [True, "f", "s"]], None):
        error = protocol.raised_error("relu", {"kind": "raised", "type": "ValueError", "builtin": "ValueError",
                                               "message": "bad", "frames": frames})
        assert isinstance(error, protocol.SubmissionRaised) and isinstance(error, ValueError), frames
        assert error.student_message.startswith("relu raised ValueError: bad"), error.student_message
        kept = [f for f in (frames if isinstance(frames, list) else []) if f == good]
        assert error.frames == [(3, "relu", "raise ValueError('bad')")] * len(kept), frames


@pytest.mark.parametrize(
    "tree, fragment",
    [
        ({"array": 3}, "unknown value tag"),
        ({"set": [1]}, "unknown value tag"),
        ({"list": [1], "tuple": [2]}, "unknown value tag"),
        ({"dict": [[{"list": []}, 1]]}, "dict key"),
        ({"float": "1e999"}, "unknown value tag"),
        ({"handle": 1, "type": "MLP"}, "a handle where none may be"),
        ([1, 2], "unexpected value of type list"),
    ],
)
def test_malformed_trees_are_rejected(tree, fragment):
    with pytest.raises(protocol.ProtocolError, match=fragment):
        protocol.decode(tree, [])


def test_nesting_and_sizes_are_capped():
    deep = 1
    for _ in range(protocol.MAX_DEPTH + 2):
        deep = {"list": [deep]}
    with pytest.raises(protocol.ProtocolError, match="nested deeper"):
        protocol.decode(deep, [])
    with pytest.raises(protocol.ProtocolError, match="header length"):
        protocol.unpack(struct.pack("<I", 1 << 30) + b"{}")
    with pytest.raises(protocol.ProtocolError, match="not valid JSON"):
        protocol.unpack(struct.pack("<I", 2) + b"{x")
    with pytest.raises(protocol.ProtocolError, match="exceeds"):
        protocol.unpack(message({}, []) + struct.pack("<Q", 1 << 40) + b"tiny")
    read, write = os.pipe()
    try:
        os.write(write, struct.pack("<Q", protocol.MAX_REPLY_BYTES + 1))
        with pytest.raises(protocol.ProtocolError, match="over the limit"):
            protocol.read_message(read, protocol.MAX_REPLY_BYTES, time.monotonic() + 1)
    finally:
        os.close(read)
        os.close(write)


def test_clean_text_bounds_and_escapes():
    text = protocol.clean_text("a\nb\x1b[2J" + "x" * 1000, limit=50)
    assert "\n" not in text and "\x1b" not in text and "\\x1b" in text and "more characters" in text
    assert len(text) < 120


# --------------------------------------------------------------------------- the MNIST reader


def test_mnist_load_shapes_and_values():
    X, y, X_test, y_test = mnist.load()
    assert X.shape == (60000, 784) and X.dtype == np.float64 and y.dtype == np.int64
    assert X_test.shape == (10000, 784) and y_test.shape == (10000,)
    assert 0.0 <= X.min() and X.max() == 1.0
    assert np.bincount(y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    Y = mnist.dataset("mnist/test/Y")
    assert Y.shape == (10000, 10) and (Y.argmax(axis=1) == y_test).all()
    Y[0, 0] = 7.0  # fresh arrays: changing one does not change the next
    assert mnist.dataset("mnist/test/Y")[0, 0] == 0.0


def test_mnist_names_damaged_and_missing_files(tmp_path):
    source = ROOT / "data" / "mnist"
    for name in ("t10k-labels-idx1-ubyte.gz",):
        shutil.copy(source / name, tmp_path / name)
    with gzip.open(tmp_path / "t10k-labels-idx1-ubyte.gz", "rb") as f:
        raw = bytearray(f.read())
    raw[100] ^= 1
    (tmp_path / "damaged").mkdir()
    with gzip.open(tmp_path / "damaged" / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write(bytes(raw))
    with pytest.raises(mnist.DataError, match=r"t10k-labels-idx1-ubyte.gz in .*damaged is damaged: its SHA-256"):
        mnist.dataset("mnist/test/y", data_dir=tmp_path / "damaged")
    (tmp_path / "truncated").mkdir()
    (tmp_path / "truncated" / "t10k-labels-idx1-ubyte.gz").write_bytes((source / "t10k-labels-idx1-ubyte.gz").read_bytes()[:500])
    with pytest.raises(mnist.DataError, match="is damaged"):
        mnist.dataset("mnist/test/y", data_dir=tmp_path / "truncated")
    with pytest.raises(mnist.DataError, match=f"t10k-images-idx3-ubyte.gz is missing from {tmp_path}"):
        mnist.dataset("mnist/test/X", data_dir=tmp_path)
    assert mnist.dataset("mnist/test/y", data_dir=tmp_path)[:3].tolist() == [7, 2, 1]
