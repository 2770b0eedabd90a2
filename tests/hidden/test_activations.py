"""Activations, their derivatives and the softmax (19 points).

Every returned array must be float64 of the input's shape (check.array says so otherwise, with its
own message for booleans, float32 and integers); softmax works along the last axis for any number
of dimensions (SPEC), so it is checked on 1-D, 2-D and 3-D inputs.
"""

from __future__ import annotations

import numpy as np
import pytest

import check
import reference as ref

H = 1e-5
NAMES = ["sigmoid", "tanh", "relu", "leaky_relu", "elu"]
FORMULAS = {
    "sigmoid": "1 / (1 + e^-z)",
    "tanh": "tanh(z)",
    "relu": "max(z, 0)",
    "leaky_relu": "z where z > 0, else alpha * z (alpha = 0.01 by default)",
    "elu": "z where z > 0, else alpha * (e^z - 1) (alpha = 1 by default)",
}
DERIVATIVES = {
    "sigmoid": "sigmoid(z) * (1 - sigmoid(z))",
    "tanh": "1 - tanh(z)^2",
    "relu": "1 where z > 0, else 0",
    "leaky_relu": "1 where z > 0, else alpha",
    "elu": "1 where z > 0, else alpha * e^z",
}


def away_from_kink(rng, shape, scale=3.0):
    """Random pre-activations with |z| > 1e-3, both signs."""
    z = rng.normal(0.0, scale, shape)
    small = np.abs(z) < 1e-3
    z[small] = np.where(z[small] < 0, -1e-3, 1e-3) * (1 + rng.uniform(0.0, 1.0, small.sum()))
    return z


def worst_input(got, expected, z, rtol, atol) -> str:
    """The input z of the entry with the largest error (the arrays' own message gives only its index)."""
    if not isinstance(got, np.ndarray) or got.shape != expected.shape or got.dtype.kind not in "biuf":
        return ""
    if np.allclose(got, expected, rtol=rtol, atol=atol):
        return ""
    ix = check.worst_entry(got.astype(np.float64), expected)
    return f"That entry is at z = {z[ix]:.6g}."


def compare(what, got, expected, z, look, rtol=1e-9, atol=1e-12, hints=()):
    extra = worst_input(got, np.asarray(expected), z, rtol, atol)
    check.arrays_close(what, got, expected, rtol=rtol, atol=atol, look=look, hints=(extra, *hints))


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.points(1)) for n in NAMES])
def test_activation_values(student, rng, name):
    """Does the activation return the right values, for ordinary and for very large |z|?"""
    z = np.concatenate([away_from_kink(rng, 20), [-1000.0, -40.0, -0.5, 0.5, 40.0, 1000.0]]).reshape(2, 13)
    f, _ = ref.ACTIVATIONS[name]
    got = getattr(student, name)(z)
    compare(f"{name}(z)", got, f(z), z, f"{name}: it should compute {FORMULAS[name]}")


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.points(1)) for n in NAMES])
def test_activation_grad_matches_finite_differences(student, rng, name):
    """Does the derivative agree with the slope (f(z+h) - f(z-h)) / 2h away from the kink, and stay exact for |z| up to 1e3?"""
    z = away_from_kink(rng, (3, 8))
    f, _ = ref.ACTIVATIONS[name]
    slope = (f(z + H) - f(z - H)) / (2 * H)
    got = getattr(student, f"{name}_grad")(z)
    hints = []
    if name == "relu" and isinstance(got, np.ndarray) and got.shape == z.shape and np.array_equal(got, (z < 0) * 1.0):
        hints.append("It is 1 where z < 0 and 0 where z > 0: the comparison is the wrong way round.")
    if name in ("sigmoid", "tanh") and isinstance(got, np.ndarray) and got.shape == z.shape:
        if np.allclose(got, ref.ACTIVATIONS[name][1](f(z)), rtol=1e-6):
            hints.append(f"It equals the derivative evaluated at {name}(z): {name}_grad receives the "
                         f"pre-activation z, not the activation.")
    compare(f"{name}_grad(z)", got, slope, z,
            f"{name}_grad: it should return {DERIVATIVES[name]}, evaluated at the pre-activation z",
            rtol=1e-5, atol=1e-8, hints=hints)
    big = np.array([[-1000.0, -300.0, -40.0, 40.0, 300.0, 1000.0]])  # like the activations' own large |z|
    got = check.no_warnings(student, lambda: getattr(student, f"{name}_grad")(big.copy()), f"{name}_grad",
                            advice=f"Write {name}_grad in a form that cannot overflow (for sigmoid: from the stable "
                                   "sigmoid, s * (1 - s); never e^-z / (1 + e^-z)^2).")
    compare(f"{name}_grad(z) for |z| up to 1e3", got, ref.ACTIVATIONS[name][1](big), big,
            f"{name}_grad: it must stay finite and exact for large |z| (e^1000 overflows; build it from the stable "
            f"activation)", rtol=1e-9, atol=1e-12)


@pytest.mark.points(2)
def test_activation_alpha_is_used(student, rng):
    """Do leaky_relu and elu (and their derivatives) use an alpha other than the default?"""
    z = away_from_kink(rng, (4, 6))
    for name, alpha in (("leaky_relu", 0.2), ("elu", 0.7)):
        f, df = ref.ACTIVATIONS[name]
        default = 0.01 if name == "leaky_relu" else 1.0
        hint = (f"The values match alpha = {default} (the default): the alpha argument is ignored."
                if isinstance(got := getattr(student, name)(z, alpha=alpha), np.ndarray) and got.shape == z.shape
                and np.allclose(got, f(z, default)) else "")
        compare(f"{name}(z, alpha={alpha})", got, f(z, alpha), z, f"{name}: use the alpha argument", hints=(hint,))
        got = getattr(student, f"{name}_grad")(z, alpha=alpha)
        hint = ""
        if isinstance(got, np.ndarray) and got.shape == z.shape:
            if np.allclose(got, df(z, default)):
                hint = f"The derivative matches alpha = {default}: the alpha argument is ignored."
            elif name == "elu" and np.allclose(got, np.where(z > 0, 1.0, np.exp(z))):
                hint = "For z < 0 it returns e^z: the factor alpha is missing (d/dz alpha*(e^z - 1) = alpha*e^z)."
        compare(f"{name}_grad(z, alpha={alpha})", got, df(z, alpha), z,
                f"{name}_grad: it should return {DERIVATIVES[name]}", rtol=1e-9, hints=(hint,))


# --------------------------------------------------------------------------- softmax

LECTURE_X = np.array([1.0, 0.1, 3.0, 0.1, 0.4, 2.0, 1.0, 0.05, 0.0])
LECTURE_PERCENT = [7.0, 2.9, 51.9, 2.9, 3.9, 19.1, 7.0, 2.7, 2.6]


@pytest.mark.points(1)
def test_softmax_lecture_table(student):
    """Does softmax reproduce the lecture's table (x = [1, 0.1, 3, ...] -> [7.0, 2.9, 51.9, ...] %)?"""
    z = LECTURE_X[None, :]  # one row, 9 classes
    got = student.softmax(z)
    check.arrays_close("softmax(x) for the lecture's x", got, ref.softmax(z), rtol=1e-9, atol=1e-12,
                       look=f"softmax: e^x_k / sum_j e^x_j along the last axis; the lecture's table in % is "
                            f"{LECTURE_PERCENT}")


@pytest.mark.points(1)
def test_softmax_rows_sum_to_one_and_shift_invariant(student, rng):
    """Do softmax rows sum to 1, and does adding a constant to a row leave it unchanged?"""
    z = rng.normal(0.0, 2.0, (5, 7))
    p = check.array(student.softmax(z), "softmax(z)", z.shape, look="softmax")
    sums = p.sum(axis=-1)
    if not np.allclose(sums, 1.0, rtol=0, atol=1e-10):
        check.fail(f"softmax(z) rows sum to {check.short(sums)}; every row should sum to 1. "
                   "Look at softmax: divide by the sum over the last axis (keepdims=True).")
    shift = rng.uniform(-50, 50, (5, 1))
    shifted = student.softmax(z + shift)
    check.arrays_close("softmax(z + c) with a different constant c per row", shifted, ref.softmax(z),
                       rtol=1e-9, atol=1e-12, look="softmax: it must not depend on a constant added to a row")


@pytest.mark.points(2)
def test_softmax_along_last_axis(student, rng):
    """Does softmax normalise each row (the last axis) of a non-square 2-D batch?"""
    for shape in ((3, 5), (6, 2)):
        z = rng.normal(0.0, 2.0, shape)
        got = student.softmax(z)
        hints = []
        if isinstance(got, np.ndarray) and got.shape == shape and np.allclose(got, ref.softmax(z.T).T):
            hints.append("Each column sums to 1 instead of each row: use axis=-1 (the last axis), not axis=0.")
        check.arrays_close(f"softmax(z) for z of shape {shape}", got, ref.softmax(z), rtol=1e-9, atol=1e-12,
                           look="softmax: max, exp and sum along axis=-1 with keepdims=True", hints=hints)


@pytest.mark.points(2)
def test_softmax_large_logits(student):
    """Is softmax finite and correct (no overflow, NaN or warning) for logits up to +-1e4?"""
    got = check.no_warnings(student, lambda: student.softmax(check.BIG_LOGITS.copy()), "softmax")
    check.arrays_close("softmax(z) for logits up to +-1e4", got, ref.softmax(check.BIG_LOGITS), rtol=1e-9, atol=1e-12,
                       look="softmax: subtract the row maximum before exp (softmax(z) = softmax(z - max z))")


@pytest.mark.points(1)
def test_softmax_any_number_of_dimensions(student, rng):
    """Does softmax work along the last axis of a 1-D vector and of a 3-D array as well as of a 2-D batch?"""
    for shape in ((6,), (2, 3, 4)):
        z = rng.normal(0.0, 2.0, shape)
        got = student.softmax(z.copy())
        hints = []
        if isinstance(got, np.ndarray) and got.shape == shape and got.dtype.kind == "f" and len(shape) == 3:
            for axis in (0, 1):
                if np.allclose(got, np.moveaxis(ref.softmax(np.moveaxis(z, axis, -1)), -1, axis)):
                    hints.append(f"It is normalised along axis {axis}: use axis=-1 (the last axis), which works for "
                                 "any number of dimensions.")
            if np.allclose(got, ref.softmax(z.reshape(-1)).reshape(shape)):
                hints.append("The whole array sums to 1: normalise each row (along axis=-1, keepdims=True).")
        if isinstance(got, np.ndarray) and got.shape == shape and len(shape) == 1 and \
                got.dtype.kind == "f" and np.allclose(got, 1.0):
            hints.append("Every entry is 1: a 1-D input is one row, so the sum runs over its only axis (axis=-1).")
        check.arrays_close(f"softmax(z) for z of shape {shape}", got, ref.softmax(z), rtol=1e-9, atol=1e-12,
                           look="softmax: max, exp and sum along axis=-1 with keepdims=True (not axis=1)", hints=hints)
