"""The trusted answer key of the hidden suite: the SPEC's math in float64, written independently.

This module never imports the solution or the submission. Every hidden test computes its expected
values here, in the test process, and compares them with the plain arrays the submission returned.

Conventions (docs/contract.md): a batch has one sample per row; layer l computes
    Z_l = X_{l-1} @ W_l.T + b_l,   X_l = f(Z_l)       W_l (n_out, n_in), b_l (n_out,)
and the loss is  mean over samples of the data loss + l1 * sum|W| + (l2 / 2) * sum W^2  (weights only).
"""

from __future__ import annotations

import numpy as np

# Each formula has one home, grader/sandbox/formula.py: the stand-ins a submission's MLP runs with while its
# methods are tested are the same functions, so the answer key and the stand-ins never differ by a rounding.
from grader.sandbox.formula import (  # noqa: F401  (re-exported: the tests read them as ref.NAME)
    ACTIVATIONS,
    LOSSES,
    cross_entropy_loss,
    cross_entropy_loss_grad,
    elu,
    elu_grad,
    identity,
    identity_grad,
    leaky_relu,
    leaky_relu_grad,
    log_softmax,
    mse_loss,
    mse_loss_grad,
    relu,
    relu_grad,
    rows,
    sigmoid,
    sigmoid_grad,
    softmax,
    tanh,
    tanh_grad,
)

KINKED = {"relu", "leaky_relu", "elu"}  # derivative not smooth at z = 0 (ELU only for alpha != 1)

# --------------------------------------------------------------------------- the network


def forward(weights, biases, X, activation, output_activation, keep=False):
    """The network output (N, n_out); with keep=True also the list of pre-activations Z_l."""
    A = np.asarray(X, dtype=np.float64)
    zs = []
    for layer, (W, b) in enumerate(zip(weights, biases)):
        name = output_activation if layer == len(weights) - 1 else activation
        Z = A @ np.asarray(W, dtype=np.float64).T + b  # (N, n_out)
        zs.append(Z)
        A = ACTIVATIONS[name][0](Z)
    return (A, zs) if keep else A


def penalty(weights, l1=0.0, l2=0.0):
    return float(sum(l1 * np.abs(W).sum() + 0.5 * l2 * (W * W).sum() for W in weights))


def loss(weights, biases, X, Y, activation, output_activation, loss_name, l1=0.0, l2=0.0):
    return loss_of(forward(weights, biases, X, activation, output_activation), Y, weights, loss_name, l1, l2)


def loss_of(output, Y, weights, loss_name, l1=0.0, l2=0.0):
    """The loss of a network whose forward gave `output` (the data loss plus the penalty of its weights)."""
    return LOSSES[loss_name][0](output, Y) + penalty(weights, l1, l2)


def numerical_gradients(weights, biases, X, Y, activation, output_activation, loss_name, l1=0.0, l2=0.0, h=1e-5):
    """Centred differences of `loss` for every element of every W and b: (dWs, dbs).

    The perturbations of one array are evaluated together: a stack of copies of the array, each with one
    element moved by +h or -h, goes through one batched forward (the layers before it are computed once),
    and each copy's loss is the data loss of its output plus the penalty of its weights, as in `loss`.
    """
    weights = [np.array(W, dtype=np.float64) for W in weights]
    biases = [np.array(b, dtype=np.float64) for b in biases]
    X = np.asarray(X, dtype=np.float64)
    grads = ([], [])
    for group, params in enumerate((weights, biases)):
        for k, P in enumerate(params):
            m = P.size
            flat = np.repeat(P.reshape(1, m), 2 * m, axis=0)  # rows 0..m-1: + h, rows m..2m-1: - h
            step = np.arange(m)
            flat[step, step] = P.reshape(m) + h
            flat[m + step, step] = P.reshape(m) - h
            stack = flat.reshape(2 * m, *P.shape)
            changed = [list(weights), list(biases)]
            changed[group][k] = stack
            outputs = _stacked_forward(changed[0], changed[1], X, activation, output_activation)
            if group == 0 and (l1 or l2):  # the penalty of the other weights, plus that of the moved copy
                others = penalty([W for j, W in enumerate(weights) if j != k], l1, l2)
                penalties = [others + penalty([moved], l1, l2) for moved in stack]
            else:
                penalties = [penalty(weights, l1, l2)] * (2 * m)
            values = np.array([LOSSES[loss_name][0](output, Y) + extra for output, extra in zip(outputs, penalties)])
            grads[group].append(((values[:m] - values[m:]) / (2 * h)).reshape(P.shape))
    return grads[0], grads[1]


def _stacked_forward(weights, biases, X, activation, output_activation):
    """`forward` where one W (B, n_out, n_in) or b (B, n_out) is a stack of B versions: outputs (B, N, n_out)."""
    A = X
    for layer, (W, b) in enumerate(zip(weights, biases)):
        name = output_activation if layer == len(weights) - 1 else activation
        A = ACTIVATIONS[name][0](A @ np.swapaxes(W, -1, -2) + (b[:, None, :] if b.ndim == 2 else b))
    return A


def backward(weights, biases, X, Y, activation, output_activation, loss_name, l1=0.0, l2=0.0, *,
             output_derivative=True, l1_term=np.sign, at_output=False):
    """Analytic gradients (dWs, dbs) of `loss`, for the hints only (verdicts use numerical_gradients).

    output_derivative=False, l1_term=np.abs and at_output=True (each derivative taken at the layer's
    output f(Z) instead of at Z) give the gradients of three typical mistakes.
    """
    output, zs = forward(weights, biases, X, activation, output_activation, keep=True)
    inputs = [np.asarray(X, dtype=np.float64)] + [ACTIVATIONS[activation][0](Z) for Z in zs[:-1]]
    dA = LOSSES[loss_name][1](output, Y)
    dWs, dbs = [None] * len(weights), [None] * len(weights)
    for layer in reversed(range(len(weights))):
        W = np.asarray(weights[layer], dtype=np.float64)
        last = layer == len(weights) - 1
        f_grad = ACTIVATIONS[output_activation if last else activation][1]
        f = ACTIVATIONS[output_activation if last else activation][0]
        dZ = dA if (last and not output_derivative) else dA * f_grad(f(zs[layer]) if at_output else zs[layer])
        dWs[layer] = dZ.T @ inputs[layer] + l1 * l1_term(W) + l2 * W
        dbs[layer] = dZ.sum(axis=0)
        dA = dZ @ W
    return dWs, dbs


def min_abs_preactivation(weights, biases, X, activation, output_activation):
    _, zs = forward(weights, biases, X, activation, output_activation, keep=True)
    return min(float(np.abs(Z).min()) for Z in zs)


def accuracy(output, labels):
    return float(np.mean(np.argmax(output, axis=1) == labels))
