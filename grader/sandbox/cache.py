"""The user's cache folder and the rule for trusting what is in it.

The kit keeps work that is costly to redo and safe to share between output folders in one folder of
the user's home: uncompressed MNIST copies (grader.sandbox.mnist), answer keys (grader.grading.store)
and empty gradebooks (grader.outputs.gradebook). Anything read back from it must be `private`: of the
expected kind, owned by this user, and writable by nobody else, so another local user cannot plant a
file there. GRADER_CACHE=off turns the cache off; GRADER_CACHE=<folder> moves it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


def cache_root() -> Path | None:
    """The kit's cache folder in the user's home (None: GRADER_CACHE=off)."""
    chosen = os.environ.get("GRADER_CACHE")
    if chosen == "off":
        return None
    if chosen:
        return Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "exercise02-kit"


def private(path: Path, kind: int = stat.S_IFREG) -> bool:
    """Is path of this kind (file or folder), ours, and writable by nobody else?"""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_IFMT(info.st_mode) == kind and info.st_uid == os.getuid() and not info.st_mode & 0o022
