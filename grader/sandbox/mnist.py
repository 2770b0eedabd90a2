"""The kit's own MNIST reader: the trusted way data reaches tests and the sandboxed worker.

Why not the submission's `load_mnist`: the grader must not trust student code to produce the data it
is judged on. This reader checks the SHA-256 of every uncompressed file against the sums published in
data/mnist/README.md, so a damaged or swapped file fails loudly instead of skewing scores.

Decoded files are cached per process as uint8 images and int64 labels (47 MB for the training
images); the float64 arrays are built fresh on each request, so callers may modify what they get.
Stdlib + numpy only: this module ships in the student bundle (the worker itself reads no data).

Across processes, the first decode of a file also writes an uncompressed copy (.npy) into the
user's cache folder (GRADER_CACHE, else $XDG_CACHE_HOME/exercise02-kit, else ~/.cache/exercise02-kit;
GRADER_CACHE=off disables it), named by the SHA-256 of the uncompressed data and of the .gz file
it came from. Later reads hash the .gz (a quarter of the cost of decoding it), find the copy and
memory-map it read-only instead of decompressing: a changed or damaged .gz has another hash and is
decoded (and rejected) as before. A copy is used only when it is a regular file of the expected
size owned by this user in a folder only this user can write; anything else is decoded afresh.
Where the cache cannot be written (the sandbox), reading works as without it.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import stat
import struct
import zlib
from pathlib import Path

import numpy as np

from grader.sandbox.cache import cache_root, private
from grader.sandbox.error import GraderError
from grader.sandbox.kit import KIT, MNIST

DEFAULT_DIR = KIT / MNIST
FILES = {  # name: (file, SHA-256 of the uncompressed bytes, IDX magic, count)
    ("train", "images"): (
        "train-images-idx3-ubyte.gz",
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        2051,
        60000,
    ),
    ("train", "labels"): (
        "train-labels-idx1-ubyte.gz",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        2049,
        60000,
    ),
    ("test", "images"): (
        "t10k-images-idx3-ubyte.gz",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        2051,
        10000,
    ),
    ("test", "labels"): (
        "t10k-labels-idx1-ubyte.gz",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        2049,
        10000,
    ),
}
NAMES = tuple(f"mnist/{split}/{part}" for split in ("train", "test") for part in ("X", "Y", "y"))

_cache: dict = {}


class DataError(GraderError):
    """An MNIST file is missing or damaged; the message names the file and the folder."""


def load(data_dir=None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(X_train, y_train, X_test, y_test): X float64 (N, 784) in [0, 1], y int64 (N,)."""
    return (
        dataset("mnist/train/X", data_dir),
        dataset("mnist/train/y", data_dir),
        dataset("mnist/test/X", data_dir),
        dataset("mnist/test/y", data_dir),
    )


def dataset(name: str, data_dir=None, rows: tuple[int, int] | None = None) -> np.ndarray:
    """A fresh array for one of NAMES (X images, Y one-hot float64 (N, 10), y labels), optionally rows[0]:rows[1]."""
    if name not in NAMES:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(NAMES)}")
    _, split, part = name.split("/")
    window = slice(None) if rows is None else slice(int(rows[0]), int(rows[1]))
    if part == "X":
        images = read(split, "images", data_dir)[window].astype(np.float64)
        images /= 255.0  # in place: the same values as astype(...) / 255.0 without a second 376 MB array
        return images
    labels = read(split, "labels", data_dir)[window]
    if part == "y":
        return labels.copy()
    one_hot = np.zeros((len(labels), 10), dtype=np.float64)
    one_hot[np.arange(len(labels)), labels] = 1.0
    return one_hot


def read(split: str, kind: str, data_dir=None) -> np.ndarray:
    """The decoded file (uint8 images (N, 784) or int64 labels (N,)), verified and cached; read-only."""
    folder = Path(data_dir) if data_dir is not None else DEFAULT_DIR
    key = (str(folder), split, kind)
    if key not in _cache:
        array = parse(folder, *FILES[(split, kind)])
        array.flags.writeable = False
        _cache[key] = array
    return _cache[key]


def cache_folder() -> Path | None:
    """Where uncompressed copies are kept (None: disabled)."""
    root = cache_root()
    return None if root is None else root / "mnist"


def _open_copy(copy: Path, magic: int, count: int) -> np.ndarray | None:
    if not (private(copy.parent, stat.S_IFDIR) and private(copy)):
        return None
    try:
        array = np.load(copy, mmap_mode="r", allow_pickle=False).view(np.ndarray)  # a plain array over the map
    except (OSError, ValueError):
        return None
    shape, dtype = ((count, 28 * 28), np.uint8) if magic == 2051 else ((count,), np.int64)
    return array if array.shape == shape and array.dtype == dtype else None


def _write_copy(copy: Path, array: np.ndarray) -> None:
    try:
        copy.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        partial = copy.with_name(f".{copy.name}.{os.getpid()}.partial")
        with open(partial, "wb") as handle:
            np.save(handle, array, allow_pickle=False)
        os.replace(partial, copy)
    except OSError:  # a read-only or missing cache (e.g. inside the sandbox): decoding still works
        pass


def parse(folder: Path, file_name: str, sha256: str, magic: int, count: int) -> np.ndarray:
    """The verified array of one file: from its uncompressed copy when there is one, else decoded (and copied)."""
    path = folder / file_name
    try:
        packed = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"MNIST file {file_name} is missing from {folder}") from None
    except OSError as error:
        raise DataError(f"MNIST file {file_name} in {folder} is damaged ({error})") from None
    cache = cache_folder()
    copy = cache / f"{sha256}-{hashlib.sha256(packed).hexdigest()[:32]}.npy" if cache is not None else None
    if copy is not None and (array := _open_copy(copy, magic, count)) is not None:
        return array
    array = decode(folder, file_name, packed, sha256, magic, count)
    if copy is not None:
        _write_copy(copy, array)
    return array


def decode(folder: Path, file_name: str, packed: bytes, sha256: str, magic: int, count: int) -> np.ndarray:
    try:
        raw = gzip.decompress(packed)
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(f"MNIST file {file_name} in {folder} is damaged ({error})") from None
    if hashlib.sha256(raw).hexdigest() != sha256:
        raise DataError(
            f"MNIST file {file_name} in {folder} is damaged: its SHA-256 does not match data/mnist/README.md"
        )
    found_magic, found_count = struct.unpack_from(">II", raw, 0)
    if (found_magic, found_count) != (magic, count):  # unreachable with the right hash; kept for clarity
        raise DataError(f"MNIST file {file_name} in {folder} has an unexpected IDX header")
    if magic == 2051:
        return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(count, 28 * 28)
    return np.frombuffer(raw, dtype=np.uint8, offset=8).astype(np.int64)
