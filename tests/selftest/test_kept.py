"""Kept values and trusted training steps of the `student` fixture: the same on both backends.

`keep` leaves a returned value with the submission, `read` copies it out later, so a returned internal
buffer becomes visible; `run_epochs` runs the given train's steps next to the model.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from grader import sandbox  # noqa: E402
from grader.sandbox import protocol  # noqa: E402
from grader.sandbox.inprocess import InProcessStudent  # noqa: E402

SUBMISSION = '''
import numpy as np

_BUFFER = np.zeros(3)

def doubled_into_buffer(z):
    _BUFFER[:] = 2 * z
    return _BUFFER

def doubled(z):
    return 2 * z

def add_one_in_place(z):
    z += 1

def pair(z):
    return [z, {"twice": 2 * z}]

class Model:
    def __init__(self):
        self.weights = [np.zeros((1, 2))]
        self.biases = [np.zeros(1)]
        self.grads = [np.zeros(2)]
        self.calls = []

    def fill(self, value):
        self.grads[0][:] = value

    def replace(self, value):
        self.grads[0] = np.full(2, float(value))

    def forward(self, X):
        self.X = X
        return X @ self.weights[0].T + self.biases[0]

    def loss(self, Y):
        return float(np.mean((self.forward(self.X) - Y) ** 2) / 2)

    def backward(self, Y):
        d = (self.forward(self.X) - Y) / len(Y)
        self.grad_weights, self.grad_biases = [d.T @ self.X], [d.sum(axis=0)]  # the contract's names
        self.calls.append(len(Y))

    def update(self, lr):
        self.weights[0] = self.weights[0] - lr * self.grad_weights[0]
        self.biases[0] = self.biases[0] - lr * self.grad_biases[0]


class IgnoresLr(Model):
    def update(self, lr):
        self.weights[0] = self.weights[0] - self.grad_weights[0]
        self.biases[0] = self.biases[0] - lr * self.grad_biases[0]


class Guarded:
    @property
    def biases(self):
        return None

    @biases.setter
    def biases(self, value):
        raise ValueError("biases are read-only here")

    @property
    def broken(self):
        raise RuntimeError("broken getter")
'''




@pytest.fixture(params=["sandbox", "in-process"])
def both(request, tmp_path):
    path = tmp_path / "exercise02_template.py"
    path.write_text(SUBMISSION)
    if request.param == "sandbox":
        handle = sandbox.SandboxStudent(path, call_timeout=10)
    else:
        handle = InProcessStudent(path)
    yield handle
    handle.close()


def test_a_kept_buffer_shows_the_later_overwrite(both):
    kept = both.keep("doubled_into_buffer", np.ones(3))
    assert both.read(kept).tolist() == [2.0, 2.0, 2.0]
    both.call("doubled_into_buffer", np.full(3, 5.0))
    assert both.read(kept).tolist() == [10.0, 10.0, 10.0]  # the caller's result was overwritten
    fresh = both.keep("doubled", np.ones(3))
    both.call("doubled", np.full(3, 5.0))
    assert both.read(fresh).tolist() == [2.0, 2.0, 2.0]


def test_set_attrs_sets_in_order_and_names_the_one_that_raised(both):
    """Does set_attrs set copies one after the other, stop at the first that raises and name that one?"""
    model, weights = both.call("Guarded"), [np.ones(2)]
    with pytest.raises(ValueError, match="read-only") as raised:
        model.set_attrs({"weights": weights, "biases": [np.zeros(1)], "after": 1})
    if both.backend != "in-process":  # the sandbox names the call; in-process the submission's own error rises
        assert raised.value.call == "setting Guarded.biases" and raised.value.type_name == "ValueError"
    weights[0][:] = 5.0
    assert model.get("weights")[0].tolist() == [1.0, 1.0]  # set before, and a copy
    with pytest.raises(Exception, match="no attribute 'after'"):
        model.get("after")
    model.set_attrs({"weights": [np.zeros(1)], "after": 2})
    assert model.get("after") == 2 and model.get("weights")[0].tolist() == [0.0]


def test_construct_sets_attributes_on_the_new_object_only(both):
    """Does construct make the object and set copies of the attributes on it (a setter's error named as set names
    it), and leave a returned value that is no object as `call` gives it?"""
    weights = [np.ones((1, 2))]
    model = both.construct("Model", [], {}, {"weights": weights, "extra": 3})
    weights[0][:] = 5.0
    assert model.type_name == "Model" and model.get("extra") == 3 and model.get("weights")[0].tolist() == [[1.0, 1.0]]
    assert both.construct("doubled", [np.ones(3)], {}, {"weights": weights}).tolist() == [2.0, 2.0, 2.0]
    with pytest.raises(ValueError, match="read-only") as raised:
        both.construct("Guarded", [], {}, {"weights": [np.zeros(1)], "biases": [np.zeros(1)]})
    if both.backend != "in-process":
        assert raised.value.call == "setting Guarded.biases"
    with pytest.raises(Exception, match="no function or class named 'Missing'"):
        both.construct("Missing", [], {}, {"weights": weights})


def test_get_attrs_gives_copies_in_order_and_raises_where_a_get_would(both):
    """Does get_attrs give copies in order, and raise at the attribute whose get fails, with that get's error?"""
    model = both.construct("Model", [], {}, {"extra": 3})
    extra, weights = model.get_attrs(["extra", "weights"])
    weights[0][:] = 5.0
    assert extra == 3 and model.get("weights")[0].tolist() == [[0.0, 0.0]]
    lazy = model.get_attrs(["extra", "nothing", "extra"])
    assert next(lazy) == 3
    with pytest.raises(Exception, match="no attribute 'nothing'"):
        next(lazy)
    lazy = both.call("Guarded").get_attrs(["biases", "broken"])
    assert next(lazy) is None
    with pytest.raises(RuntimeError, match="broken getter") as raised:
        next(lazy)
    if both.backend != "in-process":
        assert raised.value.call == "Guarded.broken"


def test_plain_calls_still_copy(both):
    first = both.call("doubled_into_buffer", np.ones(3))
    both.call("doubled_into_buffer", np.full(3, 5.0))
    assert first.tolist() == [2.0, 2.0, 2.0]


def test_a_kept_value_passed_back_is_the_same_object(both):
    kept = both.keep("doubled", np.ones(2))
    both.call("add_one_in_place", kept)
    assert both.read(kept).tolist() == [3.0, 3.0]


def test_containers_are_rebuilt_and_arrays_held(both):
    model = both.call("Model")
    grads = model.keep_attr("grads")
    model.fill(7.0)  # in place: the held array shows it
    assert [g.tolist() for g in both.read(grads)] == [[7.0, 7.0]]
    model.replace(1.0)  # a new array in the model's list: the kept list still holds the old one
    assert [g.tolist() for g in both.read(grads)] == [[7.0, 7.0]]
    kept = both.keep("pair", np.ones(1))
    value = both.read(kept)
    assert isinstance(value, list) and value[0].tolist() == [1.0] and value[1]["twice"].tolist() == [2.0]
    assert both.read(model.keep("forward", np.ones((1, 2)))).tolist() == [[0.0]]


def test_read_wants_a_kept_value(both):
    with pytest.raises(TypeError):
        both.read(both.call("Model"))


def test_run_epochs_runs_the_steps_in_the_given_order(both):
    model = both.call("Model")
    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    Y = np.array([[1.0], [2.0], [3.0]])
    order = np.array([[2, 0, 1], [1, 2, 0]])
    reply = both.run_epochs(model, X, Y, order, 2, 0.5)
    losses = reply["losses"]
    assert isinstance(losses, list) and len(losses) == 2 and all(isinstance(v, float) for v in losses)
    assert model.get("calls") == [2, 1, 2, 1]
    W, b = np.zeros((1, 2)), np.zeros(1)  # the same steps here
    for epoch in order:
        for start in (0, 2):
            rows = epoch[start : start + 2]
            d = (X[rows] @ W.T + b - Y[rows]) / len(rows)
            W, b = W - 0.5 * d.T @ X[rows], b - 0.5 * d.sum(axis=0)
    assert np.allclose(model.get("weights")[0], W) and np.allclose(model.get("biases")[0], b)
    assert [s.shape for s in reply["states"]] == [(5, 1, 2), (5, 1)]  # before, after each of its 4 steps
    assert np.array_equal(reply["states"][0][-1], model.get("weights")[0]) and not reply["states"][0][0].any()
    pixels = np.array([[255, 0], [0, 255], [255, 255]], dtype=np.uint8)
    scaled = both.call("Model")
    both.run_epochs(scaled, pixels, Y, order, 2, 0.5, 255.0)
    assert np.allclose(scaled.get("weights")[0], W)


def test_run_epochs_schedule_equals_its_calls_one_after_the_other(both):
    """Does a schedule (orders and rates in lists, X sent once) train exactly as one call per rate would, and
    refuse orders and rates that do not pair up?"""
    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    Y = np.array([[1.0], [2.0], [3.0]])
    parts, rates = [np.array([[2, 0]]), np.array([[1, 0, 2]])], [0.5, 0.1]
    apart, together = both.call("Model"), both.call("Model")
    losses = [loss for part, rate in zip(parts, rates) for loss in both.run_epochs(apart, X, Y, part, 2, rate)["losses"]]
    assert both.run_epochs(together, X, Y, parts, 2, rates)["losses"] == losses and len(losses) == 2
    assert together.get("calls") == apart.get("calls") == [2, 2, 1]
    for name in ("weights", "biases"):
        assert np.array_equal(together.get(name)[0], apart.get(name)[0])
    with pytest.raises(Exception, match="one order per learning rate"):
        both.run_epochs(both.call("Model"), X, Y, parts, 2, rates[:1])


def test_run_epochs_stops_when_a_step_is_not_minus_lr_times_the_gradients(both):
    """Does the training loop refuse an update that ignores its learning rate (learning needs the gradients)?"""
    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    Y = np.array([[1.0], [2.0], [3.0]])
    with pytest.raises(Exception) as raised:
        both.run_epochs(both.call("IgnoresLr"), X, Y, np.array([[2, 0, 1]]), 2, 0.5)
    assert str(getattr(raised.value, "type_name", type(raised.value).__name__)) == "UpdateMismatch"
    assert "weights[0] is not p - lr * grad_p" in str(raised.value)
    assert len(both.run_epochs(both.call("Model"), X, Y, np.array([[2, 0, 1]]), 2, 0.5)["losses"]) == 1  # the honest twin


def test_kept_values_expire_with_their_worker(tmp_path):
    path = tmp_path / "exercise02_template.py"
    path.write_text(SUBMISSION + "\nimport time\ndef nap(s):\n    time.sleep(s)\n")
    student = sandbox.SandboxStudent(path, call_timeout=1, wall_timeout=2)  # a nap uses no CPU: the wall backstop
    try:
        kept = student.keep("doubled", np.ones(1))
        with pytest.raises(protocol.CallTimeout):
            student.call("nap", 5)
        with pytest.raises(protocol.HandleExpired):
            student.read(kept)
    finally:
        student.close()
