"""The benchmarks' own cache folder (GRADER_CACHE): what lasts on a tutor's machine, without what a grading run left.

The kit keeps in the user's cache MNIST's uncompressed copies, the empty gradebook of the nbgrader
version (seconds of alembic), answer keys by suite version and gradebooks by content. A benchmark
that grades the same generated class twice must not let the second run reuse the first run's answer
key or gradebook, nor depend on what the user's cache happens to hold: `use_folder` points
GRADER_CACHE at a bench-owned folder seeded with the lasting part only, and `forget_class` empties
it of the rest before each run that should grade from scratch.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def use_folder(folder: Path) -> Path:
    """Point GRADER_CACHE (of this process and its children) at a bench-owned folder with only a machine's
    lasting state: MNIST's uncompressed copies and the empty gradebooks, copied from the user's cache when
    they are there (else made here, outside every timed run, or by the first grading run for a gradebook)."""
    from grader.sandbox import mnist

    user = mnist.cache_root()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if user is not None and user.resolve() != folder.resolve():
        for sub, pattern in (("mnist", "*.npy"), ("gradebooks", "empty-*.db")):
            for path in (user / sub).glob(pattern) if (user / sub).is_dir() else ():
                (folder / sub).mkdir(mode=0o700, exist_ok=True)
                shutil.copyfile(path, folder / sub / path.name)
    os.environ["GRADER_CACHE"] = str(folder)
    for split, kind in mnist.FILES:
        mnist.read(split, kind)  # writes the uncompressed copies where they are missing
    return folder


def forget_class(folder: Path) -> None:
    """Drop what a grading run left in the bench cache for the next run to reuse: the answer key, the class's gradebook."""
    shutil.rmtree(folder / "answer-keys", ignore_errors=True)
    for path in (folder / "gradebooks").glob("*.db"):
        if not path.name.startswith("empty-"):
            path.unlink()
