"""Self-tests of examples/xor_pure_python.py: it learns XOR, its backward is right, and it needs no NumPy."""

from __future__ import annotations

import ast
import importlib.util
import random
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "xor_pure_python.py"


@pytest.fixture(scope="module")
def xor():
    spec = importlib.util.spec_from_file_location("xor_pure_python", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_uses_no_numpy():
    """Does the example import only the standard library (no numpy)?"""
    tree = ast.parse(EXAMPLE.read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    imported.discard("__future__")
    assert imported <= set(sys.stdlib_module_names), f"non-stdlib imports: {sorted(imported - set(sys.stdlib_module_names))}"


@pytest.mark.parametrize("seed", range(5))
def test_net_learns_xor(xor, seed):
    """Does the pure-Python net put all four XOR outputs on the right side of 0.5 (seeds 0-4)?"""
    net = xor.Net(random.Random(seed))
    losses = net.train(xor.XOR_X, xor.XOR_Y, epochs=1500, lr=2.0)
    output = [row[0] for row in net.forward(xor.XOR_X).rows]
    assert net.pred(xor.XOR_X) == [0, 1, 1, 0], f"seed {seed}: outputs {output}, final loss {losses[-1]:.4g}"
    assert losses[-1] < 0.005, f"seed {seed}: final loss {losses[-1]:.4g}, expected < 0.005"
    assert losses[-1] < losses[0], "the loss went up: the update steps up the gradient"


def test_same_seed_same_net(xor):
    """Does the net depend only on the random.Random it is given (no global seeding)?"""
    random.seed(1)
    a = xor.Net(random.Random(7))
    random.seed(2)
    b = xor.Net(random.Random(7))
    assert a.W1.tolist() == b.W1.tolist() and a.b2.tolist() == b.b2.tolist()
    assert xor.Net(random.Random(8)).W1.tolist() != a.W1.tolist()


@pytest.mark.parametrize("hidden", ["tanh", "sigmoid"])
def test_backward_matches_finite_differences(xor, hidden):
    """Does backward give the finite-difference slope of the loss for every weight and bias?"""
    net = xor.Net(random.Random(3), n_in=2, n_hidden=3, n_out=2, hidden=hidden)  # nothing square
    X = xor.Matrix([[0.5, -1.0], [1.5, 0.2], [-0.3, 0.8], [1.0, 1.0]])  # (4, 2)
    Y = xor.Matrix([[0, 1], [1, 0], [1, 1], [0, 0]])  # (4, 2)
    net.forward(X)
    net.backward(Y)
    h = 1e-6
    for name in ("W1", "b1", "W2", "b2"):
        P = getattr(net, name)
        grad = getattr(net, "d" + name)
        assert grad.shape == P.shape, f"d{name} has shape {grad.shape}, {name} has {P.shape}"
        for i in range(P.shape[0]):
            for j in range(P.shape[1]):
                old = P[i][j]
                P[i][j] = old + h
                net.forward(X)
                up = net.loss(Y)
                P[i][j] = old - h
                net.forward(X)
                down = net.loss(Y)
                P[i][j] = old
                slope = (up - down) / (2 * h)
                assert grad[i][j] == pytest.approx(slope, rel=1e-5, abs=1e-9), f"d{name}[{i}][{j}]"


def test_script_prints_predictions():
    """Does `python examples/xor_pure_python.py` print the four right predictions?"""
    done = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for line in ("0 xor 0", "0 xor 1", "1 xor 0", "1 xor 1"):
        assert line in done.stdout, done.stdout
    predicted = [line.rsplit("predicts ", 1)[1].rstrip(")") for line in done.stdout.splitlines() if "predicts" in line]
    assert predicted == ["0", "1", "1", "0"], done.stdout
