"""The contract's formulas (docs/contract.md): the activations, their derivatives, softmax and the losses,
in float64, written from the SPEC and never from the solution.

The one home of each formula the grader trusts. The hidden suite's answer key (tests/hidden/reference.py)
computes its expected values with them in the test process; the stand-ins (standin.py) put them in place
of a submission's own while a unit test runs, so both sides use the same numbers.

The grader's only: the student bundle leaves it out (grader/authoring/release.py ships SANDBOX_RUNTIME,
which does not list it), since it holds what the student writes. Never mounted in the worker: it receives a
stand-in as the source of that function and the helpers it calls (standin.source_of). Stdlib + NumPy
only, as everything the worker compiles.
"""

from __future__ import annotations

import numpy as np

# --------------------------------------------------------------------------- activations
# expit/log1p forms: exact for every finite float64, no overflow.


def sigmoid(z):
    z = np.asarray(z, dtype=np.float64)
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    e = np.exp(z[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def sigmoid_grad(z):
    s = sigmoid(z)
    return s * (1.0 - s)


def tanh(z):
    return np.tanh(np.asarray(z, dtype=np.float64))


def tanh_grad(z):
    return 1.0 / np.cosh(np.clip(np.asarray(z, dtype=np.float64), -350, 350)) ** 2


def relu(z):
    z = np.asarray(z, dtype=np.float64)
    return np.where(z > 0, z, 0.0)


def relu_grad(z):
    return np.where(np.asarray(z) > 0, 1.0, 0.0)


def leaky_relu(z, alpha=0.01):
    z = np.asarray(z, dtype=np.float64)
    return np.where(z > 0, z, alpha * z)


def leaky_relu_grad(z, alpha=0.01):
    return np.where(np.asarray(z) > 0, 1.0, float(alpha))


def elu(z, alpha=1.0):
    z = np.asarray(z, dtype=np.float64)
    return np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0.0)))


def elu_grad(z, alpha=1.0):
    z = np.asarray(z, dtype=np.float64)
    return np.where(z > 0, 1.0, alpha * np.exp(np.minimum(z, 0.0)))


def identity(z):
    return np.asarray(z, dtype=np.float64)


def identity_grad(z):
    return np.ones_like(np.asarray(z, dtype=np.float64))


ACTIVATIONS = {
    "sigmoid": (sigmoid, sigmoid_grad),
    "tanh": (tanh, tanh_grad),
    "relu": (relu, relu_grad),
    "leaky_relu": (leaky_relu, leaky_relu_grad),
    "elu": (elu, elu_grad),
    "identity": (identity, identity_grad),
}

# --------------------------------------------------------------------------- softmax and losses


def log_softmax(z):
    z = np.asarray(z, dtype=np.float64)
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax(z):
    # Not exp(log_softmax(z)): softmax's stand-in (standin.source_of) would then carry log_softmax, the
    # stable half of cross_entropy_loss, into the tests that judge cross-entropy.
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def rows(a) -> int:
    """N, the number of rows: the product of every axis but the last (1 for a single 1-D row)."""
    a = np.asarray(a)
    return int(np.prod(a.shape[:-1], dtype=np.int64))


def mse_loss(y_hat, y):
    return float(np.sum((y_hat - y) ** 2) / (2 * rows(y_hat)))


def mse_loss_grad(y_hat, y):
    return (y_hat - y) / rows(y_hat)


def cross_entropy_loss(logits, y):
    return float(-np.sum(y * log_softmax(logits)) / rows(logits))


def cross_entropy_loss_grad(logits, y):
    return (softmax(logits) - y) / rows(logits)


LOSSES = {"mse": (mse_loss, mse_loss_grad), "cross_entropy": (cross_entropy_loss, cross_entropy_loss_grad)}
