"""The gradient check of the hidden suite: the submission's backward against finite differences.

The analytic gradient comes from the submission's backward (called with other targets first, then
with Y, then read with `get`);
the numerical one from centred differences of the *reference* loss in this process (float64,
h = 1e-5, pass at ‖a − n‖/(‖a‖ + ‖n‖) < 1e-6 per array). Why the reference loss and not the
submission's forward + loss: it needs no round trip per perturbation (fast in the sandbox), it
cannot be fooled by a forward/loss pair that is wrong in the same way as backward, and it is what
the SPEC asks for (d loss / d parameter of the SPEC's loss). A student whose forward is wrong also
fails here; the message then says so ("fix forward first"), so the cause is not hidden.

Every value read from the submission is validated (a list of one float64 array per layer, of the
parameter's shape) before any arithmetic, so a strange return becomes a message, never a crash.
Hints compare the submission's arrays with the gradients of typical mistakes, computed by the
reference (`reference.backward` with a mistake switched on); they never decide a verdict.
"""

from __future__ import annotations

import numpy as np

import check
import reference as ref


def gradient_values(what, got, shapes):
    """The list of arrays read from the submission, or a failure text per entry that is not an array."""
    if not isinstance(got, (list, tuple)):
        check.fail(f"after MLP.backward(Y), {what} is {check.described(got)}; expected a list of "
                   f"{len(shapes)} arrays (one per layer). Look at MLP.backward.")
    if len(got) != len(shapes):
        check.fail(f"after MLP.backward(Y), {what} is a list of length {len(got)}; expected {len(shapes)} arrays "
                   "(one per layer). Look at MLP.backward.")
    return list(got)


def array_problem(name, a, shape) -> tuple[str, str] | None:
    """(failure text, hint) when `a` is not a float64 array of `shape`, else None."""
    if not isinstance(a, np.ndarray):
        return f"{name} is {check.kind_of(a)}, not an array", ""
    if a.dtype.kind not in "biuf":
        return f"{name} has dtype {a.dtype}", "expected float64 numbers"
    if a.shape != tuple(shape):
        hint = "the transposed shape: dW = dZ.T @ X_prev has shape (n_out, n_in)" if a.shape == tuple(shape)[::-1] else ""
        return f"{name} has shape {a.shape}, expected {tuple(shape)}", hint
    problem = check.dtype_problem(a)
    if problem:
        return f"{name} has dtype {a.dtype.name}", problem
    if not np.all(np.isfinite(a)):
        return f"{name} contains NaN or inf", "something overflowed"
    return None


def gradient_failures(net, model):
    """Run forward and backward twice (other targets first); (failures, forward output, analytic grads) for every W and b that differs.

    A failure is (kind, text, hint); kind is "grad_weights" or "grad_biases".
    """
    out = model.forward(net.X.copy())
    # first with other targets, which a submission has not seen: backward must overwrite, not accumulate,
    # and remembering the answer for repeated inputs cannot hide adding up (test_state.py)
    model.backward(1.0 - net.Y)
    model.backward(net.Y.copy())
    grads = model.get_attrs(["grad_weights", "grad_biases"])  # one request; each raises where its own get would
    got_W = gradient_values("grad_weights", next(grads), [W.shape for W in net.weights])
    got_b = gradient_values("grad_biases", next(grads), [b.shape for b in net.biases])
    num_W, num_b = net.numerical_gradients()
    failures = []
    for kind, gots, nums, params in (("grad_weights", got_W, num_W, net.weights),
                                      ("grad_biases", got_b, num_b, net.biases)):
        for layer, (a, n, P) in enumerate(zip(gots, nums, params)):
            name = f"{kind}[{layer}]"
            problem = array_problem(name, a, n.shape)
            if problem:
                failures.append((kind, *problem))
                continue
            a = a.astype(np.float64)
            err = check.rel_error(a, n)
            if err < check.GRAD_TOL:
                continue
            failures.append((kind, f"{name} relative error {err:.2g}", gradient_hint(net, kind, a, n, P)))
    return failures, out, (got_W, got_b)


def gradient_hint(net, kind, a, n, P):
    """What one wrong gradient array looks like (transposed, a regularisation term, a factor), or ""."""
    close = dict(rtol=1e-5, atol=1e-8)
    if kind == "grad_weights" and a.shape[0] == a.shape[1] and np.allclose(a, n.T, **close):
        return "it equals the transpose of the right gradient: dW = dZ.T @ X_prev"
    if net.l2 and kind == "grad_weights" and np.allclose(a, n - net.l2 * P, **close):
        return "the l2 term l2 * W is missing from the gradient"
    if net.l2 and kind == "grad_biases" and np.allclose(a, n + net.l2 * P, **close):
        return "l2 * b was added: the regularisation covers the weights only, never the biases"
    if net.l1 and kind == "grad_weights":
        if np.allclose(a, n - net.l1 * np.sign(P), **close):
            return "the l1 term l1 * sign(W) is missing from the gradient"
        if np.allclose(a, n - 2 * net.l1 * np.sign(P), **close):
            return "the l1 term has the wrong sign: d(l1 * |W|)/dW = l1 * sign(W)"
        if np.allclose(a, n - net.l1 * np.sign(P) + net.l1 * np.abs(P), **close):
            return "the l1 term is l1 * |W|; its derivative is l1 * sign(W) (+l1 where W > 0, -l1 where W < 0)"
    if net.l1 and kind == "grad_biases" and np.allclose(a, n + net.l1 * np.sign(P), **close):
        return "l1 * sign(b) was added: the regularisation covers the weights only, never the biases"
    if not np.any(a):
        return "all zeros: is it ever assigned?"
    g, e = a.ravel(), n.ravel()
    if g.size >= 3 and e @ e > 0 and np.linalg.norm(g - (g @ e) / (e @ e) * e) <= 1e-5 * np.linalg.norm(g):
        r = float(g @ e) / float(e @ e)
        if abs(r - 2) < 1e-4:
            return ("exactly 2x the right gradient: backward was called twice here, so it probably adds to the old "
                    "gradient (+=) instead of overwriting it" +
                    (", or the 1/2 of mse_loss is missing" if net.loss == "mse" else ""))
        text = check.factor_hint(r, net.n, tol=1e-4)
        return text[:1].lower() + text[1:].rstrip(".") if text else ""
    return ""


def matches(gots, wants) -> bool:
    return all(isinstance(a, np.ndarray) and a.shape == w.shape and np.allclose(a, w, rtol=1e-5, atol=1e-8)
               for a, w in zip(gots, wants))


def mistake_advice(net, grads) -> list[str]:
    """Whole-network patterns: every array equals the gradient of one typical mistake."""
    got_W, got_b = grads
    if not got_W:
        return []
    args = (net.weights, net.biases, net.X, net.Y, net.activation, net.output_activation, net.loss, net.l1, net.l2)
    advice = []
    if net.output_activation != "identity":
        wrong_W, wrong_b = ref.backward(*args, output_derivative=False)
        if matches(got_W, wrong_W) and matches(got_b, wrong_b):
            advice.append(f"The gradients equal those without the derivative of the output activation "
                          f"({net.output_activation}): multiply dL/d(output) by {net.output_activation}_grad of the "
                          "last layer's pre-activation (only identity, whose derivative is 1, may skip it).")
    wrong_W, wrong_b = ref.backward(*args, at_output=True)
    if matches(got_W, wrong_W) and matches(got_b, wrong_b):
        advice.append("The gradients equal those with each derivative taken at the layer's output f(Z) instead of "
                      "at its pre-activation Z: the *_grad functions take Z (sigmoid_grad(z) = sigmoid(z) * "
                      "(1 - sigmoid(z))), so pass them the pre-activation forward kept, not the activation.")
    return advice


def describe_failures(net, failures, out, grads) -> str:
    """The message of a failed gradient check: per array what is wrong, grouped by hint, plus advice."""
    groups = {}  # hint -> failure texts, so one hint is said once
    for _, text, hint in failures:
        groups.setdefault(hint, []).append(text)
    lines = "; ".join(", ".join(texts) + (f" ({hint})" if hint else "") for hint, texts in groups.items())
    kinds = {kind for kind, _, _ in failures}
    advice = mistake_advice(net, grads)
    if kinds == {"grad_biases"}:
        advice.append("Only the bias gradients are wrong: db_l is dZ_l summed over the batch (axis 0), "
                      "and the regularisation never touches the biases.")
    elif kinds == {"grad_weights"} and all(f"grad_weights[{len(net.weights) - 1}]" not in t for _, t, _ in failures):
        advice.append("Only the weight gradients of the earlier layers are wrong: check dX_{l-1} = dZ_l @ W_l "
                      "and the activation derivative at each hidden layer's pre-activation.")
    forward_ok = isinstance(out, np.ndarray) and out.shape == (net.n, net.sizes[-1]) and out.dtype.kind == "f" \
        and np.allclose(out, net.output(), rtol=1e-9, atol=1e-10)
    if not forward_ok:
        advice.append("Note: MLP.forward already returns wrong values for this network; fix that first "
                      "(see the forward tests).")
    return " ".join([f"MLP.backward(Y) does not match finite differences of the loss for {net.describe()}: "
                     f"{lines} (pass: < {check.GRAD_TOL:g} per array).", *advice,
                     "Look at MLP.backward (and the *_grad functions it uses)."])


def gradient_check(student, net):
    """Fail with a message unless the submission's backward gives every W and b of `net` right."""
    failures, out, grads = gradient_failures(net, net.build(student))
    if failures:
        check.fail(describe_failures(net, failures, out, grads))
