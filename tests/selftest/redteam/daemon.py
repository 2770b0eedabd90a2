"""A24: a double-forked setsid daemon that keeps running after the call returns."""
import os
import signal
import time

import numpy as np


def relu(z):
    read, write = os.pipe()
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            signal.signal(signal.SIGHUP, signal.SIG_IGN)
            os.write(write, str(os.getpid()).encode())
            while True:
                time.sleep(0.05)
        os._exit(0)
    os.wait()
    return int(os.read(read, 32))


def sigmoid(z):
    return 1 / (1 + np.exp(-z))
