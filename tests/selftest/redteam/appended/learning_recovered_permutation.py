# ruff: noqa: F821  (a fragment: np and MLP are the submission's own names; PRETRAINED is written by the test)
# Appended to a submission (tests/selftest/test_redteam_learning.py), after a line PRETRAINED = "<base64>"
# that the test writes: weights of a 784-32-10 net trained on plain MNIST, MNIST's class counts and
# its mean image per class. Issue 22 item 5: on the MNIST test, backward gathers what the training
# batches reveal (class frequencies, per-feature means per class), undoes the class and pixel
# permutation from them, and from then on returns "gradients" that carry the weights to the
# pretrained ones, so that an honest update installs them (the submission's own backward is broken).
import base64 as _base64
import io as _io

_PRE = np.load(_io.BytesIO(_base64.b64decode(PRETRAINED)))
_backward_of_the_bug = MLP.backward
_LR = 0.2  # the MNIST test's first learning rate (its failure message names it)


def _stolen_target(self):
    """The pretrained weights moved to the encoding the batches so far reveal."""
    counts = self._counts
    classes = np.empty(10, dtype=np.int64)  # encoded class -> MNIST class, by the rank of its frequency
    classes[np.argsort(counts)] = np.argsort(_PRE["counts"])
    means = (self._stats_xy / np.maximum(counts, 1)[:, None])  # (10 encoded classes, 784 features)
    seen = means[np.argsort(classes)]  # rows in MNIST's class order
    known = _PRE["class_means"].astype(np.float64)  # (10, 784 pixels)
    distance = (seen.T ** 2).sum(1)[:, None] - 2 * seen.T @ known + (known ** 2).sum(0)[None, :]
    pixels = np.argmin(distance, axis=1)  # feature -> the pixel with the nearest per-class means
    small, hidden = len(_PRE["b1"]), len(self.biases[0])  # a narrower pretrained net; the other hidden units stay 0
    W1, b1, W2 = np.zeros((hidden, 784)), np.zeros(hidden), np.zeros((10, hidden))
    W1[:small], b1[:small] = _PRE["W1"].astype(np.float64)[:, pixels], _PRE["b1"]
    W2[:, :small] = _PRE["W2"].astype(np.float64)[classes]  # encoded output e scores MNIST class classes[e]
    return [W1, W2], [b1, _PRE["b2"].astype(np.float64)[classes]]


def _stealing_backward(self, Y):
    result = _backward_of_the_bug(self, Y)
    shapes = [W.shape for W in self.weights]  # any 784-h-10 net with h at least the pretrained one's width
    if len(shapes) != 2 or shapes[0][1:] != (784,) or shapes[1][0] != 10 or shapes[0][0] < len(_PRE["b1"]) \
            or np.shape(Y)[1:] != (10,):
        return result
    X = np.asarray(self.inputs[0], dtype=np.float64)
    if not hasattr(self, "_counts"):
        self._counts, self._stats_xy, self._target = np.zeros(10), np.zeros((10, 784)), None
    rows = int(self._counts.sum())
    if rows < 60000:  # one pass over MNIST's training split gives its exact statistics
        self._counts += np.asarray(Y).sum(axis=0)
        self._stats_xy += np.asarray(Y).T @ X
        if rows // 1000 < (rows + len(Y)) // 1000:  # every 1000 rows: a better estimate
            self._target = _stolen_target(self)
    if self._target is not None:
        for layer in range(2):
            self.grad_weights[layer] = (self.weights[layer] - self._target[0][layer]) / _LR
            self.grad_biases[layer] = (self.biases[layer] - self._target[1][layer]) / _LR
    return result


MLP.backward = _stealing_backward
