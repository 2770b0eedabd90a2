"""The wire format between the trusted test process and the sandboxed worker, and the errors it reports.

Why a format of our own: the worker runs submission code, so everything it sends is hostile input.
Pickle would run code in the trusted process, and `np.load` allocates whatever size a forged header
claims. A message here is a JSON header plus raw `.npy` blobs, and the decoder checks every size
against the bytes actually present before it allocates anything.

A message on a pipe:

    u64 length of the rest | u32 header length | header (UTF-8 JSON) | (u64 length | .npy bytes)*

Values in the header are plain JSON (None, bool, int, float, str) or one-key objects:
{"float": "nan"|"inf"|"-inf"}, {"list": [...]}, {"tuple": [...]}, {"dict": [[key, value], ...]},
{"array": index of the blob}, {"handle": id, "type": name} (an object that stayed in the worker).

Stdlib + numpy only: this module also runs inside the sandbox and ships in the student bundle.
"""

from __future__ import annotations

import builtins
import json
import math
import os
import select
import struct
import time

import numpy as np

if __package__:
    from grader.sandbox import npy
    from grader.sandbox.error import GraderError
else:  # inside the sandbox: boot.py imports the runtime's files by bare name
    import npy  # type: ignore[no-redef]
    from error import GraderError  # type: ignore[no-redef]

MAX_REPLY_BYTES = 64 << 20  # what the trusted side accepts from the worker
MAX_REPLY_HEADER = 2 << 20  # the JSON part of a reply (lists, numbers, messages; arrays travel as blobs):
# bounds the Python objects json.loads can build in the trusted process to about 150 MB
MAX_REQUEST_BYTES = 1 << 30  # what the worker accepts from the trusted side (test inputs may be big)
MAX_DEPTH = 32
MAX_ITEMS = 1_000_000  # list/tuple/dict entries and arrays in one message, all together
MAX_TEXT = 400  # characters of an untrusted message kept in an error
NUMERIC_KINDS = "biuf"
BUILTIN_ERRORS = {  # exception types the trusted side re-raises as themselves, for pytest.raises parity
    name: getattr(builtins, name)
    for name in (
        "ArithmeticError AssertionError AttributeError FloatingPointError ImportError IndexError KeyError "
        "LookupError MemoryError ModuleNotFoundError NameError NotImplementedError OSError OverflowError "
        "RecursionError RuntimeError TypeError UnboundLocalError ValueError ZeroDivisionError"
    ).split()
}

# Bound at import: in the worker, a submission that patches json later cannot change the replies.
_dumps, _loads = json.dumps, json.loads
_LENGTH = LENGTH = struct.Struct("<Q")  # each message's size, before it
_HEADER = struct.Struct("<I")


# --------------------------------------------------------------------------- errors (trusted side)


def clean_text(text, limit: int = MAX_TEXT) -> str:
    """One printable line from untrusted text: control characters escaped, length bounded."""
    text = str(text)
    if len(text) > limit:
        text = text[:limit] + f"... [{len(text) - limit} more characters]"
    return "".join(" | " if char == "\n" else char if char.isprintable() else repr(char)[1:-1] for char in text)


class StudentError(GraderError):
    """Something the submission did (or failed to do); `student_message` is the one line a student sees."""

    def __init__(self, student_message: str, detail: str | None = None):
        super().__init__(detail if detail is not None else student_message)
        self.student_message = student_message


class SubmissionRaised(StudentError):
    """The submission raised an exception in a call. str() is its own message, as it would be in-process."""

    def __init__(self, call: str, type_name: str, message: str, frames: list):
        where = " <- ".join(f"line {line} in {func}" for line, func, _ in reversed(frames[-3:]))
        text = clean_text(message)
        summary = f"{call} raised {clean_text(type_name, 80)}" + (f": {text}" if text else "")
        if frames:
            source = clean_text(frames[-1][2], 120)
            summary += f" (at {clean_text(where, 200)}" + (f": {source}" if source else "") + ")"
        super().__init__(summary, detail=clean_text(message, 2000))
        self.call, self.type_name, self.frames = call, type_name, frames


class NotImplementedYet(StudentError, NotImplementedError):
    """A stub that still raises NotImplementedError (an is-a NotImplementedError, as in-process)."""

    def __init__(self, name: str):
        super().__init__(f"not implemented yet: {clean_text(name, 120)}", detail=clean_text(name, 120))


class ImportFailed(StudentError):
    """The submission could not be imported (syntax error, exception, exit or crash at import)."""


class CallTimeout(StudentError):
    """A call did not return in time; the worker was killed."""


class WorkerDied(StudentError):
    """The worker process ended during a call (crash, os._exit, a resource limit, an output flood)."""


class BadReply(StudentError):
    """The worker sent something that is not a valid reply; which check failed is in the message."""


class HandleExpired(StudentError):
    """A handle from a worker that has since been stopped (after a timeout or a crash)."""


class Unavailable(StudentError):
    """The submission has no such function, method or attribute, or returned a value that cannot cross."""


class ProtocolError(GraderError, ValueError):
    """A message failed a check of the decoder (size, structure, dtype). Becomes BadReply on the trusted side."""


def raised_error(call: str, error: dict) -> StudentError:
    """The trusted-side exception for an error reply of the worker (kind "raised")."""
    type_name = str(error.get("type", "Exception"))
    message = str(error.get("message", ""))
    frames = error.get("frames")
    frames = [  # (line, function, source) of the submission's own frames; an entry of any other shape is left out
        (line, clean_text(func, 60), clean_text(text, 120))
        for line, func, text in (f for f in (frames if type(frames) is list else [])[-8:] if type(f) is list and len(f) == 3)
        if type(line) is int
    ]
    builtin = BUILTIN_ERRORS.get(str(error.get("builtin")))
    if builtin is NotImplementedError:
        return NotImplementedYet(message or call)
    if builtin is None:
        return SubmissionRaised(call, type_name, message, frames)
    return _raised_class(builtin)(call, type_name, message, frames)


_RAISED_CLASSES: dict = {}


def _raised_class(builtin):
    """SubmissionRaised that is also a `builtin` (e.g. ValueError), so pytest.raises(ValueError) works."""
    if builtin not in _RAISED_CLASSES:
        _RAISED_CLASSES[builtin] = type(f"Submission{builtin.__name__}", (SubmissionRaised, builtin), {})
    return _RAISED_CLASSES[builtin]


# --------------------------------------------------------------------------- tokens


class Handle:
    """The wire form of an object that stayed in the worker."""

    __slots__ = ("id", "type_name")

    def __init__(self, id: int, type_name: str):
        self.id, self.type_name = id, type_name


# --------------------------------------------------------------------------- encoding


def encode(value, handle_of=None) -> tuple[object, list]:
    """A JSON-able tree and the list of arrays it refers to.

    handle_of(obj) gives the wire Handle for any other object (the worker keeps it) or raises
    TypeError; None means only plain values may cross.
    """
    arrays: list = []
    budget = [MAX_ITEMS]

    def walk(v, depth):
        if depth > MAX_DEPTH:
            raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
        budget[0] -= 1
        if budget[0] < 0:
            raise ValueError(f"more than {MAX_ITEMS} values")
        if v is None or type(v) in (bool, str):
            return v
        if isinstance(v, np.ndarray):
            if v.dtype.kind not in NUMERIC_KINDS or v.dtype.fields is not None:
                raise TypeError(f"an array of dtype {v.dtype}; expected numbers")
            arrays.append(np.ascontiguousarray(np.asarray(v)))
            return {"array": len(arrays) - 1}
        if isinstance(v, np.generic):
            if v.dtype.kind not in NUMERIC_KINDS:
                raise TypeError(f"a NumPy scalar of dtype {v.dtype}; expected a number")
            return walk(v.item(), depth)
        if isinstance(v, bool):
            return bool(v)
        if isinstance(v, int):
            return int(v)
        if isinstance(v, float):
            v = float(v)
            if math.isfinite(v):
                return v
            return {"float": "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")}
        if isinstance(v, str):
            return str(v)
        if isinstance(v, list):
            return {"list": [walk(x, depth + 1) for x in v]}
        if isinstance(v, tuple):
            return {"tuple": [walk(x, depth + 1) for x in v]}
        if isinstance(v, dict):
            pairs = []
            for key, item in v.items():
                if not (key is None or isinstance(key, (bool, int, float, str, np.generic))):
                    raise TypeError(f"a dict with a key of type {type(key).__name__}")
                pairs.append([walk(key, depth + 1), walk(item, depth + 1)])
            return {"dict": pairs}
        if isinstance(v, Handle):
            return {"handle": v.id, "type": v.type_name}
        if handle_of is not None:
            return walk(handle_of(v), depth)
        raise TypeError(f"a value of type {type(v).__name__}")

    return walk(value, 0), arrays


def pack(header: dict, arrays: list) -> bytes:
    """One message as bytes (pack_parts joined): how the worker sends its replies."""
    return b"".join(pack_parts(header, arrays))


def pack_parts(header: dict, arrays: list) -> list:
    """One message as buffers for write_message: the header (values made by `encode`), then its arrays as .npy
    blobs, their data not copied (unchanged until written). Each .npy header is padded (spaces, as .npy allows)
    so the data starts aligned (npy.ALIGN) in the body: a receiver can use a large array where it lies (load_npy)."""
    text = _dumps(header, allow_nan=False, separators=(",", ":")).encode()
    parts = [b"", _HEADER.pack(len(text)), text]
    offset = _HEADER.size + len(text)
    for array in arrays:
        offset += _LENGTH.size
        head = npy.header(array, offset)
        parts += [_LENGTH.pack(len(head) + array.nbytes), head, array.reshape(-1).view(np.uint8) if array.size else b""]
        offset += len(head) + array.nbytes
    parts[0] = _LENGTH.pack(offset)
    return parts


# --------------------------------------------------------------------------- decoding


def unpack(body: bytes | bytearray | memoryview) -> tuple[dict, list]:
    """The header and the arrays of one message body; every size is checked before allocating."""
    header, blobs = split(body)
    return header, [load_npy(blob) for blob in blobs]


def split(body: bytes | bytearray | memoryview, max_header: int | None = None) -> tuple[dict, list]:
    """The header and the array blobs (views, not yet parsed) of one message body."""
    view = memoryview(body)
    if len(view) < _HEADER.size:
        raise ProtocolError("message shorter than its header length field")
    (size,) = _HEADER.unpack_from(view, 0)
    if size > len(view) - _HEADER.size:
        raise ProtocolError(f"header length {size} exceeds the {len(view)} bytes of the message")
    if max_header is not None and size > max_header:
        raise ProtocolError(f"its plain values take {size} bytes, over the limit of {max_header} bytes "
                            "(return long sequences as NumPy arrays)")
    try:
        header = _loads(bytes(view[_HEADER.size : _HEADER.size + size]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ProtocolError(f"header is not valid JSON ({clean_text(error, 120)})") from None
    if not isinstance(header, dict):
        raise ProtocolError("header is not a JSON object")
    blobs = []
    offset = _HEADER.size + size
    while offset < len(view):
        if len(blobs) >= MAX_ITEMS:
            raise ProtocolError("too many arrays")
        if len(view) - offset < _LENGTH.size:
            raise ProtocolError("truncated array length field")
        (length,) = _LENGTH.unpack_from(view, offset)
        offset += _LENGTH.size
        if length > len(view) - offset:
            raise ProtocolError(f"array blob of {length} bytes exceeds the {len(view) - offset} bytes left")
        blobs.append(view[offset : offset + length])
        offset += length
    return header, blobs


def unpack_reply(body, keys: set) -> tuple[dict, list]:
    """A reply of the worker, checked for shape before its arrays are parsed: a header of at most
    MAX_REPLY_HEADER bytes holding only `keys`, and exactly one reference in its value to each array."""
    header, blobs = split(body, MAX_REPLY_HEADER)
    unknown = set(header) - keys
    if unknown:
        raise ProtocolError(f"unknown reply field {clean_text(sorted(unknown)[0], 40)}")
    refs = array_refs(header.get("value"))
    if sorted(refs) != list(range(len(blobs))):
        raise ProtocolError(f"the reply carries {len(blobs)} arrays but its value refers to {len(refs)} "
                            "(each array must be referred to exactly once)")
    return header, [load_npy(blob) for blob in blobs]


def array_refs(tree) -> list[int]:
    """The array indices a value tree refers to, in order (bounded like decode; no allocation of arrays)."""
    found, todo, seen = [], [(tree, 0)], 0
    while todo:
        value, depth = todo.pop()
        seen += 1
        if seen > MAX_ITEMS or depth > MAX_DEPTH:
            raise ProtocolError("value too large or nested too deeply")
        if type(value) is dict and len(value) == 1:
            (tag, item), = value.items()
            if tag == "array" and type(item) is int:
                found.append(item)
            elif tag in ("list", "tuple", "dict") and type(item) is list:
                todo += [(x, depth + 1) for x in item]
        elif type(value) is list:  # a dict entry [key, value]
            todo += [(x, depth + 1) for x in value]
    return found


def load_npy(blob: memoryview) -> np.ndarray:
    """An array of its own from .npy bytes, refusing anything but plain numbers and exact sizes (never pickle).

    Small arrays are copied out; a large one (npy.IN_PLACE_BYTES) in a writable body is a view of it: the
    body is the fresh buffer read_message filled for this message alone, so the array is still the
    only user of its memory, and the copy would cost as much as the transfer."""
    try:
        shape, fortran, dtype, start = npy.fields(blob)
    except ValueError as error:  # a forged or foreign header; numpy's message may quote it
        raise ProtocolError(clean_text(error, 200)) from None
    if dtype.kind not in NUMERIC_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise ProtocolError(f"array dtype {clean_text(dtype, 60)} is not a plain number type")
    if not isinstance(shape, tuple) or len(shape) > MAX_DEPTH:
        raise ProtocolError("array shape is not a short tuple")
    if not all(type(n) is int and n >= 0 for n in shape):
        raise ProtocolError(f"array shape {clean_text(shape, 80)} is not made of sizes")
    if 0 in shape and math.prod(n or 1 for n in shape) * dtype.itemsize > MAX_REQUEST_BYTES:  # no data, absurd axes
        raise ProtocolError(f"array shape {clean_text(shape, 80)} is larger than any message can carry")
    if fortran:
        raise ProtocolError("Fortran-ordered arrays are not accepted")
    count = math.prod(shape)
    data = blob[start:]
    if count * dtype.itemsize != len(data):
        raise ProtocolError(
            f"array header claims shape {clean_text(shape, 80)} of {dtype.str} "
            f"({count * dtype.itemsize} bytes) but {len(data)} bytes follow"
        )
    array = np.frombuffer(data, dtype=dtype, count=count).reshape(shape)
    if array.nbytes >= npy.IN_PLACE_BYTES and dtype.isnative and array.flags.writeable and array.flags.aligned:
        return array  # a large array in the received body's own fresh buffer, which nothing else uses
    return array.astype(dtype.newbyteorder("="), copy=True)


def decode(tree, arrays: list, handle=None):
    """The value of an encoded tree. handle(id, type) builds a handle's token (None: no handle may come)."""
    budget = [MAX_ITEMS]

    def walk(v, depth):
        if depth > MAX_DEPTH:
            raise ProtocolError(f"value nested deeper than {MAX_DEPTH} levels")
        budget[0] -= 1
        if budget[0] < 0:
            raise ProtocolError(f"more than {MAX_ITEMS} values")
        if v is None or type(v) in (bool, str, float):
            return v
        if type(v) is int:
            return v
        if type(v) is not dict or len(v) not in (1, 2):
            raise ProtocolError(f"unexpected value of type {type(v).__name__}")
        if len(v) == 1:
            (tag, item), = v.items()
            if tag == "float" and item in ("nan", "inf", "-inf"):
                return float(item)
            if tag in ("list", "tuple") and type(item) is list:
                items = [walk(x, depth + 1) for x in item]
                return items if tag == "list" else tuple(items)
            if tag == "dict" and type(item) is list:
                out = {}
                for pair in item:
                    if type(pair) is not list or len(pair) != 2:
                        raise ProtocolError("dict entry is not a pair")
                    key = walk(pair[0], depth + 1)
                    if not (key is None or type(key) in (bool, int, float, str)):
                        raise ProtocolError("dict key is not a number, bool or string")
                    out[key] = walk(pair[1], depth + 1)
                return out
            if tag == "array" and type(item) is int and 0 <= item < len(arrays):
                return arrays[item]
        if set(v) == {"handle", "type"} and type(v["handle"]) is int and type(v["type"]) is str:
            if handle is None:
                raise ProtocolError("a handle where none may be")
            return handle(v["handle"], clean_text(v["type"], 80))
        raise ProtocolError(f"unknown value tag {clean_text(sorted(v), 60)}")

    try:
        return walk(tree, 0)
    except RecursionError:
        raise ProtocolError("value nested too deeply") from None


# --------------------------------------------------------------------------- pipes


def write_message(fd: int, message, deadline: float | None = None) -> None:
    """Write all of a message: bytes, or pack_parts' buffers (written as they are, never joined). With a
    deadline (time.monotonic), TimeoutError once it passes; a write to a blocking fd may wait for the reader."""
    chunks = [memoryview(p).cast("B") for p in ((message,) if isinstance(message, (bytes, bytearray)) else message)]
    at = 0  # the first chunk not yet written
    while at < len(chunks):
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([], [fd], [], left)[1]:
                raise TimeoutError("pipe write timed out")
        try:
            written = os.writev(fd, chunks[at : at + 512])
        except BlockingIOError:  # full again since select saw room
            continue
        while at < len(chunks) and written >= len(chunks[at]):
            written, at = written - len(chunks[at]), at + 1
        if written:
            chunks[at] = chunks[at][written:]


def read_message(fd: int, limit: int, deadline: float | None = None) -> bytearray:
    """The body of the next message. EOFError if the pipe closes, TimeoutError past the deadline,
    ProtocolError if the announced size is over `limit` (checked before allocating)."""
    head = _read_exact(fd, _LENGTH.size, deadline)
    (size,) = _LENGTH.unpack(head)
    if size > limit:
        raise ProtocolError(f"message of {size} bytes is over the limit of {limit} bytes")
    return _read_exact(fd, size, deadline)


def _read_exact(fd: int, size: int, deadline: float | None) -> bytearray:
    buffer, got = npy.fresh_buffer(size), 0  # a large one mapped at once (a bytearray's pages fault one by one)
    view = memoryview(buffer)
    while got < size:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError("pipe read timed out")
        count = os.readv(fd, [view[got : got + (4 << 20)]])
        if count == 0:
            raise EOFError("pipe closed")
        got += count
    return buffer
