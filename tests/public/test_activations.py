"""Activations and their derivatives, and the softmax.

Each activation f is checked twice: its values against the formula, and f_grad(z) against the slope
(f(z + h) - f(z - h)) / 2h of the true f, measured on points away from the kink at 0.
"""

import warnings

import numpy as np

H = 1e-5  # step of the centred differences


def points(rng, shape=(3, 5), low=0.1, high=4.0):
    """Pre-activations with |z| in [low, high] (away from the kink at 0), both signs, 2-D."""
    return rng.uniform(low, high, shape) * rng.choice([-1.0, 1.0], shape)


def slope(f, z):
    """The centred difference (f(z + h) - f(z - h)) / 2h, element-wise."""
    return (f(z + H) - f(z - H)) / (2 * H)


# The true functions, written out by the tests.
def true_sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def true_leaky_relu(z, alpha):
    return np.where(z > 0, z, alpha * z)


def true_elu(z, alpha):
    return np.where(z > 0, z, alpha * (np.exp(np.minimum(z, 0.0)) - 1.0))


def check_slope(check, got, f, z, name, hint):
    check.array(got, slope(f, z), call=f"{name}(z)", rtol=1e-6, atol=1e-8, at=z,
                hint=f"Look at {name}: it should return {hint}, the slope of f at z "
                     f"(here compared with (f(z+h) - f(z-h)) / 2h, h = {H:g}).")


# --------------------------------------------------------------------------- sigmoid


def test_sigmoid_values(student, check, rng):
    """Does sigmoid match 1/(1+e^-z)?"""
    z = np.concatenate([[-30.0, -2.0, 0.0, 0.5, 30.0], rng.normal(0, 3, 10)])
    check.array(student.sigmoid(z), true_sigmoid(z), call="sigmoid(z)", at=z,
                hint="Look at sigmoid: it should return 1 / (1 + e^-z), element-wise.")


def test_sigmoid_large_inputs(student, check):
    """Does sigmoid give 0 and 1 (not nan) for z = -1000 and z = +1000?"""
    z = np.array([-1000.0, -50.0, 50.0, 1000.0])
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = student.sigmoid(z)
    check.array(got, [0.0, true_sigmoid(-50.0), 1.0, 1.0], call="sigmoid(z)", at=z,
                hint="Look at sigmoid: e^z / (1 + e^z) gives inf / inf = nan for large z; "
                     "1 / (1 + e^-z) works, and using e^-|z| avoids the overflow altogether.")


def test_sigmoid_grad_slope(student, check, rng):
    """Does sigmoid_grad match the slope of sigmoid?"""
    z = points(rng)
    check_slope(check, student.sigmoid_grad(z), true_sigmoid, z, "sigmoid_grad",
                "sigmoid(z) * (1 - sigmoid(z))")


# --------------------------------------------------------------------------- tanh


def test_tanh_values(student, check, rng):
    """Does tanh match (e^z - e^-z)/(e^z + e^-z)?"""
    z = np.concatenate([[-20.0, -1.0, 0.0, 0.5, 20.0], rng.normal(0, 2, 10)])
    check.array(student.tanh(z), np.tanh(z), call="tanh(z)", at=z,
                hint="Look at tanh: it should return the hyperbolic tangent (np.tanh), element-wise.")


def test_tanh_grad_slope(student, check, rng):
    """Does tanh_grad match the slope of tanh?"""
    z = points(rng)
    check_slope(check, student.tanh_grad(z), np.tanh, z, "tanh_grad", "1 - tanh(z)^2")


# --------------------------------------------------------------------------- ReLU family


def test_relu_values(student, check, rng):
    """Does relu return max(z, 0)?"""
    z = np.concatenate([[-3.0, -0.5, 0.0, 0.5, 3.0], rng.normal(0, 2, 10)])
    check.array(student.relu(z), np.maximum(z, 0.0), call="relu(z)", at=z,
                hint="Look at relu: it should return max(z, 0) element-wise (np.maximum, not np.max).")


def test_relu_grad_slope(student, check, rng):
    """Does relu_grad give 1 where z > 0 and 0 where z < 0?"""
    z = points(rng)
    check_slope(check, student.relu_grad(z), lambda v: np.maximum(v, 0.0), z, "relu_grad",
                "1 where z > 0 and 0 where z < 0")


def test_leaky_relu_values(student, check, rng):
    """Does leaky_relu return z for z > 0 and alpha*z otherwise, for the default alpha and alpha=0.2?"""
    z = np.concatenate([[-3.0, -0.5, 0.5, 3.0], rng.normal(0, 2, 10)])
    hint = "Look at leaky_relu: z where z > 0, else alpha * z, with the alpha it was given."
    check.array(student.leaky_relu(z), true_leaky_relu(z, 0.01), call="leaky_relu(z)", at=z, hint=hint)
    check.array(student.leaky_relu(z, alpha=0.2), true_leaky_relu(z, 0.2), call="leaky_relu(z, alpha=0.2)",
                at=z, hint=hint)


def test_leaky_relu_grad_slope(student, check, rng):
    """Does leaky_relu_grad match the slope of leaky_relu, for the default alpha and alpha=0.2?"""
    z = points(rng)
    check_slope(check, student.leaky_relu_grad(z), lambda v: true_leaky_relu(v, 0.01), z,
                "leaky_relu_grad", "1 where z > 0, else alpha (default 0.01)")
    check_slope(check, student.leaky_relu_grad(z, alpha=0.2), lambda v: true_leaky_relu(v, 0.2), z,
                "leaky_relu_grad", "1 where z > 0, else the alpha it was given (here 0.2)")


def test_elu_values(student, check, rng):
    """Does elu return z for z > 0 and alpha*(e^z - 1) otherwise, for the default alpha and alpha=0.7?"""
    z = np.concatenate([[-5.0, -0.5, 0.5, 5.0], rng.normal(0, 2, 10)])
    hint = "Look at elu: z where z > 0, else alpha * (e^z - 1), with the alpha it was given."
    check.array(student.elu(z), true_elu(z, 1.0), call="elu(z)", at=z, hint=hint)
    check.array(student.elu(z, alpha=0.7), true_elu(z, 0.7), call="elu(z, alpha=0.7)", at=z, hint=hint)


def test_elu_grad_slope(student, check, rng):
    """Does elu_grad match the slope of elu, for the default alpha and alpha=0.7?"""
    z = points(rng)
    check_slope(check, student.elu_grad(z), lambda v: true_elu(v, 1.0), z, "elu_grad",
                "1 where z > 0, else alpha * e^z (default alpha 1)")
    check_slope(check, student.elu_grad(z, alpha=0.7), lambda v: true_elu(v, 0.7), z, "elu_grad",
                "1 where z > 0, else alpha * e^z with the alpha it was given (here 0.7)")


# --------------------------------------------------------------------------- softmax

LECTURE_X = [1, 0.1, 3, 0.1, 0.4, 2, 1, 0.05, 0]
LECTURE_PERCENT = [7.0, 2.9, 51.9, 2.9, 3.9, 19.1, 7.0, 2.7, 2.6]  # the lecture's table, rounded


def test_softmax_lecture_table(student, check):
    """Does softmax reproduce the lecture's table (x = [1, 0.1, 3, ...] -> [7.0, 2.9, 51.9, ...] %)?"""
    x = np.array(LECTURE_X)
    got = check.shaped(student.softmax(x), (9,), call="softmax(x)")
    check.array(100 * got, LECTURE_PERCENT, call="100 * softmax(x) (in %)", rtol=0, atol=0.1, at=x,
                at_name="x",
                hint="Look at softmax: e^x_i / sum_j e^x_j, so the entries are positive and sum to 100 %.")


def test_softmax_rows(student, check, rng):
    """Does softmax work row by row on a batch (N, K), each row summing to 1?"""
    Z = rng.normal(0, 2, (4, 6))  # (N, K)
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    expected = E / E.sum(axis=1, keepdims=True)  # (N, K)
    check.array(student.softmax(Z), expected, call="softmax(Z) for Z of shape (4, 6)",
                hint="Look at softmax: it works along the last axis, so every row is normalised on its "
                     "own (axis=-1 and keepdims=True in the max and the sum).")


def test_softmax_last_axis_of_3d(student, check, rng):
    """Does softmax work along the last axis of a 3-D array (2, 3, K) too?"""
    Z = rng.normal(0, 2, (2, 3, 5))
    E = np.exp(Z - Z.max(axis=-1, keepdims=True))
    check.array(student.softmax(Z), E / E.sum(axis=-1, keepdims=True), call="softmax(Z) for Z of shape (2, 3, 5)",
                hint="Look at softmax: axis=-1 (the last axis, whatever the number of dimensions), not axis=1.")


def test_softmax_large_logits(student, check):
    """Does softmax stay finite, exact and warning-free for logits like 1000 and -1000?"""
    Z = np.array([[1000.0, 0.0, -1000.0], [-1000.0, -1000.0, -1000.0], [800.0, 800.0, 0.0]])  # (3, 3)
    expected = np.array([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0.0]])
    hint = ("Look at softmax: e^1000 overflows. Subtract each row's maximum first; "
            "softmax(z) = softmax(z - c) for any c, and then every exponent is <= 0.")
    # In this process an overflow raises here; in the sandbox it shows as inf or nan in the values.
    got, problem = None, None
    try:
        with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"), \
                warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            got = student.softmax(Z)
    except (FloatingPointError, RuntimeWarning) as error:
        problem = f"{type(error).__name__}: {error}"
    if problem is not None:
        check.fail(f"softmax(Z) for Z = [[1000, 0, -1000], ...] raised {problem}.\n{hint}")
    check.array(got, expected, call="softmax([[1000, 0, -1000], [-1000, -1000, -1000], [800, 800, 0]])",
                hint=hint)


LARGE_Z = np.array([[-1000.0, -300.0, -40.0, 40.0, 300.0, 1000.0]])  # (1, 6)
LARGE_EXPECTED = {  # f(z) and f'(z) at LARGE_Z, worked out by hand (e^-40 is about 4e-18)
    "sigmoid": ([0.0, 0.0, np.exp(-40.0), 1.0, 1.0, 1.0], [0.0, 0.0, np.exp(-40.0), np.exp(-40.0), 0.0, 0.0]),
    "tanh": ([-1.0, -1.0, -1.0, 1.0, 1.0, 1.0], [0.0] * 6),
    "relu": ([0.0, 0.0, 0.0, 40.0, 300.0, 1000.0], [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]),
    "elu": ([-1.0, -1.0, np.expm1(-40.0), 40.0, 300.0, 1000.0], [0.0, 0.0, np.exp(-40.0), 1.0, 1.0, 1.0]),
}


def test_activations_and_derivatives_large_inputs(student, check):
    """Do the activations and their derivatives stay finite, exact and warning-free for |z| up to 1000?"""
    for name, (values, slopes) in LARGE_EXPECTED.items():
        for function, expected in ((name, values), (f"{name}_grad", slopes)):
            try:
                with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"), \
                        warnings.catch_warnings():
                    warnings.simplefilter("error", RuntimeWarning)
                    got = getattr(student, function)(LARGE_Z.copy())
            except (FloatingPointError, RuntimeWarning) as error:
                check.fail(f"{function}(z) for z = [-1000, ..., 1000] raised {type(error).__name__}: {error}.\n"
                           f"Look at {function}: e^1000 overflows; write it from a form that cannot overflow "
                           "(for sigmoid_grad: s * (1 - s) with the stable sigmoid).")
            check.array(got, np.array([expected]), call=f"{function}(z) for z = [-1000, -300, -40, 40, 300, 1000]",
                        rtol=1e-9, atol=1e-12, at=LARGE_Z,
                        hint=f"Look at {function}: it must stay exact for large |z| too.")


def test_functions_leave_their_arguments_unchanged(student, check, rng):
    """Do the activations, derivatives and loss gradients leave the arrays they are given unchanged?"""
    z, y = rng.normal(0, 2, (4, 3)), np.eye(3)[[0, 2, 1, 0]]
    for name, args in (("tanh", (z,)), ("sigmoid_grad", (z,)), ("relu", (z,)), ("mse_loss_grad", (z, y)),
                       ("cross_entropy_loss_grad", (z, y))):
        held = [student.keep("identity", a.copy()) for a in args]  # the very arrays the function gets
        student.call(name, *held)
        for i, (h, a) in enumerate(zip(held, args)):
            check.array(student.read(h), a, call=f"argument {i + 1} of {name} after the call", rtol=0, atol=0,
                        hint=f"Look at {name}: it changed the array it was given (an in-place operation such as "
                             "-=, or out= pointing at an argument). In MLP.backward that array is the cached "
                             "pre-activation or output. Compute into a new array.")
