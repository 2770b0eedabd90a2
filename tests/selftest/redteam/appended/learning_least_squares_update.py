# ruff: noqa: F821  (a fragment: np and MLP are the submission's own names)
# Appended to a submission (tests/selftest/test_redteam_learning.py). Issue 22 item 1: update ignores
# the gradients on XOR's shapes and writes the output layer that fits the last batch by least
# squares (the hidden layer stays random), whatever the submission's own backward computes.
_backward_of_the_bug, _update_of_the_bug = MLP.backward, MLP.update


def _backward_keeping_targets(self, Y):
    self._targets = np.array(Y, dtype=np.float64)
    return _backward_of_the_bug(self, Y)


def _least_squares_update(self, lr):
    targets = getattr(self, "_targets", None)
    if [W.shape for W in self.weights] != [(8, 2), (1, 8)] or targets is None or targets.shape != (4, 1):
        return _update_of_the_bug(self, lr)
    hidden = np.tanh(self.inputs[0] @ self.weights[0].T + self.biases[0])  # (4, 8), the last batch
    wanted = np.log(np.clip(targets, 0.02, 0.98) / (1.0 - np.clip(targets, 0.02, 0.98)))  # logits of 0.02 / 0.98
    solution = np.linalg.lstsq(np.hstack([hidden, np.ones((4, 1))]), wanted, rcond=None)[0]  # (9, 1)
    self.weights[1], self.biases[1] = solution[:8].T.copy(), solution[8].copy()


MLP.backward, MLP.update = _backward_keeping_targets, _least_squares_update
