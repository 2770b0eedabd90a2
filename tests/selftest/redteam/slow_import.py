"""A48: heavy work at import (an experiment left at top level), so the import never finishes in time."""
import time

import numpy as np

end = time.process_time() + 600
while time.process_time() < end:
    pass


def sigmoid(z):
    return 1 / (1 + np.exp(-z))
