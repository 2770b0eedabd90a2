"""Training end to end: XOR, MNIST and the learning-rate experiment (17 points).

The submission trains with its own `train`; this process copies the trained weights out and judges
them with the reference forward on data it loaded itself (grader.sandbox.mnist), so a submission cannot
report its own accuracy.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import check
import reference as ref

XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = np.array([[0.0], [1.0], [1.0], [0.0]])
XOR_SEEDS = (0, 1, 2, 3, 4)
XOR_EPOCHS = 3000
XOR_LR = 2.0  # with mse = sum/(2N) this is lr 1.0 on the mean squared error (numerics.md §2.3)


def trained_parameters(model, layers, what):
    weights, biases = model.get("weights"), model.get("biases")
    for name, value in (("weights", weights), ("biases", biases)):
        if not isinstance(value, (list, tuple)) or len(value) != layers:
            check.fail(f"after {what}, model.{name} is not a list of {layers} arrays. Look at MLP.update.")
    return [np.asarray(W, dtype=np.float64) for W in weights], [np.asarray(b, dtype=np.float64) for b in biases]


@pytest.mark.points(6)
@pytest.mark.timeout(120)
def test_xor_learns(student):
    """Does a 2-8-1 tanh/sigmoid net trained with train() learn XOR for at least 4 of 5 seeds?"""
    lines, good = [], 0
    with student.limits(seconds=60):
        for seed in XOR_SEEDS:
            model = student.MLP([2, 8, 1], activation="tanh", output_activation="sigmoid", loss="mse", seed=seed)
            history = student.train(model, XOR_X.copy(), XOR_Y.copy(), XOR_EPOCHS, XOR_LR, batch_size=4, seed=seed)
            weights, biases = trained_parameters(model, 2, "train")
            try:
                out = ref.forward(weights, biases, XOR_X, "tanh", "sigmoid")
            except ValueError:
                check.fail("after train, the weights do not have the shapes (8, 2) and (1, 8). Look at MLP.update.")
            mse = float(np.mean((out - XOR_Y) ** 2))
            right = bool(np.all((out > 0.5) == (XOR_Y > 0.5)))
            ok = right and mse < 0.01
            good += ok
            last = history.get("train_loss", [None])[-1] if isinstance(history, dict) and history.get("train_loss") else None
            lines.append(f"seed {seed}: outputs {np.round(out[:, 0], 3).tolist()}, mean squared error {mse:.4f}"
                         + ("" if last is None else f", last train_loss {last:.4g}") + (" ok" if ok else ""))
    if good >= 4:
        return
    hint = "The net does not learn."
    if any("nan" in line for line in lines):
        hint = "Training diverged (NaN): a gradient is far too large (missing 1/N?) or has the wrong sign."
    check.fail(f"XOR (2-8-1, tanh hidden, sigmoid output, mse, lr {XOR_LR}, {XOR_EPOCHS} full-batch epochs): "
               f"only {good} of 5 seeds reached all four outputs right with mean squared error < 0.01 "
               f"(need 4); targets [0, 1, 1, 0]. {'; '.join(lines)}. {hint} XOR needs working biases and hidden "
               "gradients: look at MLP.backward (grad_biases, the tanh derivative) and MLP.update.")


@pytest.mark.points(8)
@pytest.mark.timeout(240)
def test_mnist_accuracy(student, request, record_property):
    """Does a 784-128-10 ReLU net trained by train() for 2 epochs reach at least 95 % test accuracy?"""
    from grader.sandbox import mnist  # the trusted reader (hidden tests only)

    data_dir = request.config.rootpath / "data" / "mnist"
    model = student.MLP([784, 128, 10], activation="relu", output_activation="identity", loss="cross_entropy", seed=0)
    with student.limits(seconds=200):
        history = student.train(model, student.data("mnist/train/X"), student.data("mnist/train/Y"), 2, 0.1,
                                batch_size=32, seed=0)
    weights, biases = trained_parameters(model, 2, "train")
    X_test = mnist.dataset("mnist/test/X", data_dir)
    y_test = mnist.dataset("mnist/test/y", data_dir)
    try:
        out = ref.forward(weights, biases, X_test, "relu", "identity")
    except ValueError:
        check.fail("after train, the weights do not have the shapes (128, 784) and (10, 128). Look at MLP.update.")
    if not np.all(np.isfinite(out)):
        check.fail("after 2 epochs on MNIST (lr 0.1, batch 32) the weights contain NaN or inf: training diverged. "
                   "Look at MLP.backward (the 1/N of the loss gradient) and MLP.update.")
    accuracy = ref.accuracy(out, y_test)
    record_property("artifact:mnist_test_accuracy", accuracy)
    if accuracy >= 0.95:
        return
    losses = history.get("train_loss") if isinstance(history, dict) else None
    check.fail(f"MNIST 784-128-10 (ReLU, cross-entropy, lr 0.1, batch 32, 2 epochs, seed 0): test accuracy "
               f"{100 * accuracy:.2f} %, expected at least 95.0 % (a correct implementation reaches about 96 %)"
               + (f"; train_loss per epoch {check.short(losses)}" if losses else "") +
               ". The unit tests above point at the part that is wrong; if they all pass, look at how train "
               "pairs X and Y rows in a batch and at MLP.update.")


LR_RATES = [0.01, 0.2, 0.05]  # the last one is also run alone: a fresh model per rate gives the same history


@pytest.mark.points(3)
@pytest.mark.timeout(120)
def test_learning_rate_experiment_histories(student, record_property):
    """Does learning_rate_experiment return one well-formed history per rate, from a fresh model each?"""
    X, Y = student.data("mnist/train/X", rows=(0, 2000)), student.data("mnist/train/Y", rows=(0, 2000))
    Xv, Yv = student.data("mnist/train/X", rows=(50000, 50500)), student.data("mnist/train/Y", rows=(50000, 50500))
    with student.limits(seconds=60):
        histories = student.learning_rate_experiment(LR_RATES, X, Y, Xv, Yv, epochs=2, batch_size=32, seed=0)
    look = "Look at learning_rate_experiment."
    if not isinstance(histories, dict):
        check.fail(f"learning_rate_experiment returned {type(histories).__name__}; expected a dict "
                   f"{{lr: history}}. {look}")
    if sorted(k for k in histories if isinstance(k, (int, float))) != sorted(LR_RATES):
        check.fail(f"learning_rate_experiment({LR_RATES}, ...) returned keys {list(histories)}; expected one "
                   f"entry per learning rate, keyed by the rate (a float). {look}")
    record_property("artifact:lr_histories", {str(lr): histories[lr] for lr in LR_RATES})
    for lr in LR_RATES:
        history = histories[lr]
        if not isinstance(history, dict) or not {"train_loss", "val_loss", "val_accuracy"} <= set(history):
            check.fail(f"the history for lr {lr} is {check.short(history)}; expected a dict with train_loss, "
                       f"val_loss and val_accuracy (what train returns). {look}")
        for key in ("train_loss", "val_loss", "val_accuracy"):
            values = history[key]
            if not isinstance(values, list) or len(values) != 2:
                check.fail(f"history[{lr}][{key!r}] is {check.short(values)}; expected a list with one number "
                           f"per epoch (2 epochs). {look} (pass X_val, Y_val and epochs to train)")
            if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
                check.fail(f"history[{lr}][{key!r}] = {check.short(values)} is not all finite numbers at a "
                           f"learning rate that does not diverge. {look}")
        if not all(0.0 <= v <= 1.0 for v in history["val_accuracy"]):
            check.fail(f"history[{lr}]['val_accuracy'] = {history['val_accuracy']} is not a fraction in [0, 1]. {look}")
    slow, fast = histories[0.01]["train_loss"][-1], histories[0.2]["train_loss"][-1]
    if not slow > fast:
        check.fail(f"after 2 epochs the training loss is {slow:.4g} at lr 0.01 and {fast:.4g} at lr 0.2; the larger "
                   f"rate should be clearly ahead on this small problem. Does each rate get its own model? {look}")
    with student.limits(seconds=60):
        alone = student.learning_rate_experiment([LR_RATES[-1]], X, Y, Xv, Yv, epochs=2, batch_size=32, seed=0)
    if not isinstance(alone, dict) or LR_RATES[-1] not in alone or \
            not check.same_history(alone[LR_RATES[-1]], histories[LR_RATES[-1]]):
        got = alone.get(LR_RATES[-1]) if isinstance(alone, dict) else alone
        check.fail(f"lr {LR_RATES[-1]} gave a different history when run alone "
                   f"({check.short(got.get('train_loss') if isinstance(got, dict) else got)}) than as the last of "
                   f"{LR_RATES} ({check.short(histories[LR_RATES[-1]]['train_loss'])}): every rate must train a "
                   f"fresh MLP(..., seed=seed) with train(..., seed=seed). {look}")
