"""Private staging folders (a submission's copy, a run's work folder) that do not outlive their run.

A folder is made by `make(prefix)` in the temporary folder (mode 0700, `tempfile.mkdtemp`) and holds
OWNER, a lock file on which this process keeps an flock for as long as the folder lives. It goes:

* with `remove(path)`, when its owner is done with it;
* when the process ends normally or by SIGINT (KeyboardInterrupt unwinds through the owners' cleanups;
  an atexit hook removes whatever is left);
* on SIGTERM: the first `make` (or `guard_signals`) in the main thread installs a handler, unless the
  program set one of its own, that removes this process's folders and then ends the process by
  SIGTERM as before;
* never by a forked child: a child inherits the parent's records but not its folders (a pool worker
  ended by SIGTERM, or one that exits normally, must not delete what its parent still uses);
* after a SIGKILL or a crash: the next `make` of any process of this user sweeps the folders with this
  prefix whose OWNER lock it can take, which means the process that held it is gone. A folder
  without OWNER (being made right now, or made by an older kit) is never touched, nor one owned by
  another user, so nothing a live run owns is deleted.

Removing deletes OWNER last (`_delete`), and only once nothing else is left: a process that dies half-way
through a removal (SIGTERM while a pool thread removes a finished run's folder, a SIGKILL) leaves a
folder that still has its OWNER, unlocked, which the next sweep finishes. Deleted in any order, a folder
that lost its OWNER first was never swept again. Before its last two steps (OWNER, then the folder) the
folder is renamed `<name>.removing` (REMOVING), so that one cut between them, empty, is still known to be
a staging folder: a sweep removes an empty folder only with that name, never another empty folder that
merely starts with the prefix (a tutor's `/tmp/grader-out`).

Stdlib only (ships with the sandbox runtime).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import os
import shutil
import signal
import stat
import tempfile
import threading

OWNER = ".owner.lock"
REMOVING = ".removing"  # the name's end of a folder in its last two removal steps (mkdtemp never makes a '.')

_lock = threading.Lock()
_live: dict[str, int] = {}  # folder -> fd holding its OWNER flock
_swept: set[tuple[str, str]] = set()  # (temporary folder, prefix) already swept by this process


def make(prefix: str) -> str:
    """A new private folder `<tmp>/<prefix>XXXX` owned by this process until `remove` or its end."""
    guard_signals()
    folder = tempfile.mkdtemp(prefix=prefix)
    sweep(prefix, folder=os.path.dirname(folder))
    partial = os.path.join(folder, OWNER + ".partial")
    fd = os.open(partial, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.rename(partial, os.path.join(folder, OWNER))  # locked before a sweeper can see it
    with _lock:
        _live[folder] = fd
    return folder


def remove(folder: str) -> None:
    """Delete a folder made by `make` and release its lock (nothing when it is gone already)."""
    with _lock:
        fd = _live.pop(str(folder), None)
    _delete(str(folder))
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)


def remove_all() -> None:
    """Delete every folder this process still owns."""
    with _lock:
        folders = list(_live)
    for folder in folders:
        remove(folder)


def sweep(prefix: str, folder: str | None = None) -> list[str]:
    """Delete the folders `<folder>/<prefix>*` left by processes of this user that are gone (once per
    process, folder and prefix); returns what was deleted."""
    folder = folder or tempfile.gettempdir()
    with _lock:
        if (folder, prefix) in _swept:
            return []
        _swept.add((folder, prefix))
        own = set(_live)
    removed = []
    try:
        names = [n for n in os.listdir(folder) if n.startswith(prefix)]
    except OSError:
        return []
    for name in names:
        path = os.path.join(folder, name)
        if path in own:
            continue
        with contextlib.suppress(OSError):
            info = os.lstat(path)
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
                continue
            if name.endswith(REMOVING) and not os.listdir(path):
                os.rmdir(path)  # what a removal cut between its last two steps leaves (see _delete)
                removed.append(path)
                continue
            fd = os.open(os.path.join(path, OWNER), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError: its process still runs
                _delete(path)
                removed.append(path)
            finally:
                os.close(fd)
    return removed


def _delete(folder: str) -> None:
    """Delete a staging folder, its OWNER last and only when nothing else is left in it (else it stays, for a sweep)."""
    for _ in range(2):  # a second pass for what a dying child of the run wrote meanwhile
        try:
            names = [n for n in os.listdir(folder) if n != OWNER]
        except OSError:
            return
        if not names:
            break
        for name in names:
            path = os.path.join(folder, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    os.unlink(path)
    with contextlib.suppress(OSError):
        if os.listdir(folder) in ([OWNER], []):
            if not folder.endswith(REMOVING):  # named as ours before it can be left empty (module docstring)
                os.rename(folder, folder + REMOVING)
                folder += REMOVING
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(folder, OWNER))
            os.rmdir(folder)


def guard_signals() -> None:
    """Remove this process's folders on SIGTERM (once, from the main thread, when no handler is set)."""
    global _guarded
    if _guarded or threading.current_thread() is not threading.main_thread():
        return
    _guarded = True
    with contextlib.suppress(ValueError, OSError):
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _on_sigterm)


def _on_sigterm(signum, frame) -> None:
    remove_all()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _forget_in_child() -> None:
    """In a forked child: the folders are the parent's; drop the records (the parent keeps its locks)."""
    global _lock
    _lock = threading.Lock()  # another thread may have held it at the fork
    for fd in _live.values():
        with contextlib.suppress(OSError):
            os.close(fd)  # the parent's descriptor stays open, so its flock stays held
    _live.clear()


_guarded = False
atexit.register(remove_all)
os.register_at_fork(after_in_child=_forget_in_child)

