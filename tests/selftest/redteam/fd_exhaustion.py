"""A27: open files until the limit."""
import numpy as np

kept = []


def relu(z):
    try:
        while len(kept) < 100000:
            kept.append(open("/dev/null"))
    except OSError:
        pass
    return len(kept)


def sigmoid(z):
    for f in kept:
        f.close()
    kept.clear()
    return 1 / (1 + np.exp(-z))
