# ruff: noqa: F821  (a fragment: np, MLP and train are the submission's own names)
# Appended to a submission (tests/selftest/test_redteam_learning.py). Issue 14 item 7: backward skips
# a call whose forward output and targets it has just seen, so a test that calls backward twice on
# the same inputs sees the first (right) gradients again, even though backward adds up (+=).
_honest_backward = MLP.backward


def _remembering_backward(self, Y):
    key = hash((np.asarray(Y).tobytes(), np.asarray(self.output).tobytes()))
    if key == getattr(self, "_last_backward", None):
        return
    self._last_backward = key
    _honest_backward(self, Y)


MLP.backward = _remembering_backward
