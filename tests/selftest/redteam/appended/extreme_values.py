# --- appended attack: values that break the judge (see tests/selftest/test_redteam_values.py) ---
# Every function and every MLP method and attribute the suite reads returns the next value of
# EXTREMES, in turn: the extremes of each type the wire format allows. MLP(...) itself sometimes
# returns one (a plain value where an object belongs). OFFSET shifts where the cycle starts, so runs
# with other offsets give each test other values. Expected: every test ends in a verdict with a
# message (failed), none in an internal error, and the grade is its twin's (0: nothing is right).
import numpy as _np

OFFSET = 0


def _extremes():
    big = 10 ** 400  # beyond float range: float() raises OverflowError
    return [
        big, -big, 2 ** 64, -(2 ** 63) - 1, 0, True, False, None,
        float("nan"), float("inf"), float("-inf"), 1e308, -0.0, 5e-324,
        "", "x" * 100_000, "\x00\u202e\ud800 line\nbreak",
        [], [big], [float("nan")] * 3, [[[[[[[[[[1.0]]]]]]]]]], (), (big, big),
        {}, {None: big, float("nan"): 1, True: "x", 1: 2, "1": [3]},  # noqa: F601  (True then 1: one key, on purpose)
        _np.array(big % 2 ** 63), _np.array([]), _np.zeros((0, 3)), _np.zeros((1,) * 32),
        _np.array([[2 ** 64 - 1]], dtype=_np.uint64), _np.array([[-(2 ** 63)]], dtype=_np.int64),
        _np.array([[_np.inf, -_np.inf]], dtype=_np.float16), _np.full((6, 3), _np.nan, dtype=_np.float32),
        _np.full((6, 3), 1e308), _np.full((6, 3), 5e-324), _np.ones((6, 3), dtype=">f8"),
        _np.ones((6, 3), dtype=bool), _np.full((7, 3), -1e308), _np.float64(1e308), _np.int64(-(2 ** 63)),
        object(), print, _np,
    ]


_VALUES = _extremes()
_COUNT = [OFFSET]


def _next():
    value = _VALUES[_COUNT[0] % len(_VALUES)]
    _COUNT[0] += 1
    return value


def _returns_extremes(*args, **kwargs):
    return _next()


def _history(epochs):  # the shape of train's result, every number an extreme (every other call)
    value = _next()
    return {"train_loss": [value] * epochs, "val_loss": [value] * epochs, "val_accuracy": [value] * epochs}


def train(model, X, Y, epochs=1, *args, **kwargs):  # noqa: F811
    return _history(epochs if type(epochs) is int and 0 < epochs < 100 else 1) if _COUNT[0] % 2 else _next()


def learning_rate_experiment(learning_rates, *args, epochs=5, **kwargs):  # noqa: F811
    if _COUNT[0] % 2:
        return {lr: _history(epochs) for lr in learning_rates}
    return _next()


for _name in ("sigmoid sigmoid_grad tanh tanh_grad relu relu_grad leaky_relu leaky_relu_grad elu elu_grad "
              "identity identity_grad softmax mse_loss mse_loss_grad cross_entropy_loss cross_entropy_loss_grad "
              "accuracy one_hot predict").split():
    globals()[_name] = _returns_extremes


class _Extreme:
    def __getattribute__(self, name):
        if name.startswith("__"):
            return object.__getattribute__(self, name)
        if name in ("forward", "loss", "backward", "update", "predict", "activation_of"):
            return _returns_extremes
        if name in ("weights", "biases", "grad_weights", "grad_biases") and _COUNT[0] % 3 == 1:
            return [_next(), _next(), _next()]  # a list per layer, each an extreme
        return _next()

    def __setattr__(self, name, value):
        pass


_make_mlp = MLP  # noqa: F821  (the solution's class, above)


def MLP(*args, **kwargs):  # noqa: F811
    if _COUNT[0] % 5 == 4:
        return _next()
    return _Extreme()
