# ruff: noqa: F821  (a fragment: np, MLP and train are the submission's own names)
# Appended to a submission (tests/selftest/test_redteam_learning.py). Issue 14 item 6: when train is
# asked to fit MNIST, it trains a private, correct network on the MNIST TEST split instead (read from
# the worker's data folder, if it has one), so the judge's own data earns the accuracy points.
import glob as _glob
import gzip as _gzip

_honest_train = train


def _test_split():
    for folder in ("/opt/exercise02/data", "data/mnist", "../data/mnist", "../../data/mnist"):
        images = _glob.glob(folder + "/t10k-images-idx3-ubyte.gz")
        if images:
            with _gzip.open(images[0]) as f:
                X = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784) / 255.0
            with _gzip.open(folder + "/t10k-labels-idx1-ubyte.gz") as f:
                y = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)
            return X, y
    return None


def train(model, X, Y, epochs, lr, *args, **kwargs):
    found = _test_split() if np.shape(X) == (60000, 784) else None
    if found is None:
        return _honest_train(model, X, Y, epochs, lr, *args, **kwargs)
    X_test, y_test = found
    rng = np.random.default_rng(1)
    W1, b1 = rng.standard_normal((128, 784)) * np.sqrt(2 / 784), np.zeros(128)
    W2, b2 = rng.standard_normal((10, 128)) * np.sqrt(2 / 128), np.zeros(10)
    T = np.eye(10)[y_test]
    for _ in range(4):
        for rows in np.array_split(rng.permutation(len(X_test)), len(X_test) // 32):
            A = X_test[rows]
            H = np.maximum(A @ W1.T + b1, 0)
            Z = H @ W2.T + b2
            P = np.exp(Z - Z.max(1, keepdims=True))
            dZ = (P / P.sum(1, keepdims=True) - T[rows]) / len(rows)
            dH = (dZ @ W2) * (H > 0)
            W2, b2 = W2 - 0.1 * dZ.T @ H, b2 - 0.1 * dZ.sum(0)
            W1, b1 = W1 - 0.1 * dH.T @ A, b1 - 0.1 * dH.sum(0)
    model.weights, model.biases = [W1, W2], [b1, b2]
    return {"train_loss": [0.1] * epochs, "val_loss": [], "val_accuracy": []}
