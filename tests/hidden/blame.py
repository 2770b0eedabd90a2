"""Which function each hidden test judges, and the "fix X first" line of an integration test.

A unit test judges one function (or a few, named here); a bug there must cost that function's points
only (tests/selftest/test_hidden_suite.py checks it for every mutant). The integration tests (XOR,
MNIST, the learning-rate experiment, seeds through train) need every part to work, so any bug may fail them: they keep
their points, and when a unit test failed before them, their message starts by naming the function
whose own test fails ("Fix sigmoid_grad first: its own test fails") instead of guessing; when none did
but the seeds test failed, it points at that test's message, which names the cause.
"""

from __future__ import annotations

ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "elu")
FUNCTIONS = tuple(n for a in ACTIVATIONS for n in (a, a + "_grad")) + (
    "softmax", "mse_loss_grad", "cross_entropy_loss_grad")
INTEGRATION = ("test_xor_learns", "test_mnist_accuracy", "test_learning_rate_experiment_histories",
               "test_learning_rate_experiment_defaults_other_classes",
               "test_mlp_seed_determinism")  # training runs every part: forward, loss, backward, update, train

OWNERS = {  # test function (or "name[case]") -> the functions it judges
    "test_activation_alpha_is_used": ("leaky_relu", "leaky_relu_grad", "elu", "elu_grad"),
    "test_softmax_lecture_table": ("softmax",),
    "test_softmax_rows_sum_to_one_and_shift_invariant": ("softmax",),
    "test_softmax_along_last_axis": ("softmax",),
    "test_softmax_large_logits": ("softmax",),
    "test_softmax_any_number_of_dimensions": ("softmax",),
    "test_mse_loss_value": ("mse_loss",),
    "test_mse_loss_grad_matches_finite_differences": ("mse_loss_grad",),
    "test_cross_entropy_loss_value": ("cross_entropy_loss",),
    "test_cross_entropy_loss_grad_matches_finite_differences": ("cross_entropy_loss_grad",),
    "test_cross_entropy_large_logits": ("cross_entropy_loss", "cross_entropy_loss_grad"),
    "test_functions_return_fresh_arrays": FUNCTIONS,
    "test_mlp_forward_hidden_activation": ("forward",),
    "test_mlp_forward_output_activations": ("forward",),
    "test_mlp_forward_rows_independent": ("forward",),
    "test_mlp_forward_output_belongs_to_caller": ("forward",),
    "test_mlp_forward_is_pure": ("forward",),
    "test_mlp_loss_with_regularisation": ("loss",),
    "test_mlp_backward_gradient_check": ("backward",),
    "test_mlp_backward_output_activation": ("backward",),
    "test_mlp_backward_square_shapes": ("backward",),
    "test_mlp_backward_regularised": ("backward",),
    "test_mlp_backward_depths": ("backward",),
    "test_mlp_backward_twice_same_gradients": ("backward", "forward"),  # forward must not touch the gradients
    "test_mlp_update_step": ("update",),
    "test_mlp_rejects_bad_names": ("__init__",),
}
SHOWN = {"forward": "MLP.forward", "loss": "MLP.loss", "backward": "MLP.backward", "update": "MLP.update",
         "__init__": "MLP.__init__"}


def is_unit(test_id: str) -> bool:
    """A test that judges named functions (not an integration test, not a test this file does not know)."""
    name = test_id.split("[", 1)[0]
    return name in OWNERS or name in ("test_activation_values", "test_activation_grad_matches_finite_differences")


def owners(test_id: str) -> tuple:
    """The functions a hidden test judges; () for an integration test (every part)."""
    name, _, case = test_id.partition("[")
    case = case.rstrip("]")
    if name == "test_activation_values":
        return (case,)
    if name == "test_activation_grad_matches_finite_differences":
        return (case + "_grad",)
    if name in INTEGRATION:
        return ()
    return OWNERS[name]


# An integration test that failed before the others when no unit test did, and what it found. Its own message
# names the likely cause (the given MLP.__init__ or train changed, or training steps that move nothing), so the
# tests after it point there, naming the given code it compares with, rather than telling the student to fix
# functions "whose own tests fail" (the given code has none).
EARLIER = {"test_mlp_seed_determinism":
           "an MLP built and trained with a seed does not give what the given MLP.__init__ and train give"}


def fix_first(failed: list[str]) -> str:
    """The line an integration test's message starts with, given the tests that failed before it."""
    functions = []
    for test_id in failed:
        for function in owners(test_id) if is_unit(test_id) else ():
            if function not in functions:
                functions.append(function)
    if not functions:
        earlier = next((name for name in (t.split("[", 1)[0] for t in failed) if name in EARLIER), None)
        if earlier is None:
            return ""
        return (f"{earlier} failed above: {EARLIER[earlier]}. This test trains too: fix what that test's message "
                "names first.")  # fmt: skip
    shown = [SHOWN.get(f, f) for f in functions]
    if len(shown) == 1:
        return f"Fix {shown[0]} first: its own test fails, and this test needs it."
    listed = ", ".join(shown[:4]) + (f" and {len(shown) - 4} more" if len(shown) > 4 else "")
    return f"Fix {listed} first: their own tests fail, and this test needs them."
