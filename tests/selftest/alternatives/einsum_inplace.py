"""Alternative correct submission 2: einsum everywhere, in-place updates, a dict cache.

Sigmoid through tanh, softmax with an explicit max shift, mse via the mean of row sums, gradients
as einsum contractions, l1/l2 added in separate steps, parameters updated in place with
np.subtract(..., out=...). The hidden suite must give it 100/100.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np


def sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=float)))


def sigmoid_grad(z):
    return 0.25 / np.cosh(0.5 * np.clip(z, -700, 700)) ** 2


def tanh(z):
    return np.tanh(z)


def tanh_grad(z):
    return 1.0 / np.cosh(np.clip(z, -350, 350)) ** 2


def relu(z):
    return np.clip(z, 0.0, None)


def relu_grad(z):
    return np.greater(z, 0).astype(float)


def leaky_relu(z, alpha=0.01):
    return np.where(np.greater(z, 0), z, np.multiply(alpha, z))


def leaky_relu_grad(z, alpha=0.01):
    positive = np.greater(z, 0)
    return positive + alpha * ~positive


def elu(z, alpha=1.0):
    z = np.asarray(z, dtype=float)
    out = z.copy()
    neg = z <= 0
    out[neg] = alpha * np.expm1(z[neg])
    return out


def elu_grad(z, alpha=1.0):
    z = np.asarray(z, dtype=float)
    out = np.ones_like(z)
    neg = z <= 0
    out[neg] = alpha * np.exp(z[neg])
    return out


def identity(z):
    return z


def identity_grad(z):
    return np.ones_like(z)


def softmax(z):
    m = z.max(axis=-1, keepdims=True)
    e = np.exp(z - m)
    return e / np.einsum("...k->...", e)[..., None]


def mse_loss(y_hat, y):
    d = y_hat - y
    return 0.5 * float(np.mean(np.einsum("...k,...k->...", d, d)))


def mse_loss_grad(y_hat, y):
    return np.subtract(y_hat, y) / (np.size(y_hat) // np.shape(y_hat)[-1])


def cross_entropy_loss(logits, y):
    m = logits.max(axis=-1, keepdims=True)
    lse = m[..., 0] + np.log(np.exp(logits - m).sum(axis=-1))
    return float(np.mean(np.einsum("...k,...->...", y, lse) - np.einsum("...k,...k->...", y, logits)))


def cross_entropy_loss_grad(logits, y):
    return (softmax(logits) - y) / (logits.size // logits.shape[-1])


TABLE = {
    "sigmoid": (sigmoid, sigmoid_grad), "tanh": (tanh, tanh_grad), "relu": (relu, relu_grad),
    "leaky_relu": (leaky_relu, leaky_relu_grad), "elu": (elu, elu_grad), "identity": (identity, identity_grad),
}
LOSS_TABLE = {"mse": (mse_loss, mse_loss_grad), "cross_entropy": (cross_entropy_loss, cross_entropy_loss_grad)}


class MLP:
    def __init__(self, layer_sizes, activation="sigmoid", output_activation="identity", loss="mse",
                 l1=0.0, l2=0.0, seed=None):
        if activation not in TABLE or output_activation not in TABLE:
            raise ValueError(f"activation must be one of {', '.join(TABLE)}")
        if loss not in LOSS_TABLE:
            raise ValueError(f"loss must be one of {', '.join(LOSS_TABLE)}")
        if loss == "cross_entropy" and output_activation != "identity":
            raise ValueError("with cross_entropy the output_activation must be 'identity'")
        self.layer_sizes = list(layer_sizes)
        self.activation, self.output_activation, self.loss_name = activation, output_activation, loss
        self.l1, self.l2 = l1, l2
        rng = np.random.default_rng(seed)
        gain = 2.0 if activation in ("relu", "leaky_relu", "elu") else 1.0
        self.weights = [rng.standard_normal((o, i)) * (gain / i) ** 0.5 for i, o in zip(layer_sizes, layer_sizes[1:])]
        self.biases = [np.zeros(o) for o in layer_sizes[1:]]
        self.grad_weights = [np.zeros_like(W) for W in self.weights]
        self.grad_biases = [np.zeros_like(b) for b in self.biases]
        self.cache = {}

    def _act(self, layer):
        return TABLE[self.output_activation if layer == len(self.weights) - 1 else self.activation]

    def forward(self, X):
        a = np.asarray(X, dtype=float)
        self.cache = {"a0": a}
        for l, (W, b) in enumerate(zip(self.weights, self.biases)):
            z = np.einsum("ni,oi->no", a, W, optimize=True) + b
            a = self._act(l)[0](z)
            self.cache[f"z{l + 1}"], self.cache[f"a{l + 1}"] = z, a
        return a

    def loss(self, Y):
        total = LOSS_TABLE[self.loss_name][0](self.cache[f"a{len(self.weights)}"], Y)
        total += self.l1 * sum(np.einsum("ij->", np.abs(W)) for W in self.weights)
        total += 0.5 * self.l2 * sum(np.einsum("ij,ij->", W, W) for W in self.weights)
        return float(total)

    def backward(self, Y):
        L = len(self.weights)
        g = LOSS_TABLE[self.loss_name][1](self.cache[f"a{L}"], Y)
        for l in range(L, 0, -1):
            dz = g * self._act(l - 1)[1](self.cache[f"z{l}"])
            W = self.weights[l - 1]
            dW = np.einsum("no,ni->oi", dz, self.cache[f"a{l - 1}"], optimize=True)
            dW += self.l1 * np.sign(W)
            dW += self.l2 * W
            self.grad_weights[l - 1] = dW
            self.grad_biases[l - 1] = np.einsum("no->o", dz)
            g = np.einsum("no,oi->ni", dz, W, optimize=True)

    def update(self, lr):
        for W, gW in zip(self.weights, self.grad_weights):
            np.subtract(W, lr * gW, out=W)
        for b, gb in zip(self.biases, self.grad_biases):
            np.subtract(b, lr * gb, out=b)

    def predict(self, X):
        return np.argmax(self.forward(X), axis=1)


def one_hot(labels, num_classes=10):
    labels = np.asarray(labels)
    out = np.zeros((labels.size, num_classes))
    out[np.arange(labels.size), labels] = 1.0
    return out


def load_mnist(data_dir=None):
    folder = Path(data_dir) if data_dir else Path(__file__).resolve().parent / "data" / "mnist"
    parts = []
    for name, offset in (("train-images-idx3-ubyte.gz", 16), ("train-labels-idx1-ubyte.gz", 8),
                         ("t10k-images-idx3-ubyte.gz", 16), ("t10k-labels-idx1-ubyte.gz", 8)):
        with gzip.open(folder / name) as f:
            parts.append(np.frombuffer(f.read(), np.uint8, offset=offset))
    return (parts[0].reshape(-1, 784) / 255.0, parts[1].astype(np.int64),
            parts[2].reshape(-1, 784) / 255.0, parts[3].astype(np.int64))


def train(model, X, Y, epochs, lr, batch_size=32, X_val=None, Y_val=None, seed=0):
    rng = np.random.default_rng(seed)
    history = {"train_loss": [], "val_loss": [], "val_accuracy": []}
    n = len(X)
    for _ in range(epochs):
        perm = rng.permutation(n)
        running = 0.0
        for idx in (perm[i:i + batch_size] for i in range(0, n, batch_size)):
            xb, yb = X[idx], Y[idx]
            model.forward(xb)
            running += model.loss(yb) * len(idx)
            model.backward(yb)
            model.update(lr)
        history["train_loss"].append(running / n)
        if X_val is not None:
            out = model.forward(X_val)
            history["val_loss"].append(model.loss(Y_val))
            if out.shape[1] == 1:
                history["val_accuracy"].append(float(np.mean((out > 0.5) == (Y_val > 0.5))))
            else:
                history["val_accuracy"].append(float(np.mean(out.argmax(1) == Y_val.argmax(1))))
    return history


def learning_rate_experiment(learning_rates, X_train, Y_train, X_val, Y_val, *, layer_sizes=None,
                             activation="relu", epochs=2, batch_size=32, seed=0):
    if layer_sizes is None:
        layer_sizes = (X_train.shape[1], 64, Y_train.shape[1])
    results = {}
    for lr in learning_rates:
        model = MLP(layer_sizes, activation, output_activation="identity", loss="cross_entropy", seed=seed)
        results[lr] = train(model, X_train, Y_train, epochs, lr, batch_size, X_val, Y_val, seed=seed)
    return results
