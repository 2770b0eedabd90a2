"""The .npy blobs of the wire format (grader.sandbox.protocol): their headers written aligned and read cheaply.

protocol.pack writes each array as a .npy blob (version 1.0, numpy's own header layout) whose header
is padded with spaces, as the format allows, so that the array's data starts ALIGN-aligned in the
message body; a receiver that reads the body into a fresh buffer can use a large array where it lies
(protocol.load_npy) instead of copying it; `fresh_buffer` makes a large one cheaply. `fields` reads such a header with a strict pattern, which
costs a fraction of numpy's reader (that one parses with ast, per array of every call); anything the
pattern does not match (another writer's padding, version 2.0, a forged header) goes to numpy's
reader, whose errors say what is wrong. protocol.load_npy then checks the dtype, shape and size.

Stdlib + numpy only: this module also runs inside the sandbox and ships in the student bundle.
"""

from __future__ import annotations

import functools
import io
import mmap
import re
import struct

import numpy as np

ALIGN = 16  # the alignment of every array's data in a message body (enough for every numeric dtype)
IN_PLACE_BYTES = 1 << 20  # arrays from this size on are used where they lie in a received body (no copy)
MAX_HEADER = 2000  # bytes of a .npy header read at most
_V1 = np.lib.format.magic(1, 0)
_FIELDS = re.compile(r"\{'descr': '([<>|][biuf][0-9]{1,2})', 'fortran_order': (False|True), "
                     r"'shape': \(((?:[0-9]{1,18}, )*(?:[0-9]{1,18},?)?)\), \} *\n")  # fmt: skip


def header(array: np.ndarray, offset: int) -> bytes:
    """The .npy header (version 1.0) of a C-contiguous array whose blob starts at `offset` of the body."""
    fortran = bool(array.flags.f_contiguous and not array.flags.c_contiguous)  # as numpy's header_data_from_array_1_0
    return _header(array.dtype, array.shape, fortran, offset % ALIGN)


@functools.lru_cache(maxsize=256)  # a run sends the same few dtypes and shapes thousands of times
def _header(dtype: np.dtype, shape: tuple, fortran: bool, phase: int) -> bytes:
    found = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": fortran, "shape": shape}
    text = "{" + "".join(f"'{key}': {found[key]!r}, " for key in sorted(found)) + "}"
    used = len(_V1) + 2 + len(text) + 1  # magic and version, length, text, newline
    text += " " * (-(phase + used) % ALIGN) + "\n"
    return _V1 + struct.pack("<H", len(text)) + text.encode("latin1")


def fields(blob: memoryview) -> tuple:
    """(shape, fortran order, dtype, offset of the data) of a .npy blob; ValueError for a header that is not one."""
    if len(blob) >= len(_V1) + 2 and blob[: len(_V1)] == _V1:
        (size,) = struct.unpack_from("<H", blob, len(_V1))
        start = len(_V1) + 2 + size
        found = _strict(bytes(blob[len(_V1) + 2 : start])) if size <= MAX_HEADER and len(blob) >= start else None
        if found is not None:
            return (*found, start)
    stream = io.BytesIO(blob)
    try:
        version = np.lib.format.read_magic(stream)
        if version not in ((1, 0), (2, 0), (3, 0)):
            raise ValueError(f".npy version {version} not accepted")
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read(stream, max_header_size=MAX_HEADER)
    except ValueError as error:
        raise ValueError(str(error) if str(error).startswith(".npy version") else f"bad .npy header ({error})") from None
    except Exception as error:  # numpy raises TypeError/SyntaxError too for forged headers
        raise ValueError(f"bad .npy header ({error})") from None
    return shape, fortran, dtype, stream.tell()


@functools.lru_cache(maxsize=256)  # the same few headers arrive thousands of times; bounded for forged ones
def _strict(text: bytes) -> tuple | None:
    """(shape, fortran order, dtype) of a header in this writer's layout, or None (numpy's reader decides)."""
    found = _FIELDS.fullmatch(text.decode("latin1"))
    try:
        dtype = np.dtype(found[1]) if found is not None else None
    except TypeError:  # a size the kind does not have: numpy's reader says so
        return None
    if dtype is None:
        return None
    return tuple(int(n) for n in found[3].split(",") if n.strip()), found[2] == "True", dtype


POPULATE_BYTES = 1 << 20  # a message body from this size on is read into memory mapped with MAP_POPULATE


def fresh_buffer(size: int) -> bytearray | mmap.mmap:
    """A zeroed writable buffer of `size` bytes of its own. A large one is an anonymous private mapping made with
    MAP_POPULATE: the kernel makes its pages in one call, where bytearray's zeroing takes a fault per 4 KiB page
    (47 MB, the MNIST test's training images: 11,500 faults; allocating and filling it took 35 ms of system time,
    22 ms mapped so). Only the allocation differs: the same bytes are read into it, used like the bytearray."""
    if size >= POPULATE_BYTES and hasattr(mmap, "MAP_POPULATE"):
        try:
            return mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | mmap.MAP_POPULATE)
        except (OSError, ValueError):  # no memory to map now: the plain buffer says so as it always did
            pass
    return bytearray(size)
