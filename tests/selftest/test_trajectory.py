"""tests/hidden/trajectory.py: what the learning tests accept as a training step, checked without a sandbox.

The hidden learning tests replay the steps the worker reports (trajectory.verify, with trajectory.close's
tolerance) and make one step through the model's methods themselves (trajectory.step_by_methods). Here both
meet a model object of this process: right steps pass, and the two ways a worker got wrong steps past them
before fail.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

KIT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(KIT))
sys.path.insert(0, str(KIT / "tests" / "hidden"))
import replay  # noqa: E402
import trajectory  # noqa: E402

SIZES = (2, 8, 1)
XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = np.array([[0.0], [1.0], [1.0], [0.0]])
RUN = trajectory.Run(SIZES, "tanh", "sigmoid", "mse", XOR_X, XOR_Y, (np.tile(np.arange(4), (3, 1)),), (2.0,), 4)


def parameters(seed: int = 0) -> list:
    """weights then biases of a 2-8-1 net, as a trajectory state lists them."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) * 0.7 for shape in RUN.shapes()]


def test_a_step_computed_in_another_order_of_operations_passes():
    """Does a right step computed another way (the update in place, the gradient summed in another order) pass?"""
    start = parameters()
    want = trajectory.reference_step(RUN, start, np.arange(4), 2.0)
    dWs, dbs = replay.gradients(start[:2], start[2:], XOR_X[::-1], XOR_Y[::-1], "tanh", "sigmoid", "mse")
    got = [p.copy() for p in start]
    for p, g in zip(got, dWs + dbs):
        p -= 2.0 * g
    assert all(trajectory.close(s, w, g) for s, w, g in zip(start, want, got))


def test_one_huge_entry_does_not_loosen_the_rest_of_its_array():
    """Does a reported state with one huge entry that changes nothing (a tanh unit at 1 whatever its input, its
    outgoing weight 0) still have every other entry of that array checked to the usual tolerance?"""
    start = parameters()
    W1, W2, b1, _ = start
    W1[7], b1[7], W2[0, 7] = 0.0, 1e20, 0.0
    want = trajectory.reference_step(RUN, start, np.arange(4), 2.0)
    faked = [w.copy() for w in want]
    faked[2][:7] += 0.5  # the other hidden biases moved 0.5 further than the gradient says
    assert trajectory.close(start[0], want[0], faked[0])  # the arrays left as the replay made them pass
    assert not trajectory.close(start[2], want[2], faked[2]), (
        f"deviation {trajectory.deviation(start[2], want[2], faked[2]):.3g}: one entry of 1e20 made the array free")


class Model:
    """An MLP object as the learning tests see one: attributes set and read, forward, loss, backward, update.
    `bug`: "none" leaves the activations' derivative out of backward (a bug that still learns)."""

    def __init__(self, bug: str = ""):
        self.bug = bug

    def set_attrs(self, values: dict) -> None:
        for name, value in values.items():
            setattr(self, name, [np.array(v, dtype=np.float64) for v in value])

    def get_attrs(self, names):
        return iter([list(getattr(self, name)) for name in names])

    def forward(self, X):
        self.X = X

    def loss(self, Y):
        return 0.0

    def backward(self, Y):
        params = self.weights + self.biases
        if self.bug:
            self.grads = trajectory.variant_gradients(RUN, params, self.X, Y, self.bug)
        else:
            dWs, dbs = replay.gradients(self.weights, self.biases, self.X, Y, "tanh", "sigmoid", "mse")
            self.grads = dWs + dbs

    def update(self, lr):
        layers = len(self.weights)
        self.weights = [p - lr * g for p, g in zip(self.weights, self.grads[:layers])]
        self.biases = [p - lr * g for p, g in zip(self.biases, self.grads[layers:])]


def test_the_step_through_the_methods_passes_right_methods():
    """Does a model whose forward, loss, backward and update make the reference step pass the step made through them?"""
    trajectory.step_by_methods(Model(), RUN, RUN.steps()[0], RUN.names(), "secret", "XOR")


def test_the_step_through_the_methods_fails_a_wrong_backward_whatever_the_reported_states():
    """Does a backward without the activations' derivative fail the step made through the methods, with the step,
    the parameter, the moves and the likely cause (so a training loop replaced in the worker that reported the
    reference steps, computed some other way, still fails)?"""
    with pytest.raises(pytest.fail.Exception) as failed:
        trajectory.step_by_methods(Model(bug="none"), RUN, RUN.steps()[0], RUN.names(), "secret", "XOR")
    message = str(failed.value)
    assert "one training step called as MLP.forward(X), loss(Y), backward(Y), update(2)" in message
    assert "expected" in message and "Likely cause: the gradient leaves out the activations' derivative" in message
