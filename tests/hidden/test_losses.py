"""The two losses and their gradients (10 points).

N is the number of rows: the product of every axis but the last (SPEC: the losses work along the
last axis for any number of dimensions). For a 2-D batch (N, K) that is shape[0]; for (2, 3, K) it is
6; a single 1-D row has N = 1. docs/hidden-suite.md explains the choice.
"""

from __future__ import annotations

import numpy as np
import pytest

import check
import reference as ref

H = 1e-5


def finite_differences(f, x):
    """Centred differences of the scalar function f at every entry of x."""
    g = np.zeros_like(x)
    for ix in np.ndindex(x.shape):
        old = x[ix]
        x[ix] = old + H
        fp = f(x)
        x[ix] = old - H
        fm = f(x)
        x[ix] = old
        g[ix] = (fp - fm) / (2 * H)
    return g


def one_hot(rng, n, k):
    labels = rng.integers(0, k, n)
    return np.eye(k)[labels]


@pytest.mark.points(1)
def test_mse_loss_value(student, rng):
    """Is mse_loss sum((y_hat - y)^2) / (2N) for a batch of N rows?"""
    y_hat, y = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    check.scalar_close("mse_loss(y_hat, y) for N = 6 rows, 3 outputs", student.mse_loss(y_hat, y),
                       ref.mse_loss(y_hat, y), n=6, look="mse_loss: sum of the squared errors / (2N), N = number of rows")


@pytest.mark.points(2)
def test_mse_loss_grad_matches_finite_differences(student, rng):
    """Is mse_loss_grad the derivative of mse_loss with respect to y_hat, (y_hat - y) / N?"""
    y_hat, y = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
    expected = finite_differences(lambda v: ref.mse_loss(v, y), y_hat.copy())
    check.arrays_close("mse_loss_grad(y_hat, y) for N = 5", student.mse_loss_grad(y_hat, y), expected,
                       rtol=1e-6, atol=1e-9, n=5, look="mse_loss_grad: (y_hat - y) / N")


@pytest.mark.points(1)
def test_cross_entropy_loss_value(student, rng):
    """Is cross_entropy_loss -sum(y * log softmax(logits)) / N for one-hot y?"""
    logits, y = rng.normal(0.0, 2.0, (6, 4)), one_hot(rng, 6, 4)
    check.scalar_close("cross_entropy_loss(logits, y) for N = 6, 4 classes", student.cross_entropy_loss(logits, y),
                       ref.cross_entropy_loss(logits, y), n=6,
                       look="cross_entropy_loss: the mean over rows of -sum_k y_k log softmax(logits)_k")


@pytest.mark.points(2)
def test_cross_entropy_loss_grad_matches_finite_differences(student, rng):
    """Is cross_entropy_loss_grad the derivative of the loss with respect to the logits, (softmax - y) / N?"""
    logits, y = rng.normal(0.0, 2.0, (7, 3)), one_hot(rng, 7, 3)
    expected = finite_differences(lambda v: ref.cross_entropy_loss(v, y), logits.copy())
    got = student.cross_entropy_loss_grad(logits, y)
    hints = []
    if isinstance(got, np.ndarray) and got.shape == logits.shape and np.allclose(got, ref.softmax(logits) - y):
        hints.append("It equals softmax(logits) - y without the 1/N: the loss is a mean over the batch.")
    check.arrays_close("cross_entropy_loss_grad(logits, y) for N = 7", got, expected, rtol=1e-6, atol=1e-9, n=7,
                       look="cross_entropy_loss_grad: (softmax(logits) - y) / N", hints=hints)


@pytest.mark.points(2)
def test_cross_entropy_large_logits(student):
    """Are cross_entropy_loss and its gradient finite and right for logits up to +-1e4?"""
    labels = np.array([2, 0, 3, 2])  # the true class has a tiny probability in rows 0, 1, 2 and 3
    y = np.eye(4)[labels]
    value = check.no_warnings(student, lambda: student.cross_entropy_loss(check.BIG_LOGITS.copy(), y), "cross_entropy_loss")
    check.scalar_close("cross_entropy_loss(logits, y) for logits up to +-1e4", value,
                       ref.cross_entropy_loss(check.BIG_LOGITS, y), rtol=1e-9,
                       look="cross_entropy_loss: compute log softmax as (z - max) - log(sum(exp(z - max))) "
                            "instead of log(softmax(z)), which is log(0) = -inf here")
    grad = check.no_warnings(student, lambda: student.cross_entropy_loss_grad(check.BIG_LOGITS.copy(), y), "cross_entropy_loss_grad")
    check.arrays_close("cross_entropy_loss_grad(logits, y) for logits up to +-1e4", grad,
                       ref.cross_entropy_loss_grad(check.BIG_LOGITS, y), rtol=1e-9, atol=1e-12,
                       look="cross_entropy_loss_grad: use your stable softmax")


def rows_hint(got, y_hat, y, f, shape) -> str:
    """A hint when the value matches a division by shape[0] (or by nothing) instead of by the number of rows."""
    if not isinstance(got, (int, float)) or isinstance(got, bool):
        return ""
    value = f(y_hat, y)
    rows = ref.rows(y_hat)
    for divisor, text in ((shape[0], f"shape[0] = {shape[0]}"), (1, "1 (no mean)")):
        if divisor != rows and abs(got - value * rows / divisor) <= 1e-9 * max(1.0, abs(value * rows / divisor)):
            return (f"The value is the sum divided by {text}; N is the number of rows, {rows} for shape {shape}: "
                    "every axis but the last (y_hat.size // y_hat.shape[-1]; a 1-D row has N = 1).")
    return ""


@pytest.mark.points(2)
def test_losses_any_number_of_dimensions(student, rng):
    """Do both losses and their gradients work along the last axis for 1-D and 3-D inputs (N = number of rows)?"""
    look = "the losses: N = the number of rows = the product of every axis but the last (1 for a 1-D row)"
    for shape in ((4,), (2, 3, 4)):
        y_hat, y = rng.normal(size=shape), rng.uniform(0.0, 1.0, shape)
        logits = rng.normal(0.0, 2.0, shape)
        labels = np.eye(shape[-1])[rng.integers(0, shape[-1], shape[:-1])]
        got = student.mse_loss(y_hat.copy(), y.copy())
        check.scalar_close(f"mse_loss(y_hat, y) for shape {shape}", got, ref.mse_loss(y_hat, y), look=look,
                           hints=(rows_hint(got, y_hat, y, ref.mse_loss, shape),))
        check.arrays_close(f"mse_loss_grad(y_hat, y) for shape {shape}", student.mse_loss_grad(y_hat.copy(), y.copy()),
                           ref.mse_loss_grad(y_hat, y), rtol=1e-9, atol=1e-12, look=look)
        got = student.cross_entropy_loss(logits.copy(), labels.copy())
        check.scalar_close(f"cross_entropy_loss(logits, y) for shape {shape}", got,
                           ref.cross_entropy_loss(logits, labels), look=look,
                           hints=(rows_hint(got, logits, labels, ref.cross_entropy_loss, shape),))
        check.arrays_close(f"cross_entropy_loss_grad(logits, y) for shape {shape}",
                           student.cross_entropy_loss_grad(logits.copy(), labels.copy()),
                           ref.cross_entropy_loss_grad(logits, labels), rtol=1e-9, atol=1e-12, look=look)
