"""The two losses and their gradients with respect to the network output.

Both average over the N rows of a batch: mse_loss = sum((y_hat - y)^2) / (2N) and
cross_entropy_loss = -sum(y * log softmax(logits)) / N for one-hot y.
"""

import warnings

import numpy as np

H = 1e-6  # step of the centred differences


def one_hot_rows(rng, n, k):
    return np.eye(k)[rng.integers(0, k, n)]  # (n, k)


def true_cross_entropy(logits, y):
    shifted = logits - logits.max(axis=1, keepdims=True)  # (N, K)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # (N, K)
    return -np.sum(y * log_p) / len(logits)


# --------------------------------------------------------------------------- mse


def test_mse_loss_value(student, check):
    """Does mse_loss return sum((y_hat - y)^2) / (2N), N the number of rows (not the N * K entries)?"""
    y_hat = np.array([[0.5, 1.0, 0.0, 2.0], [2.0, -1.0, 1.0, 0.0], [0.0, 0.0, 3.0, 1.0]])  # (N=3, K=4)
    y = np.array([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 1.0, 1.0, 1.0]])  # (3, 4)
    # squared errors 0.25 + 0 + 0 + 4 + 4 + 1 + 0 + 0 + 0 + 1 + 4 + 0 = 14.25; / (2 * 3) = 2.375
    # (np.mean over the 12 entries would give 14.25 / 12 = 1.1875, half of it: K = 4, not 2)
    check.number(student.mse_loss(y_hat, y), 14.25 / 6, call="mse_loss(y_hat, y) for N = 3 rows, K = 4 outputs",
                 hint="Look at mse_loss: sum over all entries of (y_hat - y)^2, divided by 2N "
                      "with N the number of rows (y_hat.shape[0]), not the number of entries.")


def test_mse_loss_grad(student, check, rng, slopes):
    """Does mse_loss_grad return (y_hat - y) / N, the slope of mse_loss?"""
    y_hat, y = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))  # (N, K)
    A = y_hat.copy()  # (N, K), perturbed entry by entry
    expected = slopes(lambda: np.sum((A - y) ** 2) / (2 * len(A)), A, H)
    check.array(student.mse_loss_grad(y_hat, y), expected, call="mse_loss_grad(y_hat, y) for N = 5 rows",
                rtol=1e-6, atol=1e-8,
                hint="Look at mse_loss_grad: (y_hat - y) / N, same shape as y_hat; the 2 of the square "
                     "cancels the 2 in 2N.")


# --------------------------------------------------------------------------- cross-entropy


def test_cross_entropy_loss_value(student, check, rng):
    """Does cross_entropy_loss return -sum(y * log softmax(logits)) / N?"""
    logits = rng.normal(0, 2, (6, 4))  # (N, K)
    y = one_hot_rows(rng, 6, 4)  # (N, K)
    check.number(student.cross_entropy_loss(logits, y), true_cross_entropy(logits, y),
                 call="cross_entropy_loss(logits, y) for N = 6, K = 4",
                 hint="Look at cross_entropy_loss: apply softmax to the logits row by row, take the log "
                      "of the probability of each row's true class, sum, and divide by -N.")


def test_cross_entropy_loss_uniform(student, check):
    """Does cross_entropy_loss give ln(10) = 2.3026 when all 10 logits are equal?"""
    logits = np.zeros((3, 10))  # (N, K)
    y = np.eye(10)[[0, 4, 9]]  # (N, K)
    check.number(student.cross_entropy_loss(logits, y), np.log(10),
                 call="cross_entropy_loss(zeros((3, 10)), y)",
                 hint="Look at cross_entropy_loss: equal logits mean probability 1/10 for every class, "
                      "so each row contributes -ln(1/10); the result is averaged over the rows.")


def test_cross_entropy_loss_large_logits(student, check):
    """Does cross_entropy_loss stay finite for logits like 1000 and -1000?"""
    logits = np.array([[1000.0, 0.0, -1000.0], [1000.0, 0.0, -1000.0]])  # (N, K)
    y = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # right with certainty, wrong by 2000
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = student.cross_entropy_loss(logits, y)
    check.number(got, 1000.0, call="cross_entropy_loss([[1000, 0, -1000]] * 2, y)", rtol=1e-9,
                 hint="Look at cross_entropy_loss: log(softmax) underflows to log(0) = -inf for a very "
                      "unlikely class. Compute log softmax directly: (z - max) - log(sum(e^(z - max))).")


def test_cross_entropy_loss_grad(student, check, rng, slopes):
    """Does cross_entropy_loss_grad return (softmax(logits) - y) / N, the slope of the loss?"""
    logits = rng.normal(0, 2, (5, 4))  # (N, K)
    y = one_hot_rows(rng, 5, 4)  # (N, K)
    A = logits.copy()  # (N, K), perturbed entry by entry
    expected = slopes(lambda: true_cross_entropy(A, y), A, H)
    check.array(student.cross_entropy_loss_grad(logits, y), expected,
                call="cross_entropy_loss_grad(logits, y) for N = 5, K = 4", rtol=1e-6, atol=1e-8,
                hint="Look at cross_entropy_loss_grad: (softmax(logits) - y) / N, same shape as the logits.")
