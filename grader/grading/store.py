"""The store: each submission's Result kept under <out>/results/, keyed by what could change it.

A result is valid for exactly one key: the content of the submission's files (code, plots,
REPORT.md, members.txt) and the suite's version (the hidden tests, tests/conftest.py, the trusted
grader modules that run them, and the solution). Files are written atomically (tmp + os.replace),
one per submission, so a run that is interrupted anywhere (Ctrl-C, SIGKILL) leaves either the old
file or the new one: running again continues where it stopped and duplicates nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

from grader.grading.results import GRADED, Result
from grader.sandbox.cache import cache_root, private

# Kit modules whose code can change a verdict: the whole sandbox runtime plus the trusted pytest side.
SUITE_MODULES = ("grading/plugin.py", "grading/harness.py", "grading/runner.py", "grading/results.py")
REFERENCE = "_reference"  # the answer key's file name; submission ids never start with "_"


def suite_version(kit: Path, suite: Path, solution: Path) -> str:
    """A hash of everything that decides a grade besides the submission itself."""
    paths = sorted(p for p in Path(suite).rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    paths += [Path(kit) / "tests" / "conftest.py", Path(kit) / "tests" / "allowed_imports.txt", Path(solution)]
    paths += [Path(kit) / "grader" / name for name in SUITE_MODULES]
    paths += sorted((Path(kit) / "grader" / "sandbox").glob("*.py"))
    digest = hashlib.sha256(b"exercise02-suite-v1\0")
    for path in paths:
        digest.update(str(path.relative_to(kit) if path.is_relative_to(kit) else path.name).encode() + b"\0")
        digest.update(path.read_bytes() if path.is_file() else b"<absent>")
        digest.update(b"\0")
    return digest.hexdigest()


def submission_key(files: list[Path], folder: Path, version: str) -> str:
    """The key of one submission's result: its files' names and contents, and the suite's version."""
    digest = hashlib.sha256(version.encode() + b"\0")
    for path in files:
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


class Store:
    """<out>/results/<submission id>.json, each holding the Result and the key it was computed for."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def path(self, submission: str) -> Path:
        return self.folder / f"{submission}.json"

    def get(self, submission: str, key: str) -> Result | None:
        """The kept result when it was computed for this key, else None (also for a damaged file)."""
        try:
            data = json.loads(self.path(submission).read_text())
            result = Result.from_json(data)
        except (OSError, ValueError, TypeError, KeyError):
            return None
        return result if result.key == key else None

    def put(self, result: Result) -> None:
        target = self.path(result.submission)
        partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
        with open(partial, "w") as handle:
            json.dump(result.to_json(), handle, indent=1, allow_nan=False)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, target)

    def prune(self, keep: set[str]) -> None:
        """Forget results of submissions no longer in the class, and leftovers of interrupted writes.

        Only files this store wrote go: a partial write by its name, a result by its content (a kept
        Result of that submission); any other file in the folder is left alone.
        """
        for path in self.folder.iterdir():
            if path.stem == REFERENCE or not path.is_file():
                continue
            if path.name.startswith(".") and path.name.endswith(".partial"):
                path.unlink(missing_ok=True)
            elif path.suffix == ".json" and path.stem not in keep and self._ours(path):
                path.unlink(missing_ok=True)

    def _ours(self, path: Path) -> bool:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return False
        return isinstance(data, dict) and data.get("submission") == path.stem and isinstance(data.get("key"), str)


def kept_key(key: str, backend: str | None) -> Result | None:
    """An answer key kept by an earlier run (any output folder) for this key and backend, from the user's cache."""
    root = cache_root()
    name = f"{key}-{backend or 'default'}"
    path = root / "answer-keys" / f"{name}.json" if root is not None else None
    if path is None or not (private(path.parent, stat.S_IFDIR) and private(path)):
        return None
    result = Store(path.parent).get(name, key)
    return result if result is not None and result.submission == REFERENCE else None


def keep_key(reference: Result, backend: str | None) -> None:
    """Keep a clean answer key for other output folders (nothing when the cache cannot be written)."""
    root = cache_root()
    if root is None or reference.status != GRADED or reference.reason:
        return
    try:
        folder = root / "answer-keys"
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        name = f"{reference.key}-{backend or 'default'}"
        partial = folder / f".{name}.{os.getpid()}.partial"
        partial.write_text(json.dumps(reference.to_json(), allow_nan=False))
        os.replace(partial, folder / f"{name}.json")
    except OSError:
        pass
