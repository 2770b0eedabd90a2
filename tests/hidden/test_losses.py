"""The two losses and their gradients (10 points), on 2-D batches (N, K) with N != K.

N is the number of rows, y.shape[0]: the template states it, and the public tests show it with
K != 2 (where a mean over all N * K entries gives another value). Inputs of other dimensions are not
graded (docs/hidden-suite.md, "Decision: the losses are graded on 2-D batches").
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


@pytest.mark.points(2)
def test_mse_loss_value(student, rng):
    """Is mse_loss sum((y_hat - y)^2) / (2N) for a batch of N rows?"""
    y_hat, y = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    check.scalar_close("mse_loss(y_hat, y) for N = 6 rows, 3 outputs", student.mse_loss(y_hat, y),
                       ref.mse_loss(y_hat, y), n=6, k=3, look="mse_loss: sum of the squared errors / (2N), N = number of rows")


@pytest.mark.points(2)
def test_mse_loss_grad_matches_finite_differences(student, rng):
    """Is mse_loss_grad the derivative of mse_loss with respect to y_hat, (y_hat - y) / N?"""
    y_hat, y = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
    expected = finite_differences(lambda v: ref.mse_loss(v, y), y_hat.copy())
    check.arrays_close("mse_loss_grad(y_hat, y) for N = 5", student.mse_loss_grad(y_hat, y), expected,
                       rtol=1e-6, atol=1e-9, n=5, k=4, look="mse_loss_grad: (y_hat - y) / N")


def eps_hint(got, logits, y) -> str:
    """A hint when the value is the loss with a small eps inside (or a floor under) the log."""
    if not check.is_number(got):
        return ""
    p = ref.softmax(logits)
    for eps in (1e-6, 1e-7, 1e-8, 1e-9, 1e-10, 1e-12, 1e-15):
        for variant in (p + eps, np.maximum(p, eps), np.clip(p, eps, 1 - eps)):
            value = float(-np.sum(y * np.log(variant)) / len(y))
            if abs(got - value) <= 1e-10 * abs(value) and abs(value - ref.cross_entropy_loss(logits, y)) > 1e-13:
                return (f"The value is the loss with an eps of {eps:g} inside the log (log(p + eps) or a floor at "
                        "eps), not a float32 error: the contract's loss is exact; compute log softmax directly as "
                        "(z - max) - log(sum(exp(z - max))), which needs no eps.")
    return ""


@pytest.mark.points(2)
def test_cross_entropy_loss_value(student, rng):
    """Is cross_entropy_loss -sum(y * log softmax(logits)) / N for one-hot y?"""
    logits, y = rng.normal(0.0, 2.0, (6, 4)), one_hot(rng, 6, 4)
    got = student.cross_entropy_loss(logits, y)
    check.scalar_close("cross_entropy_loss(logits, y) for N = 6, 4 classes", got,
                       ref.cross_entropy_loss(logits, y), n=6, k=4, hints=(eps_hint(got, logits, y),),
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
    check.arrays_close("cross_entropy_loss_grad(logits, y) for N = 7", got, expected, rtol=1e-6, atol=1e-9, n=7, k=3,
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
