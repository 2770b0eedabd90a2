"""Helpers for the public tests: comparisons that fail with a message a student can act on.

Every failure says what was expected, what came back (a few numbers and the largest error) and
where to look (the function and a hint). Tests use them through the `check` fixture:

    check.array(got, expected, call="sigmoid(z)", hint="sigmoid should return 1 / (1 + e^-z)")
    check.number(got, expected, call="mse_loss(y_hat, y)", hint="...")
"""

from __future__ import annotations

import numpy as np
import pytest

SHOWN = 6  # how many numbers a message shows


def numbers(values, shown: int = SHOWN) -> str:
    """'[0.2689, 0.5, 0.7311, ...]': the first few entries of an array, 4 significant digits."""
    flat = np.asarray(values, dtype=np.float64).ravel()
    text = ", ".join(f"{v:.4g}" for v in flat[:shown])
    return f"[{text}{', ...' if flat.size > shown else ''}]"


def fail(message: str):
    pytest.fail(message, pytrace=False)


def as_array(got, *, call: str, shape: tuple) -> np.ndarray:
    """`got` as a float64 array of `shape`, or a failure that says what came back instead."""
    if got is None:
        fail(f"{call} returned None; expected an array of shape {shape}. Is a `return` missing?")
    if not isinstance(got, (np.ndarray, list, tuple, int, float)):
        fail(f"{call} returned {got!r}; expected a NumPy array of shape {shape}")
    array = np.asarray(got, dtype=np.float64)
    if array.shape != shape:
        fail(f"{call} returned shape {array.shape}; expected {shape}")
    return array


class Check:
    """Comparisons for the public tests; see the module docstring."""

    numbers = staticmethod(numbers)
    fail = staticmethod(fail)

    def shaped(self, got, shape, *, call: str) -> np.ndarray:
        """`got` as a float64 array, or a failure unless it has `shape`."""
        return as_array(got, call=call, shape=tuple(shape))

    def array(self, got, expected, *, call: str, hint: str, rtol=1e-7, atol=1e-10, at=None, at_name="z"):
        """Fail unless `got` has the shape of `expected` and matches it within rtol/atol.

        `at` (same shape) names the input where the largest error sits: "at z = -1.3".
        """
        expected = np.asarray(expected, dtype=np.float64)
        got = as_array(got, call=call, shape=expected.shape)
        if not np.all(np.isfinite(got)):
            bad = int(np.sum(~np.isfinite(got)))
            fail(f"{call}: {bad} of {got.size} values are not finite (inf or nan).\n"
                 f"  expected: {numbers(expected)}\n  got:      {numbers(got)}\n{hint}")
        error = np.abs(got - expected)
        wrong = error > atol + rtol * np.abs(expected)
        if wrong.any():
            worst = np.unravel_index(int(np.argmax(error)), error.shape)
            where = ""
            if at is not None:
                where = f" at {at_name} = {np.asarray(at, dtype=np.float64)[worst]:.4g}"
            elif error.ndim:
                where = f" at index {tuple(int(i) for i in worst)}"
            fail(f"{call} is wrong for {int(wrong.sum())} of {wrong.size} values "
                 f"(max error {error[worst]:.3g}{where}).\n"
                 f"  expected: {numbers(expected)}\n  got:      {numbers(got)}\n{hint}")
        return got

    def number(self, got, expected, *, call: str, hint: str, rtol=1e-7, atol=1e-12):
        """Fail unless `got` is one real number within rtol/atol of `expected`."""
        if got is None:
            fail(f"{call} returned None; expected a number ({expected:.6g}). Is a `return` missing?")
        if isinstance(got, bool) or not isinstance(got, (int, float, np.ndarray)):
            fail(f"{call} returned {got!r}; expected a number ({expected:.6g})")
        if np.size(got) != 1:
            fail(f"{call} returned an array of shape {np.shape(got)}; expected one number "
                 f"({expected:.6g}): the loss is summed over all entries and averaged over the rows")
        value = float(np.asarray(got).ravel()[0])
        if not abs(value - expected) <= atol + rtol * abs(expected):
            fail(f"{call} returned {value:.6g}; expected {expected:.6g} "
                 f"(error {abs(value - expected):.3g}).\n{hint}")
        return value


def centred_slopes(f, P, h):
    """d f() / d P by centred differences, entry by entry: P is changed in place and restored."""
    slopes = np.zeros_like(P)
    for ix in np.ndindex(P.shape):
        old = P[ix]
        P[ix] = old + h
        up = f()
        P[ix] = old - h
        down = f()
        P[ix] = old
        slopes[ix] = (up - down) / (2 * h)
    return slopes


@pytest.fixture(scope="session")
def slopes():
    """centred_slopes(f, P, h): the numerical gradient the gradient tests compare with."""
    return centred_slopes


@pytest.fixture(scope="session")
def check():
    """Comparisons with student-friendly failure messages."""
    return Check()
