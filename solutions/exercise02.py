"""Exercise 02: a multi-layer perceptron from scratch, trained on MNIST.

Notation follows the lecture. Layer l computes x_l = f(W_l x_{l-1} + b_l), with W_l of shape
(n_out, n_in). A batch X holds one sample per row, (N, n_in), so the same layer computes

    X_l = f(X_{l-1} @ W_l.T + b_l)                    # (N, n_out)

`dX` always means dL/dX, the gradient of the loss with respect to X; it has the shape of X.

Every function and method returns arrays of float64 that belong to the caller (a new array, never a
buffer that a later call overwrites) and leaves the arrays it is given unchanged (no `-=` or `out=`
on an argument). forward depends only on X and the parameters; backward overwrites the gradients
(calling it twice gives the same gradients); only update changes the parameters.

What you write: the functions and methods that raise NotImplementedError. Run the public tests
with `pytest` until they pass, then the experiments:

    python exercise02_template.py              # XOR demo, MNIST training, learning-rate experiment
    python exercise02_template.py --quick      # the same on a small subset, in a few seconds
    python exercise02_template.py --wandb      # also log the runs to Weights & Biases (offline)

The experiments write plots/lr_loss_curves.png and plots/lr_accuracy.png, which you hand in with
REPORT.md (for each plot: what you expected, what you observed, how you explain it).

Learning is graded on MNIST: MLP([784, 64, 10], "relu", output_activation="identity",
loss="cross_entropy") trained with your forward, loss, backward and update for one epoch over 10,000
training images (batch 32, lr 0.2, then 0.04 for the last fifth of the batches) must get at least
88 % of unseen test images right; a correct implementation gets 91 to 92.5 %. The public test
test_train_learns_mnist checks the same with other values.

Every training step is graded too, in that test and in XOR's (MLP([2, 8, 1], "tanh",
output_activation="sigmoid", loss="mse"), 400 full-batch steps at lr 2.0): a step (forward, loss,
backward, update(lr) on one batch) must move each weight and bias by exactly -lr times the gradient
of the loss as defined in MLP (the data loss plus the l1/l2 terms) at the parameters before the
step, and nothing else. The grader reads the parameters along the training and repeats steps with
its own gradients; a step that moves them otherwise fails the learning test, even when the net
learns. The public test test_training_steps_follow_the_gradient checks the same rule with other values.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import struct
import time
from pathlib import Path

for _threads in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # before numpy loads its BLAS:
    os.environ.setdefault(_threads, "1")  # batches of 32 are no faster on more threads, which stall on a busy machine

import numpy as np

# =============================================================================== activations
# Each activation f comes with f_grad(z) = df/dz, evaluated element-wise at the pre-activation z.
# Both stay finite, without overflow or warnings, for any |z| up to 1e3 (and beyond).


def sigmoid(z):
    """1 / (1 + e^-z), without overflow for large |z|."""
    ### BEGIN SOLUTION
    e = np.exp(-np.abs(z))  # in (0, 1], never overflows
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    ### END SOLUTION


def sigmoid_grad(z):
    """d sigmoid / dz = sigmoid(z) * (1 - sigmoid(z)), at the pre-activation z (not at sigmoid's output)."""
    ### BEGIN SOLUTION
    s = sigmoid(z)
    return s * (1.0 - s)
    ### END SOLUTION


def tanh(z):
    """Hyperbolic tangent."""
    ### BEGIN SOLUTION
    return np.tanh(z)
    ### END SOLUTION


def tanh_grad(z):
    """d tanh / dz = 1 - tanh(z)^2."""
    ### BEGIN SOLUTION
    return 1.0 - np.tanh(z) ** 2
    ### END SOLUTION


def relu(z):
    """max(z, 0)."""
    ### BEGIN SOLUTION
    return np.maximum(z, 0.0)
    ### END SOLUTION


def relu_grad(z):
    """1 where z > 0, else 0."""
    ### BEGIN SOLUTION
    return (z > 0).astype(np.float64)
    ### END SOLUTION


def leaky_relu(z, alpha=0.01):
    """z where z > 0, else alpha * z."""
    ### BEGIN SOLUTION
    return np.where(z > 0, z, alpha * z)
    ### END SOLUTION


def leaky_relu_grad(z, alpha=0.01):
    """1 where z > 0, else alpha."""
    ### BEGIN SOLUTION
    return np.where(z > 0, 1.0, alpha)
    ### END SOLUTION


def elu(z, alpha=1.0):
    """z where z > 0, else alpha * (e^z - 1)."""
    ### BEGIN SOLUTION
    return np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0.0)))  # no overflow for large z
    ### END SOLUTION


def elu_grad(z, alpha=1.0):
    """1 where z > 0, else alpha * e^z."""
    ### BEGIN SOLUTION
    return np.where(z > 0, 1.0, alpha * np.exp(np.minimum(z, 0.0)))
    ### END SOLUTION


def identity(z):
    """f(z) = z: the output activation of a regression net, or of a classifier that returns logits."""
    return z


def identity_grad(z):
    return np.ones_like(z)


def softmax(z):
    """Softmax along the last axis: rows are probabilities that sum to 1.

    Computed stably: softmax(z) = softmax(z - c) for any constant c per row, so shifting by the row
    maximum keeps every exponent <= 0 and nothing overflows.
    """
    ### BEGIN SOLUTION
    shifted = z - np.max(z, axis=-1, keepdims=True)  # (..., K), max of each row is 0
    e = np.exp(shifted)  # (..., K), in (0, 1]
    return e / np.sum(e, axis=-1, keepdims=True)  # (..., K)
    ### END SOLUTION


# =============================================================================== losses
# A loss takes the network output (N, K) and the targets (N, K), one sample per row, and averages over
# the N rows: divide by N = y.shape[0], not by the N * K entries (np.mean over all entries is K times
# too small). The loss gradients are d loss / d output, with the same 1/N.


def mse_loss(y_hat, y):
    """Squared error: sum((y_hat - y)^2) / (2N), summed over all N * K entries, divided by 2N."""
    ### BEGIN SOLUTION
    n = y_hat.size // y_hat.shape[-1]  # rows: every axis but the last
    return float(np.sum((y_hat - y) ** 2) / (2 * n))
    ### END SOLUTION


def mse_loss_grad(y_hat, y):
    """d mse_loss / d y_hat = (y_hat - y) / N."""
    ### BEGIN SOLUTION
    n = y_hat.size // y_hat.shape[-1]  # rows: every axis but the last
    return (y_hat - y) / n  # (N, K)
    ### END SOLUTION


def cross_entropy_loss(logits, y):
    """-sum(y * log softmax(logits)) / N for one-hot y; finite for any finite logits.

    The logits are the raw outputs (an identity output activation), not probabilities: the loss
    applies the softmax itself.
    """
    ### BEGIN SOLUTION
    n = logits.size // logits.shape[-1]  # rows: every axis but the last
    shifted = logits - np.max(logits, axis=-1, keepdims=True)  # (N, K)
    log_p = shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))  # (N, K), log softmax
    return float(-np.sum(y * log_p) / n)
    ### END SOLUTION


def cross_entropy_loss_grad(logits, y):
    """d cross_entropy_loss / d logits = (softmax(logits) - y) / N."""
    ### BEGIN SOLUTION
    n = logits.size // logits.shape[-1]  # rows: every axis but the last
    return (softmax(logits) - y) / n  # (N, K)
    ### END SOLUTION


ACTIVATIONS = {
    "sigmoid": (sigmoid, sigmoid_grad),
    "tanh": (tanh, tanh_grad),
    "relu": (relu, relu_grad),
    "leaky_relu": (leaky_relu, leaky_relu_grad),
    "elu": (elu, elu_grad),
    "identity": (identity, identity_grad),
}
LOSSES = {
    "mse": (mse_loss, mse_loss_grad),
    "cross_entropy": (cross_entropy_loss, cross_entropy_loss_grad),
}


# =============================================================================== the network


class MLP:
    """A fully connected network: layer l computes X_l = f(X_{l-1} @ W_l.T + b_l).

    weights[l] has shape (layer_sizes[l+1], layer_sizes[l]) and biases[l] shape (layer_sizes[l+1],);
    grad_weights and grad_biases mirror them. Hidden layers use `activation`, the last layer
    `output_activation`. The loss is the mean over samples of the data loss plus
    l1 * sum|W| + (l2 / 2) * sum W^2 over all weights (never the biases).
    With loss="cross_entropy" the output activation must be "identity": forward returns logits and
    the loss applies the softmax.
    """

    def __init__(
        self,
        layer_sizes,
        activation="sigmoid",
        output_activation="identity",
        loss="mse",
        l1=0.0,
        l2=0.0,
        seed=None,
    ):
        check_choice("activation", activation, ACTIVATIONS)
        check_choice("output_activation", output_activation, ACTIVATIONS)
        check_choice("loss", loss, LOSSES)
        if loss == "cross_entropy" and output_activation != "identity":
            raise ValueError(
                'loss="cross_entropy" needs output_activation="identity" (forward returns logits, '
                f"the loss applies the softmax); got output_activation={output_activation!r}"
            )
        sizes = [int(n) for n in layer_sizes]
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"layer_sizes needs at least two positive sizes, got {list(layer_sizes)}")
        self.layer_sizes = sizes
        self.activation = activation
        self.output_activation = output_activation
        self.loss_name = loss
        self.l1 = float(l1)
        self.l2 = float(l2)

        # He initialisation for the ReLU family, LeCun for the others: Var(W) = gain / n_in keeps the
        # variance of the pre-activations about the same from layer to layer.
        gain = 2.0 if activation in ("relu", "leaky_relu", "elu") else 1.0
        rng = np.random.default_rng(seed)
        self.weights = [
            rng.standard_normal((n_out, n_in)) * np.sqrt(gain / n_in)  # (n_out, n_in)
            for n_in, n_out in zip(sizes[:-1], sizes[1:])
        ]
        self.biases = [np.zeros(n_out) for n_out in sizes[1:]]  # (n_out,)
        self.grad_weights = [np.zeros_like(W) for W in self.weights]
        self.grad_biases = [np.zeros_like(b) for b in self.biases]
        self.inputs = []  # X_{l-1} of each layer, kept by forward for backward
        self.pre_activations = []  # Z_l = X_{l-1} @ W_l.T + b_l of each layer
        self.output = None  # the output of the latest forward

    def activation_of(self, layer):
        """(f, f_grad) of layer `layer`: the hidden activation, or the output activation for the last."""
        last = layer == len(self.weights) - 1
        return ACTIVATIONS[self.output_activation if last else self.activation]

    def forward(self, X):
        """X (N, n_in) -> output (N, n_out); keeps each layer's input and pre-activation for backward.

        The output is output_activation of the last layer's pre-activation: with "identity" these are
        the logits (no softmax here; cross_entropy_loss applies it).
        """
        ### BEGIN SOLUTION
        self.inputs, self.pre_activations = [], []
        A = X  # (N, n_0)
        for layer, (W, b) in enumerate(zip(self.weights, self.biases)):
            f, _ = self.activation_of(layer)
            Z = A @ W.T + b  # (N, n_out)
            self.inputs.append(A)
            self.pre_activations.append(Z)
            A = f(Z)  # (N, n_out)
        self.output = A
        return A
        ### END SOLUTION

    def loss(self, Y):
        """The loss of the latest forward output against Y (N, n_out), plus the regularisation term."""
        ### BEGIN SOLUTION
        data_loss, _ = LOSSES[self.loss_name]
        penalty = 0.0
        for W in self.weights:
            if self.l1:
                penalty += self.l1 * np.sum(np.abs(W))
            if self.l2:
                penalty += 0.5 * self.l2 * np.sum(W * W)
        return float(data_loss(self.output, Y) + penalty)
        ### END SOLUTION

    def backward(self, Y):
        """Fill grad_weights[l] and grad_biases[l] with d loss(Y) / d parameter for the latest forward.

        The chain rule, layer by layer from the output back: with dZ = dL/dZ_l,
        dW_l = dZ.T @ X_{l-1}, db_l = sum of dZ over the batch, dX_{l-1} = dZ @ W_l.
        """
        ### BEGIN SOLUTION
        _, data_loss_grad = LOSSES[self.loss_name]
        dA = data_loss_grad(self.output, Y)  # (N, n_L), dL/d output
        for layer in reversed(range(len(self.weights))):
            W = self.weights[layer]  # (n_out, n_in)
            _, f_grad = self.activation_of(layer)
            dZ = dA * f_grad(self.pre_activations[layer])  # (N, n_out)
            dW = dZ.T @ self.inputs[layer]  # (n_out, n_in)
            if self.l1:
                dW += self.l1 * np.sign(W)  # d(l1 * sum|W|) / dW
            if self.l2:
                dW += self.l2 * W  # d(l2/2 * sum W^2) / dW
            self.grad_weights[layer] = dW
            self.grad_biases[layer] = dZ.sum(axis=0)  # (n_out,)
            if layer > 0:  # dL/dX of the input itself is never needed
                dA = dZ @ W  # (N, n_in), dL/dX_{l-1}
        ### END SOLUTION

    def update(self, lr):
        """One step of gradient descent: p <- p - lr * grad_p for every weight and bias.

    grad_p is what the latest backward stored, l1/l2 terms included: update adds no decay of its own
    and keeps nothing between steps (no momentum), so each step depends on that step's gradients only.
    Together, forward, loss, backward and update move each parameter by exactly -lr times the
    gradient of the loss (regularisation included) and nothing else: that is what the learning
    tests check at every step they repeat.
    """
        ### BEGIN SOLUTION
        for layer in range(len(self.weights)):
            self.weights[layer] -= lr * self.grad_weights[layer]  # (n_out, n_in)
            self.biases[layer] -= lr * self.grad_biases[layer]  # (n_out,)
        ### END SOLUTION

    def predict(self, X):
        """Class indices (N,): the argmax of the output."""
        return np.argmax(self.forward(X), axis=1)

    def __repr__(self):
        sizes = "-".join(str(n) for n in self.layer_sizes)
        return f"MLP({sizes}, {self.activation} -> {self.output_activation}, loss={self.loss_name})"


def check_choice(what, value, allowed):
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; allowed: {', '.join(sorted(allowed))}")


# =============================================================================== data

MNIST_FILES = {  # file name -> SHA-256 of its uncompressed content (the canonical MNIST files)
    "train-images-idx3-ubyte.gz": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte.gz": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte.gz": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte.gz": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}


class MnistDataError(OSError):
    """A missing or damaged MNIST file."""


def one_hot(labels, num_classes=10):
    """Integer labels (N,) -> one-hot rows (N, num_classes) of float64."""
    return np.eye(num_classes)[np.asarray(labels)]


def read_idx(path):
    """The array in one gzip-compressed IDX file, after checking its SHA-256."""
    name = path.name
    how_to_fix = (
        f"Copy {name} from the exercise bundle's data/mnist/ folder into {path.parent} "
        "(or pass load_mnist(data_dir=...)); nothing is downloaded."
    )
    if not path.is_file():
        raise MnistDataError(f"MNIST file {name} is missing from {path.parent}. {how_to_fix}")
    try:
        raw = gzip.decompress(path.read_bytes())
    except (OSError, EOFError) as error:
        raise MnistDataError(f"MNIST file {name} in {path.parent} is damaged ({error}). {how_to_fix}") from None
    digest = hashlib.sha256(raw).hexdigest()
    if digest != MNIST_FILES[name]:
        raise MnistDataError(
            f"MNIST file {name} in {path.parent} is damaged: its content has SHA-256 {digest[:16]}..., "
            f"expected {MNIST_FILES[name][:16]}.... {how_to_fix}"
        )
    ndim = raw[3]
    shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_mnist(data_dir=None):
    """(X_train, y_train, X_test, y_test): X float64 in [0, 1] of shape (N, 784), y int64 labels (N,).

    The default folder is data/mnist/ next to this file (or next to its folder).
    """
    if data_dir is None:
        here = Path(__file__).resolve().parent
        candidates = [here / "data" / "mnist", here.parent / "data" / "mnist"]
        data_dir = next((d for d in candidates if d.is_dir()), candidates[0])
    data_dir = Path(data_dir)
    arrays = [read_idx(data_dir / name) for name in MNIST_FILES]
    X_train, y_train, X_test, y_test = arrays
    return (
        X_train.reshape(len(X_train), -1) / 255.0,  # (60000, 784)
        y_train.astype(np.int64),  # (60000,)
        X_test.reshape(len(X_test), -1) / 255.0,  # (10000, 784)
        y_test.astype(np.int64),  # (10000,)
    )


# =============================================================================== training


def accuracy(output, Y):
    """Share of rows classified right: argmax for several outputs, a 0.5 threshold for one."""
    if output.shape[1] == 1:
        return float(np.mean((output > 0.5) == (Y > 0.5)))
    return float(np.mean(np.argmax(output, axis=1) == np.argmax(Y, axis=1)))


def train(model, X, Y, epochs, lr, batch_size=32, X_val=None, Y_val=None, seed=0, *, progress=None):
    """Mini-batch SGD: `epochs` passes over (X, Y) in an order shuffled by `seed`.

    Returns {"train_loss": [...], "val_loss": [...], "val_accuracy": [...]}, one entry per epoch
    (the val lists stay empty without validation data). `progress(epoch, history)` is called after
    each epoch. A run whose loss stops being finite has diverged: its remaining epochs are NaN.
    """
    rng = np.random.default_rng(seed)
    history = {"train_loss": [], "val_loss": [], "val_accuracy": []}
    n = X.shape[0]
    for epoch in range(epochs):
        total = 0.0
        diverged = history["train_loss"] and not np.isfinite(history["train_loss"][-1])
        with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported through the loss
            if diverged:
                total = np.nan
            else:
                order = rng.permutation(n)
                for start in range(0, n, batch_size):
                    batch = order[start : start + batch_size]
                    X_batch, Y_batch = X[batch], Y[batch]  # (B, n_in), (B, n_out)
                    model.forward(X_batch)
                    total += model.loss(Y_batch) * len(batch)
                    model.backward(Y_batch)
                    model.update(lr)
            history["train_loss"].append(float(total / n))
            if X_val is not None:
                output = model.forward(X_val)
                history["val_loss"].append(float(model.loss(Y_val)))
                history["val_accuracy"].append(accuracy(output, Y_val))
        if progress is not None:
            progress(epoch, history)
    return history


def learning_rate_experiment(
    learning_rates,
    X_train,
    Y_train,
    X_val,
    Y_val,
    *,
    layer_sizes=None,
    activation="relu",
    epochs=2,
    batch_size=32,
    seed=0,
):
    """Train one fresh classifier per learning rate; return {lr: history} (see `train`).

    Each model is MLP(layer_sizes, activation, output_activation="identity", loss="cross_entropy",
    seed=seed), trained with `train` on the same data and seed, so only the learning rate differs.
    layer_sizes=None means (n_in, 64, n_out).
    """
    ### BEGIN SOLUTION
    if layer_sizes is None:
        layer_sizes = (X_train.shape[1], 64, Y_train.shape[1])
    histories = {}
    for lr in learning_rates:
        model = MLP(layer_sizes, activation, output_activation="identity", loss="cross_entropy", seed=seed)
        histories[lr] = train(model, X_train, Y_train, epochs, lr, batch_size, X_val, Y_val, seed=seed)
    return histories
    ### END SOLUTION


# =============================================================================== experiment tracking


def open_wandb(wanted):
    """The wandb module when --wandb was given and wandb is installed, else None (and says so, once)."""
    if not wanted:
        return None
    try:
        import wandb
    except ImportError:
        print("--wandb: wandb is not installed (pip install wandb); the runs are logged as JSON lines only")
        return None
    return wandb


class RunLog:
    """Logs a run to a JSON-lines file, and to Weights & Biases when given the wandb module."""

    def __init__(self, name, config, folder, wandb=None):
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{name}.jsonl"
        self.file = self.path.open("w")
        self.write(event="config", **config)
        self.wandb_run = None
        if wandb is not None:  # the configuration goes in as config, not as metrics; offline: no account needed
            mode = os.environ.get("WANDB_MODE", "offline")
            self.wandb_run = wandb.init(project="exercise02", name=name, config=config, mode=mode)

    def write(self, **fields):
        self.file.write(json.dumps(fields) + "\n")
        self.file.flush()

    def log(self, **metrics):
        """One step's metrics (numbers), e.g. log(epoch=1, train_loss=0.3)."""
        self.write(**metrics)
        if self.wandb_run is not None:
            self.wandb_run.log({k: v for k, v in metrics.items() if isinstance(v, (int, float))})

    def summarise(self, **values):
        """Final values of the run, e.g. summarise(test_accuracy=0.97)."""
        self.write(event="summary", **values)
        if self.wandb_run is not None:
            self.wandb_run.summary.update(values)

    def finish(self):
        self.file.close()
        if self.wandb_run is not None:
            self.wandb_run.finish()


# =============================================================================== experiments


def run_xor(seed=0):
    """The lecture's XOR problem: a 2-8-1 tanh net learns it in a few hundred epochs."""
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])  # (4, 2)
    Y = np.array([[0.0], [1.0], [1.0], [0.0]])  # (4, 1)
    model = MLP([2, 8, 1], activation="tanh", output_activation="sigmoid", loss="mse", seed=seed)
    history = train(model, X, Y, epochs=3000, lr=2.0, batch_size=4, seed=seed)
    output = model.forward(X)  # (4, 1)
    print(f"XOR  2-8-1 tanh, 3000 epochs: loss {history['train_loss'][-1]:.4f}")
    for x, y in zip(X, output[:, 0]):
        print(f"     {x.astype(int)} -> {y:.3f}")


def plot_learning_rates(histories, folder, note=""):
    """plots/lr_loss_curves.png (training loss per epoch) and plots/lr_accuracy.png (accuracy vs lr).

    `note` (for example the data subset, and whether --quick was used) goes under each title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    figures = {"lr_loss_curves.png": loss_figure(histories, note), "lr_accuracy.png": accuracy_figure(histories, note)}
    for name, fig in figures.items():
        fig.savefig(folder / name, dpi=100, bbox_inches="tight")  # "tight": the legend outside the axes is kept
        plt.close(fig)


def loss_figure(histories, note=""):
    """Training loss per epoch, one curve per learning rate; the legend sits outside, so it hides no curve."""
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(7, 4))
    for lr in sorted(histories):
        losses = histories[lr]["train_loss"]
        ax.plot(range(1, len(losses) + 1), losses, marker="o", label=f"{lr:g}")
    ax.set(xlabel="epoch", ylabel="training loss (cross-entropy)", yscale="log")
    ax.set_title("Training loss per learning rate" + (f"\n{note}" if note else ""))
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.legend(title="learning rate", loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    return fig


def accuracy_figure(histories, note=""):
    """Final validation accuracy against the learning rate (log scale)."""
    import matplotlib.pyplot as plt

    rates = sorted(histories)
    fig, ax = plt.subplots(figsize=(6, 4))
    final = [histories[lr]["val_accuracy"][-1] if histories[lr]["val_accuracy"] else np.nan for lr in rates]
    ax.plot(rates, final, marker="o")
    ax.set(xscale="log", xlabel="learning rate", ylabel="final validation accuracy", ylim=(0, 1))
    ax.set_title("Accuracy against learning rate" + (f"\n{note}" if note else ""))
    ax.grid(True, which="both", alpha=0.3)
    return fig


def main(argv=None):
    parser = argparse.ArgumentParser(description="Exercise 02: XOR, MNIST and the learning-rate experiment.")
    parser.add_argument("--epochs", type=int, default=3, help="epochs of the 784-128-10 MNIST run")
    parser.add_argument("--lr-epochs", type=int, default=3, help="epochs per learning rate")
    parser.add_argument("--rates", type=float, nargs="+", default=[1e-3, 1e-2, 1e-1, 1.0, 10.0])
    parser.add_argument("--quick", action="store_true", help="use 5000 training images (a few seconds)")
    parser.add_argument("--plots", type=Path, default=Path(__file__).resolve().parent / "plots")
    parser.add_argument("--runs", type=Path, default=Path(__file__).resolve().parent / "runs")
    parser.add_argument("--wandb", action="store_true", help="log runs to Weights & Biases (offline mode)")
    parser.add_argument("--data", type=Path, default=None, help="folder with the MNIST files")
    args = parser.parse_args(argv)
    started = time.perf_counter()

    run_xor()

    X_train, y_train, X_test, y_test = load_mnist(args.data)
    X_train, X_val = X_train[:50000], X_train[50000:]  # hold out 10 000 training images for validation
    y_train, y_val = y_train[:50000], y_train[50000:]
    if args.quick:
        X_train, y_train, X_val, y_val = X_train[:5000], y_train[:5000], X_val[:1000], y_val[:1000]
    Y_train, Y_val = one_hot(y_train), one_hot(y_val)
    print(f"MNIST {len(X_train)} training, {len(X_val)} validation, {len(X_test)} test images")

    wandb = open_wandb(args.wandb)
    config = {"layers": [784, 128, 10], "activation": "relu", "lr": 0.1, "batch_size": 32, "epochs": args.epochs,
              "quick": args.quick, "train_images": len(X_train)}
    log = RunLog("mnist-784-128-10", config, args.runs, wandb)

    def report(epoch, history):
        line = {k: v[-1] for k, v in history.items() if v}
        log.log(epoch=epoch + 1, **line)
        print(
            f"  epoch {epoch + 1}/{args.epochs}: train loss {line['train_loss']:.4f}, "
            f"val loss {line['val_loss']:.4f}, val accuracy {100 * line['val_accuracy']:.2f} %"
        )

    model = MLP([784, 128, 10], activation="relu", loss="cross_entropy", seed=0)
    train(model, X_train, Y_train, args.epochs, lr=0.1, X_val=X_val, Y_val=Y_val, progress=report)
    test_accuracy = float(np.mean(model.predict(X_test) == y_test))
    log.summarise(test_accuracy=test_accuracy)
    log.finish()
    print(f"  test accuracy {100 * test_accuracy:.2f} %")

    print(f"Learning rates {args.rates}, {args.lr_epochs} epochs each, 784-64-10 ReLU")
    histories = {}
    for lr in args.rates:  # one rate at a time, to show progress
        histories.update(learning_rate_experiment([lr], X_train, Y_train, X_val, Y_val, epochs=args.lr_epochs, seed=0))
        print(f"  lr {lr:g}: final train loss {histories[lr]['train_loss'][-1]:.4f}")
    for lr, history in histories.items():
        config = {"layers": [784, 64, 10], "lr": lr, "epochs": args.lr_epochs, "quick": args.quick,
                  "train_images": len(X_train)}
        run = RunLog(f"lr-{lr:g}", config, args.runs, wandb)
        for epoch, loss in enumerate(history["train_loss"]):
            run.log(epoch=epoch + 1, train_loss=loss, val_accuracy=history["val_accuracy"][epoch])
        run.finish()
    subset = f"{len(X_train)} training images, {args.lr_epochs} epochs each"
    plot_learning_rates(histories, args.plots, note=f"--quick: {subset}" if args.quick else subset)

    print("Summary")
    for lr, history in sorted(histories.items()):
        loss, acc = history["train_loss"][-1], history["val_accuracy"][-1]
        state = "diverged" if not np.isfinite(loss) else f"final loss {loss:.4f}"
        print(f"  lr {lr:<8g} {state:<20} val accuracy {100 * acc:6.2f} %")
    best = max(histories, key=lambda lr: np.nan_to_num(histories[lr]["val_accuracy"][-1]))
    print(f"  best learning rate: {best:g}")
    print(f"  plots written to {args.plots}/ (lr_loss_curves.png, lr_accuracy.png); runs logged in {args.runs}/")
    print(f"  took {time.perf_counter() - started:.0f} s")


def explain_stub(stub):
    """One line for a NotImplementedError that reached the top: which stub, where, and how to test it."""
    name = str(stub) or type(stub).__name__
    frames = []
    trace = stub.__traceback__
    while trace is not None:
        if trace.tb_frame.f_code.co_filename == __file__:
            frames.append(trace.tb_lineno)
        trace = trace.tb_next
    where = f" (line {frames[-1]} of {Path(__file__).name})" if frames else ""
    test = name.rsplit(".", 1)[-1]
    return (f"Stopped: {name}{where} still raises NotImplementedError. Implement it next, "
            f'then run its tests with: pytest -k "test_{test}"')


if __name__ == "__main__":
    try:
        main()
    except NotImplementedError as stub:  # a function not written yet: name it instead of a traceback
        raise SystemExit(explain_stub(stub)) from None
