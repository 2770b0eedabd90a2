"""A04: sys.exit from a function."""
import sys

import numpy as np


def relu(z):
    sys.exit(0)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))
