"""The shelf: gradebooks kept in the user's cache (grader.sandbox.cache), so that none is made twice.

    <cache>/gradebooks/empty-<tag>.db   nbgrader's empty gradebook for one nbgrader version and course:
                                        making one runs nbgrader's alembic subprocess (seconds), copying it
                                        does not (nbgrader skips alembic for a database with its tables)
    <cache>/gradebooks/<digest>.db      the last KEPT gradebooks written, by a digest of their content
                                        (grader.outputs.gradebook.write_cached): the same class graded into
                                        another output folder gets a copy

A file is used only when the cache's rules trust it (cache.private: ours, not writable by others, not a
link); without a usable cache nothing is kept and nbgrader makes what is needed. Every copy goes through
a partial file moved into place, so a reader never sees half a gradebook.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from pathlib import Path

KEPT = 8  # gradebooks kept by content in the user's cache (the newest)


def copy_empty(target: Path, course_id: str, gradebook_class, make: bool = True) -> None:
    """Put an empty gradebook of this nbgrader version and course at target, from the cache when it is there
    (make=False: only then; else the cache's copy is made first, when the cache can be written)."""
    from importlib import metadata

    from grader.sandbox.cache import cache_root, private  # the kit's cache rules

    root = cache_root()
    if root is None:
        return  # nbgrader creates it (and runs alembic)
    folder = root / "gradebooks"
    tag = hashlib.sha256(f"{metadata.version('nbgrader')}\0{course_id}".encode()).hexdigest()[:16]
    empty = folder / f"empty-{tag}.db"
    try:
        if make and not (private(folder, stat.S_IFDIR) and private(empty)):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            making = folder / f".{empty.name}.{os.getpid()}.partial"
            making.unlink(missing_ok=True)
            with gradebook_class(f"sqlite:///{making}", course_id=course_id):
                pass
            os.replace(making, empty)
        if private(folder, stat.S_IFDIR) and private(empty):
            shutil.copyfile(empty, target)
    except OSError:
        target.unlink(missing_ok=True)  # nbgrader creates it


def copy_kept(digest: str, path: Path) -> bool:
    """Copy the gradebook kept for this content digest to path; False when there is none."""
    from grader.sandbox.cache import cache_root, private

    root = cache_root()
    kept = root / "gradebooks" / f"{digest}.db" if root is not None else None
    if kept is None or not (private(kept.parent, stat.S_IFDIR) and private(kept)):
        return False
    partial = path.with_name(path.name + ".partial")
    try:
        shutil.copyfile(kept, partial)
        os.replace(partial, path)
    except OSError:
        partial.unlink(missing_ok=True)
        return False
    return True


def keep(digest: str, path: Path) -> None:
    """Keep a copy of a written gradebook under its content digest; drop all but the newest KEPT."""
    from grader.sandbox.cache import cache_root

    root = cache_root()
    if root is None:
        return
    folder = root / "gradebooks"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        partial = folder / f".{digest}.{os.getpid()}.partial"
        shutil.copyfile(path, partial)
        os.replace(partial, folder / f"{digest}.db")
        books = sorted((p for p in folder.glob("*.db") if not p.name.startswith("empty-")), key=lambda p: p.stat().st_mtime)
        for old in books[:-KEPT]:
            old.unlink(missing_ok=True)
    except OSError:
        pass
