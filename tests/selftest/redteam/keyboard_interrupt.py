"""A03: KeyboardInterrupt from a function."""
import numpy as np


def relu(z):
    raise KeyboardInterrupt


def sigmoid(z):
    return 1 / (1 + np.exp(-z))
