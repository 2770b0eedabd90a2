"""The trusted MNIST reader's uncompressed, memory-mapped copies (grader/sandbox/mnist.py)."""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from grader.sandbox import mnist

DATA = Path(__file__).resolve().parents[2] / "data" / "mnist"
TEST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


@pytest.fixture
def setup(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    folder.mkdir()
    for name in TEST_FILES:
        shutil.copyfile(DATA / name, folder / name)
    monkeypatch.setenv("GRADER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(mnist, "_cache", {})
    return folder, tmp_path / "cache" / "mnist"


def fresh(folder: Path, name: str) -> np.ndarray:
    mnist._cache.clear()  # as a new process would
    return mnist.dataset(name, folder)


def test_copy_is_made_once_and_gives_the_same_arrays(setup):
    """Does the second read come from a memory-mapped copy, with arrays equal to the decoded ones?"""
    folder, cache = setup
    decoded = {name: fresh(folder, name) for name in ("mnist/test/X", "mnist/test/Y", "mnist/test/y")}
    copies = sorted(cache.glob("*.npy"))
    assert len(copies) == 2 and (os.stat(cache).st_mode & 0o777) == 0o700
    stamps = [p.stat().st_mtime_ns for p in copies]
    for name, array in decoded.items():
        again = fresh(folder, name)
        assert again.dtype == array.dtype and np.array_equal(again, array)
        assert type(again) is np.ndarray and again.flags.writeable  # callers get their own array
    assert [p.stat().st_mtime_ns for p in sorted(cache.glob("*.npy"))] == stamps, "copies were rewritten"
    raw = mnist.read("test", "images", folder)
    assert isinstance(raw.base, np.memmap) or isinstance(getattr(raw.base, "base", None), np.memmap)


def test_damaged_file_is_rejected_even_with_a_copy(setup):
    """Once a copy exists, is a damaged or swapped .gz still refused with the same message?"""
    folder, cache = setup
    fresh(folder, "mnist/test/y")
    path = folder / "t10k-labels-idx1-ubyte.gz"
    labels = bytearray(gzip.decompress(path.read_bytes()))
    labels[100] = (labels[100] + 1) % 10
    path.write_bytes(gzip.compress(bytes(labels)))
    with pytest.raises(mnist.DataError, match="SHA-256 does not match"):
        fresh(folder, "mnist/test/y")
    path.unlink()
    with pytest.raises(mnist.DataError, match="missing"):
        fresh(folder, "mnist/test/y")


def test_copy_writable_by_others_is_not_used(setup):
    """Is a copy that someone else could have written ignored (decoded afresh) rather than trusted?"""
    folder, cache = setup
    expected = fresh(folder, "mnist/test/y")
    (copy,) = [p for p in cache.glob("*.npy") if p.stat().st_size < 100_000]
    forged = np.zeros(10000, dtype=np.int64)
    np.save(copy, forged)
    os.chmod(copy, 0o666)
    assert np.array_equal(fresh(folder, "mnist/test/y"), expected)


def test_cache_off_and_unwritable_cache_still_read(setup, monkeypatch, tmp_path):
    """With GRADER_CACHE=off, or a cache that cannot be created, is the data read as before?"""
    folder, cache = setup
    monkeypatch.setenv("GRADER_CACHE", "off")
    assert fresh(folder, "mnist/test/y").shape == (10000,) and not cache.exists()
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("GRADER_CACHE", str(blocker))
    assert fresh(folder, "mnist/test/y").shape == (10000,)
