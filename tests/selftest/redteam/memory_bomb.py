"""A21: allocate (and touch) memory until something breaks."""
import numpy as np

hoard = []


def relu(z):
    while True:
        block = bytearray(64 << 20)
        block[:: 4096] = b"x" * len(block[:: 4096])
        hoard.append(block)


def sigmoid(z):
    hoard.clear()
    return 1 / (1 + np.exp(-z))
