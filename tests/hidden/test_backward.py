"""MLP.backward: gradients of every weight and bias against finite differences (29 points).

Weights and biases are drawn here and copied into the submission's MLP with `set`; the numerical
gradient comes from the reference loss in this process (gradients.py says why and how).
Pre-activations are kept > 1e-3 away from the kinks and |W| > 0.05 when l1 > 0 (nets.py).

The networks are chosen so that shapes cannot hide a mistake: besides nets with distinct widths
there are nets with square weight matrices in the first, a middle and the last position, depths 1
to 4, and batch sizes equal to a layer width or to the number of outputs, so code that picks an
orientation or an axis by comparing shapes, or that only works for one depth, fails.
"""

from __future__ import annotations

import pytest

import check
import nets
import reference as ref
from gradients import describe_failures, gradient_check, gradient_failures

HIDDEN = ["sigmoid", "tanh", "relu", "leaky_relu", "elu"]
HEADS = {  # name -> (output_activation, loss)
    "ce": ("identity", "cross_entropy"),
    "mse": ("sigmoid", "mse"),
}


@pytest.mark.parametrize("activation", [pytest.param(a, marks=pytest.mark.points(2)) for a in HIDDEN])
def test_mlp_backward_gradient_check(student, rng, activation):
    """Does MLP.backward give d loss / d W and d loss / d b of every layer (4-5-6-3, cross-entropy, N = 7)?"""
    gradient_check(student, nets.random_net(rng, [4, 5, 6, 3], activation, "identity", "cross_entropy", n=7))


OUTPUT_CASES = {  # output activation -> the hidden activation it is paired with (every hidden one appears)
    "identity": "tanh",
    "sigmoid": "relu",
    "tanh": "sigmoid",
    "relu": "elu",
    "leaky_relu": "leaky_relu",
    "elu": "tanh",
}


@pytest.mark.parametrize("output_activation", [pytest.param(o, marks=pytest.mark.points(1)) for o in OUTPUT_CASES])
def test_mlp_backward_output_activation(student, rng, output_activation):
    """Does MLP.backward include the derivative of this output activation (mse loss, 4-6-3, N = 6)?"""
    for _ in range(100):  # both signs at the output, so a missing relu/leaky/elu derivative shows too
        net = nets.random_net(rng, [4, 6, 3], OUTPUT_CASES[output_activation], output_activation, "mse", n=6)
        _, zs = ref.forward(net.weights, net.biases, net.X, net.activation, output_activation, keep=True)
        if min((zs[-1] < 0).mean(), (zs[-1] > 0).mean()) >= 0.25:
            break
    gradient_check(student, net)


ARCHITECTURES = {  # id -> (layer sizes, batch size N); every one has a square W, N equals a width or n_out
    "3-3_N3": ([3, 3], 3, "tanh", "identity", "mse"),  # depth 1: the only W is square, N = n_out
    "4-4-2_N4": ([4, 4, 2], 4, "sigmoid", "identity", "cross_entropy"),  # square first, N = a width
    "2-5-5_N5": ([2, 5, 5], 5, "relu", "sigmoid", "mse"),  # square last, N = n_out
    "3-4-4-2_N2": ([3, 4, 4, 2], 2, "elu", "identity", "cross_entropy"),  # square middle, N = n_out
    "5-3-3-5_N3": ([5, 3, 3, 5], 3, "leaky_relu", "tanh", "mse"),  # square middle, N = a width
    "4-4-4-4-4_N4": ([4, 4, 4, 4, 4], 4, "tanh", "identity", "cross_entropy"),  # depth 4, all square, N = n_out
}


@pytest.mark.parametrize("architecture", [pytest.param(a, marks=pytest.mark.points(1)) for a in ARCHITECTURES])
def test_mlp_backward_square_shapes(student, rng, architecture):
    """Is MLP.backward right when weight matrices are square and N equals a layer width (no shape can hide a transpose)?"""
    sizes, n, activation, output_activation, loss = ARCHITECTURES[architecture]
    gradient_check(student, nets.random_net(rng, sizes, activation, output_activation, loss, n=n))


@pytest.mark.parametrize("activation, head, l1, l2", [
    pytest.param("relu", "ce", 0.0, 0.1, marks=pytest.mark.points(2), id="l2-relu-ce"),
    pytest.param("tanh", "mse", 0.03, 0.1, marks=pytest.mark.points(2), id="l1-l2-tanh-mse"),
])
def test_mlp_backward_regularised(student, rng, activation, head, l1, l2):
    """Does MLP.backward include the gradient of l1 * sum|W| + (l2/2) * sum W^2, and nothing for the biases?"""
    output_activation, loss = HEADS[head]
    gradient_check(student, nets.random_net(rng, [4, 5, 6, 3], activation, output_activation, loss, n=7,
                                            l1=l1, l2=l2))


DEPTH_SIZES = {1: [3, 4], 2: [5, 4, 3], 3: [4, 5, 6, 3], 4: [3, 6, 5, 4, 2]}


@pytest.mark.points(3)
def test_mlp_backward_depths(student, rng):
    """Does MLP.backward work for every depth from one layer to four layers?"""
    results = {}
    for depth, sizes in DEPTH_SIZES.items():
        net = nets.random_net(rng, sizes, "sigmoid", "identity", "cross_entropy" if depth % 2 else "mse", n=6)
        try:
            results[depth] = (net, *gradient_failures(net, net.build(student)))
        except Exception as error:  # the submission raised for this depth: the other depths still count
            text = getattr(error, "student_message", None) or f"{type(error).__name__}: {error}"
            failure = ("raised", f"forward/backward raised {str(text)[:300]}", "")
            results[depth] = (net, [failure], net.output(), ([], []))  # no verdict on forward here
    wrong = [d for d, (_, failures, _, _) in results.items() if failures]
    if not wrong:
        return
    right = [d for d in results if d not in wrong]
    net, failures, out, grads = results[wrong[0]]
    depth_text = ""
    if right:
        depth_text = (f" MLP.backward is right for {' and '.join(map(str, right))} layer(s) but wrong for "
                      f"{' and '.join(map(str, wrong))}: the loop over the layers (or an index in it) works for "
                      "some depths only; it must run from the last layer back to the first, whatever their number, "
                      "using each layer's own input, pre-activation and W.")
    check.fail(describe_failures(net, failures, out, grads) + depth_text)
