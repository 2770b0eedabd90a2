"""tests/hidden/trajectory.py: the learning tests judge the training steps the worker reports, never its word.

In process, on small nets trained by the solution or one of its mutants: a correct run passes; a reported
state that no reference step reaches, weights read back that are not the last reported state, or a report
that is not the states fail with a message naming the step; the segments replayed always include the
first step, the rate change and the last segment, and the draw of the others is fixed by the secret and
the states.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
KIT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(KIT / "tests" / "hidden"))
import mutants  # noqa: E402
import trajectory  # noqa: E402

from grader.sandbox.inprocess import InProcessStudent  # noqa: E402
from grader.sandbox.training import checkpoint_steps  # noqa: E402

FAILED = pytest.fail.Exception


def small_run(rates=(0.5,), epochs=2) -> trajectory.Run:
    rng = np.random.default_rng(4)
    X, Y = rng.normal(size=(20, 3)), np.eye(2)[rng.integers(0, 2, 20)]
    orders = tuple(np.array([rng.permutation(20) for _ in range(epochs)]) for _ in rates)
    return trajectory.Run((3, 4, 2), "tanh", "identity", "cross_entropy", X, Y, orders, tuple(rates), 5)


def student_of(tmp_path, mutant: str | None = None) -> InProcessStudent:
    source = mutants.SOLUTION.read_text()
    path = tmp_path / "exercise02.py"
    path.write_text(mutants.by_name(mutant).apply(source) if mutant else source)
    student = InProcessStudent(path)
    student.name_raises = True
    return student


def train(student, run, replay_all=True, secret="s"):
    model = student.MLP(list(run.sizes), activation=run.activation, output_activation=run.output_activation,
                        loss=run.loss, seed=1)
    return model, trajectory.train(student, model, run, "the run", secret, replay_all)


class Forging:
    """A student whose run_epochs reply is changed on the way (as a replaced loop in the worker could)."""

    def __init__(self, student, change):
        self.student, self.change = student, change

    def __getattr__(self, name):
        return getattr(self.student, name)

    def run_epochs(self, model, *args):
        return self.change(model, self.student.run_epochs(model, *args))


def test_a_correct_run_passes_and_gives_the_weights_read_back(tmp_path):
    """Does the solution's run pass, every segment replayed or a drawn part, with the weights it ends with?"""
    student = student_of(tmp_path)
    for replay_all in (True, False):
        model, (weights, biases, losses) = train(student, small_run((0.5, 0.1)), replay_all)
        assert all(np.array_equal(a, b) for a, b in zip(weights + biases, model.get("weights") + model.get("biases")))
        assert len(losses) == 4 and all(np.isfinite(losses))


def test_a_state_no_reference_step_reaches_fails_naming_the_step(tmp_path):
    """Does a reported state moved off the trajectory (1e-4 on one weight after step 3) fail at that step?"""
    def nudge(model, reply):
        reply["states"][0][3, 1, 2] += 1e-4
        return reply

    with pytest.raises(FAILED, match=r"training step 3 .* moved weights\[0\]\[1, 2\] by"):
        train(Forging(student_of(tmp_path), nudge), small_run())


def test_weights_read_back_must_be_the_last_reported_state(tmp_path):
    """Do weights installed after the loop's last report fail, however well they would do?"""
    def install(model, reply):
        model.set("weights", [w * 2.0 for w in model.get("weights")])
        return reply

    with pytest.raises(FAILED, match=r"model.weights\[0\] after training is not the state the training loop reported"):
        train(Forging(student_of(tmp_path), install), small_run())


def test_a_report_that_is_not_the_states_fails(tmp_path):
    """Does a loop that returns only losses (a replaced one, or the kit's before) fail with what to do?"""
    with pytest.raises(FAILED, match="replaced or changed the grader's training loop"):
        train(Forging(student_of(tmp_path), lambda model, reply: reply["losses"]), small_run())


@pytest.mark.parametrize("mutant, cause", [
    ("backward_no_activation_grad", "leaves out the activations' derivative"),
    ("ce_grad_sign", "goes up the gradient"),
    ("backward_db_mean", "the gradient of the loss is not what backward computes"),
])
def test_a_wrong_step_names_its_likely_cause(tmp_path, mutant, cause):
    """Does a bug that changes every step fail at step 1 with the usual cause it matches?"""
    with pytest.raises(FAILED, match="training step 1 ") as failed:
        train(student_of(tmp_path, mutant), small_run())
    assert cause in str(failed.value)


def test_the_replayed_segments_include_the_first_the_rate_change_and_the_last():
    """Are step 1, the segment where the rate changes and the last segment always replayed, a quarter of the
    others drawn, the same for the same secret and states and not one fixed set?"""
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(400, 3)), np.eye(2)[rng.integers(0, 2, 400)]
    orders = (np.array([rng.permutation(400)])[:, :320], np.array([rng.permutation(400)])[:, 320:])
    run = trajectory.Run((3, 4, 2), "tanh", "identity", "cross_entropy", X, Y, orders, (0.5, 0.1), 1)
    at = checkpoint_steps(400, 26)
    assert at == list(range(401))  # a small net: every step
    states = [rng.normal(size=(len(at), *shape)) for shape in run.shapes()]
    picked = trajectory.chosen(at, run, states, "a", replay_all=False)
    assert {0, 320, 399} <= set(picked)  # step 1; step 321, the first at 0.1; step 400
    assert len(picked) == 3 + -(-(400 - 3) // trajectory.SHARE)
    assert picked == trajectory.chosen(at, run, states, "a", replay_all=False)
    assert picked != trajectory.chosen(at, run, states, "b", replay_all=False)
    assert trajectory.chosen(at, run, states, "a", replay_all=True) == list(range(400))


def test_mnist_reports_every_ninth_state_within_its_budget():
    """Does the MNIST net's run report few enough states to cross (16 MiB), with step 1 on its own?"""
    at = checkpoint_steps(313, 784 * 64 + 64 + 64 * 10 + 10)
    assert at[:4] == [0, 1, 9, 18] and at[-1] == 313 and len(at) * 8 * 50890 <= 16 << 20


def test_deviation_is_relative_to_the_move_and_counts_a_shared_divergence_as_equal():
    start = np.array([1.0, 2.0])
    want = start - 1e-3
    assert trajectory.close(start, want, want + 1e-12)
    assert not trajectory.close(start, want, want + 1e-8)
    assert trajectory.close(start, np.array([np.nan, 1.0]), np.array([np.nan, 1.0]))
    assert not trajectory.close(start, want, np.array([np.nan, want[1]]))


def test_the_steps_replayed_together_are_the_steps_replayed_one_by_one():
    """Does the stacked replay (XOR's 400 steps at once) give what replay.gradients gives step by step?"""
    run = small_run((0.5, 0.1))
    rng = np.random.default_rng(2)
    steps = run.steps()
    params = [rng.normal(size=(len(steps), *shape)) for shape in run.shapes()]
    rows, lrs = np.array([r for r, _ in steps]), np.array([lr for _, lr in steps])
    together = trajectory.reference_steps(run, params, rows, lrs)
    for k, (r, lr) in enumerate(steps):
        alone = trajectory.reference_step(run, [p[k] for p in params], r, lr)
        assert all(np.allclose(t[k], a, rtol=1e-13, atol=1e-15) for t, a in zip(together, alone))


def test_a_state_off_inside_a_longer_segment_fails_naming_the_segment(tmp_path, monkeypatch):
    """Where states are reported every k-th step (MNIST), does a state moved off the trajectory fail naming the
    steps of its segment?"""
    from grader.sandbox import training

    monkeypatch.setattr(training, "STATE_BYTES", 8 * 26 * 6)  # 6 states of this 26-parameter net: every 2nd step
    run = small_run(epochs=2)
    assert checkpoint_steps(8, 26) == [0, 1, 2, 4, 6, 8]

    def nudge(model, reply):
        reply["states"][1][3, 0] += 1e-3  # after step 4
        return reply

    with pytest.raises(FAILED, match=r"the 2 training steps 3 to 4 .* moved weights\[1\]\[0, "):
        train(Forging(student_of(tmp_path), nudge), run)


def test_a_loop_reporting_the_reference_steps_fails_a_wrong_backward(tmp_path):
    """Does a run whose reported states are the reference steps themselves, with the weights read back to match (a
    loop replaced in the worker that computes them otherwise, by finite differences of forward and loss, say),
    fail when backward is wrong, at the step the test makes through the model's methods?"""
    run = small_run()
    steps = run.steps()
    at = checkpoint_steps(len(steps), 26)

    def reference_states(model, reply):
        params = [stack[0].copy() for stack in reply["states"]]
        stacks = [np.empty_like(stack) for stack in reply["states"]]
        for k, (rows, lr) in enumerate([(None, None)] + steps):
            if k:
                params = trajectory.reference_step(run, params, rows, lr)
            if k in at:
                for stack, p in zip(stacks, params):
                    stack[at.index(k)] = p
        model.set_attrs({"weights": params[:2], "biases": params[2:]})
        return {**reply, "states": stacks}

    train(Forging(student_of(tmp_path), reference_states), run)  # the solution's methods: passes
    with pytest.raises(FAILED, match=r"one training step called as MLP\.forward\(X\), loss\(Y\), backward\(Y\)") as failed:
        train(Forging(student_of(tmp_path, "backward_no_activation_grad"), reference_states), run)
    assert "leaves out the activations' derivative" in str(failed.value)


XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = np.array([[0.0], [1.0], [1.0], [0.0]])
XOR_RUN = trajectory.Run((2, 8, 1), "tanh", "sigmoid", "mse", XOR_X, XOR_Y, (np.tile(np.arange(4), (3, 1)),), (2.0,), 4)


def test_one_huge_entry_does_not_loosen_the_rest_of_its_array():
    """Does a reported state with one huge entry that changes nothing (a tanh unit held at 1 whatever its input,
    its outgoing weight 0) still have every other entry of that array checked to the usual tolerance?"""
    rng = np.random.default_rng(0)
    start = [rng.standard_normal(shape) * 0.7 for shape in XOR_RUN.shapes()]  # W1, W2, b1, b2
    W1, W2, b1, _ = start
    W1[7], b1[7], W2[0, 7] = 0.0, 1e20, 0.0
    want = trajectory.reference_step(XOR_RUN, start, np.arange(4), 2.0)
    faked = [w.copy() for w in want]
    faked[2][:7] += 0.5  # the other hidden biases moved 0.5 further than the gradient says
    assert all(trajectory.close(s, w, w) for s, w in zip(start, want))
    assert not trajectory.close(start[2], want[2], faked[2]), (
        f"deviation {trajectory.deviation(start[2], want[2], faked[2]):.3g}: one entry of 1e20 made its array free")
    stacked = trajectory.deviation(np.stack([start[2]] * 2), np.stack([want[2]] * 2), np.stack([want[2], faked[2]]),
                                   axis=0)
    assert stacked[0] <= trajectory.RTOL < stacked[1]  # the stacked replay (XOR's) judges alike
