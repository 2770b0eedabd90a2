"""The lecture's XOR network in pure Python (no NumPy): a corrected version of the slides' code.

Run it:

    python examples/xor_pure_python.py            # trains a 2-4-1 net and prints the four predictions
    python examples/xor_pure_python.py --seed 3

Notation as in the exercise: a batch X holds one sample per row (N, n_in); a layer computes
X_l = f(X_{l-1} @ W_l.T + b_l) with W_l of shape (n_out, n_in); dX means dL/dX. The loss is the
exercise's mse_loss, sum((y_hat - y)^2) / (2N).

The slides' version has three mistakes, each fixed here and marked with a comment "SLIDES:":
1. the hidden deltas index the output weights transposed (W2[j][k] instead of W2[k][j]);
2. the hidden deltas use the derivative of the output activation instead of the hidden one's;
3. the update adds the gradient (steps up the loss) instead of subtracting it.
"""

from __future__ import annotations

import argparse
import math
import random


class Matrix:
    """A small dense matrix as a list of rows; just enough linear algebra for a tiny network."""

    def __init__(self, rows):
        self.rows = [[float(v) for v in row] for row in rows]

    @classmethod
    def zeros(cls, n, m):
        return cls([[0.0] * m for _ in range(n)])

    @classmethod
    def uniform(cls, n, m, rng, limit=1.0):
        """Entries drawn from U(-limit, limit) with the given random.Random."""
        return cls([[rng.uniform(-limit, limit) for _ in range(m)] for _ in range(n)])

    @property
    def shape(self):
        return (len(self.rows), len(self.rows[0]) if self.rows else 0)

    def __getitem__(self, i):
        return self.rows[i]

    def __matmul__(self, other):
        """Matrix product (n, k) @ (k, m) -> (n, m)."""
        n, k = self.shape
        k2, m = other.shape
        if k != k2:
            raise ValueError(f"cannot multiply {self.shape} by {other.shape}")
        cols = other.T.rows  # (m, k)
        return Matrix([[sum(a * b for a, b in zip(row, col)) for col in cols] for row in self.rows])

    @property
    def T(self):
        """The transpose (m, n) of an (n, m) matrix."""
        return Matrix(list(zip(*self.rows)))

    def map(self, f):
        """f applied to every entry."""
        return Matrix([[f(v) for v in row] for row in self.rows])

    def zip_with(self, other, f):
        """f(a, b) entry by entry; `other` of the same shape, or one row (1, m) repeated for every row."""
        other_rows = other.rows * len(self.rows) if other.shape[0] == 1 else other.rows
        if len(other_rows) != len(self.rows) or other.shape[1] != self.shape[1]:
            raise ValueError(f"shapes {self.shape} and {other.shape} do not match")
        return Matrix([[f(a, b) for a, b in zip(r, s)] for r, s in zip(self.rows, other_rows)])

    def __add__(self, other):
        return self.zip_with(other, lambda a, b: a + b)

    def __sub__(self, other):
        return self.zip_with(other, lambda a, b: a - b)

    def __mul__(self, other):
        """Element-wise product with a matrix, or product with a number."""
        if isinstance(other, (int, float)):
            return self.map(lambda v: v * other)
        return self.zip_with(other, lambda a, b: a * b)

    __rmul__ = __mul__

    def sum_rows(self):
        """The column sums as one row (1, m): the sum over the batch."""
        return Matrix([[sum(col) for col in zip(*self.rows)]])

    def tolist(self):
        return [list(row) for row in self.rows]

    def __repr__(self):
        return f"Matrix({self.tolist()})"


def linear(X, W, b):
    """X (N, n_in) @ W.T (n_in, n_out) + b (1, n_out) -> (N, n_out)."""
    return X @ W.T + b


def sigmoid(z):
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)  # z < 0: no overflow
    return e / (1.0 + e)


def sigmoid_grad(z):
    s = sigmoid(z)
    return s * (1.0 - s)


def tanh(z):
    return math.tanh(z)


def tanh_grad(z):
    return 1.0 - math.tanh(z) ** 2


ACTIVATIONS = {"sigmoid": (sigmoid, sigmoid_grad), "tanh": (tanh, tanh_grad)}


class Net:
    """A 2-H-1 network: tanh (or sigmoid) hidden layer, sigmoid output, loss sum((y_hat - y)^2) / (2N)."""

    def __init__(self, rng, n_in=2, n_hidden=4, n_out=1, hidden="tanh"):
        self.f, self.f_grad = ACTIVATIONS[hidden]  # hidden activation
        self.g, self.g_grad = sigmoid, sigmoid_grad  # output activation
        self.W1 = Matrix.uniform(n_hidden, n_in, rng)  # (H, n_in)
        self.b1 = Matrix.uniform(1, n_hidden, rng)  # (1, H)
        self.W2 = Matrix.uniform(n_out, n_hidden, rng)  # (n_out, H)
        self.b2 = Matrix.uniform(1, n_out, rng)  # (1, n_out)

    def forward(self, X):
        """X (N, n_in) -> output (N, n_out); keeps what backward needs."""
        self.X = X  # (N, n_in)
        self.Z1 = linear(X, self.W1, self.b1)  # (N, H)
        self.A1 = self.Z1.map(self.f)  # (N, H)
        self.Z2 = linear(self.A1, self.W2, self.b2)  # (N, n_out)
        self.Y_hat = self.Z2.map(self.g)  # (N, n_out)
        return self.Y_hat

    def loss(self, Y):
        """sum((y_hat - y)^2) / (2N) for the latest forward."""
        n = len(Y.rows)
        return sum(v * v for row in (self.Y_hat - Y).rows for v in row) / (2 * n)

    def backward(self, Y):
        """The gradients dW1, db1, dW2, db2 of the loss for the latest forward."""
        n = len(Y.rows)
        dY_hat = (self.Y_hat - Y) * (1.0 / n)  # (N, n_out)
        dZ2 = dY_hat * self.Z2.map(self.g_grad)  # (N, n_out), the output deltas
        self.dW2 = dZ2.T @ self.A1  # (n_out, H)
        self.db2 = dZ2.sum_rows()  # (1, n_out)

        # The hidden deltas, written as loops like on the slides: dZ1 = (dZ2 @ W2) * f'(Z1).
        n_hidden, n_out = self.W1.shape[0], self.W2.shape[0]
        dZ1 = Matrix.zeros(n, n_hidden)  # (N, H)
        for i in range(n):
            for j in range(n_hidden):
                # SLIDES: summed dZ2[i][k] * W2[j][k], the indices transposed. W2 is (n_out, H), so
                # the weight from hidden unit j to output k is W2[k][j].
                dA1 = sum(dZ2[i][k] * self.W2[k][j] for k in range(n_out))
                # SLIDES: multiplied by the output activation's derivative g'. A hidden unit's
                # delta needs the derivative of its own activation, f'(Z1).
                dZ1[i][j] = dA1 * self.f_grad(self.Z1[i][j])
        self.dW1 = dZ1.T @ self.X  # (H, n_in)
        self.db1 = dZ1.sum_rows()  # (1, H)

    def step(self, lr):
        """One step of gradient descent on every parameter."""
        # SLIDES: W + lr * dW, a step up the loss. Gradient descent subtracts: p <- p - lr * dp.
        self.W1 = self.W1 - lr * self.dW1  # (H, n_in)
        self.b1 = self.b1 - lr * self.db1  # (1, H)
        self.W2 = self.W2 - lr * self.dW2  # (n_out, H)
        self.b2 = self.b2 - lr * self.db2  # (1, n_out)

    def train(self, X, Y, epochs=2000, lr=2.0):
        """Full-batch gradient descent; returns the loss of every epoch."""
        losses = []
        for _ in range(epochs):
            self.forward(X)
            losses.append(self.loss(Y))
            self.backward(Y)
            self.step(lr)
        return losses

    def pred(self, X):
        """Class 0 or 1 for every row: the output thresholded at 0.5."""
        return [int(row[0] > 0.5) for row in self.forward(X).rows]


XOR_X = Matrix([[0, 0], [0, 1], [1, 0], [1, 1]])  # (4, 2)
XOR_Y = Matrix([[0], [1], [1], [0]])  # (4, 1)


def main(argv=None):
    parser = argparse.ArgumentParser(description="XOR with a 2-4-1 network in pure Python.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=2000)
    parser.add_argument("--lr", type=float, default=2.0)
    args = parser.parse_args(argv)
    net = Net(random.Random(args.seed))
    losses = net.train(XOR_X, XOR_Y, epochs=args.epochs, lr=args.lr)
    output = net.forward(XOR_X)
    print(f"XOR 2-4-1 (tanh hidden, sigmoid output), {args.epochs} epochs, lr {args.lr}: "
          f"loss {losses[0]:.4f} -> {losses[-1]:.4f}")
    for x, y, p in zip(XOR_X.rows, output.rows, net.pred(XOR_X)):
        print(f"  {int(x[0])} xor {int(x[1])} -> {y[0]:.3f} (predicts {p})")


if __name__ == "__main__":
    main()
