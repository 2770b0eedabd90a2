"""Comparisons for the hidden suite that fail with a message a student can act on.

Every failure goes through `fail` (pytest.fail with pytrace=False): the message says what was
expected, what came back, where to look and, when the pattern is recognisable, a hint (off by the
batch size, wrong sign, transposed, a factor 2, NaN after large inputs, ...). No test code is ever
quoted.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

GRAD_TOL = 1e-6  # ‖a − n‖ / (‖a‖ + ‖n‖) for one parameter array, float64, h = 1e-5 (numerics.md §1.3)


def fail(message: str):
    pytest.fail(message, pytrace=False)


def short(value, limit: int = 120) -> str:
    """A compact text of a value for a message."""
    if isinstance(value, np.ndarray):
        with np.printoptions(precision=4, suppress=False, threshold=8, edgeitems=3, linewidth=10_000):
            text = np.array2string(value, separator=", ")
        text = " ".join(text.split())
    else:
        try:
            text = repr(value)
        except Exception:  # a hostile or deeply nested value
            text = "(a value that cannot be shown)"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def dtype_problem(value: np.ndarray) -> str:
    """A message part when an array is not float64 (the SPEC: every array a stub returns is float64)."""
    kind = value.dtype
    if kind == np.float64:
        return ""
    if kind == np.bool_:
        return ("it is a boolean array (True/False), not float64: convert with .astype(np.float64) "
                "(a comparison such as z > 0 gives booleans)")
    if kind.kind == "f":
        return (f"the result looks computed in {kind.name}; the contract uses float64 "
                f"(look for astype(np.{kind.name}), dtype=np.{kind.name} or {kind.name} inputs)")
    if kind.kind in "iu":
        return (f"it has the integer dtype {kind.name}, not float64: convert with .astype(np.float64) "
                "(or use 1.0/0.0 instead of 1/0)")
    return f"it has dtype {kind.name}; expected float64"


def array(value, what: str, shape=None, look: str = "") -> np.ndarray:
    """`value` as a float64 array, failing with a clear message if it is not a float64 array of the right shape."""
    where = f" Look at {look}." if look else ""
    expect = "a NumPy array of float64" + (f" of shape {tuple(shape)}" if shape is not None else "")
    if isinstance(value, (list, tuple)) and not isinstance(value, np.ndarray):
        fail(f"{what} returned a {type(value).__name__} (not an array); expected {expect}.{where}")
    if not isinstance(value, np.ndarray):
        fail(f"{what} returned {described(value)}; expected {expect}.{where}")
    if value.dtype.kind not in "biuf":
        fail(f"{what} returned an array of dtype {value.dtype}; expected {expect}.{where}")
    if value.dtype.byteorder not in "=|" and value.dtype.newbyteorder("=") == np.float64:
        value = value.astype(np.float64)  # float64 numbers stored big-endian: the same numbers
    problem = dtype_problem(value)
    if problem:
        fail(f"{what} returned an array of dtype {value.dtype.name}; expected float64: {problem}.{where}")
    result = np.asarray(value, dtype=np.float64)
    if shape is not None and result.shape != tuple(shape):
        hint = ""
        if result.shape == tuple(shape)[::-1] and len(shape) == 2:
            hint = " It has the transposed shape: check the order of the matrix product (or a stray .T)."
        elif result.size == int(np.prod(shape)):
            hint = " It has the right number of entries but the wrong shape: check the axis of a sum or a reshape."
        elif len(shape) == 2 and result.shape == (shape[0],):
            hint = " A dimension was lost: check keepdims=True or an axis you summed over."
        fail(f"{what} returned an array of shape {result.shape}; expected {tuple(shape)}.{hint}{where}")
    return result


def kind_of(value) -> str:
    """The kind of a returned value in words a student knows (never the kit's own type names)."""
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "a bool"
    if isinstance(value, int):
        return "an int"
    if isinstance(value, (float, str, dict, list, tuple)):
        return f"a {type(value).__name__}"
    if hasattr(value, "type_name"):  # an object of the submission seen through a handle
        return f"an object ({str(value.type_name)[:40]})"
    return "an object"


def model(value, call: str):
    """`value` when it is an object of the submission (an MLP behind a handle); else a failure naming the class."""
    if not hasattr(value, "type_name"):
        fail(f"{call} gave {described(value)}; expected an MLP object. Look at the MLP class (it must stay a class).")
    return value


def described(value) -> str:
    """'None', or the kind of a value followed by a short text of it."""
    return "None" if value is None else f"{kind_of(value)} {short(value)}"


def array_list(value, what: str, shapes, look: str = "") -> list:
    """`value` as a list of float64 arrays with the given shapes (weights, gradients, ...)."""
    where = f" Look at {look}." if look else ""
    if not isinstance(value, (list, tuple)):
        fail(f"{what} is {described(value)}; expected a list of {len(shapes)} arrays "
             f"(one per layer).{where}")
    if len(value) != len(shapes):
        fail(f"{what} is a list of length {len(value)}; expected {len(shapes)} arrays (one per layer).{where}")
    return [array(v, f"{what}[{i}]", s, look) for i, (v, s) in enumerate(zip(value, shapes))]


def scalar(value, what: str, look: str = "") -> float:
    where = f" Look at {look}." if look else ""
    if isinstance(value, np.ndarray):
        if value.size != 1:
            fail(f"{what} returned an array of shape {value.shape}; expected one number (a float).{where}")
        if value.dtype.kind not in "iuf":
            fail(f"{what} returned an array of dtype {value.dtype}; expected one number (a float).{where}")
        value = value.reshape(()).item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        fail(f"{what} returned {described(value)}; expected a float.{where}")
    if not is_number(value):
        fail(f"{what} returned an int of {len(str(abs(value))) if abs(value) < 10 ** 4000 else 'over 4000'} digits, "
             f"beyond the range of a float; expected a float.{where}")
    return float(value)


def is_number(value) -> bool:
    """A plain int or float that a float can hold (not a bool; an int beyond 1.8e308 cannot)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if isinstance(value, int):
        return abs(value) <= MAX_FLOAT_INT
    return True


MAX_FLOAT_INT = int(np.finfo(np.float64).max)


def floats(value, shape=None):
    """`value` (an array, or nested lists/tuples of plain numbers) as a float64 array, or None when it is not
    one: never raises, whatever the submission returned (strings, huge ints, ragged lists, objects)."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            return None
        result = value.astype(np.float64)
    else:
        def plain(v, depth=0):
            if depth > 32:
                return False
            if isinstance(v, (list, tuple)):
                return all(plain(x, depth + 1) for x in v)
            return is_number(v)
        if not plain(value):
            return None
        try:
            result = np.asarray(value, dtype=np.float64)
        except (ValueError, TypeError, OverflowError):  # ragged lists
            return None
    if shape is not None and result.shape != tuple(shape):
        return None
    return result


FLOAT32_RTOL = 3e-6  # float32 arithmetic: a few units of 2^-23 relative error per value


def looks_float32(got, expected, atol: float) -> bool:
    """Every value right to float32 precision (but not to float64's): computed in float32 somewhere."""
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if got.shape != expected.shape or not np.all(np.isfinite(got)):
        return False
    error = np.abs(got - expected)
    return bool(np.all(error <= FLOAT32_RTOL * np.abs(expected) + atol) and np.any(error > 1e-9 * np.abs(expected) + atol))


FLOAT32_TEXT = ("The result looks computed in float32 (every value right to about 7 digits only); the contract uses "
                "float64: look for astype(np.float32), dtype=np.float32 or float32 constants.")


def scalar_close(what: str, got, expected: float, *, rtol=1e-9, atol=1e-12, context="", look="", n=None, lr=None,
                 hints=(), k=None):
    """Compare a returned number with the expected one; hints for float32, ratios (2, N, -1, lr) and NaN."""
    value = scalar(got, what, look)
    if math.isclose(value, expected, rel_tol=rtol, abs_tol=atol):
        return value
    parts = [f"{what} returned {value:.10g}; expected {expected:.10g}{context}."]
    if not math.isfinite(value):
        parts.append("It is not finite: something overflowed (exp of a large number?) or 0 * inf / log(0) happened; "
                     "shift by the row maximum (log-sum-exp) before exponentiating.")
    elif any(hints):
        pass  # a recognised cause (the caller's) says more than a factor or a precision guess
    elif looks_float32(value, expected, atol):
        parts.append(FLOAT32_TEXT)
    else:
        ratio_text = ratio_hint(np.array([value]), np.array([expected]), n, lr, k)
        if ratio_text:
            parts.append(ratio_text)
    parts.extend(h for h in hints if h)
    if look:
        parts.append(f"Look at {look}.")
    fail(" ".join(parts))


def factor_hint(r: float, n=None, lr=None, tol: float = 1e-6, k=None) -> str:
    """What a factor between the returned and the expected values suggests ("" when nothing clear).

    k (the number of outputs per row) tells N * K from N: np.mean over every entry of an (N, K) batch
    divides by N * K, the contract's losses by N."""
    if not math.isfinite(r) or abs(r - 1.0) < 0.01 or r == 0.0:
        return ""  # within 1 % of 1: not a factor, a different error (and 0 is said as "all zeros")
    candidates = []
    if k and k > 2 and k != n:
        candidates += [
            (1.0 / k, f"It is K = {k} times too small (K = {k} outputs per row): it is divided by N * K, the number "
                      "of entries (np.mean over every entry), instead of by N, the number of rows."),
            (0.5 / k, f"It is 2K = {2 * k} times too small: the mean over all N * K entries, halved; mse_loss is the "
                      "sum of the squared errors divided by 2N (N rows), not by 2 * N * K."),
            (2.0 / k, f"It is K/2 = {k / 2:g} times too small: np.mean over all N * K entries without the 1/2 is "
                      "sum / (N * K); mse_loss is sum / (2N), N = the number of rows."),
        ]
    candidates += [
        (-1.0, "It has the wrong sign (ratio -1): check the order of a subtraction (y_hat - y, not y - y_hat) "
               "or a minus sign that is missing or doubled."),
        (2.0, "It is twice the expected value: check the 1/2 in the loss (mse = sum/(2N)) or a gradient counted twice."),
        (0.5, "It is half the expected value: a factor 1/2 too many (the 1/2 of mse_loss cancels in its gradient)."),
    ]
    if n and n > 2:
        candidates += [
            (float(n), f"It is {n} times too large (N = {n}, the batch size): divide by N (average over the samples)."),
            (1.0 / n, f"It is {n} times too small (N = {n}, the batch size): something is divided by N twice, "
                      "or a sum over the batch became a mean."),
            (float(n) ** 2, f"It is N^2 = {n * n} times too large: the average over the batch is missing twice."),
            (1.0 / n ** 2, f"It is N^2 = {n * n} times too small: divided by N too often."),
        ]
    if lr and abs(lr - 1.0) > 0.01 and abs(lr - 0.5) > 0.01 and abs(lr - 2.0) > 0.01:
        candidates += [(float(lr), f"It is lr = {lr:g} times the expected value: the learning rate is applied "
                                   "where it does not belong."),
                       (1.0 / lr, f"It is 1/lr = {1 / lr:.4g} times the expected value: the learning rate is "
                                  "missing.")]
    for value, text in candidates:
        if abs(r - value) <= tol * abs(value):
            return text
    return f"It is the expected value times {r:.4g}, the same factor everywhere."


def ratio_hint(got: np.ndarray, expected: np.ndarray, n=None, lr=None, k=None) -> str:
    """A hint when `got` is a constant multiple of `expected`."""
    g = np.asarray(got, dtype=np.float64).ravel()
    e = np.asarray(expected, dtype=np.float64).ravel()
    if g.shape != e.shape or not np.all(np.isfinite(g)):
        return ""
    ee = float(e @ e)
    if ee == 0.0:
        return "Expected all zeros." if np.any(g) else ""
    if not np.any(g):
        return "Everything came back as 0: is the value ever computed or stored?"
    r = float(g @ e) / ee
    if np.linalg.norm(g - r * e) > 1e-6 * max(np.linalg.norm(g), 1e-300):
        return ""
    return factor_hint(r, n, lr, k=k)


def worst_entry(value: np.ndarray, expected: np.ndarray) -> tuple:
    """The index of the entry with the largest error (a non-finite value counts as the largest)."""
    with np.errstate(invalid="ignore", over="ignore"):
        error = np.abs(value - expected)
    error = np.where(np.isfinite(error), error, np.inf)
    flat = int(np.argmax(error)) if error.size else 0
    return tuple(int(i) for i in np.unravel_index(flat, value.shape)) if value.ndim else ()


def arrays_close(what: str, got, expected, *, rtol=1e-9, atol=1e-10, context="", look="", n=None, lr=None,
                 hints=(), k=None):
    """Compare a returned array with the expected one; dtype, shape, finiteness and values, with hints."""
    expected = np.asarray(expected, dtype=np.float64)
    value = array(got, what, expected.shape, look)
    if np.allclose(value, expected, rtol=rtol, atol=atol):
        return value
    parts = []
    bad = ~np.isclose(value, expected, rtol=rtol, atol=atol)
    count = int(bad.sum())
    worst = worst_entry(value, expected)
    where_text = f" at index {worst}" if value.ndim else ""
    with np.errstate(invalid="ignore", over="ignore"):
        max_err = float(np.abs(value[worst] - expected[worst]))
    parts.append(
        f"{what} differs from the expected values{context}: {count} of {value.size} entries wrong; "
        f"the largest error is{where_text}: got {value[worst]:.8g}, expected {expected[worst]:.8g}"
        + (f" (error {max_err:.3g})" if math.isfinite(max_err) else "") + "."
    )
    if not np.all(np.isfinite(value)):
        k = int((~np.isfinite(value)).sum())
        parts.append(f"{k} entries are NaN or inf although the expected values are finite: something overflowed "
                     "for large inputs (exp of a large number, inf/inf, 0*log 0); use a form that cannot overflow.")
    elif looks_float32(value, expected, atol):
        parts.append(FLOAT32_TEXT)
    else:
        text = ratio_hint(value, expected, n, lr, k) if value.size >= 3 else ""  # 1-2 entries: any factor fits
        if text:
            parts.append(text)
        elif value.ndim == 2 and value.shape[0] == value.shape[1] and np.allclose(value, expected.T, rtol=rtol, atol=atol):
            parts.append("It equals the transpose of the expected array: check the order of the matrix product.")
    parts.extend(h for h in hints if h)
    if look:
        parts.append(f"Look at {look}.")
    fail(" ".join(parts))


def rel_error(a, n) -> float:
    a = np.asarray(a, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    denom = np.linalg.norm(a) + np.linalg.norm(n)
    if denom < 1e-14:
        return 0.0
    return float(np.linalg.norm(a - n) / denom)


def same_history(a, b) -> bool:
    """Two histories equal up to rounding (the same computation, repeated)."""
    if not (isinstance(a, dict) and isinstance(b, dict)) or set(a) != set(b):
        return False
    for k in a:
        x, y = floats(a[k]), floats(b[k])
        if x is None or y is None or x.shape != y.shape or not np.allclose(x, y, rtol=1e-9, atol=1e-12, equal_nan=True):
            return False
    return True


def no_warnings(student, call, what, advice="Shift by the row maximum before exp."):
    """Run `call`; in-process, fail on an overflow/invalid/divide warning (the sandbox shows only values)."""
    if student.backend != "in-process":
        return call()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        try:
            with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
                return call()
        except (FloatingPointError, RuntimeWarning) as error:
            fail(f"{what} raised a floating-point warning for large inputs ({error}); the SPEC requires "
                 f"no overflow or warning for any finite input. {advice}")


BIG_LOGITS = np.array([
    [1e4, 0.0, -1e4, 3.0],
    [-1e4, -1e4, 5.0, -1e4 + 1],
    [1e4, 1e4 - 1.0, 1e4 - 2.0, -1e4],
    [800.0, 799.0, -800.0, 0.0],
])
