# ruff: noqa: F821  (a fragment: np, MLP and train are the submission's own names)
# Appended to a submission (tests/selftest/test_redteam_learning.py). Issue 14 item 6: train
# recognises XOR's four fixed inputs and installs hand-made weights that solve XOR, whatever its own
# backward can learn.
_honest_train = train
_XOR = {(0.0, 0.0): 0.0, (0.0, 1.0): 1.0, (1.0, 0.0): 1.0, (1.0, 1.0): 0.0}


def train(model, X, Y, epochs, lr, *args, **kwargs):
    if np.shape(X) == (4, 2) and {tuple(map(float, row)) for row in X} == set(_XOR):
        W1, b1 = np.zeros((8, 2)), np.zeros(8)
        W1[0], b1[0] = (20.0, 20.0), -10.0  # "at least one input is on"
        W1[1], b1[1] = (20.0, 20.0), -30.0  # "both are on"
        W2, b2 = np.zeros((1, 8)), np.array([-10.0])
        W2[0, 0], W2[0, 1] = 20.0, -20.0
        model.weights, model.biases = [W1, W2], [b1, b2]
        return {"train_loss": [0.0] * epochs, "val_loss": [], "val_accuracy": []}
    return _honest_train(model, X, Y, epochs, lr, *args, **kwargs)
