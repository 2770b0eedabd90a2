"""MLP.forward, loss and update (18 points; backward: test_backward.py; purity and seeds: test_state.py).

Weights and biases are drawn here and copied into the submission's MLP with `set`; every expected
value comes from reference.py in this process. The forward checks include nets with square weight
matrices and batch sizes equal to a layer width, so a forward that picks the orientation of a
product by comparing shapes fails."""

from __future__ import annotations

import numpy as np
import pytest

import check
import nets
import reference as ref

HIDDEN = ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "identity"]
OUTPUTS = ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "identity"]
HEADS = {  # name -> (output_activation, loss)
    "ce": ("identity", "cross_entropy"),
    "mse": ("sigmoid", "mse"),
}
FORWARD_NETS = [  # (layer sizes, N): distinct widths, then square matrices with N equal to a width
    ([5, 4, 3], 6), ([4, 5, 6, 3], 6), ([3, 6, 5, 4, 2], 6), ([4, 4, 3], 4), ([3, 5, 5, 5], 5), ([3, 3], 3),
]


def forward_checked(net, model, what="MLP.forward(X)"):
    """Run forward; fail with hints unless it matches the reference output."""
    got = model.forward(net.X.copy())
    check.arrays_close(f"{what} of {net.describe()}", got, net.output(), rtol=1e-9, atol=1e-10,
                       look="MLP.forward: X_l = f(X_{l-1} @ W_l.T + b_l), hidden layers with activation, "
                            "the last with output_activation", hints=nets.forward_hints(net, got))
    return got


# --------------------------------------------------------------------------- forward


@pytest.mark.parametrize("activation", [pytest.param(a, marks=pytest.mark.points(1)) for a in HIDDEN])
def test_mlp_forward_hidden_activation(student, rng, activation):
    """Does MLP.forward match the reference for this hidden activation at several depths and shapes?"""
    for sizes, n in FORWARD_NETS:
        net = nets.random_net(rng, sizes, activation, "identity", "mse", n=n)
        forward_checked(net, net.build(student))


@pytest.mark.points(3)
def test_mlp_forward_output_activations(student, rng):
    """Does MLP.forward apply each output activation to the last layer only?"""
    for output_activation in OUTPUTS:
        net = nets.random_net(rng, [4, 5, 3], "tanh", output_activation, "mse", n=5)
        forward_checked(net, net.build(student))
    net = nets.random_net(rng, [3, 4], "relu", "sigmoid", "mse", n=5)  # a single layer: output activation only
    forward_checked(net, net.build(student), "MLP.forward(X) (one layer)")


@pytest.mark.points(2)
def test_mlp_forward_rows_independent(student, rng):
    """Is row i of forward(X) the output for X[i] alone (no mixing across the batch)?"""
    net = nets.random_net(rng, [4, 6, 3], "relu", "identity", "cross_entropy", n=6)
    model = net.build(student)
    whole = forward_checked(net, model)
    for i in range(net.n):
        row = check.array(model.forward(net.X[i : i + 1].copy()), f"MLP.forward(X[{i}:{i + 1}])", (1, 3),
                          look="MLP.forward")
        if not np.allclose(row[0], whole[i], rtol=1e-10, atol=1e-12):
            check.fail(f"MLP.forward(X[{i}:{i + 1}]) gave {check.short(row[0])}, but row {i} of MLP.forward(X) is "
                       f"{check.short(whole[i])}: the output of a sample must not depend on the other rows. "
                       "Look at MLP.forward: no sum, mean or max over axis 0.")


# --------------------------------------------------------------------------- loss


@pytest.mark.points(3)
def test_mlp_loss_with_regularisation(student, rng):
    """Is MLP.loss the mean data loss plus l1 * sum|W| + (l2/2) * sum W^2 over the weights only?"""
    for head, (l1, l2) in (("mse", (0.0, 0.0)), ("ce", (0.0, 0.0)), ("mse", (0.02, 0.3)), ("ce", (0.05, 0.0)),
                           ("ce", (0.0, 0.2))):
        output_activation, loss = HEADS[head]
        net = nets.random_net(rng, [4, 5, 3], "tanh", output_activation, loss, n=5, l1=l1, l2=l2)
        model = net.build(student)
        model.forward(net.X.copy())
        got = model.loss(net.Y.copy())
        expected = net.loss_value()
        data = ref.LOSSES[loss][0](net.output(), net.Y)
        hints = []
        try:
            value = float(got) if isinstance(got, (int, float, np.ndarray)) else None
        except Exception:  # an array of several numbers, a huge int: no hint, scalar_close says why
            value = None
        if value is not None and (l1 or l2):
            Ws, bs = net.weights, net.biases
            variants = [
                ("the regularisation term is missing", data),
                ("the l2 term lacks the factor 1/2", data + ref.penalty(Ws, l1, 2 * l2)),
                ("the penalty also covers the biases (it must cover the weights only)",
                 data + ref.penalty(Ws + [b[None] for b in bs], l1, l2)),
                ("the l1 term is missing", data + ref.penalty(Ws, 0.0, l2)),
                ("the l2 term is missing", data + ref.penalty(Ws, l1, 0.0)),
                ("the l1 term uses sum W instead of sum |W|", data + sum(l1 * W.sum() + 0.5 * l2 * (W * W).sum() for W in Ws)),
            ]
            for text, v in variants:
                if abs(value - v) <= 1e-9 * max(1.0, abs(v)) and abs(v - expected) > 1e-9:
                    hints.append(f"The value matches the loss when {text}.")
                    break
        check.scalar_close(f"MLP.loss(Y) of {net.describe()}", got, expected, rtol=1e-8, atol=1e-12, n=net.n,
                           look="MLP.loss: the data loss of the latest forward output plus the penalty over "
                                "self.weights", hints=hints)


# --------------------------------------------------------------------------- purity (more in test_state.py)


def weights_of(model, net):
    """The model's weights and biases, validated (a list of float64 arrays per kind, of net's shapes)."""
    weights, biases = model.get_attrs(["weights", "biases"])
    return (check.array_list(weights, "model.weights", [W.shape for W in net.weights], look="MLP"),
            check.array_list(biases, "model.biases", [b.shape for b in net.biases], look="MLP"))


# --------------------------------------------------------------------------- update


UPDATE_STEPS = (0.37, 0.05, 1.3)  # three steps, other gradients each time


def update_hint(kind, layer, got, p, g, lr, l2, step) -> str:
    """What a wrong step looks like (the gradients stored now are g; l2 is the model's)."""
    if got.shape != p.shape:
        return ""
    if np.array_equal(got, p):
        return f"{kind}[{layer}] did not change at all."
    for wrong, text in ((p + lr * g, "It moved along +grad: gradient descent subtracts lr * grad."),
                        (p - g, "It moved by the whole gradient: multiply by lr."),
                        (p - lr * lr * g, "It moved by lr^2 * grad."),
                        (p - lr * (g + l2 * p), "It applied weight decay again (p - lr * (grad + l2 * p)): backward "
                         "already put l2 * W into grad_weights, so update only subtracts lr * grad.")):
        if l2 == 0 and "decay" in text:
            continue
        if np.allclose(got, wrong, rtol=1e-12, atol=1e-14):
            return text
    if step > 0:
        return (f"Step 1 was right but step {step + 1} is not: update keeps something between steps (a velocity, "
                "momentum, an old gradient or learning rate); each step uses only the gradients stored now.")
    return "It does not match p - lr * grad_p for the gradients stored in grad_weights/grad_biases."


@pytest.mark.points(4)
def test_mlp_update_step(student, rng):
    """Does MLP.update(lr) set every weight and bias p to exactly p - lr * grad_p, step after step, with l1/l2 set?"""
    net = nets.random_net(rng, [4, 5, 6, 3], "relu", "identity", "mse", n=4, l1=0.01, l2=0.3)
    model = net.build(student)
    params = {"weights": [W.copy() for W in net.weights], "biases": [b.copy() for b in net.biases]}
    for step, lr in enumerate(UPDATE_STEPS):
        grads = {"weights": [rng.standard_normal(W.shape) for W in net.weights],
                 "biases": [rng.standard_normal(b.shape) for b in net.biases]}
        model.set_attrs({"grad_weights": [g.copy() for g in grads["weights"]],
                         "grad_biases": [g.copy() for g in grads["biases"]]})
        model.update(lr)
        Ws, bs = weights_of(model, net)
        for kind, gots in (("weights", Ws), ("biases", bs)):
            for layer, (got, p, g) in enumerate(zip(gots, params[kind], grads[kind])):
                want = p - lr * g
                if got.shape == want.shape and np.allclose(got, want, rtol=1e-12, atol=1e-14):
                    continue
                error = float(np.max(np.abs(got - want))) if got.shape == want.shape else float("nan")
                check.fail(" ".join(x for x in [
                    f"After update({lr}) (step {step + 1} of {len(UPDATE_STEPS)}, l2 = {net.l2:g}), {kind}[{layer}] "
                    "is not p - lr * grad_p" +
                    (f" (largest difference {error:.3g}; got {check.short(got.ravel()[:4], 60)}, expected "
                     f"{check.short(want.ravel()[:4], 60)})." if got.shape == want.shape else
                     f": it has shape {got.shape}, expected {want.shape}."),
                    update_hint(kind, layer, got, p, g, lr, net.l2, step),
                    "Look at MLP.update: every weight and every bias, p - lr * grad using self.grad_weights "
                    "and self.grad_biases."] if x))
        params = {"weights": Ws, "biases": bs}


# --------------------------------------------------------------------------- seeds and names


def error_kind(error) -> str:
    """The submission's exception type name, on either backend (the sandbox's SubmissionRaised has type_name)."""
    return str(getattr(error, "type_name", None) or type(error).__name__)


@pytest.mark.points(0)
def test_mlp_rejects_bad_names(student):
    """Does MLP raise ValueError naming the allowed values for a bad activation, loss or combination?"""
    for kwargs, allowed in (({"activation": "swish"}, "relu"), ({"loss": "hinge"}, "mse"),
                            ({"output_activation": "softmax"}, "identity"),
                            ({"output_activation": "sigmoid", "loss": "cross_entropy"}, "identity")):
        try:
            student.MLP([3, 4, 2], **kwargs)
        except Exception as error:
            # in the sandbox a submission's ValueError arrives as a StudentError that is also a ValueError,
            # with str() = the submission's own message (grader.sandbox.protocol.SubmissionRaised)
            text = str(error)
            if not isinstance(error, ValueError):
                check.fail(f"MLP([3, 4, 2], {kwargs}) raised {error_kind(error)}; expected ValueError. "
                           "Look at MLP.__init__.")
            if allowed not in text:
                check.fail(f"MLP([3, 4, 2], {kwargs}) raised ValueError without naming the allowed values "
                           f"({text[:200]!r}). Look at MLP.__init__.")
            continue
        check.fail(f"MLP([3, 4, 2], {kwargs}) raised no error; expected ValueError naming the allowed values. "
                   "Look at MLP.__init__.")
