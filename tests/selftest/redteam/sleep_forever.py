"""A19 + A20: ignore SIGTERM/SIGINT/SIGALRM/SIGXCPU, disarm alarms, patch time, then sleep forever."""
import signal
import time

import numpy as np


def relu(z):
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGALRM, signal.SIGXCPU, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    signal.alarm(0)
    time.time = lambda: 0.0
    time.monotonic = lambda: 0.0
    time.sleep(1e9)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))
