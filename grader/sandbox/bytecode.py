"""Bytecode of the worker's runtime modules, made on the trusted side so that no worker compiles them.

The worker runs `python -I -B` with its runtime files copied into a read-only folder (layout.Layout.command),
so it can neither write nor find bytecode for them and compiled protocol.py, npy.py, training.py, standin.py
and error.py afresh at every start: twice per graded run (the restart before the integration tests). Each
is compiled here once per process (at import: the runs' zygote imports this module, so every run forked
from it shares the result) and copied next to its source as `__pycache__/<name>.<tag>.pyc`.

Each file is a checked hash-based .pyc (PEP 552): the worker's import system hashes the source file that was
copied in with it and uses the bytecode only when that hash is the one recorded here, else compiles the
source as before. The bytecode was compiled from those very bytes, so the worker runs what it would have
compiled itself; a source changed since this process read it is compiled in the worker as before. The
interpreter is the grader's own (layout.interpreter), so the magic number and cache tag are the worker's.
boot.py runs as a script (never from bytecode) and is left out. Stdlib only: this also ships to students.
"""

from __future__ import annotations

import contextlib
import importlib.util
import marshal
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHECKED = 0b11  # PEP 552 flags: hash-based, and the hash is checked against the source when loaded


def pyc_name(module_file: str) -> str:
    """The name the import system looks for in `__pycache__` for `module_file` (protocol.py -> protocol.cpython-311.pyc)."""
    return f"{Path(module_file).stem}.{sys.implementation.cache_tag}.pyc"


def compiled(path: Path, inside: str) -> bytes | None:
    """The checked hash-based .pyc of the source at `path`, its code named by `inside` (its path in the
    worker); None when it cannot be read or compiled (the worker then compiles it, as without bytecode)."""
    try:
        source = path.read_bytes()
        code = compile(source, inside, "exec", dont_inherit=True, optimize=0)
    except (OSError, SyntaxError, ValueError):
        return None
    flags = CHECKED.to_bytes(4, "little")
    return importlib.util.MAGIC_NUMBER + flags + importlib.util.source_hash(source) + marshal.dumps(code)


def precompile(names, inside: str) -> dict[str, bytes]:
    """{module file name: its .pyc} for the modules `names` of this folder (those that compile)."""
    made = {}
    for name in names:
        if name.endswith(".py") and (HERE / name).is_file() and (pyc := compiled(HERE / name, f"{inside}/{name}")):
            made[name] = pyc
    return made


def memory_file(data: bytes) -> int | None:
    """A descriptor of an anonymous file holding `data`, at offset 0 (for bwrap --file); None where the
    system has no memfd (the worker then compiles the source)."""
    if not hasattr(os, "memfd_create"):
        return None
    fd = None
    with contextlib.suppress(OSError):
        fd = os.memfd_create("exercise02-pyc", os.MFD_CLOEXEC)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.lseek(fd, 0, os.SEEK_SET)
        return fd
    if fd is not None:
        os.close(fd)
    return None
