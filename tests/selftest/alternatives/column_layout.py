"""Alternative correct submission 4: the lecture's column-vector layout inside the network.

Inside forward and backward every batch is stored with one sample per COLUMN, exactly as the
lecture writes a layer (x_l = f(W_l x_{l-1} + b_l)): A_l (n_l, N), Z_l = W_l @ A_{l-1} + b_l[:, None],
dW_l = dZ_l @ A_{l-1}.T, db_l = dZ_l summed over axis 1, dA_{l-1} = W_l.T @ dZ_l. Only the public
interface turns rows into columns and back. Activations via np.piecewise/np.heaviside, losses with
np.mean over the rows. The hidden suite must give it 100/100.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np


def sigmoid(z):
    z = np.asarray(z, dtype=np.float64)
    return np.piecewise(z, [z >= 0], [lambda v: 1.0 / (1.0 + np.exp(-v)), lambda v: np.exp(v) / (1.0 + np.exp(v))])


def sigmoid_grad(z):
    s = sigmoid(z)
    return s - s * s


def tanh(z):
    return np.tanh(np.asarray(z, dtype=np.float64))


def tanh_grad(z):
    t = np.tanh(np.asarray(z, dtype=np.float64))
    return (1.0 - t) * (1.0 + t)


def relu(z):
    z = np.asarray(z, dtype=np.float64)
    return z * (z > 0)


def relu_grad(z):
    return np.heaviside(np.asarray(z, dtype=np.float64), 0.0)


def leaky_relu(z, alpha=0.01):
    z = np.asarray(z, dtype=np.float64)
    return np.maximum(z, 0.0) + alpha * np.minimum(z, 0.0)


def leaky_relu_grad(z, alpha=0.01):
    step = np.heaviside(np.asarray(z, dtype=np.float64), 0.0)
    return step + alpha * (1.0 - step)


def elu(z, alpha=1.0):
    z = np.asarray(z, dtype=np.float64)
    return np.maximum(z, 0.0) + alpha * np.expm1(np.minimum(z, 0.0))


def elu_grad(z, alpha=1.0):
    z = np.asarray(z, dtype=np.float64)
    step = np.heaviside(z, 0.0)
    return step + (1.0 - step) * alpha * np.exp(np.minimum(z, 0.0))


def identity(z):
    return z


def identity_grad(z):
    return np.ones_like(z)


def softmax(z):
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def mse_loss(y_hat, y):
    per_row = 0.5 * np.sum((y_hat - y) ** 2, axis=-1)
    return float(np.mean(per_row))


def mse_loss_grad(y_hat, y):
    return (y_hat - y) / max(1, y_hat.size // y_hat.shape[-1])


def cross_entropy_loss(logits, y):
    top = logits.max(axis=-1, keepdims=True)
    log_p = logits - top - np.log(np.exp(logits - top).sum(axis=-1, keepdims=True))
    return float(np.mean(-np.sum(y * log_p, axis=-1)))


def cross_entropy_loss_grad(logits, y):
    return (softmax(logits) - y) / max(1, logits.size // logits.shape[-1])


ACTS = {"sigmoid": (sigmoid, sigmoid_grad), "tanh": (tanh, tanh_grad), "relu": (relu, relu_grad),
        "leaky_relu": (leaky_relu, leaky_relu_grad), "elu": (elu, elu_grad), "identity": (identity, identity_grad)}


class MLP:
    def __init__(self, layer_sizes, activation="sigmoid", output_activation="identity", loss="mse",
                 l1=0.0, l2=0.0, seed=None):
        for what, value, allowed in (("activation", activation, ACTS), ("output_activation", output_activation, ACTS),
                                     ("loss", loss, ("mse", "cross_entropy"))):
            if value not in allowed:
                raise ValueError(f"unknown {what} {value!r}; allowed: {', '.join(sorted(allowed))}")
        if loss == "cross_entropy" and output_activation != "identity":
            raise ValueError("loss='cross_entropy' needs output_activation='identity'")
        self.layer_sizes = [int(s) for s in layer_sizes]
        self.activation, self.output_activation, self.loss_name = activation, output_activation, loss
        self.l1, self.l2 = float(l1), float(l2)
        gain = 2.0 if activation in ("relu", "leaky_relu", "elu") else 1.0
        rng = np.random.default_rng(seed)
        self.weights = [rng.standard_normal((o, i)) * np.sqrt(gain / i)
                        for i, o in zip(self.layer_sizes[:-1], self.layer_sizes[1:])]
        self.biases = [np.zeros(o) for o in self.layer_sizes[1:]]
        self.grad_weights = [np.zeros_like(W) for W in self.weights]
        self.grad_biases = [np.zeros_like(b) for b in self.biases]
        self.columns = []  # A_{l-1} (n_in, N) of each layer
        self.zs = []  # Z_l (n_out, N)
        self.output = None

    def act(self, layer):
        return ACTS[self.output_activation if layer == len(self.weights) - 1 else self.activation]

    def forward(self, X):
        A = np.asarray(X, dtype=np.float64).T  # (n_in, N): one sample per column
        self.columns, self.zs = [], []
        for layer, (W, b) in enumerate(zip(self.weights, self.biases)):
            Z = W @ A + b[:, None]  # (n_out, N)
            self.columns.append(A)
            self.zs.append(Z)
            A = self.act(layer)[0](Z)
        self.output = A.T.copy()  # back to one sample per row
        return self.output

    def loss(self, Y):
        data = mse_loss(self.output, Y) if self.loss_name == "mse" else cross_entropy_loss(self.output, Y)
        reg = sum(self.l1 * np.abs(W).sum() + 0.5 * self.l2 * np.sum(W ** 2) for W in self.weights)
        return float(data + reg)

    def backward(self, Y):
        grad = mse_loss_grad if self.loss_name == "mse" else cross_entropy_loss_grad
        dA = grad(self.output, Y).T  # (n_out, N)
        for layer in range(len(self.weights) - 1, -1, -1):
            W = self.weights[layer]
            dZ = dA * self.act(layer)[1](self.zs[layer])  # (n_out, N)
            self.grad_weights[layer] = dZ @ self.columns[layer].T + self.l1 * np.sign(W) + self.l2 * W
            self.grad_biases[layer] = dZ.sum(axis=1)
            dA = W.T @ dZ  # (n_in, N)

    def update(self, lr):
        for layer in range(len(self.weights)):
            self.weights[layer] = self.weights[layer] - lr * self.grad_weights[layer]
            self.biases[layer] = self.biases[layer] - lr * self.grad_biases[layer]

    def predict(self, X):
        return np.argmax(self.forward(X), axis=1)


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
    n = X.shape[0]
    for _ in range(epochs):
        diverged = history["train_loss"] and not np.isfinite(history["train_loss"][-1])
        total = 0.0
        with np.errstate(over="ignore", invalid="ignore"):
            if diverged:
                total = np.nan
            else:
                order = rng.permutation(n)
                for start in range(0, n, batch_size):
                    batch = order[start:start + batch_size]
                    model.forward(X[batch])
                    total += model.loss(Y[batch]) * len(batch)
                    model.backward(Y[batch])
                    model.update(lr)
            history["train_loss"].append(float(total / n))
            if X_val is not None:
                out = model.forward(X_val)
                history["val_loss"].append(float(model.loss(Y_val)))
                history["val_accuracy"].append(accuracy(out, Y_val))
    return history


def learning_rate_experiment(learning_rates, X_train, Y_train, X_val, Y_val, *, layer_sizes=None,
                             activation="relu", epochs=2, batch_size=32, seed=0):
    sizes = layer_sizes if layer_sizes is not None else (X_train.shape[1], 64, Y_train.shape[1])
    return {lr: train(MLP(sizes, activation, output_activation="identity", loss="cross_entropy", seed=seed),
                      X_train, Y_train, epochs, lr, batch_size, X_val, Y_val, seed=seed)
            for lr in learning_rates}
