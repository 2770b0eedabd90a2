"""A13b: replies the trusted decoder must reject or read as the submission's own error, never raise on.

relu writes, before its real reply, a reply whose .npy header claims a zero-size array with axes no
array can have (0 bytes of data, as the shape says); tanh writes an error reply whose frames are not
[line, function, source] triples. sigmoid is honest.
"""
import json
import os
import struct
import sys

import numpy as np


def _request_id():
    frame = sys._getframe(2)
    while frame is not None:
        header = frame.f_locals.get("header")
        if isinstance(header, dict) and "id" in header:
            return header["id"]
        frame = frame.f_back
    return None


def _send(reply, blobs=()):
    head = json.dumps(reply).encode()
    body = struct.pack("<I", len(head)) + head + b"".join(struct.pack("<Q", len(b)) + b for b in blobs)
    message = struct.pack("<Q", len(body)) + body
    for fd in sorted(int(n) for n in os.listdir("/proc/self/fd")):
        if fd >= 3:
            try:
                os.write(fd, message)
            except OSError:
                pass


def relu(z):
    npy_header = b"{'descr': '<f8', 'fortran_order': False, 'shape': (0, 999999999999999999, 999999999999999999), }"
    npy_header += b" " * (63 - (10 + len(npy_header)) % 64) + b"\n"
    blob = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(npy_header)) + npy_header
    _send({"id": _request_id(), "ok": True, "value": {"array": 0}}, [blob])
    return z


def tanh(z):
    error = {"kind": "raised", "type": "ValueError", "builtin": "ValueError", "message": "forged",
             "frames": [["x", "tanh", "src"], [1, 2], "abc", [None, "f", "s"], [7, "tanh", "raise ValueError"]]}
    _send({"id": _request_id(), "ok": False, "error": error})
    return z


def sigmoid(z):
    return 1 / (1 + np.exp(-z))
