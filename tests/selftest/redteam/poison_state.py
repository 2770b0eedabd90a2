"""A29 + A30: change cwd, sys.path, sys.modules and json, then hope the worker breaks or lies."""
import json
import os
import sys
import types

import numpy as np


def relu(z):
    os.chdir("/")
    sys.path[:] = ["/tmp"]
    with open("/tmp/numpy.py", "w") as fake:
        fake.write("raise SystemExit('fake numpy')\n")
    sys.modules["numpy"] = types.ModuleType("numpy")
    sys.modules["json"] = types.ModuleType("json")
    json.dumps = lambda *a, **k: '{"id": 0, "ok": true, "value": 1}'
    sys.stdout = sys.stderr = open(os.devnull, "w")
    return "poisoned"


def sigmoid(z):
    return 1 / (1 + np.exp(-z))
