"""The template's given code (MLP.__init__, train, learning_rate_experiment) replayed in the test process.

`MLP.__init__` and `train` are given, so what they produce is determined by their arguments: the
initial weights bit for bit, and the trained weights and histories up to float round-off. The tests
compute them here with the reference math (reference.py) and compare, so a dropped argument, a
generator that ignores the seed, or an answer remembered from an earlier call cannot pass.
"""

from __future__ import annotations

import numpy as np

import reference as ref

RELU_FAMILY = ("relu", "leaky_relu", "elu")


class Net:
    """The state of an MLP as the given code keeps it: parameters and hyper-parameters."""

    def __init__(self, layer_sizes, activation="sigmoid", output_activation="identity", loss="mse", l1=0.0, l2=0.0,
                 seed=None):
        sizes = [int(n) for n in layer_sizes]
        gain = 2.0 if activation in RELU_FAMILY else 1.0
        rng = np.random.default_rng(seed)
        self.weights = [rng.standard_normal((n_out, n_in)) * np.sqrt(gain / n_in)
                        for n_in, n_out in zip(sizes[:-1], sizes[1:])]
        self.biases = [np.zeros(n_out) for n_out in sizes[1:]]
        self.activation, self.output_activation, self.loss_name = activation, output_activation, loss
        self.l1, self.l2 = float(l1), float(l2)

    def forward(self, X):
        return ref.forward(self.weights, self.biases, X, self.activation, self.output_activation)

    def loss(self, X, Y) -> float:
        return ref.loss(self.weights, self.biases, X, Y, self.activation, self.output_activation, self.loss_name,
                        self.l1, self.l2)

    def gradients(self, X, Y):
        return gradients(self.weights, self.biases, X, Y, self.activation, self.output_activation, self.loss_name,
                         self.l1, self.l2)

    def step(self, X, Y, lr) -> float:
        """forward, loss, backward, update on one batch; the batch loss before the update (one forward for both)."""
        forwarded = ref.forward(self.weights, self.biases, X, self.activation, self.output_activation, keep=True)
        value = ref.loss_of(forwarded[0], Y, self.weights, self.loss_name, self.l1, self.l2)
        dWs, dbs = gradients(self.weights, self.biases, X, Y, self.activation, self.output_activation, self.loss_name,
                             self.l1, self.l2, forwarded=forwarded)
        self.weights = [W - lr * g for W, g in zip(self.weights, dWs)]
        self.biases = [b - lr * g for b, g in zip(self.biases, dbs)]
        return value


def gradients(weights, biases, X, Y, activation, output_activation, loss_name, l1=0.0, l2=0.0, forwarded=None):
    """d loss / d W and d loss / d b of every layer (analytic; the gradient checks use finite differences).

    `forwarded`: what ref.forward(..., keep=True) returned for these parameters and X, when already computed."""
    out, zs = forwarded if forwarded is not None else ref.forward(weights, biases, X, activation, output_activation,
                                                                  keep=True)
    inputs = [np.asarray(X, dtype=np.float64)] + [
        ref.ACTIVATIONS[activation][0](Z) for Z in zs[:-1]
    ]
    dA = ref.LOSSES[loss_name][1](out, Y)
    dWs, dbs = [None] * len(weights), [None] * len(weights)
    for layer in reversed(range(len(weights))):
        name = output_activation if layer == len(weights) - 1 else activation
        if loss_name == "cross_entropy" and layer == len(weights) - 1:
            dZ = dA  # the loss gradient is already with respect to the logits (output_activation identity)
        else:
            dZ = dA * ref.ACTIVATIONS[name][1](zs[layer])
        W = np.asarray(weights[layer], dtype=np.float64)
        dWs[layer] = dZ.T @ inputs[layer] + l1 * np.sign(W) + l2 * W
        dbs[layer] = dZ.sum(axis=0)
        if layer:  # the gradient of the inputs is not needed
            dA = dZ @ W
    return dWs, dbs


def accuracy(output, Y) -> float:
    """The given code's accuracy: argmax for several outputs, a 0.5 threshold for one."""
    if output.shape[1] == 1:
        return float(np.mean((output > 0.5) == (Y > 0.5)))
    return float(np.mean(np.argmax(output, axis=1) == np.argmax(Y, axis=1)))


def epoch_orders(n: int, epochs: int, seed) -> np.ndarray:
    """The row order of each epoch as the given train draws it: default_rng(seed).permutation(n) per epoch."""
    rng = np.random.default_rng(seed)
    return np.array([rng.permutation(n) for _ in range(epochs)], dtype=np.int64).reshape(epochs, n)


def train(net: Net, X, Y, epochs, lr, batch_size=32, X_val=None, Y_val=None, seed=0) -> dict:
    """The given train on `net` (changed in place); the history it returns."""
    history = {"train_loss": [], "val_loss": [], "val_accuracy": []}
    with np.errstate(over="ignore", invalid="ignore"):
        for order in epoch_orders(X.shape[0], epochs, seed):
            total = 0.0
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                total += net.step(X[rows], Y[rows], lr) * len(rows)
            history["train_loss"].append(float(total / X.shape[0]))
            if X_val is not None:
                history["val_loss"].append(net.loss(X_val, Y_val))
                history["val_accuracy"].append(accuracy(net.forward(X_val), Y_val))
    return history


def learning_rate_experiment(learning_rates, X_train, Y_train, X_val, Y_val, *, layer_sizes=None, activation="relu",
                             epochs=2, batch_size=32, seed=0, fresh=True, train_seed="seed", head=None,
                             seed_step=0) -> dict:
    """The solution's learning_rate_experiment. For naming bugs: fresh=False replays one model for all
    rates, train_seed a seed given to train that differs from the model's, head another (output
    activation, loss) than ("identity", "cross_entropy"), seed_step a seed that changes per rate
    (seed + i * seed_step for the i-th rate, for the model and train)."""
    output_activation, loss = head or ("identity", "cross_entropy")
    if layer_sizes is None:
        layer_sizes = (X_train.shape[1], 64, Y_train.shape[1])
    histories, net = {}, None
    for i, lr in enumerate(learning_rates):
        rate_seed = seed + i * seed_step
        if fresh or net is None:
            net = Net(layer_sizes, activation, output_activation, loss, seed=rate_seed)
        histories[lr] = train(net, X_train, Y_train, epochs, lr, batch_size, X_val, Y_val,
                              seed=rate_seed if train_seed == "seed" else train_seed)
    return histories
