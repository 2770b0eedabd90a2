"""grader/sandbox/training.py: the step check's sample of a large array is the same in every run.

The check follows small arrays whole and samples the entries of large ones. Its draws come from a
generator seeded from the trusted batch order, so a submission whose update changes a few weights
gets the same verdict and the same message in every run, not one that depends on which entries an
unseeded draw happened to pick.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from grader.sandbox import training  # noqa: E402

N_IN, N_OUT, ROWS = 100, 60, 64  # 6,000 weights: more than Steps.FULL, so they are sampled


class SlightlyWrongUpdate:
    """A linear model with MSE whose update also nudges 2 of its 6,000 weights (about one step in three
    puts one of them in a 1,024-entry sample): caught at some step, which depends on the draws."""

    def __init__(self):
        rng = np.random.default_rng(0)
        self.weights = [rng.normal(size=(N_OUT, N_IN))]  # (n_out, n_in)
        self.biases = [np.zeros(N_OUT)]  # (n_out,)
        self.nudged = rng.choice(N_OUT * N_IN, 2, replace=False)

    def forward(self, X):
        self.X = X  # (batch, n_in)
        self.Y = X @ self.weights[0].T + self.biases[0]  # (batch, n_out)
        return self.Y

    def loss(self, T):
        return float(np.mean((self.Y - T) ** 2))

    def backward(self, T):
        dY = 2 * (self.Y - T) / self.Y.size  # (batch, n_out)
        self.grad_weights = [dY.T @ self.X]  # (n_out, n_in)
        self.grad_biases = [dY.sum(axis=0)]  # (n_out,)

    def update(self, lr):
        self.weights[0] -= lr * self.grad_weights[0]
        self.biases[0] -= lr * self.grad_biases[0]
        self.weights[0].flat[self.nudged] += 1e-3


def verdict(order) -> str:
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(ROWS, N_IN)), rng.normal(size=(ROWS, N_OUT))
    with pytest.raises(training.UpdateMismatch) as raised:
        training.run_epochs(SlightlyWrongUpdate(), X, Y, order, 1, 0.01)
    return str(raised.value)


def test_the_same_order_gives_the_same_verdict_and_message():
    """Five runs on the same batch order: one message, naming the same step (the draws are seeded by the order)."""
    order = np.random.default_rng(7).permutation(ROWS)[None, :]
    messages = {verdict(order) for _ in range(5)}
    assert len(messages) == 1, messages
    assert "weights[0] is not p - lr * grad_p" in messages.pop()


def test_another_order_draws_other_entries():
    """The sample follows the order, so it is not one fixed set of entries a submission could spare."""
    steps = [training.Steps(SlightlyWrongUpdate(), 0.01, seed=np.random.default_rng(s).permutation(ROWS)[:32].tolist())
             for s in (1, 2)]  # fmt: skip
    for s in steps:
        s.begin()
    first, second = (s.big[0][0] for s in steps)
    assert not np.array_equal(first, second)
