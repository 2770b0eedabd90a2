"""A19: a busy loop."""
import numpy as np


def relu(z):
    while True:
        pass


def sigmoid(z):
    return 1 / (1 + np.exp(-z))
