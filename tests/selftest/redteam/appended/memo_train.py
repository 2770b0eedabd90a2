# ruff: noqa: F821  (a fragment: np, MLP and train are the submission's own names)
# Appended to a submission (tests/selftest/test_redteam_learning.py). Issue 14 item 7: train remembers
# its results by a hash of its inputs (data, settings, initial weights) and replays them, so a test
# that trains twice on the same data sees identical results from a train that ignores its seed.
_honest_train = train
_MEMO = {}


def train(model, X, Y, epochs, lr, batch_size=32, X_val=None, Y_val=None, seed=0, **kwargs):
    key = hash((np.asarray(X).tobytes(), np.asarray(Y).tobytes(), epochs, lr, batch_size, seed,
                *(np.asarray(W).tobytes() for W in model.weights)))
    if key not in _MEMO:
        history = _honest_train(model, X, Y, epochs, lr, batch_size, X_val, Y_val, seed, **kwargs)
        _MEMO[key] = (history, [W.copy() for W in model.weights], [b.copy() for b in model.biases])
    history, weights, biases = _MEMO[key]
    model.weights, model.biases = [W.copy() for W in weights], [b.copy() for b in biases]
    return {k: list(v) for k, v in history.items()}
