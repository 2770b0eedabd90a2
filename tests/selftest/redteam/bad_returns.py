"""Return values that must not cross: object arrays, deep nesting, too much data, hostile __str__."""
import numpy as np


class Evil(Exception):
    def __str__(self):
        raise RuntimeError("no message for you")


def relu(kind):
    if kind == "object":
        return np.array([object()], dtype=object)
    if kind == "deep":
        value = []
        for _ in range(5000):
            value = [value]
        return value
    if kind == "huge":
        return [np.zeros(4 << 20) for _ in range(3)]  # 3 x 32 MiB
    if kind == "evil":
        raise Evil()
    if kind == "matrix":
        return np.asmatrix(np.eye(2))
    raise ValueError(kind)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))
