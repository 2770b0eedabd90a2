"""The training steps the trusted side asks for: forward, loss, backward, update per mini-batch.

The hidden tests of learning drive training through the submission's MLP methods (never through its
own `train`, which it may have changed), with data and batch order chosen in the trusted process.
One RPC per step would cost milliseconds each, so the loop runs next to the model: in the worker
(grader/sandbox/boot.py, op "epochs") or in the test process (tests/conftest.py InProcessStudent).
It is not a security boundary: it runs in the submission's process, and the trusted side judges
only what it reads back (the weights) on data the worker never saw.

Stdlib + numpy only: this module also runs inside the sandbox and ships in the student bundle.
"""

from __future__ import annotations

import numpy as np


def run_epochs(model, X, Y, order, batch_size: int, lr: float, x_divisor: float = 1.0) -> list:
    """For each row of `order` (one epoch, a permutation of the rows of X): the given train's steps.

    Per batch `order[e, i:i + batch_size]`: model.forward(X_b / x_divisor), model.loss(Y_b),
    model.backward(Y_b), model.update(lr). Returns the mean training loss of each epoch, as `train`
    reports it. `x_divisor` lets the trusted side send uint8 pixels (X_b / 255.0 is exactly the
    float64 batch the kit's MNIST reader would give).
    """
    order = np.asarray(order, dtype=np.int64)
    if order.ndim != 2 or X.shape[0] != Y.shape[0]:
        raise ValueError("order must be (epochs, N) and X, Y must have N rows")
    batch_size, lr, divisor = int(batch_size), float(lr), float(x_divisor)
    with np.errstate(over="ignore", invalid="ignore"):  # divergence shows in the loss and the weights
        losses = [run_epoch(model, X, Y, epoch, batch_size, lr, divisor) for epoch in order]
    return losses


def run_epoch(model, X, Y, epoch, batch_size: int, lr: float, divisor: float) -> float:
    """One pass over the rows in `epoch`; the mean of the batch losses weighted by batch size."""
    total = 0.0
    for start in range(0, len(epoch), batch_size):
        rows = epoch[start : start + batch_size]
        X_batch = X[rows] / divisor if divisor != 1.0 else np.array(X[rows], dtype=np.float64)
        Y_batch = np.array(Y[rows], dtype=np.float64)
        model.forward(X_batch)
        total += float(model.loss(Y_batch)) * len(rows)
        model.backward(Y_batch)
        model.update(lr)
    return total / max(1, len(epoch))
