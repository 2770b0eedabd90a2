"""The training steps the trusted side asks for: forward, loss, backward, update per mini-batch.

The hidden tests of learning drive training through the submission's MLP methods (never through its
own `train`, which it may have changed), with data and batch order chosen in the trusted process.
One RPC per step would cost milliseconds each, so the loop runs next to the model: in the worker
(grader/sandbox/boot.py, op "epochs") or in the test process (grader/sandbox/inprocess.py).
It is not a security boundary: it runs in the submission's process, and the trusted side judges
only what it reads back (the weights) on data the worker never saw.

The weights must move by the submission's own gradients and nothing else: the loop checks that each
step (forward, loss, backward, update) leaves every weight and bias at p - lr * grad_p, p its value
before the step and grad_p what backward stored. Any other change (an update that ignores its gradients or its learning
rate, a forward or backward that writes the weights, weights installed from elsewhere) stops
training with UpdateMismatch, so learning points rest on the submission's gradients driving the net.

Stdlib + numpy only: this module also runs inside the sandbox and ships in the student bundle.
"""

from __future__ import annotations

import numpy as np

if __package__:
    from grader.sandbox.error import GraderError
else:  # inside the sandbox: boot.py imports the runtime's files by bare name
    from error import GraderError  # type: ignore[no-redef]

RTOL = 1e-12  # p - lr * g computed in float64 any usual way (in place or not) agrees far closer than this


class UpdateMismatch(GraderError, ValueError):
    """The parameters after a training step are not p - lr * grad_p for the gradients backward stored."""


def run_epochs(model, X, Y, order, batch_size: int, lr, x_divisor: float = 1.0) -> list:
    """For each row of `order` (one epoch, a permutation of the rows of X): the given train's steps.

    Per batch `order[e, i:i + batch_size]`: model.forward(X_b / x_divisor), model.loss(Y_b),
    model.backward(Y_b), model.update(lr). Returns the mean training loss of each epoch, as `train`
    reports it. Raises UpdateMismatch when the parameters did not move by exactly -lr * grad (module
    docstring). `x_divisor` lets the trusted side send uint8 pixels (X_b / 255.0 is exactly the
    float64 batch the kit's MNIST reader would give).

    A schedule: `lr` a list of rates and `order` a list of as many orders. Each (order, rate) pair then
    runs as a call of its own would (its own steps counted from 1, its own checks), one after the
    other on the same X and Y, and the losses follow each other: one request carries X once for
    every rate (the MNIST test's two rates share its 31 MB of training images).
    """
    if isinstance(lr, (list, tuple)):
        if not isinstance(order, (list, tuple)) or len(order) != len(lr):
            raise ValueError("a schedule needs one order per learning rate")
        return [loss for part, rate in zip(order, lr) for loss in run_epochs(model, X, Y, part, batch_size, rate,
                                                                             x_divisor)]
    order = np.asarray(order, dtype=np.int64)
    if order.ndim != 2 or X.shape[0] != Y.shape[0]:
        raise ValueError("order must be (epochs, N) and X, Y must have N rows")
    batch_size, lr, divisor = int(batch_size), float(lr), float(x_divisor)
    with np.errstate(over="ignore", invalid="ignore"):  # divergence shows in the loss and the weights
        steps = Steps(model, lr, seed=order.ravel()[: Steps.SEED_ENTRIES].tolist())
        losses = [run_epoch(model, X, Y, epoch, batch_size, steps, divisor) for epoch in order]
        steps.finish()
    return losses


def run_epoch(model, X, Y, epoch, batch_size: int, steps: "Steps", divisor: float) -> float:
    """One pass over the rows in `epoch`; the mean of the batch losses weighted by batch size."""
    total = 0.0
    for start in range(0, len(epoch), batch_size):
        rows = epoch[start : start + batch_size]
        X_batch = X[rows] / divisor if divisor != 1.0 else np.array(X[rows], dtype=np.float64)
        Y_batch = np.array(Y[rows], dtype=np.float64)
        steps.begin()
        model.forward(X_batch)
        total += float(model.loss(Y_batch)) * len(rows)
        model.backward(Y_batch)
        steps.gradients()
        model.update(steps.lr)
        steps.end()
    return total / max(1, len(epoch))


class Steps:
    """Follows the parameters through the steps: each must be p - lr * grad_p of the step before.

    Arrays up to FULL entries are followed whole: a copy kept here moves by -lr * grad every step (the
    same float operations an update does) and is compared with the model's every CHECK_EVERY steps and
    at the end. Of a larger array, SAMPLE entries drawn afresh every step are compared before and after each step,
    which costs microseconds where following all 100,352 weights of a 784 x 128 layer would cost as much
    as the step itself. A change that installs other weights touches far more entries than a sample misses.
    The draws come from a generator of this class's own, seeded from the batch order the trusted side chose
    (so from the run's seed): never from a generator the submission can seed (np.random.seed), and the same
    in every run of the same submission, so the verdict and its message never change between runs.
    """

    FULL, SAMPLE, CHECK_EVERY, SEED_ENTRIES = 4096, 1024, 64, 32

    def __init__(self, model, lr: float, seed=None):
        self.model, self.lr, self.step = model, lr, 0
        self.rng = np.random.default_rng(seed)
        params = self.read("weights", "biases", "before")
        half = len(params) // 2
        self.names = [f"weights[{i}]" for i in range(half)] + [f"biases[{i}]" for i in range(len(params) - half)]
        self.shapes = [p.shape for p in params]
        self.big = {i: (0, 0, 0) for i, p in enumerate(params) if p.size > self.FULL}  # index, before, want
        self.kept = {i: np.array(p, dtype=np.float64) for i, p in enumerate(params) if i not in self.big}

    def read(self, weights: str, biases: str, when: str) -> list:
        """model.<weights> + model.<biases> as one list of arrays, of the model's shapes once known."""
        found = []
        for name in (weights, biases):
            value = getattr(self.model, name, None)
            if not isinstance(value, (list, tuple)) or not all(isinstance(p, np.ndarray) for p in value):
                raise UpdateMismatch(f"model.{name} is not a list of arrays {when} training step {self.step + 1}")
            found += value
        if hasattr(self, "shapes") and [p.shape for p in found] != self.shapes:
            raise UpdateMismatch(f"model.{weights} and model.{biases} have the shapes {[p.shape for p in found]} "
                                 f"{when} training step {self.step + 1}; expected {self.shapes}")
        return found

    def begin(self) -> None:
        """Before forward: the sampled entries of the large arrays, and their values."""
        if self.big:
            params = self.read("weights", "biases", "before")
            for i in self.big:
                index = self.rng.integers(0, params[i].size, self.SAMPLE)
                self.big[i] = (index, params[i].take(index), None)

    def gradients(self) -> None:
        """After backward: what update must make of the parameters."""
        grads = self.read("grad_weights", "grad_biases", "after backward in")
        for i, kept in self.kept.items():
            kept -= self.lr * grads[i]
        for i, (index, before, _) in self.big.items():
            self.big[i] = (index, before, before - self.lr * grads[i].take(index))

    def end(self) -> None:
        """After update: the sampled entries now, and every CHECK_EVERY steps the followed arrays."""
        self.step += 1
        if self.big:
            params = self.read("weights", "biases", "after")
            for i, (index, _, want) in self.big.items():
                self.compare(i, params[i].take(index), want)
        if self.step % self.CHECK_EVERY == 0:
            self.finish()

    def finish(self) -> None:
        """The followed arrays against the model's (after the last step)."""
        params = self.read("weights", "biases", "after")
        for i, kept in self.kept.items():
            self.compare(i, params[i], kept)

    def compare(self, i: int, got, want) -> None:
        """Equal within round-off, or UpdateMismatch naming the array."""
        if (got == want).all():
            return
        difference = float(np.max(np.abs(got - want)))
        if not difference <= RTOL * (1.0 + float(np.max(np.abs(want)))):
            raise UpdateMismatch(
                f"by training step {self.step} (forward, loss, backward, update({self.lr}) per step), "
                f"{self.names[i]} is not p - lr * grad_p of its value before each step and the gradient "
                f"backward stored (largest difference {difference:.3g})")
