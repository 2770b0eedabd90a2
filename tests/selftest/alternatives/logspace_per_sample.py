"""Alternative correct submission 5: everything in log space, and a per-sample loop in backward.

softmax is exp(z - logsumexp(z)) with logsumexp written out; sigmoid is exp(-log(1 + e^-z)) via
np.logaddexp; cross-entropy is logsumexp(z) - <y, z> per row; the losses average with np.mean over
the rows. backward propagates dL/dZ back through the layers one sample at a time (vectors only),
then forms dW and db from the stacked per-sample deltas. The hidden suite must give
it 100/100.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np


def logsumexp(z):
    top = np.max(z, axis=-1, keepdims=True)
    return top + np.log(np.sum(np.exp(z - top), axis=-1, keepdims=True))


def sigmoid(z):
    return np.exp(-np.logaddexp(0.0, -np.asarray(z, dtype=np.float64)))


def sigmoid_grad(z):
    z = np.asarray(z, dtype=np.float64)
    return np.exp(-np.logaddexp(0.0, -z) - np.logaddexp(0.0, z))


def tanh(z):
    z = np.asarray(z, dtype=np.float64)
    return np.tanh(z)


def tanh_grad(z):
    z = np.asarray(z, dtype=np.float64)
    return 4.0 * sigmoid_grad(2.0 * z)


def relu(z):
    return np.fmax(np.asarray(z, dtype=np.float64), 0.0)


def relu_grad(z):
    return np.where(np.asarray(z) > 0, 1.0, 0.0)


def leaky_relu(z, alpha=0.01):
    z = np.asarray(z, dtype=np.float64)
    return np.where(z > 0, z, z * alpha)


def leaky_relu_grad(z, alpha=0.01):
    return np.where(np.asarray(z) > 0, 1.0, alpha * 1.0)


def elu(z, alpha=1.0):
    z = np.asarray(z, dtype=np.float64)
    negative = np.minimum(z, 0.0)
    return np.where(z > 0, z, alpha * np.expm1(negative))


def elu_grad(z, alpha=1.0):
    z = np.asarray(z, dtype=np.float64)
    return np.where(z > 0, 1.0, alpha * np.exp(np.minimum(z, 0.0)))


def identity(z):
    return z


def identity_grad(z):
    return np.ones_like(z)


def softmax(z):
    z = np.asarray(z, dtype=np.float64)
    return np.exp(z - logsumexp(z))


def mse_loss(y_hat, y):
    return float(np.mean(np.sum(np.square(y_hat - y), axis=-1)) / 2.0)


def mse_loss_grad(y_hat, y):
    rows = int(np.prod(np.shape(y_hat)[:-1]))
    return (y_hat - y) / rows


def cross_entropy_loss(logits, y):
    per_row = logsumexp(logits)[..., 0] * np.sum(y, axis=-1) - np.sum(y * logits, axis=-1)
    return float(np.mean(per_row))


def cross_entropy_loss_grad(logits, y):
    rows = int(np.prod(np.shape(logits)[:-1]))
    return (softmax(logits) - y) / rows


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
        self.cache = None

    def functions(self, layer):
        return ACTS[self.output_activation if layer == len(self.weights) - 1 else self.activation]

    def forward(self, X):
        A = np.asarray(X, dtype=np.float64)
        inputs, zs = [], []
        for layer, (W, b) in enumerate(zip(self.weights, self.biases)):
            Z = np.matmul(A, W.T) + b
            inputs.append(A)
            zs.append(Z)
            A = self.functions(layer)[0](Z)
        self.cache = (inputs, zs, A)
        return A

    def loss(self, Y):
        output = self.cache[2]
        value = mse_loss(output, Y) if self.loss_name == "mse" else cross_entropy_loss(output, Y)
        for W in self.weights:
            value += self.l1 * np.sum(np.abs(W)) + self.l2 / 2.0 * np.sum(W * W)
        return float(value)

    def backward(self, Y):
        inputs, zs, output = self.cache
        grad = mse_loss_grad if self.loss_name == "mse" else cross_entropy_loss_grad
        d_output = grad(output, Y)  # (N, n_out), already divided by N
        deltas = [np.empty_like(Z) for Z in zs]  # dL/dZ of each layer, filled one sample (row) at a time
        for i in range(output.shape[0]):
            da = d_output[i]
            for layer in reversed(range(len(self.weights))):
                dz = da * self.functions(layer)[1](zs[layer][i])
                deltas[layer][i] = dz
                if layer:
                    da = self.weights[layer].T.dot(dz)
        dWs = [deltas[layer].T.dot(inputs[layer]) for layer in range(len(self.weights))]
        dbs = [np.add.reduce(delta, axis=0) for delta in deltas]
        for layer, W in enumerate(self.weights):
            self.grad_weights[layer] = dWs[layer] + self.l1 * np.sign(W) + self.l2 * W
            self.grad_biases[layer] = dbs[layer]

    def update(self, lr):
        self.weights = [W - lr * dW for W, dW in zip(self.weights, self.grad_weights)]
        self.biases = [b - lr * db for b, db in zip(self.biases, self.grad_biases)]

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
