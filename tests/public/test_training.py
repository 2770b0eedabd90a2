"""Training with the given `train`: XOR and MNIST end to end, and the learning-rate experiment.

These tests pass only when forward, backward and update all work together; the tests in
test_mlp.py check them one by one and give sharper hints.
"""

import numpy as np

XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])  # (4, 2)
XOR_Y = np.array([[0.0], [1.0], [1.0], [0.0]])  # (4, 1)
SEEDS = range(5)


def test_train_learns_xor(student, check):
    """Does a 2-8-1 network (tanh hidden, sigmoid output, mse) learn XOR for at least 4 of 5 seeds?"""
    solved, lines = 0, []
    for seed in SEEDS:
        model = student.MLP([2, 8, 1], activation="tanh", output_activation="sigmoid", loss="mse", seed=seed)
        student.train(model, XOR_X, XOR_Y, epochs=3000, lr=2.0, batch_size=4, seed=seed)
        output = check.shaped(model.forward(XOR_X), (4, 1), call="forward(XOR inputs) after training")
        mse = float(np.mean((output - XOR_Y) ** 2))
        right = bool(np.all((output > 0.5) == (XOR_Y > 0.5)))
        solved += right and mse < 0.01
        lines.append(f"  seed {seed}: outputs {check.numbers(output)}, mean squared error {mse:.3g}")
    if solved < 4:
        check.fail(
            f"XOR was learned for {solved} of 5 seeds; expected at least 4 (all four outputs on the right "
            "side of 0.5 and mean squared error < 0.01 after 3000 epochs, lr 2.0, full batch).\n"
            f"  expected outputs close to {check.numbers(XOR_Y)}\n" + "\n".join(lines) + "\n"
            "Run the tests of test_mlp.py first. If they pass, look at MLP.backward (the bias gradients: "
            "XOR cannot be learned without them) and at MLP.update (the step must go down the gradient)."
        )


def test_train_learns_mnist(student, check):
    """Does a 784-32-10 ReLU network trained by train for 2 epochs on 3000 MNIST images get at least 80 % of 2000 test images right?"""
    X, Y = student.data("mnist/train/X", rows=(0, 3000)), student.data("mnist/train/Y", rows=(0, 3000))
    X_test, y_test = student.data("mnist/test/X", rows=(0, 2000)), student.data("mnist/test/y", rows=(0, 2000))
    model = student.MLP([784, 32, 10], activation="relu", output_activation="identity", loss="cross_entropy", seed=0)
    history = student.train(model, X, Y, epochs=2, lr=0.1, batch_size=32, seed=0)
    output = check.shaped(model.forward(X_test), (2000, 10), call="forward(2000 test images) after training")
    accuracy = float(np.mean(np.argmax(output, axis=1) == y_test))
    if accuracy < 0.8:
        losses = history.get("train_loss") if isinstance(history, dict) else None
        check.fail(
            f"after 2 epochs of train (lr 0.1, batch 32, seed 0) on the first 3000 MNIST training images, "
            f"{100 * accuracy:.1f} % of the first 2000 test images are classified right; expected at least 80 % "
            f"(a correct implementation gets 85 %). Training loss per epoch: {losses!r:.80}.\n"
            "Run the tests of test_mlp.py first. If they pass, look at MLP.backward (the gradient of the "
            "cross-entropy with respect to the logits, the ReLU derivative) and at MLP.update."
        )


def blobs(rng, n, k=3, d=4):
    """n points in d dimensions around k well-separated centres, with one-hot labels (n, k)."""
    centres = 3.0 * np.eye(k, d)  # (k, d)
    labels = rng.integers(0, k, n)  # (n,)
    X = centres[labels] + rng.normal(0, 0.5, (n, d))  # (n, d)
    return X, np.eye(k)[labels]


def test_learning_rate_experiment_result(student, check, rng):
    """Does learning_rate_experiment return {lr: history} with one entry per epoch for each rate?"""
    X, Y = blobs(rng, 60)
    X_val, Y_val = blobs(rng, 30)
    rates = [0.01, 0.1, 1.0]
    result = student.learning_rate_experiment(rates, X, Y, X_val, Y_val, epochs=3, batch_size=16)
    call = "learning_rate_experiment([0.01, 0.1, 1.0], ..., epochs=3)"
    hint = ("Look at learning_rate_experiment: for each rate, build a fresh MLP, train it with "
            "train(model, X_train, Y_train, epochs, lr, batch_size, X_val, Y_val, seed=seed) and store "
            "the history it returns under the rate.")
    if not isinstance(result, dict):
        check.fail(f"{call} returned {type(result).__name__}; expected a dict {{lr: history}}.\n{hint}")
    if sorted(result) != rates:
        check.fail(f"{call} returned the keys {sorted(result)}; expected the learning rates {rates}.\n{hint}")
    for lr in rates:
        history = result[lr]
        if not isinstance(history, dict) or any(key not in history for key in ("train_loss", "val_loss", "val_accuracy")):
            check.fail(f"{call}[{lr}] is {history!r:.80}; expected the history dict of `train` with "
                       f"train_loss, val_loss and val_accuracy.\n{hint}")
        for key in ("train_loss", "val_loss", "val_accuracy"):
            if len(history[key]) != 3:
                check.fail(f"{call}[{lr}]['{key}'] has {len(history[key])} entries; expected 3 (one per "
                           f"epoch). Did you pass the validation data and `epochs` on to train?\n{hint}")
        losses = np.asarray(history["train_loss"], dtype=float)
        if lr < 1.0 and not np.all(np.isfinite(losses)):
            check.fail(f"{call}[{lr}]['train_loss'] = {check.numbers(losses)} is not finite; a small rate "
                       f"should not diverge on this easy data set.\n{hint}")


def test_learning_rate_experiment_fresh_models(student, check, rng):
    """Does learning_rate_experiment train a fresh model for each rate (the result for a rate does not depend on the others)?"""
    X, Y = blobs(rng, 40)
    X_val, Y_val = blobs(rng, 20)
    alone = student.learning_rate_experiment([0.5], X, Y, X_val, Y_val, epochs=2, batch_size=8)
    together = student.learning_rate_experiment([0.1, 0.5], X, Y, X_val, Y_val, epochs=2, batch_size=8)
    if not isinstance(alone, dict) or not isinstance(together, dict) or 0.5 not in alone or 0.5 not in together:
        check.fail("learning_rate_experiment must return a dict {lr: history} with every rate it was given "
                   "as a key.")
    check.array(together[0.5]["train_loss"], alone[0.5]["train_loss"],
                call="train_loss for lr 0.5 of learning_rate_experiment([0.1, 0.5], ...)", rtol=1e-9,
                hint="The same rate gave other losses when another rate ran before it "
                     "(expected: the losses of learning_rate_experiment([0.5], ...)). Look at "
                     "learning_rate_experiment: build a new MLP(..., seed=seed) inside the loop, one per rate.")


def contract_loss(weights, biases, X, Y, l1, l2):
    """The loss as the contract defines it for a tanh hidden layer, a sigmoid output and mse: the data loss
    sum((y_hat - y)^2) / (2N) plus l1 * sum|W| + (l2 / 2) * sum W^2 over the weights."""
    A = X
    for layer, (W, b) in enumerate(zip(weights, biases)):
        Z = A @ W.T + b  # (N, n_out)
        A = np.tanh(Z) if layer < len(weights) - 1 else 1.0 / (1.0 + np.exp(-Z))
    penalty = sum(l1 * np.sum(np.abs(W)) + 0.5 * l2 * np.sum(W * W) for W in weights)
    return np.sum((A - Y) ** 2) / (2 * len(X)) + penalty


def test_training_steps_follow_the_gradient(student, check, rng, slopes):
    """Does each step (forward, loss, backward, update(lr)) move every weight and bias by exactly -lr times the
    gradient of the loss, regularisation included, at the parameters before the step, and nothing else?"""
    sizes, l1, l2 = [4, 6, 3], 0.01, 0.05
    model = student.MLP(sizes, activation="tanh", output_activation="sigmoid", loss="mse", l1=l1, l2=l2, seed=3)
    for step, lr in enumerate((0.3, 0.1, 0.7)):
        X, Y = rng.normal(size=(5, 4)), rng.uniform(size=(5, 3))  # a new batch each step
        weights = [check.shaped(W, (n_out, n_in), call=f"weights before step {step + 1}")
                   for W, n_in, n_out in zip(model.get("weights"), sizes[:-1], sizes[1:])]
        biases = [check.shaped(b, (n_out,), call=f"biases before step {step + 1}")
                  for b, n_out in zip(model.get("biases"), sizes[1:])]
        gradients = [slopes(lambda: contract_loss(weights, biases, X, Y, l1, l2), P, 1e-5) for P in weights + biases]
        model.forward(X)
        model.loss(Y)
        model.backward(Y)
        model.update(lr)
        after = list(model.get("weights")) + list(model.get("biases"))
        names = [f"weights[{i}]" for i in range(len(weights))] + [f"biases[{i}]" for i in range(len(biases))]
        for name, before, gradient, new in zip(names, weights + biases, gradients, after):
            call = f"{name} after step {step + 1} (forward, loss, backward, update({lr}) on a batch of 5 rows)"
            new = check.shaped(new, before.shape, call=call)
            move, expected = new - before, -lr * gradient
            error = np.linalg.norm(move - expected) / max(np.linalg.norm(move) + np.linalg.norm(expected), 1e-30)
            if error > 1e-6:
                check.fail(
                    f"{call} moved by {check.numbers(move)}; expected -lr times the gradient of the loss, "
                    f"{check.numbers(expected)} (relative error {error:.2g}).\n"
                    "Every step must move each weight and bias by exactly -lr * d loss / d p, the loss with its "
                    "l1/l2 terms, at the parameters before the step, and nothing else. Look at MLP.backward "
                    "(the gradients, l1 * sign(W) + l2 * W included) and MLP.update (p <- p - lr * grad_p)."
                )
