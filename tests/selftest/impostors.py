"""Submissions that must earn nothing, generated from the template: vacuous and hostile stand-ins.

* `template`: the template as shipped (its given code, every stub raising NotImplementedError);
* `constant`: every stub returns a constant of the right shape and type (0.5, zeros, a uniform
  softmax, loss 0.0, zero gradients, update does nothing): what a hard-coded implementation has;
* `hostile` and `hostile_shapes`: every stub returns something a careless grader would crash on
  (lists, None, strings, dicts, booleans, float32, NaN, wrong shapes, wrong lengths, attributes
  replaced by other types).

The meta-test (test_hidden_suite.py) runs the whole hidden suite on each: every test that is not
about given code must give 0 points, and no test may end in an internal error (outcome "error") or
a message naming the kit's own types. Each body replaces `raise NotImplementedError("<name>")` in the
template, so the stand-ins follow the template when it changes (`write` fails loudly if a stub is
missing or a body names a stub the template no longer has).
"""

from __future__ import annotations

import re
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[2] / "exercise02_template.py"

CONSTANT = {
    "sigmoid": "return np.full(np.shape(z), 0.5)",
    "sigmoid_grad": "return np.full(np.shape(z), 0.25)",
    "tanh": "return np.zeros(np.shape(z))",
    "tanh_grad": "return np.ones(np.shape(z))",
    "relu": "return np.zeros(np.shape(z))",
    "relu_grad": "return np.ones(np.shape(z))",
    "leaky_relu": "return np.zeros(np.shape(z))",
    "leaky_relu_grad": "return np.ones(np.shape(z))",
    "elu": "return np.zeros(np.shape(z))",
    "elu_grad": "return np.ones(np.shape(z))",
    "softmax": "return np.full(np.shape(z), 1.0 / np.shape(z)[-1])",
    "mse_loss": "return 0.0",
    "mse_loss_grad": "return np.zeros(np.shape(y_hat))",
    "cross_entropy_loss": "return 0.0",
    "cross_entropy_loss_grad": "return np.zeros(np.shape(logits))",
    "forward": "self.output = np.zeros((len(X), self.layer_sizes[-1]))\nreturn self.output",
    "loss": "return 0.0",
    "backward": ("self.grad_weights = [np.zeros_like(W) for W in self.weights]\n"
                 "self.grad_biases = [np.zeros_like(b) for b in self.biases]"),
    "update": "return None",
    "learning_rate_experiment": ('return {lr: {"train_loss": [1.0] * epochs, "val_loss": [1.0] * epochs, '
                                 '"val_accuracy": [0.1] * epochs} for lr in learning_rates}'),
}

HOSTILE = {
    "sigmoid": "return [0.5] * len(z)",
    "sigmoid_grad": "return None",
    "tanh": "return 'tanh'",
    "tanh_grad": "return np.ones(np.shape(z)) > 0",
    "relu": "return {'z': 1}",
    "relu_grad": "return 1",
    "leaky_relu": "return 0.5",
    "leaky_relu_grad": "return np.ones((2, 2))",
    "elu": "return np.zeros(np.shape(z), dtype=np.float32)",
    "elu_grad": "return np.full(np.shape(z), np.nan)",
    "softmax": "return np.array(1.0)",
    "mse_loss": "return np.ones(3)",
    "mse_loss_grad": "return (1.0, 2.0)",
    "cross_entropy_loss": "return '0.5'",
    "cross_entropy_loss_grad": "return [[0.0]]",
    "forward": "return [[0.0] * self.layer_sizes[-1] for _ in range(len(X))]",
    "loss": "return None",
    "backward": "self.grad_weights = None\nself.grad_biases = {'b': 1}",
    "update": "self.weights = 'gone'\nself.biases = None",
    "learning_rate_experiment": "return [1, 2, 3]",
}

HOSTILE_SHAPES = {
    "sigmoid": "return np.zeros(np.shape(z)[::-1])",
    "sigmoid_grad": "return np.zeros(np.shape(z), dtype=np.int64)",
    "tanh": "return np.full(np.shape(z), np.inf)",
    "tanh_grad": "return np.zeros((0,))",
    "relu": "return np.zeros(np.shape(z) + (1,))",
    "relu_grad": "return [np.zeros(np.shape(z))]",
    "leaky_relu": "return True",
    "leaky_relu_grad": "return np.zeros(np.shape(z), dtype=np.float16)",
    "elu": "return -10 ** 400",
    "elu_grad": "return float('nan')",
    "softmax": "return np.zeros(np.shape(z)[:-1])",
    "mse_loss": "return np.array([[np.nan]])",
    "mse_loss_grad": "return np.zeros(np.shape(y_hat), dtype=bool)",
    "cross_entropy_loss": "return float('inf')",
    "cross_entropy_loss_grad": "return self_test_object()",
    "forward": "return self",
    "loss": "return np.zeros((2, 2))",
    "backward": ("self.grad_weights = [W.T for W in self.weights] + [np.zeros(1)]\n"
                 "self.grad_biases = [np.zeros((1, 1), dtype=np.float32) for b in self.biases]"),
    "update": "self.weights = [W.tolist() for W in self.weights]\nself.biases = [None for b in self.biases]",
    "learning_rate_experiment": "return {lr: None for lr in learning_rates}",
}

KINDS = {"constant": CONSTANT, "hostile": HOSTILE, "hostile_shapes": HOSTILE_SHAPES}
EXTRA = {  # module-level helpers a kind needs, appended to the file
    "hostile_shapes": "\n\nclass Opaque:\n    pass\n\n\ndef self_test_object():\n    return Opaque()\n",
}
STUB = re.compile(r'^(?P<indent>[ \t]*)raise NotImplementedError\("(?:MLP\.)?(?P<name>\w+)"\)[ \t]*$', re.MULTILINE)


def source(kind: str) -> str:
    """The template text, with every stub replaced by the kind's body (kind "template": unchanged)."""
    text = TEMPLATE.read_text()
    if kind == "template":
        return text
    bodies = KINDS[kind]
    names = {m.group("name") for m in STUB.finditer(text)}
    missing, unknown = names - set(bodies), set(bodies) - names
    if missing or unknown:
        raise ValueError(f"impostor {kind}: no body for stubs {sorted(missing)}; bodies for no stub {sorted(unknown)}. "
                         f"The template's stubs changed: give {kind!r} a body per stub in tests/selftest/impostors.py")

    def body(match):
        indent = match.group("indent")
        return "\n".join(indent + line for line in bodies[match.group("name")].splitlines())

    return STUB.sub(body, text) + EXTRA.get(kind, "")


def write(kind: str, folder: Path) -> Path:
    """The stand-in as exercise02.py in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "exercise02.py"
    path.write_text(source(kind))
    return path


NAMES = ["template", *KINDS]
