"""MLP.forward, loss, backward and update (47 points; purity and seeds are in test_state.py).

Weights and biases are drawn here and copied into the submission's MLP with `set`; every expected
value comes from reference.py in this process.

Gradients: the analytic gradient comes from the submission's backward (called twice, then read
with `get`); the numerical one from centred differences of the *reference* loss in this process
(float64, h = 1e-5, pass at ‖a − n‖/(‖a‖ + ‖n‖) < 1e-6 per array). Why the reference loss and not
the submission's forward + loss: it needs no round trip per perturbation (fast in the sandbox), it
cannot be fooled by a forward/loss pair that is wrong in the same way as backward, and it is what
the SPEC asks for (d loss / d parameter of the SPEC's loss). A student whose forward is wrong also
fails here; the message then says so ("fix forward first"), so the cause is not hidden.
Pre-activations are kept > 1e-3 away from the kinks and |W| > 0.05 when l1 > 0 (nets.py).
"""

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
DEPTHS = [[5, 4, 3], [4, 5, 6, 3], [3, 6, 5, 4, 2]]


def forward_checked(net, model, what="MLP.forward(X)"):
    """Run forward; fail with hints unless it matches the reference output."""
    got = model.forward(net.X.copy())
    check.arrays_close(f"{what} of {net.describe()}", got, net.output(), rtol=1e-7, atol=1e-10,
                       look="MLP.forward: X_l = f(X_{l-1} @ W_l.T + b_l), hidden layers with activation, "
                            "the last with output_activation", hints=nets.forward_hints(net, got))
    return got


# --------------------------------------------------------------------------- forward


@pytest.mark.parametrize("activation", [pytest.param(a, marks=pytest.mark.points(1)) for a in HIDDEN])
def test_mlp_forward_hidden_activation(student, rng, activation):
    """Does MLP.forward match the reference for this hidden activation at several depths?"""
    for sizes in DEPTHS:
        net = nets.random_net(rng, sizes, activation, "identity", "mse", n=6)
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
            value = float(got)
        except (TypeError, ValueError):
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


# --------------------------------------------------------------------------- backward


def gradient_failures(net, model):
    """Run forward and backward twice (other targets first); return the failure texts of every W and b that differs."""
    out = model.forward(net.X.copy())
    # first with other targets, which a submission has not seen: backward must overwrite, not accumulate,
    # and remembering the answer for repeated inputs cannot hide adding up (test_state.py)
    model.backward(1.0 - net.Y)
    model.backward(net.Y.copy())
    got_W = model.get("grad_weights")
    got_b = model.get("grad_biases")
    num_W, num_b = net.numerical_gradients()
    layers = len(net.weights)
    for what, got in (("grad_weights", got_W), ("grad_biases", got_b)):
        if not isinstance(got, (list, tuple)) or len(got) != layers:
            check.fail(f"after MLP.backward(Y), {what} is {type(got).__name__} "
                       f"{'of length ' + str(len(got)) if isinstance(got, (list, tuple)) else check.short(got)}; "
                       f"expected a list of {layers} arrays (one per layer). Look at MLP.backward.")
    failures = []
    for kind, gots, nums, params in (("grad_weights", got_W, num_W, net.weights),
                                      ("grad_biases", got_b, num_b, net.biases)):
        for layer, (a, n, P) in enumerate(zip(gots, nums, params)):
            name = f"{kind}[{layer}]"
            if not isinstance(a, np.ndarray):
                failures.append((kind, f"{name} is {type(a).__name__}, not an array", ""))
                continue
            if a.shape != n.shape:
                hint = ("the transposed shape: dW = dZ.T @ X_prev has shape (n_out, n_in)"
                        if a.shape == n.shape[::-1] else "")
                failures.append((kind, f"{name} has shape {a.shape}, expected {n.shape}", hint.strip(" ()")))
                continue
            if not np.all(np.isfinite(a)):
                failures.append((kind, f"{name} contains NaN or inf", "something overflowed"))
                continue
            err = check.rel_error(a, n)
            if err < check.GRAD_TOL:
                continue
            failures.append((kind, f"{name} relative error {err:.2g}", gradient_hint(net, kind, a, n, P)))
    return failures, out


def gradient_hint(net, kind, a, n, P):
    if kind == "grad_weights" and a.shape[0] == a.shape[1] and np.allclose(a, n.T, rtol=1e-5, atol=1e-8):
        return "it equals the transpose of the right gradient: dW = dZ.T @ X_prev"
    if net.l2 and kind == "grad_weights" and np.allclose(a, n - net.l2 * P, rtol=1e-5, atol=1e-8):
        return "the l2 term l2 * W is missing from the gradient"
    if net.l2 and kind == "grad_biases" and np.allclose(a, n + net.l2 * P, rtol=1e-5, atol=1e-8):
        return "l2 * b was added: the regularisation covers the weights only, never the biases"
    if net.l1 and kind == "grad_weights":
        if np.allclose(a, n - net.l1 * np.sign(P), rtol=1e-5, atol=1e-8):
            return "the l1 term l1 * sign(W) is missing from the gradient"
        if np.allclose(a, n - 2 * net.l1 * np.sign(P), rtol=1e-5, atol=1e-8):
            return "the l1 term has the wrong sign: d(l1 * |W|)/dW = l1 * sign(W)"
    if net.l1 and kind == "grad_biases" and np.allclose(a, n + net.l1 * np.sign(P), rtol=1e-5, atol=1e-8):
        return "l1 * sign(b) was added: the regularisation covers the weights only, never the biases"
    g = a.ravel()
    e = n.ravel()
    if e @ e > 0 and np.linalg.norm(g - (g @ e) / (e @ e) * e) <= 1e-5 * np.linalg.norm(g):
        r = (g @ e) / (e @ e)
        if abs(r - 2) < 1e-4:
            return ("exactly 2x the right gradient: backward was called twice here, so it probably adds to the old "
                    "gradient (+=) instead of overwriting it" +
                    (", or the 1/2 of mse_loss is missing" if net.loss == "mse" else ""))
        if abs(r + 1) < 1e-4:
            return "the wrong sign (ratio -1): check y_hat - y vs y - y_hat"
        if abs(r - net.n) < 1e-3 * net.n:
            return f"{net.n} times too large (N = {net.n}): the 1/N of the mean loss is missing"
        if abs(r - 1 / net.n) < 1e-3 / net.n:
            return f"{net.n} times too small (N = {net.n}): divided by N twice, or a mean over the batch instead of a sum"
        if abs(r - 1 / net.n ** 2) < 1e-3 / net.n ** 2:
            return f"N^2 = {net.n ** 2} times too small: divided by N too often"
        return f"the right gradient times {r:.4g}"
    if not np.any(a):
        return "all zeros: is it ever assigned?"
    return ""


def gradient_check(student, net):
    model = net.build(student)
    failures, out = gradient_failures(net, model)
    if not failures:
        return
    groups = {}  # hint -> failure texts, so one hint is said once
    for _, text, hint in failures:
        groups.setdefault(hint, []).append(text)
    lines = "; ".join(", ".join(texts) + (f" ({hint})" if hint else "") for hint, texts in groups.items())
    kinds = {kind for kind, _, _ in failures}
    advice = []
    if kinds == {"grad_biases"}:
        advice.append("Only the bias gradients are wrong: db_l is dZ_l summed over the batch (axis 0), "
                      "and the regularisation never touches the biases.")
    elif kinds == {"grad_weights"} and all(f"grad_weights[{len(net.weights) - 1}]" not in t for _, t, _ in failures):
        advice.append("Only the weight gradients of the earlier layers are wrong: check dX_{l-1} = dZ_l @ W_l "
                      "and the activation derivative at each hidden layer's pre-activation.")
    forward_ok = isinstance(out, np.ndarray) and out.shape == (net.n, net.sizes[-1]) and \
        np.allclose(out, net.output(), rtol=1e-7, atol=1e-10)
    if not forward_ok:
        advice.append("Note: MLP.forward already returns wrong values for this network; fix that first "
                      "(see the forward tests).")
    check.fail(" ".join([f"MLP.backward(Y) does not match finite differences of the loss for {net.describe()}: "
                         f"{lines} (pass: < {check.GRAD_TOL:g} per array).", *advice,
                         "Look at MLP.backward (and the *_grad functions it uses)."]))


BACKWARD_CASES = [
    pytest.param(act, head, marks=pytest.mark.points(2), id=f"{act}-{head}")
    for act in ["sigmoid", "tanh", "relu", "leaky_relu", "elu"]
    for head in HEADS
]


@pytest.mark.parametrize("activation, head", BACKWARD_CASES)
def test_mlp_backward_gradient_check(student, rng, activation, head):
    """Does MLP.backward give d loss / d W and d loss / d b of every layer (4-5-6-3, N = 7)?"""
    output_activation, loss = HEADS[head]
    gradient_check(student, nets.random_net(rng, [4, 5, 6, 3], activation, output_activation, loss, n=7))


@pytest.mark.parametrize("activation, head, l1, l2", [
    pytest.param("relu", "ce", 0.0, 0.1, marks=pytest.mark.points(3), id="l2-relu-ce"),
    pytest.param("tanh", "mse", 0.03, 0.1, marks=pytest.mark.points(3), id="l1-l2-tanh-mse"),
])
def test_mlp_backward_regularised(student, rng, activation, head, l1, l2):
    """Does MLP.backward include the gradient of l1 * sum|W| + (l2/2) * sum W^2, and nothing for the biases?"""
    output_activation, loss = HEADS[head]
    gradient_check(student, nets.random_net(rng, [4, 5, 6, 3], activation, output_activation, loss, n=7,
                                            l1=l1, l2=l2))


@pytest.mark.points(3)
def test_mlp_backward_depths(student, rng):
    """Does MLP.backward work for a single layer and for a deep net (four layers)?"""
    gradient_check(student, nets.random_net(rng, [3, 4], "relu", "identity", "mse", n=5))
    gradient_check(student, nets.random_net(rng, [3, 6, 5, 4, 2], "sigmoid", "identity", "cross_entropy", n=6))


# --------------------------------------------------------------------------- purity (more in test_state.py)


def weights_of(model):
    return [np.array(W) for W in model.get("weights")], [np.array(b) for b in model.get("biases")]


# --------------------------------------------------------------------------- update


@pytest.mark.points(4)
def test_mlp_update_step(student, rng):
    """Does MLP.update(lr) set every weight and bias p to exactly p - lr * grad_p?"""
    net = nets.random_net(rng, [4, 5, 6, 3], "relu", "identity", "mse", n=4)
    model = net.build(student)
    gW = [rng.standard_normal(W.shape) for W in net.weights]
    gb = [rng.standard_normal(b.shape) for b in net.biases]
    model.set("grad_weights", [g.copy() for g in gW])
    model.set("grad_biases", [g.copy() for g in gb])
    lr = 0.37
    model.update(lr)
    Ws, bs = weights_of(model)
    for kind, gots, params, grads in (("weights", Ws, net.weights, gW), ("biases", bs, net.biases, gb)):
        for layer, (got, p, g) in enumerate(zip(gots, params, grads)):
            want = p - lr * g
            if got.shape == want.shape and np.allclose(got, want, rtol=1e-12, atol=1e-14):
                continue
            hint = ""
            if got.shape == p.shape:
                if np.array_equal(got, p):
                    hint = f"{kind}[{layer}] did not change at all."
                elif np.allclose(got, p + lr * g):
                    hint = "It moved along +grad: gradient descent subtracts lr * grad."
                elif np.allclose(got, p - g):
                    hint = "It moved by the whole gradient: multiply by lr."
                elif np.allclose(got, p - lr * lr * g):
                    hint = "It moved by lr^2 * grad."
                else:
                    hint = "It does not match p - lr * grad_p for the gradients stored in grad_weights/grad_biases."
            error = float(np.max(np.abs(got - want))) if got.shape == want.shape else float("nan")
            check.fail(" ".join(x for x in [
                f"After update({lr}), {kind}[{layer}] is not p - lr * grad_p" +
                (f" (largest difference {error:.3g}; got {check.short(got.ravel()[:4], 60)}, expected "
                 f"{check.short(want.ravel()[:4], 60)})." if got.shape == want.shape else
                 f": it has shape {got.shape}, expected {want.shape}."),
                hint, "Look at MLP.update: every weight and every bias, p - lr * grad using self.grad_weights "
                      "and self.grad_biases."] if x))


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
