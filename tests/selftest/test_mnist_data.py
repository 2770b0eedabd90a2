"""Self-tests of the MNIST data and of the solution's load_mnist (the one students get as given code).

The expected figures come from data/mnist/README.md, so the README, the files and both loaders
(the solution's and the grader's trusted grader/sandbox/mnist.py) are checked against each other.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

KIT = Path(__file__).resolve().parents[2]
DATA = KIT / "data" / "mnist"
README = (DATA / "README.md").read_text()
FILES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


def readme_counts(split: str) -> list[int]:
    match = re.search(rf"{split} \[([\d\s]+)\]", README)
    assert match, f"data/mnist/README.md lists no class counts for {split}"
    return [int(n) for n in match.group(1).split()]


def readme_sha256() -> dict[str, str]:
    """{'train-images-idx3-ubyte.gz': sha256 of the uncompressed bytes, ...} from the README."""
    pairs = re.findall(r"^\s+([0-9a-f]{64})\s+(\S+)$", README, flags=re.M)
    return {name + ".gz": digest for digest, name in pairs}


@pytest.fixture(scope="module")
def solution():
    spec = importlib.util.spec_from_file_location("exercise02_solution_mnist", KIT / "solutions" / "exercise02.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def arrays(solution):
    return solution.load_mnist()


# --------------------------------------------------------------------------- the data as loaded


def test_load_mnist_shapes_and_dtypes(arrays):
    """Does load_mnist return X float64 (N, 784) and y int64 (N,) for 60 000 / 10 000 images?"""
    X_train, y_train, X_test, y_test = arrays
    assert X_train.shape == (60000, 784) and X_test.shape == (10000, 784)
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    assert X_train.dtype == X_test.dtype == np.float64
    assert y_train.dtype == y_test.dtype == np.int64


def test_load_mnist_ranges(arrays):
    """Are the pixels in [0, 1] (both ends reached) and the labels 0-9?"""
    X_train, y_train, X_test, y_test = arrays
    for X in (X_train, X_test):
        assert X.min() == 0.0 and X.max() == 1.0
    for y in (y_train, y_test):
        assert set(np.unique(y)) == set(range(10))


def test_load_mnist_class_counts(arrays):
    """Are the class counts those of data/mnist/README.md?"""
    _, y_train, _, y_test = arrays
    assert np.bincount(y_train, minlength=10).tolist() == readme_counts("train")
    assert np.bincount(y_test, minlength=10).tolist() == readme_counts("test")


def test_load_mnist_mean_pixel(arrays):
    """Is the mean pixel value (0-255 scale) the README's 33.3184 (train) and 33.7912 (test)?"""
    X_train, _, X_test, _ = arrays
    means = re.search(r"train ([\d.]+), test ([\d.]+)\.", README.replace("\n", " "))
    assert means, "data/mnist/README.md states no mean pixel values"
    assert 255 * X_train.mean() == pytest.approx(float(means.group(1)), abs=1e-4)
    assert 255 * X_test.mean() == pytest.approx(float(means.group(2)), abs=1e-4)


def test_solution_checksums_match_readme(solution):
    """Does the solution check the SHA-256 sums that data/mnist/README.md publishes?"""
    assert solution.MNIST_FILES == readme_sha256()
    assert list(solution.MNIST_FILES) == FILES


# --------------------------------------------------------------------------- missing and damaged files


@pytest.fixture
def data_copy(tmp_path):
    folder = tmp_path / "mnist"
    shutil.copytree(DATA, folder)
    return folder


def assert_helpful(message: str, file_name: str, folder: Path):
    assert file_name in message, f"the message does not name the file: {message}"
    assert str(folder) in message, f"the message does not name the folder: {message}"
    assert "data/mnist" in message and "bundle" in message, f"the message does not say how to get the file: {message}"


def test_missing_file_is_explained(solution, data_copy):
    """Does a missing file raise an error naming the file, the folder and where to get it?"""
    (data_copy / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(OSError) as error:
        solution.load_mnist(data_copy)
    assert "missing" in str(error.value)
    assert_helpful(str(error.value), "t10k-images-idx3-ubyte.gz", data_copy)


def truncate(path: Path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def flip_byte(path: Path):
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))


def flip_content(path: Path):
    """Re-compress with the last byte changed: a well-formed gzip file whose content is wrong."""
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[-1] ^= 0x01
    path.write_bytes(gzip.compress(bytes(raw)))


@pytest.mark.parametrize(
    "damage, file_name",
    [(truncate, "train-labels-idx1-ubyte.gz"), (flip_byte, "t10k-images-idx3-ubyte.gz"),
     (flip_content, "t10k-labels-idx1-ubyte.gz")],
    ids=["truncated", "flipped-byte", "wrong-content"],
)
def test_damaged_file_is_explained(solution, data_copy, damage, file_name):
    """Does a damaged file (truncated, a flipped byte, valid gzip with wrong content) raise an error naming the file, the folder and where to get it?"""
    damage(data_copy / file_name)
    with pytest.raises(OSError) as error:
        solution.load_mnist(data_copy)
    assert "damaged" in str(error.value)
    assert_helpful(str(error.value), file_name, data_copy)


# --------------------------------------------------------------------------- the grader's trusted reader


def test_grader_reader_agrees_with_solution(arrays, solution):
    """Do grader/sandbox/mnist.py and the solution's load_mnist give identical arrays and carry the same checksums?"""
    mnist = pytest.importorskip("grader.sandbox.mnist", reason="grader/sandbox/mnist.py is not in this checkout")
    checksums = {spec[0]: spec[1] for spec in mnist.FILES.values()}
    assert checksums == solution.MNIST_FILES == readme_sha256()
    for ours, theirs in zip(arrays, mnist.load(DATA)):
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
        assert np.array_equal(ours, theirs)
    Y = mnist.dataset("mnist/test/Y", DATA)
    assert np.array_equal(Y, solution.one_hot(arrays[3]))


def test_readme_sums_match_the_files():
    """Do the shipped files hash to the SHA-256 sums of data/mnist/README.md?"""
    for name, digest in readme_sha256().items():
        assert hashlib.sha256(gzip.decompress((DATA / name).read_bytes())).hexdigest() == digest, name
