"""Realistic single-bug mutants of the reference solution, and the hidden tests that must catch them.

Each mutant is GENERATED from solutions/exercise02.py by named textual edits (old snippet -> new
snippet). Every old snippet must occur exactly once in the solution, so when the solution changes
the catalogue breaks loudly instead of silently testing nothing: `apply` raises EditMismatch naming
the mutant, showing the snippet, the number of times it occurs and the closest solution line, and
saying what to edit (grader/authoring/edits.py; tests/selftest/test_mutants.py checks it).

`caught_by` lists hidden tests by function name (all its parametrized cases) or by exact id
("test_x[case]"); the meta-test (test_hidden_suite.py) runs only those tests against the mutant and
requires each entry to lose points. BENIGN lists rewrites that are still correct: the whole hidden
suite must give them full marks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from grader.authoring.edits import EditMismatch, apply_edits  # noqa: F401  (EditMismatch: for callers)

SOLUTION = Path(__file__).resolve().parents[2] / "solutions" / "exercise02.py"
CATALOGUE = "tests/selftest/mutants.py"


@dataclass(frozen=True)
class Mutant:
    name: str
    description: str
    edits: tuple  # ((old, new), ...)
    caught_by: tuple = ()
    function: str = ""  # the function holding the bug, when not the one its first edit lands in (fairness.owner)
    crosses: tuple = ()  # test names (prefixes) of another function it may fail, reviewed one by one

    def apply(self, source: str) -> str:
        """The solution with this mutant's edits; raises EditMismatch naming the mutant, the snippet, how
        many times it occurs and how to fix it when a snippet no longer occurs exactly once."""
        return apply_edits(source, self.edits, owner=f"mutant {self.name!r}", catalogue=CATALOGUE)


def m(name, description, edits, *caught_by, function="", crosses=()):
    if isinstance(edits[0], str):
        edits = (edits,)
    return Mutant(name, description, tuple(edits), tuple(caught_by), function, tuple(crosses))


MUTANTS = [
    # ---------------------------------------------------------------- activations
    m("sigmoid_overflow", "sigmoid as e^z / (1 + e^z): NaN (inf/inf) for large z",
      ("e = np.exp(-np.abs(z))  # in (0, 1], never overflows\n    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))",
       "return np.exp(z) / (1.0 + np.exp(z))"),
      "test_activation_values[sigmoid]"),
    m("sigmoid_grad_of_preactivation", "sigmoid_grad as z * (1 - z) (the output formula applied to z)",
      ("s = sigmoid(z)\n    return s * (1.0 - s)", "return z * (1.0 - z)"),
      "test_activation_grad_matches_finite_differences[sigmoid]"),
    m("tanh_grad_missing_tanh", "tanh_grad as 1 - z^2",
      ("return 1.0 - np.tanh(z) ** 2", "return 1.0 - z ** 2"),
      "test_activation_grad_matches_finite_differences[tanh]"),
    m("tanh_in_place", "tanh writes into its argument, overwriting the cached pre-activation",
      ("return np.tanh(z)\n", "return np.tanh(z, out=z)\n"),
      "test_functions_return_fresh_arrays"),
    m("relu_grad_wrong_side", "relu_grad is 1 where z < 0",
      ("return (z > 0).astype(np.float64)", "return (z < 0).astype(np.float64)"),
      "test_activation_grad_matches_finite_differences[relu]"),
    m("leaky_alpha_ignored", "leaky_relu uses 0.01 whatever alpha is",
      ("return np.where(z > 0, z, alpha * z)", "return np.where(z > 0, z, 0.01 * z)"),
      "test_activation_alpha_is_used"),
    m("leaky_grad_zero", "leaky_relu_grad copied from relu_grad: 0 for z < 0",
      ("return np.where(z > 0, 1.0, alpha)", "return np.where(z > 0, 1.0, 0.0)"),
      "test_activation_grad_matches_finite_differences[leaky_relu]"),
    m("elu_missing_minus_one", "elu as alpha * e^z for z < 0 (the -1 is missing)",
      ("alpha * np.expm1(np.minimum(z, 0.0))", "alpha * np.exp(np.minimum(z, 0.0))"),
      "test_activation_values[elu]"),
    m("elu_grad_missing_alpha", "elu_grad returns e^z for z < 0, without alpha",
      ("np.where(z > 0, 1.0, alpha * np.exp(np.minimum(z, 0.0)))", "np.where(z > 0, 1.0, np.exp(np.minimum(z, 0.0)))"),
      "test_activation_alpha_is_used"),
    # ---------------------------------------------------------------- softmax
    m("softmax_no_shift", "softmax without subtracting the row maximum",
      ("shifted = z - np.max(z, axis=-1, keepdims=True)  # (..., K), max of each row is 0", "shifted = z"),
      "test_softmax_large_logits"),
    m("softmax_global_shift", "softmax shifted by the maximum of the whole array, not of each row",
      ("shifted = z - np.max(z, axis=-1, keepdims=True)  # (..., K), max of each row is 0",
       "shifted = z - np.max(z)"),
      "test_softmax_large_logits"),
    m("softmax_wrong_axis", "softmax normalised over axis 0 (columns)",
      ("return e / np.sum(e, axis=-1, keepdims=True)  # (..., K)", "return e / np.sum(e, axis=0, keepdims=True)  # (..., K)"),
      "test_softmax_along_last_axis", "test_softmax_lecture_table"),
    # ---------------------------------------------------------------- losses
    m("mse_missing_half", "mse_loss = sum / N (the 1/2 is missing)",
      ("return float(np.sum((y_hat - y) ** 2) / (2 * n))", "return float(np.sum((y_hat - y) ** 2) / n)"),
      "test_mse_loss_value"),
    m("mse_missing_n", "mse_loss = sum / 2 (not averaged over the batch)",
      ("return float(np.sum((y_hat - y) ** 2) / (2 * n))", "return float(np.sum((y_hat - y) ** 2) / 2)"),
      "test_mse_loss_value"),
    m("mse_grad_missing_n", "mse_loss_grad = y_hat - y (no 1/N)",
      ("return (y_hat - y) / n  # (N, K)", "return y_hat - y  # (N, K)"),
      "test_mse_loss_grad_matches_finite_differences"),
    m("mse_grad_sign", "mse_loss_grad = (y - y_hat) / N",
      ("return (y_hat - y) / n  # (N, K)", "return (y - y_hat) / n  # (N, K)"),
      "test_mse_loss_grad_matches_finite_differences",
      "test_xor_learns"),
    m("mse_grad_in_place", "mse_loss_grad subtracts y from y_hat in place (the cached output changes)",
      ("return (y_hat - y) / n  # (N, K)", "y_hat -= y\n    return y_hat / n  # (N, K)"),
      "test_functions_return_fresh_arrays"),
    m("ce_no_mean", "cross_entropy_loss summed over the batch, not averaged",
      ("return float(-np.sum(y * log_p) / n)", "return float(-np.sum(y * log_p))"),
      "test_cross_entropy_loss_value"),
    m("ce_log_of_softmax", "cross_entropy_loss as log(softmax(z)): -inf when a probability underflows",
      ("log_p = shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))  # (N, K), log softmax",
       "log_p = np.log(softmax(logits))"),
      "test_cross_entropy_large_logits"),
    m("ce_grad_sign", "cross_entropy_loss_grad = (y - softmax) / N",
      ("return (softmax(logits) - y) / n  # (N, K)", "return (y - softmax(logits)) / n  # (N, K)"),
      "test_cross_entropy_loss_grad_matches_finite_differences",
      "test_mnist_accuracy"),
    m("ce_grad_no_mean", "cross_entropy_loss_grad = softmax - y (no 1/N)",
      ("return (softmax(logits) - y) / n  # (N, K)", "return softmax(logits) - y  # (N, K)"),
      "test_cross_entropy_loss_grad_matches_finite_differences"),
    # ---------------------------------------------------------------- forward
    m("forward_no_bias", "forward computes X @ W.T without + b",
      ("Z = A @ W.T + b  # (N, n_out)", "Z = A @ W.T  # (N, n_out)"),
      "test_mlp_forward_hidden_activation", "test_mlp_backward_output_activation[sigmoid]", "test_xor_learns",
      # backward and loss read what forward computed: a wrong forward makes every gradient and the loss wrong
      # (the backward messages say "MLP.forward already returns wrong values ... fix that first")
      crosses=("test_mlp_backward_", "test_mlp_loss_with_regularisation")),
    m("forward_hidden_activation_at_output", "the last layer uses the hidden activation",
      ("return ACTIVATIONS[self.output_activation if last else self.activation]", "return ACTIVATIONS[self.activation]"),
      "test_mlp_forward_output_activations", "test_mlp_backward_gradient_check[relu]",
      "test_mnist_accuracy",  # it still learns (83-92 % by seed): the replayed steps fail it at every seed
      function="forward",
      # backward and loss read what forward computed: a wrong forward makes every gradient and the loss wrong
      # (the backward messages say "MLP.forward already returns wrong values ... fix that first")
      crosses=("test_mlp_backward_", "test_mlp_loss_with_regularisation")),
    m("forward_caches_outputs", "forward keeps each layer's output instead of its input",
      ("            self.inputs.append(A)\n            self.pre_activations.append(Z)\n            A = f(Z)  # (N, n_out)\n",
       "            self.pre_activations.append(Z)\n            A = f(Z)  # (N, n_out)\n            self.inputs.append(A)\n"),
      "test_mlp_backward_gradient_check", "test_mlp_backward_depths",
      # the cache forward keeps is what backward reads: the bug shows in backward, and in forward's purity
      # test, which runs backward between two forwards
      function="backward", crosses=("test_mlp_forward_is_pure",)),
    # ---------------------------------------------------------------- loss with regularisation
    m("loss_without_penalty", "MLP.loss ignores the regularisation term",
      ("return float(data_loss(self.output, Y) + penalty)", "return float(data_loss(self.output, Y))"),
      "test_mlp_loss_with_regularisation"),
    m("loss_l2_without_half", "MLP.loss uses l2 * sum W^2 (the 1/2 is missing)",
      ("penalty += 0.5 * self.l2 * np.sum(W * W)", "penalty += self.l2 * np.sum(W * W)"),
      "test_mlp_loss_with_regularisation"),
    m("loss_l1_without_abs", "MLP.loss uses l1 * sum W instead of sum |W|",
      ("penalty += self.l1 * np.sum(np.abs(W))", "penalty += self.l1 * np.sum(W)"),
      "test_mlp_loss_with_regularisation"),
    # ---------------------------------------------------------------- backward
    m("backward_no_activation_grad", "backward skips the activation derivative",
      ("dZ = dA * f_grad(self.pre_activations[layer])  # (N, n_out)", "dZ = dA  # (N, n_out)"),
      "test_mlp_backward_gradient_check", "test_mlp_backward_depths",
      "test_xor_learns", "test_mnist_accuracy"),  # MNIST: it still learns; the replayed steps fail it at every seed
    m("backward_output_derivative_everywhere", "backward uses the output activation's derivative in every layer",
      ("_, f_grad = self.activation_of(layer)\n            dZ", "_, f_grad = self.activation_of(len(self.weights) - 1)\n            dZ"),
      "test_mlp_backward_gradient_check[relu]", "test_mlp_backward_output_activation[sigmoid]"),
    m("backward_dW_transposed", "dW = X_prev.T @ dZ, shape (n_in, n_out)",
      ("dW = dZ.T @ self.inputs[layer]  # (n_out, n_in)", "dW = self.inputs[layer].T @ dZ  # (n_out, n_in)"),
      "test_mlp_backward_gradient_check", "test_mlp_backward_regularised"),
    m("backward_db_mean", "db is the mean of dZ over the batch instead of the sum",
      ("self.grad_biases[layer] = dZ.sum(axis=0)  # (n_out,)", "self.grad_biases[layer] = dZ.mean(axis=0)  # (n_out,)"),
      "test_mlp_backward_gradient_check"),
    m("backward_db_wrong_axis", "db summed over the outputs (axis 1) instead of the batch",
      ("self.grad_biases[layer] = dZ.sum(axis=0)  # (n_out,)", "self.grad_biases[layer] = dZ.sum(axis=1)  # (n_out,)"),
      "test_mlp_backward_gradient_check"),
    m("backward_divides_by_n_twice", "dW divided by N again (the loss gradient already has 1/N)",
      ("dW = dZ.T @ self.inputs[layer]  # (n_out, n_in)", "dW = dZ.T @ self.inputs[layer] / len(Y)  # (n_out, n_in)"),
      "test_mlp_backward_gradient_check"),
    m("backward_accumulates", "backward adds to the old gradients instead of overwriting them",
      ("self.grad_weights[layer] = dW", "self.grad_weights[layer] += dW"),
      "test_mlp_backward_twice_same_gradients", "test_mlp_backward_gradient_check"),
    m("backward_l2_missing", "backward leaves out the l2 term",
      ("dW += self.l2 * W  # d(l2/2 * sum W^2) / dW", "pass"),
      "test_mlp_backward_regularised"),
    m("backward_l2_doubled", "backward adds 2 * l2 * W (derivative of l2 * sum W^2, not (l2/2) * sum W^2)",
      ("dW += self.l2 * W  # d(l2/2 * sum W^2) / dW", "dW += 2 * self.l2 * W"),
      "test_mlp_backward_regularised"),
    m("backward_l2_on_biases", "backward adds l2 * b to the bias gradients",
      ("self.grad_biases[layer] = dZ.sum(axis=0)  # (n_out,)",
       "self.grad_biases[layer] = dZ.sum(axis=0) + self.l2 * self.biases[layer]  # (n_out,)"),
      "test_mlp_backward_regularised[l2-relu-ce]"),
    m("backward_l1_sign", "backward subtracts l1 * sign(W)",
      ("dW += self.l1 * np.sign(W)  # d(l1 * sum|W|) / dW", "dW -= self.l1 * np.sign(W)"),
      "test_mlp_backward_regularised[l1-l2-tanh-mse]"),
    # ---------------------------------------------------------------- update
    m("update_adds_gradient", "update moves along +grad",
      ("self.weights[layer] -= lr * self.grad_weights[layer]", "self.weights[layer] += lr * self.grad_weights[layer]"),
      "test_mlp_update_step", "test_xor_learns", "test_mnist_accuracy"),
    m("update_only_weights", "update never changes the biases",
      ("self.biases[layer] -= lr * self.grad_biases[layer]  # (n_out,)", "pass"),
      "test_mlp_update_step", "test_xor_learns"),
    m("update_ignores_lr", "update subtracts the whole gradient",
      ("self.weights[layer] -= lr * self.grad_weights[layer]", "self.weights[layer] -= self.grad_weights[layer]"),
      "test_mlp_update_step"),
    # ---------------------------------------------------------------- initialisation, training, experiment
    m("init_ignores_seed", "MLP draws its weights from an unseeded generator",
      ("gain = 2.0 if activation in (\"relu\", \"leaky_relu\", \"elu\") else 1.0\n        rng = np.random.default_rng(seed)",
       "gain = 2.0 if activation in (\"relu\", \"leaky_relu\", \"elu\") else 1.0\n        rng = np.random.default_rng()"),
      "test_mlp_seed_determinism", "test_learning_rate_experiment_histories"),
    m("init_zero_weights", "all weights start at 0 (no symmetry breaking)",
      ("rng.standard_normal((n_out, n_in)) * np.sqrt(gain / n_in)  # (n_out, n_in)", "np.zeros((n_out, n_in))"),
      "test_xor_learns", "test_mnist_accuracy"),
    m("train_ignores_seed", "train shuffles with an unseeded generator",
      ("rng = np.random.default_rng(seed)\n    history = {", "rng = np.random.default_rng()\n    history = {"),
      "test_mlp_seed_determinism", "test_learning_rate_experiment_histories"),
    m("train_unpaired_batches", "train shuffles X but takes Y in the original order",
      ("X_batch, Y_batch = X[batch], Y[batch]", "X_batch, Y_batch = X[batch], Y[start : start + batch_size]"),
      "test_mlp_seed_determinism", "test_learning_rate_experiment_histories"),
    m("lr_experiment_reuses_model", "learning_rate_experiment trains one model for all rates",
      ("    for lr in learning_rates:\n        model = MLP(layer_sizes, activation, output_activation=\"identity\", loss=\"cross_entropy\", seed=seed)\n",
       "    model = MLP(layer_sizes, activation, output_activation=\"identity\", loss=\"cross_entropy\", seed=seed)\n    for lr in learning_rates:\n"),
      "test_learning_rate_experiment_histories"),
    m("lr_experiment_without_validation", "learning_rate_experiment does not pass the validation data to train",
      ("train(model, X_train, Y_train, epochs, lr, batch_size, X_val, Y_val, seed=seed)",
       "train(model, X_train, Y_train, epochs, lr, batch_size, seed=seed)"),
      "test_learning_rate_experiment_histories"),
    # ---------------------------------------------------------------- issue 10: shapes, output activations, depths,
    # dimensions and dtypes, regularisation hints (every one passes the nets with distinct widths of the old suite)
    m("forward_orientation_by_shape", "forward picks A @ W or A @ W.T by comparing shapes (wrong for square W)",
      ("Z = A @ W.T + b  # (N, n_out)", "Z = (A @ W if A.shape[1] == W.shape[0] else A @ W.T) + b  # (N, n_out)"),
      "test_mlp_forward_hidden_activation", "test_mlp_backward_square_shapes",
      # backward and loss read what forward computed: a wrong forward makes every gradient and the loss wrong
      # (the backward messages say "MLP.forward already returns wrong values ... fix that first")
      crosses=("test_mlp_backward_", "test_mlp_loss_with_regularisation")),
    m("backward_dW_transposed_to_fit", "dW = X_prev.T @ dZ, transposed only when its shape does not fit W",
      ("dW = dZ.T @ self.inputs[layer]  # (n_out, n_in)",
       "dW = self.inputs[layer].T @ dZ\n            if dW.shape != W.shape:\n                dW = dW.T"),
      "test_mlp_backward_square_shapes"),
    m("backward_db_axis_by_shape", "db summed over axis 1 unless that gives the wrong shape (wrong when N = n_out)",
      ("self.grad_biases[layer] = dZ.sum(axis=0)  # (n_out,)",
       "db = dZ.sum(axis=1)\n            if db.shape != self.biases[layer].shape:\n                db = dZ.sum(axis=0)\n"
       "            self.grad_biases[layer] = db"),
      "test_mlp_backward_square_shapes[3-3_N3]", "test_mlp_backward_square_shapes[4-4-2_N4]",
      "test_mlp_backward_square_shapes[4-4-4-4-4_N4]"),
    m("backward_dA_orientation_by_shape", "dA = dZ @ W.T when the shapes allow it (wrong for a square hidden W)",
      ("dA = dZ @ W  # (N, n_in), dL/dX_{l-1}", "dA = dZ @ W.T if dZ.shape[1] == W.shape[1] else dZ @ W"),
      "test_mlp_backward_square_shapes[2-5-5_N5]", "test_mlp_backward_square_shapes[4-4-4-4-4_N4]"),
    m("backward_no_output_derivative", "backward skips the output activation's derivative (right for identity only)",
      ("dZ = dA * f_grad(self.pre_activations[layer])  # (N, n_out)",
       "dZ = dA if layer == len(self.weights) - 1 else dA * f_grad(self.pre_activations[layer])"),
      "test_mlp_backward_output_activation[sigmoid]", "test_mlp_backward_output_activation[tanh]",
      "test_mlp_backward_output_activation[elu]"),
    m("backward_two_layers_only", "backward handles the output layer and the first layer only (right for depth 1 and 2)",
      ("for layer in reversed(range(len(self.weights))):", "for layer in sorted({len(self.weights) - 1, 0}, reverse=True):"),
      "test_mlp_backward_depths", "test_mlp_backward_gradient_check[tanh]"),
    m("backward_l1_abs", "backward adds l1 * |W| instead of l1 * sign(W)",
      ("dW += self.l1 * np.sign(W)  # d(l1 * sum|W|) / dW", "dW += self.l1 * np.abs(W)"),
      "test_mlp_backward_regularised[l1-l2-tanh-mse]"),
    m("softmax_axis_1", "softmax along axis 1 (right for 2-D batches only)",
      (("shifted = z - np.max(z, axis=-1, keepdims=True)  # (..., K), max of each row is 0",
        "shifted = z - np.max(z, axis=1, keepdims=True)"),
       ("return e / np.sum(e, axis=-1, keepdims=True)  # (..., K)", "return e / np.sum(e, axis=1, keepdims=True)")),
      "test_softmax_any_number_of_dimensions"),
    m("relu_grad_boolean", "relu_grad returns the boolean array z > 0",
      ("return (z > 0).astype(np.float64)", "return z > 0"),
      "test_activation_grad_matches_finite_differences[relu]"),
    m("sigmoid_float32_arithmetic", "sigmoid computed in float32, returned as float64",
      ("e = np.exp(-np.abs(z))  # in (0, 1], never overflows\n    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))",
       "e = np.exp(-np.abs(z)).astype(np.float32)\n"
       "    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(np.float64)"),
      "test_activation_values[sigmoid]"),
    m("mse_grad_float32", "mse_loss_grad returns float32",
      ("return (y_hat - y) / n  # (N, K)", "return ((y_hat - y) / n).astype(np.float32)  # (N, K)"),
      "test_mse_loss_grad_matches_finite_differences"),
    m("elu_grad_float32_buffer", "elu_grad writes into a float32 buffer",
      ("return np.where(z > 0, 1.0, alpha * np.exp(np.minimum(z, 0.0)))",
       "out = np.empty(np.shape(z), dtype=np.float32)\n    out[...] = np.where(z > 0, 1.0, alpha * np.exp(np.minimum(z, 0.0)))\n"
       "    return out"),
      "test_activation_grad_matches_finite_differences[elu]", "test_activation_alpha_is_used"),
]


# Issue 10 items 4-5 and issue 14 item 7: returned arrays, arguments of the experiment, remembered calls.
LR_CALL = "histories[lr] = train(model, X_train, Y_train, epochs, lr, batch_size, X_val, Y_val, seed=seed)"
LR_MODEL = 'model = MLP(layer_sizes, activation, output_activation="identity", loss="cross_entropy", seed=seed)'
STATE_MUTANTS = [
    m("forward_returns_buffer", "forward copies its output into a buffer kept on the model and returns the buffer",
      ("        self.output = A\n        return A\n",
       "        if getattr(self, '_out', None) is None or self._out.shape != A.shape:\n"
       "            self._out = np.empty_like(A)\n"
       "        self._out[...] = A\n        self.output = self._out\n        return self._out\n"),
      "test_mlp_forward_output_belongs_to_caller"),
    m("sigmoid_returns_buffer", "sigmoid writes into a module-level buffer per shape and returns it",
      ("    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))\n",
       "    out = sigmoid.__dict__.setdefault(np.shape(z), np.empty(np.shape(z)))\n"
       "    out[...] = np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))\n    return out\n"),
      "test_functions_return_fresh_arrays"),
    m("forward_zeroes_gradients", "forward zeroes the stored gradients in place (a zero_grad habit): a forward "
      "between backward and update loses them",
      ("        self.inputs, self.pre_activations = [], []\n",
       "        self.inputs, self.pre_activations = [], []\n"
       "        for g in self.grad_weights + self.grad_biases:\n            g[...] = 0.0\n"),
      "test_mlp_backward_twice_same_gradients"),
    m("lr_experiment_ignores_epochs", "learning_rate_experiment trains for 2 epochs whatever epochs is",
      (LR_CALL, LR_CALL.replace("epochs, lr", "2, lr")), "test_learning_rate_experiment_histories"),
    m("lr_experiment_ignores_batch_size", "learning_rate_experiment trains with batch size 32 whatever batch_size is",
      (LR_CALL, LR_CALL.replace("lr, batch_size", "lr, 32")), "test_learning_rate_experiment_histories"),
    m("lr_experiment_ignores_layer_sizes", "learning_rate_experiment always builds (n_in, 64, n_out)",
      ("    if layer_sizes is None:\n        layer_sizes = (X_train", "    if True:\n        layer_sizes = (X_train"),
      "test_learning_rate_experiment_histories"),
    m("lr_experiment_ignores_activation", "learning_rate_experiment always builds ReLU nets",
      (LR_MODEL, LR_MODEL.replace("layer_sizes, activation,", 'layer_sizes, "relu",')),
      "test_learning_rate_experiment_histories"),
    m("lr_experiment_train_without_seed", "learning_rate_experiment passes seed to MLP but not to train (seed 0)",
      (LR_CALL, LR_CALL.replace(", seed=seed)", ")")), "test_learning_rate_experiment_histories"),
    m("lr_experiment_model_without_seed", "learning_rate_experiment builds its MLPs without the seed",
      (LR_MODEL, LR_MODEL.replace(", seed=seed)", ")")), "test_learning_rate_experiment_histories"),
    m("backward_accumulates_memoised", "backward adds to the old gradients (+=) and skips a call whose output and "
      "targets it has seen just before, which hides the adding up from tests that repeat a call",
      (("self.grad_weights[layer] = dW", "self.grad_weights[layer] += dW"),
       ("        _, data_loss_grad = LOSSES[self.loss_name]\n        dA =",
        "        key = hash((np.asarray(Y).tobytes(), self.output.tobytes()))\n"
        "        if key == getattr(self, '_seen', None):\n            return\n        self._seen = key\n"
        "        _, data_loss_grad = LOSSES[self.loss_name]\n        dA =")),
      "test_mlp_backward_twice_same_gradients", "test_mlp_backward_gradient_check"),
    m("train_unseeded_memoised", "train shuffles with an unseeded generator and replays a remembered result when "
      "it sees the same data, seed and initial weights again",
      (("rng = np.random.default_rng(seed)\n    history = {", "rng = np.random.default_rng()\n    history = {"),
       ('    """\n    rng = np.random.default_rng()',
        '    """\n    memo = train.__dict__.setdefault("memo", {})\n'
        '    key = hash((np.asarray(X).tobytes(), np.asarray(Y).tobytes(), epochs, lr, batch_size, seed,\n'
        '                *(W.tobytes() for W in model.weights)))\n'
        '    if key in memo:\n'
        '        model.weights, model.biases = [W.copy() for W in memo[key][1]], [b.copy() for b in memo[key][2]]\n'
        '        return {k: list(v) for k, v in memo[key][0].items()}\n'
        '    rng = np.random.default_rng()'),
       ("            progress(epoch, history)\n    return history\n",
        "            progress(epoch, history)\n"
        "    memo[key] = ({k: list(v) for k, v in history.items()}, [W.copy() for W in model.weights],\n"
        "                 [b.copy() for b in model.biases])\n    return history\n")),
      "test_mlp_seed_determinism"),
]
MUTANTS += STATE_MUTANTS

# Issue 20: one mutant per class of bug the suite used to miss or misname. Each loses points only in the
# tests of its own function (and in integration tests), and every message names that function.
FAIRNESS_MUTANTS = [
    m("mse_mean_over_entries", "mse_loss as np.mean((y_hat - y)^2) / 2: divides by N * K, not by N",
      ("return float(np.sum((y_hat - y) ** 2) / (2 * n))", "return float(np.mean((y_hat - y) ** 2) / 2)"),
      "test_mse_loss_value"),
    m("mse_grad_mean_over_entries", "mse_loss_grad divides by the number of entries N * K",
      ("return (y_hat - y) / n  # (N, K)", "return (y_hat - y) / y_hat.size  # (N, K)"),
      "test_mse_loss_grad_matches_finite_differences"),
    m("ce_grad_mean_over_entries", "cross_entropy_loss_grad divides by N * K",
      ("return (softmax(logits) - y) / n  # (N, K)", "return (softmax(logits) - y) / logits.size  # (N, K)"),
      "test_cross_entropy_loss_grad_matches_finite_differences"),
    m("ce_eps_in_log", "cross_entropy_loss as -sum(y * log(softmax + 1e-8)) / N (an eps in the log)",
      ("log_p = shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))  # (N, K), log softmax",
       "log_p = np.log(softmax(logits) + 1e-8)"),
      "test_cross_entropy_loss_value"),
    m("sigmoid_grad_overflow", "sigmoid_grad as e^-z / (1 + e^-z)^2: inf / inf = NaN for z = -1000",
      ("s = sigmoid(z)\n    return s * (1.0 - s)", "e = np.exp(-z)\n    return e / (1.0 + e) ** 2"),
      "test_activation_grad_matches_finite_differences[sigmoid]"),
    m("forward_returns_probabilities", "forward returns the softmax of the logits for a cross-entropy net",
      ("        self.output = A\n        return A\n",
       "        self.output = A\n        return softmax(A) if self.loss_name == \"cross_entropy\" else A\n"),
      "test_mlp_forward_rows_independent"),
    m("backward_derivative_at_output", "backward takes each derivative at the layer's output f(Z), not at Z",
      ("_, f_grad = self.activation_of(layer)\n            dZ = dA * f_grad(self.pre_activations[layer])",
       "f, f_grad = self.activation_of(layer)\n            dZ = dA * f_grad(f(self.pre_activations[layer]))"),
      "test_mlp_backward_gradient_check[sigmoid]", "test_mlp_backward_output_activation[tanh]"),
    m("update_momentum", "update keeps a velocity across steps (momentum 0.9)",
      ("            self.weights[layer] -= lr * self.grad_weights[layer]  # (n_out, n_in)\n",
       "            if not hasattr(self, \"velocity\"):\n                self.velocity = [np.zeros_like(W) for W in self.weights]\n"
       "            self.velocity[layer] = 0.9 * self.velocity[layer] + self.grad_weights[layer]\n"
       "            self.weights[layer] -= lr * self.velocity[layer]  # (n_out, n_in)\n"),
      "test_mlp_update_step"),
    m("update_decays_again", "update applies weight decay again: W -= lr * (grad + l2 * W)",
      ("self.weights[layer] -= lr * self.grad_weights[layer]",
       "self.weights[layer] -= lr * (self.grad_weights[layer] + self.l2 * self.weights[layer])"),
      "test_mlp_update_step"),
    m("lr_experiment_ten_classes", "learning_rate_experiment's default layer sizes end in 10 outputs whatever the data",
      ("layer_sizes = (X_train.shape[1], 64, Y_train.shape[1])\n    histories",
       "layer_sizes = (X_train.shape[1], 64, 10)\n    histories"),
      "test_learning_rate_experiment_defaults_other_classes"),
    m("lr_experiment_seed_per_rate", "learning_rate_experiment seeds the i-th rate with seed + i",
      (("    for lr in learning_rates:\n        model = MLP(", "    for i, lr in enumerate(learning_rates):\n        model = MLP("),
       (LR_MODEL, LR_MODEL.replace("seed=seed)", "seed=seed + i)")),
       (LR_CALL, LR_CALL.replace("seed=seed)", "seed=seed + i)"))),
      "test_learning_rate_experiment_histories"),
    m("lr_experiment_mse_head", "learning_rate_experiment trains sigmoid/mse nets instead of logits/cross-entropy",
      (LR_MODEL, LR_MODEL.replace('output_activation="identity", loss="cross_entropy"',
                                  'output_activation="sigmoid", loss="mse"')),
      "test_learning_rate_experiment_histories"),
    m("tanh_grad_at_output", "tanh_grad computes the derivative at tanh(z), as if it were given the activation's output",
      ("return 1.0 - np.tanh(z) ** 2", "return 1.0 - np.tanh(np.tanh(z)) ** 2"),
      "test_activation_grad_matches_finite_differences[tanh]"),
]
MUTANTS += FAIRNESS_MUTANTS

BENIGN = [
    m("ce_mean_over_first_axis", "cross_entropy_loss divides by shape[0] (the same N for the 2-D batches graded)",
      ("n = logits.size // logits.shape[-1]  # rows: every axis but the last\n    shifted",
       "n = logits.shape[0]\n    shifted")),
    m("relu_grad_at_zero_is_one", "relu_grad uses z >= 0 (differs only at the kink, never tested)",
      ("return (z > 0).astype(np.float64)", "return (z >= 0).astype(np.float64)")),
    m("sigmoid_via_tanh", "sigmoid as 0.5 * (1 + tanh(z / 2)); update out of place; db via ones @ dZ",
      (("e = np.exp(-np.abs(z))  # in (0, 1], never overflows\n    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))",
        "return 0.5 * (1.0 + np.tanh(0.5 * z))"),
       ("self.weights[layer] -= lr * self.grad_weights[layer]",
        "self.weights[layer] = self.weights[layer] - lr * self.grad_weights[layer]"),
       ("self.grad_biases[layer] = dZ.sum(axis=0)  # (n_out,)", "self.grad_biases[layer] = np.ones(len(dZ)) @ dZ"))),
]


def by_name(name: str) -> Mutant:
    for mutant in MUTANTS + BENIGN:
        if mutant.name == name:
            return mutant
    raise KeyError(name)


def write(mutant: Mutant, folder: Path) -> Path:
    """The mutated solution as exercise02.py in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "exercise02.py"
    path.write_text(mutant.apply(SOLUTION.read_text()))
    return path
