"""The MNIST test's secret encoding (tests/hidden/test_training.py): computed cheaply, the same map as written.

The map is written here once more the plain way (pixels / 255 in float64, permuted, each block of 16
rotated by einsum, the training inputs then rounded to float32), and the suite's batched version must give
the same numbers to rounding: the same secret draws, rows, permutation and rotations, so the accuracies the
MNIST test judges do not move.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

KIT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def suite(request):
    mp = pytest.MonkeyPatch()
    mp.syspath_prepend(str(KIT / "tests" / "hidden"))  # its helpers: check, reference, replay
    request.addfinalizer(mp.undo)
    spec = importlib.util.spec_from_file_location("encoding_hidden_training", KIT / "tests" / "hidden" / "test_training.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mixed_plainly(images, pixels, rotations) -> np.ndarray:
    """The map written the plain way: float64 pixels / 255, permuted, block b times rotations[b] (einsum)."""
    X = np.take(images, pixels, axis=1).astype(np.float64) / 255.0
    blocks = X.reshape(len(X), len(rotations), -1)
    return np.einsum("nbi,bji->nbj", blocks, rotations).reshape(len(X), -1)


def encoded_plainly(suite, secret, data_dir, per_class):
    """encoded_mnist written the plain way: the same draws from `secret` in the same order."""
    from grader.sandbox import mnist

    pixels, classes = secret.permutation(28 * 28), secret.permutation(10)
    rotations = suite.orthogonal_blocks(secret, 28 * 28 // suite.MNIST_BLOCK, suite.MNIST_BLOCK)
    labels = mnist.read("train", "labels", data_dir)
    rows = np.concatenate([secret.choice(np.flatnonzero(labels == c), per_class, replace=False) for c in range(10)])
    rows = rows[secret.permutation(len(rows))]
    X_train = mixed_plainly(mnist.read("train", "images", data_dir)[rows], pixels, rotations).astype(np.float32)
    test_rows = np.sort(secret.choice(len(mnist.read("test", "labels", data_dir)), suite.MNIST_TEST, replace=False))
    X_test = mixed_plainly(mnist.read("test", "images", data_dir)[test_rows], pixels, rotations).astype(np.float32)
    return X_train, np.eye(10)[classes[labels[rows]]], X_test, classes[mnist.read("test", "labels", data_dir)[test_rows]]


def test_mix_pixels_is_the_plain_map(suite):
    """Does the batched mix give the plain formula's values (float64 to 1e-12, float32 to its rounding), in C order?"""
    rng = np.random.default_rng(7)
    images = rng.integers(0, 256, (300, 784), dtype=np.uint8)
    pixels = rng.permutation(784)
    rotations = suite.orthogonal_blocks(rng, 49, 16)
    want = mixed_plainly(images, pixels, rotations)
    got64 = suite.mix_pixels(images, pixels, rotations)
    got32 = suite.mix_pixels(images, pixels, rotations, np.float32)
    assert got64.dtype == np.float64 and got32.dtype == np.float32
    assert got64.flags.c_contiguous and got32.flags.c_contiguous
    assert np.abs(got64 - want).max() < 1e-12
    assert np.abs(got32 - want).max() < 1e-6
    norms = np.linalg.norm(images.astype(np.float64) / 255.0, axis=1)
    assert np.allclose(np.linalg.norm(got64, axis=1), norms)  # orthogonal: each row keeps its length


def test_encoded_mnist_equals_the_plain_encoding(suite):
    """For one secret, are the training and test inputs, labels and rows encoded_mnist returns the plain ones?"""
    data_dir = KIT / "data" / "mnist"
    got = suite.encoded_mnist(np.random.default_rng(11), data_dir, per_class=200)
    want = encoded_plainly(suite, np.random.default_rng(11), data_dir, per_class=200)
    assert got[0].dtype == np.float32 and got[0].flags.c_contiguous and got[0].shape == (2000, 784)
    assert got[2].dtype == np.float32 and got[2].shape == (suite.MNIST_TEST, 784)
    assert np.abs(got[0] - want[0]).max() < 1e-6
    assert np.abs(got[2] - want[2]).max() < 1e-6
    assert np.array_equal(got[1], want[1]) and np.array_equal(got[3], want[3])
