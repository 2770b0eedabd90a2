"""Alternative correct submission 6: preallocated buffers reused across calls, fresh arrays returned.

The network keeps one set of work buffers per batch size (pre-activations, activations, deltas,
gradient scratch) and fills them with out= arguments (np.matmul, np.multiply, np.add, np.exp ...)
on every call, the way performance-minded code does. Everything it hands out (forward's output,
the gradient arrays it stores) is a fresh copy, so no later call changes a value a caller holds;
the parameters are updated in place. The functions use np.errstate-free formulations (clip-free
sigmoid through np.exp of -|z|, softmax with the row maximum subtracted in place on a copy).
The hidden suite must give it 100/100.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np


def sigmoid(z):
    z = np.asarray(z, dtype=np.float64)
    out = np.exp(-np.abs(z))  # a fresh buffer, reused for the result
    np.divide(np.where(z >= 0, 1.0, out), 1.0 + out, out=out)
    return out


def sigmoid_grad(z):
    s = sigmoid(z)
    np.multiply(s, 1.0 - s, out=s)
    return s


def tanh(z):
    out = np.empty(np.shape(z))
    np.tanh(z, out=out)
    return out


def tanh_grad(z):
    t = tanh(z)
    np.square(t, out=t)
    np.subtract(1.0, t, out=t)
    return t


def relu(z):
    out = np.zeros(np.shape(z))
    np.maximum(z, 0.0, out=out)
    return out


def relu_grad(z):
    out = np.zeros(np.shape(z))
    np.greater(z, 0, out=out, casting="unsafe")
    return out


def leaky_relu(z, alpha=0.01):
    out = np.multiply(z, alpha, dtype=np.float64)
    np.copyto(out, z, where=np.asarray(z) > 0)
    return out


def leaky_relu_grad(z, alpha=0.01):
    out = np.full(np.shape(z), float(alpha))
    out[np.asarray(z) > 0] = 1.0
    return out


def elu(z, alpha=1.0):
    z = np.asarray(z, dtype=np.float64)
    out = np.minimum(z, 0.0)
    np.expm1(out, out=out)
    out *= alpha
    np.copyto(out, z, where=z > 0)
    return out


def elu_grad(z, alpha=1.0):
    z = np.asarray(z, dtype=np.float64)
    out = np.minimum(z, 0.0)
    np.exp(out, out=out)
    out *= alpha
    out[z > 0] = 1.0
    return out


def identity(z):
    return z


def identity_grad(z):
    return np.ones_like(z)


def softmax(z):
    out = np.array(z, dtype=np.float64)  # a copy: the caller's z is never touched
    out -= out.max(axis=-1, keepdims=True)
    np.exp(out, out=out)
    out /= out.sum(axis=-1, keepdims=True)
    return out


def rows(a):
    return a.size // a.shape[-1]


def mse_loss(y_hat, y):
    d = np.subtract(y_hat, y)
    np.square(d, out=d)
    return float(d.sum() / (2 * rows(d)))


def mse_loss_grad(y_hat, y):
    d = np.subtract(y_hat, y)
    d /= rows(d)
    return d


def cross_entropy_loss(logits, y):
    shifted = np.array(logits, dtype=np.float64)
    shifted -= shifted.max(axis=-1, keepdims=True)
    shifted -= np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    shifted *= y
    return float(-shifted.sum() / rows(shifted))


def cross_entropy_loss_grad(logits, y):
    p = softmax(logits)
    p -= y
    p /= rows(p)
    return p


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
        self.buffers = {}  # batch size -> work buffers, reused by every call with that batch size
        self.current = None  # the buffers of the latest forward

    def buffers_for(self, n):
        if n not in self.buffers:
            sizes = self.layer_sizes
            self.buffers[n] = {
                "A": [np.empty((n, s)) for s in sizes],  # A[0] = X, A[l+1] = f(Z_l)
                "Z": [np.empty((n, s)) for s in sizes[1:]],
                "dZ": [np.empty((n, s)) for s in sizes[1:]],
                "dA": [np.empty((n, s)) for s in sizes],
                "dW": [np.empty_like(W) for W in self.weights],
            }
        return self.buffers[n]

    def act(self, layer):
        return ACTS[self.output_activation if layer == len(self.weights) - 1 else self.activation]

    def forward(self, X):
        X = np.asarray(X, dtype=np.float64)
        buf = self.buffers_for(X.shape[0])
        np.copyto(buf["A"][0], X)
        for layer, (W, b) in enumerate(zip(self.weights, self.biases)):
            Z = buf["Z"][layer]
            np.matmul(buf["A"][layer], W.T, out=Z)
            Z += b
            np.copyto(buf["A"][layer + 1], self.act(layer)[0](Z))
        self.current = buf
        return buf["A"][-1].copy()  # fresh: the buffer is overwritten by the next forward

    def loss(self, Y):
        output = self.current["A"][-1]
        value = mse_loss(output, Y) if self.loss_name == "mse" else cross_entropy_loss(output, Y)
        for W in self.weights:
            if self.l1:
                value += self.l1 * np.abs(W).sum()
            if self.l2:
                value += 0.5 * self.l2 * np.vdot(W, W)
        return float(value)

    def backward(self, Y):
        buf = self.current
        grad = mse_loss_grad if self.loss_name == "mse" else cross_entropy_loss_grad
        np.copyto(buf["dA"][-1], grad(buf["A"][-1], Y))
        for layer in reversed(range(len(self.weights))):
            W = self.weights[layer]
            dZ = buf["dZ"][layer]
            np.multiply(buf["dA"][layer + 1], self.act(layer)[1](buf["Z"][layer]), out=dZ)
            dW = buf["dW"][layer]
            np.matmul(dZ.T, buf["A"][layer], out=dW)
            if self.l1:
                dW += self.l1 * np.sign(W)
            if self.l2:
                dW += self.l2 * W
            self.grad_weights[layer] = dW.copy()  # fresh arrays: the scratch is reused next time
            self.grad_biases[layer] = dZ.sum(axis=0)
            if layer:
                np.matmul(dZ, W, out=buf["dA"][layer])

    def update(self, lr):
        for W, b, dW, db in zip(self.weights, self.biases, self.grad_weights, self.grad_biases):
            W -= lr * dW
            b -= lr * db

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
