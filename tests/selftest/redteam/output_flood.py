"""A25: print without end."""
import sys

import numpy as np


def relu(z):
    line = "A" * 65535 + "\n"
    while True:
        sys.stdout.write(line)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))
