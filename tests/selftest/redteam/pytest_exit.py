"""A04: pytest.exit(returncode=0) from a function."""
import numpy as np
import pytest


def relu(z):
    pytest.exit("all good", returncode=0)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))
