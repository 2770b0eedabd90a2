"""Red team of the judge's data and of state across calls (issue 14 items 6 and 7), through `grader grade`.

Each hostile submission is the reference solution with one honest bug (a mutant of mutants.py)
plus an attack appended from redteam/appended/; its honest twin is the same mutant without the
attack. The attacks: train on the MNIST test split, install hand-made XOR weights when train sees
XOR's fixed inputs, remember answers (backward, train) to hide the bug from repeated calls, write
XOR's output layer by least squares in update instead of following the gradients, and undo MNIST's
secret encoding from the statistics of the training batches to install pretrained weights through
"gradients" (issue 22 items 1 and 5), and replace the grader's training loop in the worker to install
weights fitted by least squares after the real steps, reporting them as the loop's last state (XOR's
four points; MNIST's training images, about 89 % without any gradient). Each must score exactly its
twin: the attack earns nothing. The two replaced loops passed XOR and MNIST on the kit before the
trusted side checked the reported steps (tests/hidden/trajectory.py). A loop that computes its steps by finite
differences of forward and loss, never calling the wrong backward, reports the reference steps themselves:
it passed XOR until the trusted side also made one step through the model's methods (trajectory.step_by_methods).

Figures before this suite's changes (commit 6800867, `grader grade` on the same class):
see docs/internals.md, "Kept values and trusted training steps".
"""

from __future__ import annotations

import base64
import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import mutants  # noqa: E402
from test_redteam_batch import KIT  # noqa: E402

APPENDED = HERE / "redteam" / "appended"
ATTACKS = {  # hostile submission -> (the honest bug of both, the attack appended to the hostile one)
    "train-on-test-split": ("init_zero_weights", "learning_train_on_test_split.py"),
    "pretrained-xor": ("backward_no_activation_grad", "learning_pretrained_xor.py"),
    "memo-backward": ("backward_accumulates", "memo_backward.py"),
    "memo-train": ("train_ignores_seed", "memo_train.py"),
    "least-squares-update": ("backward_no_activation_grad", "learning_least_squares_update.py"),
    "recovered-permutation": ("init_zero_weights", "learning_recovered_permutation.py"),
    "replaced-loop-xor": ("backward_no_activation_grad", "learning_replaced_loop_xor.py"),
    "replaced-loop-mnist": ("ce_grad_sign", "learning_replaced_loop_mnist.py"),
    "finite-difference-loop": ("backward_no_activation_grad", "learning_fd_loop.py"),
}
NEEDS_PRETRAINED = {"learning_recovered_permutation.py"}


def pretrained() -> str:
    """The line `PRETRAINED = "<base64>"` an attack file starts from: a 784-32-10 net trained by the solution
    on plain MNIST (2 epochs; the attack widens it to the MNIST test's hidden width by units that stay 0), MNIST's class
    counts and mean image per class (float16, to stay under the intake's 256 KiB per code file)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("pretrained_solution", mutants.SOLUTION)
    solution = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(solution)
    X, y, _, _ = solution.load_mnist(KIT / "data" / "mnist")
    model = solution.MLP([784, 32, 10], activation="relu", output_activation="identity", loss="cross_entropy", seed=1)
    solution.train(model, X, solution.one_hot(y), epochs=2, lr=0.1, batch_size=32, seed=1)
    buffer = io.BytesIO()
    (W1, W2), (b1, b2) = model.weights, model.biases
    np.savez(buffer, W1=W1.astype(np.float16), b1=b1.astype(np.float16), W2=W2.astype(np.float16),
             b2=b2.astype(np.float16), counts=np.bincount(y, minlength=10),
             class_means=np.stack([X[y == c].mean(axis=0) for c in range(10)]).astype(np.float16))
    return f'PRETRAINED = "{base64.b64encode(buffer.getvalue()).decode()}"\n'


def make_class(root: Path) -> dict[str, str]:
    """Writes the class under root; returns {hostile submission: its honest twin}."""
    solution = mutants.SOLUTION.read_text()
    pairs = {}
    for name, (bug, attack) in ATTACKS.items():
        honest = mutants.by_name(bug).apply(solution)
        payload = pretrained() if attack in NEEDS_PRETRAINED else ""
        for folder, text in ((f"twin-{name}", honest), (name, honest + "\n\n" + payload + (APPENDED / attack).read_text())):
            (root / folder).mkdir(parents=True)
            (root / folder / "exercise02_template.py").write_text(text)
        pairs[name] = f"twin-{name}"
    return pairs


def grade(folder: Path, out: Path) -> dict[str, dict]:
    """`grader grade` on a class folder; grades.csv by submission."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "grader", "grade", str(folder), "--out", str(out), "--jobs", "2", "--budget", "400"],
        cwd=KIT, env=env, capture_output=True, text=True, timeout=1500,
    )  # fmt: skip
    assert run.returncode == 0, f"grader grade failed (exit {run.returncode}):\n{run.stderr[-3000:]}"
    with (out / "grades.csv").open(newline="") as file:
        return {row["submission"]: row for row in csv.DictReader(file)}


@pytest.fixture(scope="module")
def learning_batch(tmp_path_factory):
    from isolation import require_sandbox

    require_sandbox()  # fails without bwrap unless EXERCISE02_SKIP_SANDBOX_TESTS=1
    root = tmp_path_factory.mktemp("learning")
    pairs = make_class(root / "class")
    return pairs, grade(root / "class", root / "out")


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_learning_attack_scores_like_its_honest_twin(learning_batch, attack):
    """Does a submission that trains on the judge's data, embeds weights, remembers answers, ignores its gradients
    or undoes the data's encoding score exactly its twin?"""
    pairs, grades = learning_batch
    hostile, twin = grades[attack], grades[pairs[attack]]
    assert float(hostile["auto_points"]) == float(twin["auto_points"]), (
        f"{attack}: {hostile['auto_points']} points, honest twin {pairs[attack]}: {twin['auto_points']}"
    )


def test_learning_twins_lose_points_for_their_bug(learning_batch):
    """Is each twin's bug itself found (so an equal score is not two full marks)?"""
    pairs, grades = learning_batch
    for twin in pairs.values():
        assert 0 < float(grades[twin]["auto_points"]) < 100, twin

