"""Random networks for the MLP tests, built in the test process and copied into the submission's MLP.

Parameters and inputs come from the test's `rng` (seeded by the test process, never by the
submission). Pre-activations are kept away from the kinks of ReLU/Leaky/ELU by re-drawing, and
weights away from 0 when l1 > 0 (the kink of |W|), so centred differences with h = 1e-5 are exact
to ~1e-9 for correct code (numerics.md §1.3).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

import check
import reference as ref

KINK_MARGIN = 1e-3  # |z| of every pre-activation (and |W| with l1) at least this
L1_WEIGHT_FLOOR = 0.05


@dataclass
class Net:
    sizes: list
    activation: str = "tanh"
    output_activation: str = "identity"
    loss: str = "mse"
    l1: float = 0.0
    l2: float = 0.0
    weights: list = field(default_factory=list)
    biases: list = field(default_factory=list)
    X: np.ndarray | None = None
    Y: np.ndarray | None = None

    @property
    def n(self) -> int:
        return self.X.shape[0]

    def describe(self) -> str:
        sizes = "-".join(str(s) for s in self.sizes)
        text = (f"MLP({sizes}, activation={self.activation!r}, output_activation={self.output_activation!r}, "
                f"loss={self.loss!r}")
        if self.l1 or self.l2:
            text += f", l1={self.l1:g}, l2={self.l2:g}"
        return text + f") on a batch of N = {self.n}"

    def build(self, student):
        """The submission's MLP with this net's weights and biases copied in."""
        options = dict(activation=self.activation, output_activation=self.output_activation, loss=self.loss,
                       l1=self.l1, l2=self.l2, seed=0)
        parameters = {"weights": [W.copy() for W in self.weights], "biases": [b.copy() for b in self.biases]}
        model = student.construct("MLP", [list(self.sizes)], options, parameters)  # one request: made, then set
        if not hasattr(model, "type_name"):  # a value came back, not an object of the submission (nothing was set)
            check.fail(f"MLP({self.sizes}, ...) gave {check.described(model)}; expected an MLP "
                       "object. Look at the MLP class (it must stay a class).")
        return model

    def output(self, weights=None, biases=None, **changes):
        return ref.forward(weights or self.weights, biases or self.biases, self.X,
                           changes.get("activation", self.activation),
                           changes.get("output_activation", self.output_activation))

    def loss_value(self) -> float:
        return ref.loss(self.weights, self.biases, self.X, self.Y, self.activation, self.output_activation,
                        self.loss, self.l1, self.l2)

    def numerical_gradients(self):
        return ref.numerical_gradients(self.weights, self.biases, self.X, self.Y, self.activation,
                                       self.output_activation, self.loss, self.l1, self.l2)


def random_net(rng, sizes, activation="tanh", output_activation="identity", loss="mse", *, n=7,
               l1=0.0, l2=0.0, bias_std=0.5, weight_gain=1.0) -> Net:
    """A net with random weights (std sqrt(gain/n_in)), biases (std bias_std), inputs and targets."""
    for _ in range(200):
        weights = [rng.standard_normal((o, i)) * np.sqrt(weight_gain / i) for i, o in zip(sizes[:-1], sizes[1:])]
        if l1:
            weights = [np.sign(W) * np.maximum(np.abs(W), L1_WEIGHT_FLOOR) for W in weights]
        biases = [rng.normal(0.0, bias_std, o) for o in sizes[1:]]
        X = rng.standard_normal((n, sizes[0]))
        if ref.min_abs_preactivation(weights, biases, X, activation, output_activation) > KINK_MARGIN:
            break
    if loss == "cross_entropy":
        labels = rng.integers(0, sizes[-1], n)
        labels[: min(n, sizes[-1])] = rng.permutation(sizes[-1])[: min(n, sizes[-1])]  # every class present
        Y = np.eye(sizes[-1])[labels]
    else:
        Y = rng.uniform(0.05, 0.95, (n, sizes[-1]))
    return Net(list(sizes), activation, output_activation, loss, l1, l2, weights, biases, X, Y)


def forward_hints(net: Net, got) -> list[str]:
    """Recognisable forward bugs: compare `got` with the outputs of typical mistakes."""
    if not isinstance(got, np.ndarray) or got.shape != (net.n, net.sizes[-1]) or not np.all(np.isfinite(got)):
        return []
    zero_b = [np.zeros_like(b) for b in net.biases]
    variants = [
        ("the biases are not added (Z = X @ W.T without + b)", dict(biases=zero_b)),
        ("the last layer uses the hidden activation instead of output_activation",
         dict(output_activation=net.activation)),
        ("the hidden layers use output_activation instead of activation", dict(activation=net.output_activation)),
        ("no activation is applied in the hidden layers", dict(activation="identity")),
        ("the output layer applies no activation", dict(output_activation="identity")),
    ]
    hints = []
    for text, change in variants:
        if change.get("activation", net.activation) == net.activation and \
                change.get("output_activation", net.output_activation) == net.output_activation and "biases" not in change:
            continue
        try:
            expected = net.output(**change)
        except Exception:
            continue
        if np.allclose(got, expected, rtol=1e-7, atol=1e-10):
            hints.append(f"The output equals what you get when {text}.")
            break
    if not hints and net.output_activation == "identity" and np.allclose(got, ref.softmax(net.output()), rtol=1e-7,
                                                                          atol=1e-10):
        hints.append("The output is the softmax of the right logits (probabilities): with output_activation="
                     "'identity' forward returns the logits themselves; cross_entropy_loss applies the softmax.")
    return hints
