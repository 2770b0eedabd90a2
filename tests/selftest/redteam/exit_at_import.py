"""A01: sys.exit at import."""
import sys

import numpy as np

sys.exit(0)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))
