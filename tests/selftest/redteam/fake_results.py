"""A06 + A17 + A18: write results.json / gradebook rows next to itself, into cwd, into the kit and the canary."""
import os

import numpy as np

TARGETS = [
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "results.json"),
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "conftest.py"),
    "results.json",
    "/work/main/results.json",
    "/work/main/tests/conftest.py",
    "/work/main/report/grades.csv",
    "/tmp/exercise02-canary/results.json",
    "/tmp/results.json",
]


def relu(z):
    written = []
    for path in TARGETS:
        try:
            with open(path, "a") as out:
                out.write('{"score": 100}\n')
            written.append(path)
        except OSError:
            pass
    return written


def sigmoid(z):
    return 1 / (1 + np.exp(-z))
