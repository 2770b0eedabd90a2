"""The training steps the trusted side asks for: forward, loss, backward, update per mini-batch.

The hidden tests of learning drive training through the submission's MLP methods (never through its
own `train`, which it may have changed), with data and batch order chosen in the trusted process.
One RPC per step would cost milliseconds each, so the loop runs next to the model: in the worker
(grader/sandbox/boot.py, op "epochs") or in the test process (grader/sandbox/inprocess.py).
It is not a security boundary: it runs in the submission's process, which can replace it (the worker
looks run_epochs up on this module at each request) or change what it returns. So nothing it
returns is trusted. It reports the parameters before the first step, after the first and after
every k-th (checkpoint_steps); the trusted side (tests/hidden/trajectory.py) checks the first
against the model it read before training and the last against the model it reads afterwards, and
replays steps between reported states with the reference gradients on the batches it chose: a step
that is not p - lr * dL/dp, with the loss as the contract defines it, fails the test whatever this
loop says. Accuracy is then judged on the parameters read back, on data the worker never saw.

On the way the loop also checks, as an early and more precise message, that each step (forward,
loss, backward, update) leaves every weight and bias at p - lr * grad_p, p its value before the step
and grad_p what backward stored: an update that ignores its gradients or its learning rate, or a
forward or backward that writes the weights, stops training with UpdateMismatch ("look at
MLP.update"). It can only make a submission fail sooner; a passing verdict never rests on it.

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


STATE_BYTES = 16 << 20  # the parameters one request reports at most: a quarter of a reply (protocol.MAX_REPLY_BYTES)


def checkpoint_steps(total: int, parameters: int) -> list:
    """The steps after which run_epochs reports the parameters: 0 (before the first), 1, every k-th and the last.

    k is the smallest step count for which all of them, `parameters` float64 numbers each, fit in
    STATE_BYTES: 1 for a small net (XOR: every step), 9 for the MNIST test's 784-64-10 net over 313 steps.
    The trusted side computes the same list from the sizes and the steps it asked for, never from the reply.
    """
    total, size = int(total), 8 * max(1, int(parameters))
    every = 1
    while True:
        steps = sorted({0, min(1, total), total} | set(range(every, total, every)))
        if len(steps) * size <= STATE_BYTES or every >= total:
            return steps
        every += 1


def step_counts(orders, batch_size: int) -> list:
    """The steps each (epochs, N) order makes in batches of `batch_size`: epochs * ceil(N / batch_size)."""
    return [int(order.shape[0]) * -(-int(order.shape[1]) // int(batch_size)) for order in orders]


def schedule(order, lr) -> list:
    """[(order (epochs, N) int64, rate)]: one pair for a single rate, or one per rate of a schedule."""
    if isinstance(lr, (list, tuple)):
        if not isinstance(order, (list, tuple)) or len(order) != len(lr):
            raise ValueError("a schedule needs one order per learning rate")
        return [pair for part, rate in zip(order, lr) for pair in schedule(part, float(rate))]
    order = np.asarray(order, dtype=np.int64)
    if order.ndim != 2:
        raise ValueError("order must be (epochs, N)")
    return [(order, float(lr))]


def run_epochs(model, X, Y, order, batch_size: int, lr, x_divisor: float = 1.0) -> dict:
    """For each row of `order` (one epoch, a permutation of the rows of X): the given train's steps.

    Per batch `order[e, i:i + batch_size]`: model.forward(X_b / x_divisor), model.loss(Y_b),
    model.backward(Y_b), model.update(lr). Returns {"losses": the mean training loss of each epoch, as
    `train` reports it, "states": one array per parameter (weights, then biases), each (K, *shape): its
    values after the steps checkpoint_steps names (0: before the first)}. Raises UpdateMismatch when the
    parameters did not move by exactly -lr * the gradients backward stored (module docstring).
    `x_divisor` lets the trusted side send uint8 pixels (X_b / 255.0 is exactly the float64 batch the
    kit's MNIST reader would give).

    A schedule: `lr` a list of rates and `order` a list of as many orders. Each (order, rate) pair then
    runs as a call of its own would (its own in-worker checks), one after the other on the same X and Y;
    the losses follow each other and the steps are counted across the pairs: one request carries X once
    for every rate (the MNIST test's two rates share its 31 MB of training images).
    """
    parts = schedule(order, lr)
    if X.shape[0] != Y.shape[0]:
        raise ValueError("X and Y must have N rows")
    batch_size, divisor = int(batch_size), float(x_divisor)
    total = sum(step_counts([part for part, _ in parts], batch_size))
    with np.errstate(over="ignore", invalid="ignore"):  # divergence shows in the loss and the weights
        states, losses = States(model, total), []
        for part, rate in parts:
            steps = Steps(model, rate, seed=part.ravel()[: Steps.SEED_ENTRIES].tolist())
            losses += [run_epoch(model, X, Y, epoch, batch_size, steps, divisor, states) for epoch in part]
            steps.finish()
    return {"losses": losses, "states": states.stacks}


def run_epoch(model, X, Y, epoch, batch_size: int, steps: "Steps", divisor: float, states: "States") -> float:
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
        states.record()
    return total / max(1, len(epoch))


class States:
    """The parameters after the steps checkpoint_steps names, copied into one float64 stack per array."""

    def __init__(self, model, total: int):
        self.model, self.step = model, 0
        params = self.params()
        self.at = checkpoint_steps(total, sum(p.size for p in params))
        self.stacks = [np.empty((len(self.at), *p.shape)) for p in params]
        self.kept = 0
        self.record(advance=False)

    def params(self) -> list:
        found = [p for name in ("weights", "biases") for p in (getattr(self.model, name, None) or ())]
        if not all(isinstance(p, np.ndarray) for p in found):
            raise UpdateMismatch(f"model.weights and model.biases are not lists of arrays at training step {self.step}")
        return found

    def record(self, advance: bool = True) -> None:
        """After a step (or before the first): a copy of every parameter when this step is a checkpoint."""
        self.step += advance
        if self.kept < len(self.at) and self.at[self.kept] == self.step:
            params = self.params()
            if [p.shape for p in params] != [s.shape[1:] for s in self.stacks]:
                raise UpdateMismatch(f"model.weights and model.biases have the shapes {[p.shape for p in params]} "
                                     f"after training step {self.step}; expected {[s.shape[1:] for s in self.stacks]}")
            for stack, p in zip(self.stacks, params):
                stack[self.kept] = p
            self.kept += 1


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
