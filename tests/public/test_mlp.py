"""The MLP class: forward, loss, backward and update.

A layer computes X_l = f(X_{l-1} @ W_l.T + b_l); weights[l] has shape (n_out, n_in) and
biases[l] shape (n_out,). The tests set the parameters they need with model.set(...) and read
results with model.get(...).
"""

import numpy as np
import pytest

H = 1e-5  # step of the centred differences


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def random_parameters(rng, sizes):
    """Weights (n_out, n_in) and non-zero biases (n_out,) for the given layer sizes."""
    weights = [rng.normal(0, 1 / np.sqrt(n_in), (n_out, n_in)) for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    biases = [rng.normal(0, 0.5, n_out) for n_out in sizes[1:]]
    return weights, biases


# --------------------------------------------------------------------------- forward


def test_forward_shapes(student, check, rng):
    """Does MLP.forward turn X (N, n_in) into an output (N, n_out), each row computed on its own?"""
    model = student.MLP([3, 5, 4, 2], activation="relu", seed=0)
    X = rng.normal(size=(7, 3))  # (N, n_in)
    output = check.shaped(model.forward(X), (7, 2), call="MLP([3, 5, 4, 2]).forward(X) for X of shape (7, 3)")
    rows = np.concatenate([check.shaped(model.forward(X[i : i + 1]), (1, 2), call=f"forward(X[{i}:{i + 1}])")
                           for i in range(len(X))])  # (N, n_out), one row at a time
    check.array(output, rows, call="MLP([3, 5, 4, 2]).forward(X) for a batch of 7 rows",
                hint="A batch must give, row by row, what each row gives alone (expected: the rows "
                     "computed one at a time). Look at MLP.forward: X @ W.T + b with W (n_out, n_in) and "
                     "b (n_out,) works on all N rows at once; nothing should mix the rows.")


def test_forward_known_value(student, check):
    """Does MLP.forward compute the hand-worked 2-2-1 example (sigmoid hidden; identity, then sigmoid output)?"""
    model = student.MLP([2, 2, 1], activation="sigmoid", output_activation="identity")
    model.set("weights", [np.array([[1.0, -1.0], [0.5, 2.0]]), np.array([[1.0, -2.0]])])
    model.set("biases", [np.array([0.0, -1.0]), np.array([0.5])])
    X = np.array([[1.0, 2.0], [0.0, 0.0]])  # (N=2, 2)
    # row 1: hidden pre-activations [1 - 2 + 0, 0.5 + 4 - 1] = [-1, 3.5]
    #        output 1 * sigmoid(-1) - 2 * sigmoid(3.5) + 0.5 = -1.17243...
    # row 2: hidden pre-activations [0, -1] -> output sigmoid(0) - 2 * sigmoid(-1) + 0.5
    expected = np.array([
        [sigmoid(-1.0) - 2 * sigmoid(3.5) + 0.5],
        [sigmoid(0.0) - 2 * sigmoid(-1.0) + 0.5],
    ])  # (2, 1)
    check.array(model.forward(X), expected, call="forward of the 2-2-1 example",
                hint="Look at MLP.forward: the hidden layer is sigmoid(X @ W1.T + b1), the output "
                     "H @ W2.T + b2 with no activation (identity). Row 2 (input 0, 0) is only the biases.")
    model = student.MLP([2, 2, 1], activation="sigmoid", output_activation="sigmoid")
    model.set("weights", [np.array([[1.0, -1.0], [0.5, 2.0]]), np.array([[1.0, -2.0]])])
    model.set("biases", [np.array([0.0, -1.0]), np.array([0.5])])
    check.array(model.forward(X), sigmoid(expected), call="forward of the 2-2-1 example, sigmoid output",
                hint="Look at MLP.forward: the last layer applies `output_activation` (here sigmoid) and "
                     "the hidden layers `activation`.")


# --------------------------------------------------------------------------- loss


@pytest.mark.parametrize("l1, l2", [(0.0, 0.0), (0.1, 0.0), (0.0, 0.3), (0.05, 0.2)])
def test_loss_regularisation(student, check, rng, l1, l2):
    """Does MLP.loss return the mean squared error plus l1*sum|W| + (l2/2)*sum W^2 over the weights only?"""
    sizes = [3, 4, 2]
    weights, biases = random_parameters(rng, sizes)
    model = student.MLP(sizes, activation="tanh", loss="mse", l1=l1, l2=l2)
    model.set("weights", weights)
    model.set("biases", biases)
    X, Y = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))  # (N, n_in), (N, n_out)
    output = check.shaped(model.forward(X), (5, 2), call="MLP([3, 4, 2]).forward(X)")
    data = np.sum((output - Y) ** 2) / (2 * len(X))
    penalty = sum(l1 * np.abs(W).sum() + 0.5 * l2 * (W**2).sum() for W in weights)
    check.number(model.loss(Y), data + penalty, call=f"MLP(..., loss='mse', l1={l1}, l2={l2}).loss(Y)",
                 hint=f"Look at MLP.loss: mse_loss of the latest forward output ({data:.6g} here) plus "
                      f"l1 * sum|W| + (l2 / 2) * sum W^2 summed over all weight matrices "
                      f"({penalty:.6g} here); the biases are not regularised.")


def test_loss_cross_entropy(student, check, rng):
    """Does MLP.loss apply the softmax cross-entropy to the logits when loss='cross_entropy'?"""
    sizes = [4, 3]
    weights, biases = random_parameters(rng, sizes)
    model = student.MLP(sizes, output_activation="identity", loss="cross_entropy")
    model.set("weights", weights)
    model.set("biases", biases)
    X = rng.normal(size=(6, 4))  # (N, n_in)
    Y = np.eye(3)[[0, 1, 2, 2, 1, 0]]  # (N, K) one-hot
    logits = check.shaped(model.forward(X), (6, 3), call="MLP([4, 3], loss='cross_entropy').forward(X)")
    log_p = logits - logits.max(axis=1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))  # (N, K) log softmax
    check.number(model.loss(Y), -np.sum(Y * log_p) / len(X), call="MLP([4, 3], loss='cross_entropy').loss(Y)",
                 hint="Look at MLP.loss: with loss='cross_entropy', forward returns logits and the loss "
                      "is cross_entropy_loss(logits, Y).")


# --------------------------------------------------------------------------- backward


def relative_error(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-30)


@pytest.mark.parametrize(
    "activation, output_activation, loss, l1, l2",
    [("tanh", "sigmoid", "mse", 0.0, 0.0), ("sigmoid", "identity", "cross_entropy", 0.0, 0.0),
     ("relu", "tanh", "mse", 0.05, 0.2)],
    ids=["tanh-sigmoid-mse", "sigmoid-softmax-ce", "relu-tanh-mse-l1-l2"],
)
def test_backward_gradient_check(student, check, rng, slopes, activation, output_activation, loss, l1, l2):
    """Does MLP.backward give the same gradients as finite differences of MLP.loss, for every W and b?"""
    sizes = [3, 5, 4]  # no square matrix, N = 6 rows, K = 4 outputs: a transpose or a wrong axis shows
    weights, biases = random_parameters(rng, sizes)
    model = student.MLP(sizes, activation=activation, output_activation=output_activation, loss=loss, l1=l1, l2=l2)
    model.set("weights", weights)
    model.set("biases", biases)
    X = rng.normal(size=(6, 3))  # (N, n_in)
    Y = np.eye(4)[rng.integers(0, 4, 6)]  # (N, n_out), one-hot (also fine as mse targets)
    model.forward(X)
    model.backward(Y)
    got = {"grad_weights": model.get("grad_weights"), "grad_biases": model.get("grad_biases")}

    def loss_at(ws, bs):
        model.set("weights", ws)
        model.set("biases", bs)
        model.forward(X)
        return model.loss(Y)

    params = {"grad_weights": weights, "grad_biases": biases}
    for kind, name in [("grad_weights", "W"), ("grad_biases", "b")]:
        for layer, P in enumerate(params[kind]):
            expected = slopes(lambda: loss_at(weights, biases), P, H)
            call = f"{kind}[{layer}] (d loss / d {name}{layer + 1}, {P.shape}) after backward"
            grad = got[kind][layer] if isinstance(got[kind], (list, tuple)) and len(got[kind]) > layer else None
            grad = check.shaped(grad, P.shape, call=call)
            error = relative_error(grad, expected)
            if error > 1e-6:
                check.fail(
                    f"{call} differs from the finite differences of MLP.loss (relative error {error:.2g}).\n"
                    f"  expected: {check.numbers(expected)}\n  got:      {check.numbers(grad)}\n"
                    f"Look at MLP.backward ({activation} hidden, {output_activation} output, {loss}, l1={l1}, "
                    f"l2={l2}): "
                    "dZ = dA * f_grad(Z) for each layer's own activation, dW = dZ.T @ X_prev (n_out, n_in), "
                    "db = dZ summed over the rows, dA_prev = dZ @ W."
                )


def test_backward_twice_gives_the_same_gradients(student, check, rng):
    """Does calling MLP.backward twice after one forward give the same gradients (overwritten, not added up)?"""
    sizes = [3, 5, 4]
    weights, biases = random_parameters(rng, sizes)
    model = student.MLP(sizes, activation="tanh", output_activation="identity", loss="cross_entropy")
    model.set("weights", weights)
    model.set("biases", biases)
    X, Y = rng.normal(size=(6, 3)), np.eye(4)[rng.integers(0, 4, 6)]
    model.forward(X)
    model.backward(Y)
    first = [check.shaped(g, W.shape, call="grad_weights after backward") for g, W in zip(model.get("grad_weights"), weights)]
    model.backward(Y)
    for layer, (g, w) in enumerate(zip(model.get("grad_weights"), first)):
        check.array(g, w, call=f"grad_weights[{layer}] after a second backward(Y)", rtol=1e-12, atol=1e-14,
                    hint="Look at MLP.backward: it must overwrite grad_weights/grad_biases (=), not add to them "
                         "(+=), and leave the cached forward values unchanged.")


# --------------------------------------------------------------------------- update


def test_update_step(student, check, rng):
    """Does MLP.update(lr) set every parameter p to exactly p - lr * grad_p, step after step, with l2 > 0 too?"""
    sizes = [3, 4, 2]
    weights, biases = random_parameters(rng, sizes)
    model = student.MLP(sizes, l1=0.01, l2=0.1)  # the l1/l2 terms are in the gradients already
    model.set("weights", weights)
    model.set("biases", biases)
    hint = ("Look at MLP.update: a step of gradient descent goes down the gradient, "
            "p <- p - lr * grad_p, for every weights[l] and biases[l], with the gradients stored now: "
            "no decay of its own (backward already added l1/l2) and nothing kept from earlier steps.")
    for step, lr in enumerate((0.25, 0.1, 0.5)):
        grad_weights, grad_biases = random_parameters(rng, sizes)
        model.set("grad_weights", grad_weights)
        model.set("grad_biases", grad_biases)
        model.update(lr)
        weights = [W - lr * g for W, g in zip(weights, grad_weights)]
        biases = [b - lr * g for b, g in zip(biases, grad_biases)]
        for kind, params in [("weights", weights), ("biases", biases)]:
            new = model.get(kind)
            for layer, p in enumerate(params):
                check.array(new[layer], p, call=f"{kind}[{layer}] after update step {step + 1} (lr {lr})",
                            rtol=1e-12, atol=1e-12, hint=hint)
