"""A48: heavy work at import (here: sleeping), so the import never finishes in time."""
import time

import numpy as np

time.sleep(600)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))
