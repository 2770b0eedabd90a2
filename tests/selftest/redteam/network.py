"""A28: reach a listener on the host's loopback, and an outside address (TEST-NET-1)."""
import socket

import numpy as np


def relu(port, outside="192.0.2.1"):
    results = {}
    for host, p in (("127.0.0.1", port), (outside, 80)):
        try:
            s = socket.create_connection((host, p), timeout=2)
            s.sendall(b"stolen tests")
            s.close()
            results[host] = "connected"
        except OSError as error:
            results[host] = f"{type(error).__name__}: {error}"
    return results


def sigmoid(z):
    return 1 / (1 + np.exp(-z))
