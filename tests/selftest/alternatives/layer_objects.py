"""Alternative correct submission 3: Layer objects, activation classes, properties for the SPEC lists.

Each Dense layer owns W, b and their gradients and keeps its own input; the MLP exposes weights,
biases, grad_weights and grad_biases as properties (with setters) over its layers, and a loss
object with value/grad methods. What the template gives (MLP.__init__'s draws, train's batch order)
is kept as given, though written differently: the suite replays the given code and compares with
it (issue 10 item 5). The hidden suite must give it 100/100.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np


def sigmoid(z):
    z = np.asarray(z, dtype=float)
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


def sigmoid_grad(z):
    s = sigmoid(z)
    return s * (1 - s)


def tanh(z):
    return np.tanh(z)


def tanh_grad(z):
    return 1 - np.tanh(z) ** 2


def relu(z):
    return np.where(z > 0, z, 0.0)


def relu_grad(z):
    return np.where(z > 0, 1.0, 0.0)


def leaky_relu(z, alpha=0.01):
    return np.where(z > 0, z, z * alpha)


def leaky_relu_grad(z, alpha=0.01):
    return np.where(z > 0, 1.0, alpha)


def elu(z, alpha=1.0):
    return np.where(z > 0, z, alpha * (np.exp(np.minimum(z, 0)) - 1))


def elu_grad(z, alpha=1.0):
    return np.where(z > 0, 1.0, alpha * np.exp(np.minimum(z, 0)))


def identity(z):
    return z


def identity_grad(z):
    return np.ones_like(z)


def softmax(z):
    z = np.asarray(z, dtype=float)
    e = np.exp(z - np.amax(z, axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def mse_loss(y_hat, y):
    return float(((y_hat - y) ** 2).sum() / (2 * (y_hat.size // y_hat.shape[-1])))


def mse_loss_grad(y_hat, y):
    return (y_hat - y) / (y_hat.size // y_hat.shape[-1])


def cross_entropy_loss(logits, y):
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return float(-(y * log_probs).sum() / (logits.size // logits.shape[-1]))


def cross_entropy_loss_grad(logits, y):
    return (softmax(logits) - y) / (logits.size // logits.shape[-1])


class Activation:
    def __init__(self, f, df):
        self.f, self.df = f, df


ACTS = {name: Activation(globals()[name], globals()[name + "_grad"])
        for name in ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "identity")}


class Loss:
    def __init__(self, value, grad):
        self.value, self.grad = value, grad


LOSS_OBJECTS = {"mse": Loss(mse_loss, mse_loss_grad), "cross_entropy": Loss(cross_entropy_loss, cross_entropy_loss_grad)}


class Dense:
    def __init__(self, n_in, n_out, act, rng, gain):
        self.W = np.sqrt(gain / n_in) * rng.standard_normal((n_out, n_in))  # the given draws
        self.b = np.zeros(n_out)
        self.dW = np.zeros_like(self.W)
        self.db = np.zeros_like(self.b)
        self.act = act

    def forward(self, x):
        self.x = x
        self.z = x @ self.W.T + self.b
        return self.act.f(self.z)

    def backward(self, grad_out, l1, l2):
        dz = grad_out * self.act.df(self.z)
        self.dW = dz.T @ self.x
        if l1:
            self.dW = self.dW + l1 * np.sign(self.W)
        if l2:
            self.dW = self.dW + l2 * self.W
        self.db = dz.sum(axis=0)
        return dz @ self.W


def _layer_property(attr):
    def getter(self):
        return [getattr(layer, attr) for layer in self.layers]

    def setter(self, values):
        values = list(values)
        if len(values) != len(self.layers):
            raise ValueError(f"expected {len(self.layers)} arrays")
        for layer, value in zip(self.layers, values):
            setattr(layer, attr, np.array(value, dtype=float))

    return property(getter, setter)


class MLP:
    weights = _layer_property("W")
    biases = _layer_property("b")
    grad_weights = _layer_property("dW")
    grad_biases = _layer_property("db")

    def __init__(self, layer_sizes, activation="sigmoid", output_activation="identity", loss="mse",
                 l1=0.0, l2=0.0, seed=None):
        if activation not in ACTS:
            raise ValueError(f"unknown activation {activation!r}; allowed: {sorted(ACTS)}")
        if output_activation not in ACTS:
            raise ValueError(f"unknown output_activation {output_activation!r}; allowed: {sorted(ACTS)}")
        if loss not in LOSS_OBJECTS:
            raise ValueError(f"unknown loss {loss!r}; allowed: {sorted(LOSS_OBJECTS)}")
        if loss == "cross_entropy" and output_activation != "identity":
            raise ValueError("loss='cross_entropy' requires output_activation='identity'")
        self.layer_sizes = [int(n) for n in layer_sizes]
        self.activation, self.output_activation, self.loss_name = activation, output_activation, loss
        self.l1, self.l2 = float(l1), float(l2)
        self.loss_fn = LOSS_OBJECTS[loss]
        rng = np.random.default_rng(seed)
        gain = 2.0 if activation in ("relu", "leaky_relu", "elu") else 1.0
        count = len(self.layer_sizes) - 1
        self.layers = [
            Dense(n_in, n_out, ACTS[output_activation if i == count - 1 else activation], rng, gain)
            for i, (n_in, n_out) in enumerate(zip(self.layer_sizes, self.layer_sizes[1:]))
        ]
        self.out = None

    def forward(self, X):
        h = X
        for layer in self.layers:
            h = layer.forward(h)
        self.out = h
        return h

    def loss(self, Y):
        reg = 0.0
        for layer in self.layers:
            if self.l1:
                reg += self.l1 * np.abs(layer.W).sum()
            if self.l2:
                reg += 0.5 * self.l2 * (layer.W ** 2).sum()
        return float(self.loss_fn.value(self.out, Y) + reg)

    def backward(self, Y):
        grad = self.loss_fn.grad(self.out, Y)
        for layer in reversed(self.layers):
            grad = layer.backward(grad, self.l1, self.l2)

    def update(self, lr):
        for layer in self.layers:
            layer.W -= lr * layer.dW
            layer.b -= lr * layer.db

    def predict(self, X):
        return np.argmax(self.forward(X), axis=1)


def one_hot(labels, num_classes=10):
    return np.eye(num_classes)[np.asarray(labels)]


def load_mnist(data_dir=None):
    folder = Path(data_dir) if data_dir is not None else Path(__file__).resolve().parent / "data" / "mnist"
    raw = {n: gzip.decompress((folder / n).read_bytes()) for n in (
        "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz")}
    images = [np.frombuffer(raw[n], np.uint8, offset=16).reshape(-1, 784) / 255.0
              for n in ("train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz")]
    labels = [np.frombuffer(raw[n], np.uint8, offset=8).astype(np.int64)
              for n in ("train-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz")]
    return images[0], labels[0], images[1], labels[1]


def train(model, X, Y, epochs, lr, batch_size=32, X_val=None, Y_val=None, seed=0):
    rng = np.random.default_rng(seed)
    history = {"train_loss": [], "val_loss": [], "val_accuracy": []}
    n = X.shape[0]
    for _ in range(epochs):
        epoch_loss = 0.0
        order = rng.permutation(n)
        for batch in (order[i : i + batch_size] for i in range(0, n, batch_size)):
            model.forward(X[batch])
            epoch_loss += model.loss(Y[batch]) * batch.size
            model.backward(Y[batch])
            model.update(lr)
        history["train_loss"].append(epoch_loss / n)
        if X_val is not None:
            output = model.forward(X_val)
            history["val_loss"].append(model.loss(Y_val))
            if output.shape[1] == 1:
                acc = np.mean((output > 0.5) == (Y_val > 0.5))
            else:
                acc = np.mean(np.argmax(output, 1) == np.argmax(Y_val, 1))
            history["val_accuracy"].append(float(acc))
    return history


def learning_rate_experiment(learning_rates, X_train, Y_train, X_val, Y_val, *, layer_sizes=None,
                             activation="relu", epochs=2, batch_size=32, seed=0):
    layer_sizes = layer_sizes if layer_sizes is not None else (X_train.shape[1], 64, Y_train.shape[1])
    out = {}
    for rate in learning_rates:
        net = MLP(layer_sizes, activation=activation, output_activation="identity", loss="cross_entropy", seed=seed)
        out[rate] = train(net, X_train, Y_train, epochs, rate, batch_size=batch_size, X_val=X_val, Y_val=Y_val,
                          seed=seed)
    return out
