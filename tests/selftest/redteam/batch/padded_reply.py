"""Issue 14 item 4, appended to the reference solution: every reply padded with 40 MiB of arrays no
value refers to and an unknown header field, through the worker's own protocol module.

Before: the trusted side parsed every array of every reply and ignored what it did not know, so the
padding cost the trusted pytest process time and memory while the submission kept full marks.
Expected now: each padded reply is rejected by shape before its arrays are parsed (the first one is
the "ready" message, so the import fails); the submission earns nothing more than its twin and the
trusted process stays small.
"""
import io as _io
import json as _json
import struct as _struct
import sys as _sys

import numpy as _np

_protocol = _sys.modules["protocol"]
_write = _protocol.write_message
_blob = _io.BytesIO()
_np.lib.format.write_array(_blob, _np.zeros(1 << 20), allow_pickle=False)  # 8 MiB
_PAD = (_struct.pack("<Q", len(_blob.getvalue())) + _blob.getvalue()) * 5


def _padded(fd, message, deadline=None):
    body = bytes(message[8:])
    (size,) = _struct.unpack_from("<I", body)
    header = _json.loads(body[4 : 4 + size])
    header["padding"] = "x" * 1000
    text = _json.dumps(header).encode()
    body = _struct.pack("<I", len(text)) + text + body[4 + size :] + _PAD
    _write(fd, _struct.pack("<Q", len(body)) + body, deadline)


_protocol.write_message = _padded
