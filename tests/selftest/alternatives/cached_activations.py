"""Alternative correct submission 1: forward caches the activations, backward takes f' from them.

Written differently from the reference solution on purpose: sigmoid via logaddexp, derivatives
expressed through the activation value (a(1 - a), 1 - a^2, a + alpha, ...), a fused softmax +
cross-entropy gradient, out-of-place updates, and an explicit stack of activations.
The hidden suite must give it 100/100.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np


def sigmoid(z):
    return np.exp(-np.logaddexp(0.0, -z))


def sigmoid_grad(z):
    a = sigmoid(z)
    return a - a * a


def tanh(z):
    return np.tanh(z)


def tanh_grad(z):
    t = np.tanh(z)
    return (1.0 - t) * (1.0 + t)


def relu(z):
    return z * (z > 0)


def relu_grad(z):
    return np.heaviside(z, 0.0)


def leaky_relu(z, alpha=0.01):
    return np.maximum(z, 0.0) + alpha * np.minimum(z, 0.0)


def leaky_relu_grad(z, alpha=0.01):
    g = np.full(np.shape(z), float(alpha))
    g[np.asarray(z) > 0] = 1.0
    return g


def elu(z, alpha=1.0):
    neg = np.minimum(z, 0.0)
    return np.maximum(z, 0.0) + alpha * np.expm1(neg)


def elu_grad(z, alpha=1.0):
    return np.where(z > 0, 1.0, alpha * np.exp(np.minimum(z, 0.0)))


def identity(z):
    return z


def identity_grad(z):
    return np.ones_like(z)


def log_softmax(z):
    return z - np.logaddexp.reduce(z, axis=-1, keepdims=True)


def softmax(z):
    return np.exp(log_softmax(z))


def mse_loss(y_hat, y):
    d = (y_hat - y).ravel()
    return float(d @ d) / (2.0 * (y_hat.size // y_hat.shape[-1]))


def mse_loss_grad(y_hat, y):
    return (y_hat - y) * (1.0 / (y_hat.size // y_hat.shape[-1]))


def cross_entropy_loss(logits, y):
    return float(-(y * log_softmax(logits)).sum(axis=-1).mean())


def cross_entropy_loss_grad(logits, y):
    return (softmax(logits) - y) / (logits.size // logits.shape[-1])


# derivative as a function of the activation value a = f(z)
FROM_OUTPUT = {
    "sigmoid": lambda a: a * (1.0 - a),
    "tanh": lambda a: 1.0 - a * a,
    "relu": lambda a: (a > 0).astype(float),
    "leaky_relu": lambda a: np.where(a > 0, 1.0, 0.01),
    "elu": lambda a: np.where(a > 0, 1.0, a + 1.0),
    "identity": lambda a: np.ones_like(a),
}
FUNCS = {"sigmoid": sigmoid, "tanh": tanh, "relu": relu, "leaky_relu": leaky_relu, "elu": elu, "identity": identity}
LOSS_FUNCS = {"mse": mse_loss, "cross_entropy": cross_entropy_loss}


class MLP:
    def __init__(self, layer_sizes, activation="sigmoid", output_activation="identity", loss="mse",
                 l1=0.0, l2=0.0, seed=None):
        for what, value, allowed in (("activation", activation, FUNCS), ("output_activation", output_activation, FUNCS),
                                     ("loss", loss, LOSS_FUNCS)):
            if value not in allowed:
                raise ValueError(f"bad {what} {value!r}; choose one of {sorted(allowed)}")
        if loss == "cross_entropy" and output_activation != "identity":
            raise ValueError("cross_entropy needs output_activation='identity'")
        self.layer_sizes = [int(s) for s in layer_sizes]
        self.activation, self.output_activation, self.loss_name = activation, output_activation, loss
        self.l1, self.l2 = float(l1), float(l2)
        rng = np.random.default_rng(seed)
        scale = 2.0 if activation in ("relu", "leaky_relu", "elu") else 1.0
        self.weights, self.biases = [], []
        for n_in, n_out in zip(self.layer_sizes, self.layer_sizes[1:]):
            self.weights.append(rng.normal(0.0, np.sqrt(scale / n_in), (n_out, n_in)))
            self.biases.append(np.zeros(n_out))
        self.grad_weights = [np.zeros_like(W) for W in self.weights]
        self.grad_biases = [np.zeros_like(b) for b in self.biases]
        self.activations = []

    def forward(self, X):
        acts = [X]
        last = len(self.weights) - 1
        for i, (W, b) in enumerate(zip(self.weights, self.biases)):
            name = self.output_activation if i == last else self.activation
            acts.append(FUNCS[name](np.dot(acts[-1], W.T) + b))
        self.activations = acts
        return acts[-1]

    def loss(self, Y):
        value = LOSS_FUNCS[self.loss_name](self.activations[-1], Y)
        for W in self.weights:
            value += self.l1 * np.abs(W).sum() + self.l2 * 0.5 * np.vdot(W, W)
        return float(value)

    def backward(self, Y):
        out = self.activations[-1]
        n = len(out)
        if self.loss_name == "cross_entropy":
            delta = (softmax(out) - Y) / n
        else:
            delta = (out - Y) / n * FROM_OUTPUT[self.output_activation](out)
        for i in range(len(self.weights) - 1, -1, -1):
            a_prev = self.activations[i]
            W = self.weights[i]
            self.grad_weights[i] = np.dot(delta.T, a_prev) + self.l1 * np.sign(W) + self.l2 * W
            self.grad_biases[i] = np.add.reduce(delta, axis=0)
            if i:
                delta = np.dot(delta, W) * FROM_OUTPUT[self.activation](a_prev)

    def update(self, lr):
        self.weights = [W - lr * g for W, g in zip(self.weights, self.grad_weights)]
        self.biases = [b - lr * g for b, g in zip(self.biases, self.grad_biases)]

    def predict(self, X):
        return self.forward(X).argmax(axis=1)


def one_hot(labels, num_classes=10):
    return np.eye(num_classes)[np.asarray(labels)]


def load_mnist(data_dir=None):
    folder = Path(data_dir) if data_dir else Path(__file__).resolve().parent / "data" / "mnist"

    def read(name, offset):
        return np.frombuffer(gzip.decompress((folder / name).read_bytes()), np.uint8, offset=offset)

    X_train = read("train-images-idx3-ubyte.gz", 16).reshape(-1, 784) / 255.0
    X_test = read("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 784) / 255.0
    return (X_train, read("train-labels-idx1-ubyte.gz", 8).astype(np.int64), X_test,
            read("t10k-labels-idx1-ubyte.gz", 8).astype(np.int64))


def accuracy(output, Y):
    if output.shape[1] == 1:
        return float(np.mean((output > 0.5) == (Y > 0.5)))
    return float(np.mean(output.argmax(axis=1) == Y.argmax(axis=1)))


def train(model, X, Y, epochs, lr, batch_size=32, X_val=None, Y_val=None, seed=0):
    rng = np.random.default_rng(seed)
    history = {"train_loss": [], "val_loss": [], "val_accuracy": []}
    for _ in range(epochs):
        order = rng.permutation(len(X))
        total = 0.0
        for start in range(0, len(X), batch_size):
            idx = order[start:start + batch_size]
            model.forward(X[idx])
            total += model.loss(Y[idx]) * len(idx)
            model.backward(Y[idx])
            model.update(lr)
        history["train_loss"].append(total / len(X))
        if X_val is not None:
            out = model.forward(X_val)
            history["val_loss"].append(model.loss(Y_val))
            history["val_accuracy"].append(accuracy(out, Y_val))
    return history


def learning_rate_experiment(learning_rates, X_train, Y_train, X_val, Y_val, *, layer_sizes=None,
                             activation="relu", epochs=2, batch_size=32, seed=0):
    sizes = layer_sizes or (X_train.shape[1], 64, Y_train.shape[1])
    return {lr: train(MLP(sizes, activation, output_activation="identity", loss="cross_entropy", seed=seed),
                      X_train, Y_train, epochs, lr, batch_size, X_val, Y_val, seed=seed)
            for lr in learning_rates}
