"""A09: make every comparison pass, then return a wrong answer."""
import builtins
import math

import numpy as np
import numpy.testing

np.allclose = lambda *a, **k: True
np.array_equal = lambda *a, **k: True
np.testing.assert_allclose = lambda *a, **k: None
numpy.testing.assert_array_equal = lambda *a, **k: None
math.isclose = lambda *a, **k: True
builtins.abs = lambda x: 0


def relu(z):
    return np.full_like(z, 12345.0)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))
