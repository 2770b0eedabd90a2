"""Benchmark: one MNIST epoch of the reference MLP against PyTorch on the CPU, as a ratio.

Same architecture (784-128-10, ReLU, softmax cross-entropy), batch size, learning rate, dtype
(float64, the contract's dtype) and one thread each. The two are timed in the same process and
interleaved epoch by epoch, so machine noise hits both alike; the figure that matters is the ratio
of the medians (reference / PyTorch; below 1.0 the reference is faster). Without torch installed
the PyTorch half is skipped and only the reference's seconds per epoch are printed.

    python bench/mnist_epoch.py [--epochs 3] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import time
from pathlib import Path

for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(name, "1")

import numpy as np  # noqa: E402  (after the thread settings)

KIT = Path(__file__).resolve().parent.parent


def load_solution():
    spec = importlib.util.spec_from_file_location("reference_solution", KIT / "solutions" / "exercise02.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def time_reference_epoch(ref, model, X, Y, batch_size, lr, seed):
    started = time.perf_counter()
    ref.train(model, X, Y, epochs=1, lr=lr, batch_size=batch_size, seed=seed)
    return time.perf_counter() - started


def make_torch_epoch(torch, X, Y, batch_size, lr):
    """A PyTorch model and one epoch of plain SGD on it, written the idiomatic way (autograd)."""
    torch.set_num_threads(1)
    dtype = torch.float64
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 128, dtype=dtype), torch.nn.ReLU(), torch.nn.Linear(128, 10, dtype=dtype)
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    X_t = torch.from_numpy(X)
    y_t = torch.from_numpy(np.argmax(Y, axis=1))

    def epoch(seed):
        order = torch.from_numpy(np.random.default_rng(seed).permutation(len(X)))
        started = time.perf_counter()
        for start in range(0, len(X), batch_size):
            batch = order[start : start + batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(model(X_t[batch]), y_t[batch])
            loss.backward()
            optimizer.step()
        return time.perf_counter() - started

    def accuracy(X_test, y_test):
        with torch.no_grad():
            return float((model(torch.from_numpy(X_test)).argmax(1).numpy() == y_test).mean())

    return epoch, accuracy


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.1)
    args = parser.parse_args(argv)

    ref = load_solution()
    X_train, y_train, X_test, y_test = ref.load_mnist(KIT / "data" / "mnist")
    Y_train = ref.one_hot(y_train)
    model = ref.MLP([784, 128, 10], activation="relu", loss="cross_entropy", seed=0)
    try:
        import torch
    except ImportError:
        torch = None
        print("torch is not installed: PyTorch comparison skipped (pip install torch)")
    torch_epoch = torch_accuracy = None
    if torch is not None:
        torch_epoch, torch_accuracy = make_torch_epoch(torch, X_train, Y_train, args.batch_size, args.lr)

    ref_times, torch_times = [], []
    for epoch in range(args.epochs):
        ref_times.append(time_reference_epoch(ref, model, X_train, Y_train, args.batch_size, args.lr, epoch))
        if torch_epoch is not None:
            torch_times.append(torch_epoch(epoch))
        line = f"epoch {epoch + 1}: reference {ref_times[-1]:.2f} s"
        if torch_times:
            line += f", torch {torch_times[-1]:.2f} s"
        print(line, flush=True)

    ref_acc = float(np.mean(model.predict(X_test) == y_test))
    print(f"MNIST 784-128-10 ReLU, batch {args.batch_size}, lr {args.lr}, float64, 1 thread, {len(X_train)} images/epoch")
    print(f"  reference : median {statistics.median(ref_times):.3f} s/epoch, test accuracy {100 * ref_acc:.2f} %")
    if torch_times:
        print(
            f"  torch {torch.__version__}: median {statistics.median(torch_times):.3f} s/epoch, "
            f"test accuracy {100 * torch_accuracy(X_test, y_test):.2f} %"
        )
        ratio = statistics.median(ref_times) / statistics.median(torch_times)
        print(f"  ratio reference / torch = {ratio:.2f} (target <= 1.0)")


if __name__ == "__main__":
    main()
