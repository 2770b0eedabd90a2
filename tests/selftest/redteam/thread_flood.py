"""A23: start threads until it fails; they keep spinning after the call returns."""
import threading
import time

import numpy as np


def spin():
    while True:
        time.sleep(0.01)


def relu(z):
    started = 0
    for _ in range(500):
        try:
            threading.Thread(target=spin, daemon=True).start()
        except RuntimeError:
            break
        started += 1
    return started


def sigmoid(z):
    return 1 / (1 + np.exp(-z))
