"""Self-tests of the template generator: the committed template is fresh, markers are strict, stubs work."""

from __future__ import annotations

import importlib.util
import inspect
import shutil
from pathlib import Path

import numpy as np
import pytest

from grader import cli
from grader.authoring import template

KIT = Path(__file__).resolve().parents[2]
SOLUTION = KIT / "solutions" / "exercise02.py"
TEMPLATE = KIT / "exercise02_template.py"

# The stubs of the student API of docs/contract.md, in file order.
STUBS = [
    "sigmoid", "sigmoid_grad", "tanh", "tanh_grad", "relu", "relu_grad", "leaky_relu", "leaky_relu_grad",
    "elu", "elu_grad", "softmax", "mse_loss", "mse_loss_grad", "cross_entropy_loss",
    "cross_entropy_loss_grad", "MLP.forward", "MLP.loss", "MLP.backward", "MLP.update",
    "learning_rate_experiment",
]


def load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def kit_template():
    return load(TEMPLATE, "exercise02_template_under_test")


# --------------------------------------------------------------------------- freshness


def test_committed_template_is_rendered_solution():
    """Is the committed exercise02_template.py exactly render(solutions/exercise02.py)?"""
    assert TEMPLATE.read_text() == template.render(SOLUTION.read_text()), (
        "exercise02_template.py is stale: run `grader template`"
    )


def test_template_check_passes_on_the_kit(capsys):
    """Does `grader template --check` exit 0 on the committed kit?"""
    assert cli.main(["template", "--check"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_template_check_fails_when_stale(tmp_path, monkeypatch, capsys):
    """Does `grader template --check` exit 1 on a stale template, and `grader template` fix it?"""
    (tmp_path / "solutions").mkdir()
    shutil.copy(SOLUTION, tmp_path / "solutions" / "exercise02.py")
    (tmp_path / "exercise02_template.py").write_text(TEMPLATE.read_text() + "\n# hand edit\n")
    monkeypatch.setattr(cli, "KIT", tmp_path)
    assert cli.main(["template", "--check"]) == 1
    assert "stale" in capsys.readouterr().out
    assert cli.main(["template"]) == 0
    assert (tmp_path / "exercise02_template.py").read_text() == TEMPLATE.read_text()
    assert cli.main(["template", "--check"]) == 0
    (tmp_path / "exercise02_template.py").unlink()
    assert cli.main(["template", "--check"]) == 1  # a missing template is stale too


# --------------------------------------------------------------------------- markers

GOOD = '''def f(x):
    """Doc stays."""
    ### BEGIN SOLUTION
    return x
    ### END SOLUTION


class C:
    def g(self):
        if True:
            ### BEGIN SOLUTION
            return 1
            ### END SOLUTION
'''


def test_render_replaces_regions_by_named_stubs():
    """Does render turn each region into a stub at its indentation, naming the enclosing function?"""
    out = template.render(GOOD)
    assert '    """Doc stays."""\n    # YOUR CODE HERE\n    raise NotImplementedError("f")\n' in out
    assert '            # YOUR CODE HERE\n            raise NotImplementedError("C.g")\n' in out
    assert "return x" not in out and "return 1" not in out and "SOLUTION" not in out
    assert template.regions(GOOD) == ["f", "C.g"]


@pytest.mark.parametrize(
    "text, problem",
    [
        ("def f():\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n    pass\n    ### END SOLUTION\n", "inside"),
        ("def f():\n    ### BEGIN SOLUTION\n    pass\n", "never closed"),
        ("def f():\n    pass\n    ### END SOLUTION\n", "without"),
        ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n", "inside a function"),
    ],
    ids=["nested", "unclosed", "stray-end", "outside-function"],
)
def test_render_rejects_unbalanced_markers(text, problem):
    """Does render raise TemplateError (with the line) on nested, unclosed, stray or top-level markers?"""
    with pytest.raises(template.TemplateError, match=problem) as error:
        template.render(text)
    assert "line " in str(error.value)


def test_solution_markers_balanced_and_match_the_contract():
    """Does the solution have exactly one region per stub of the contract, in order?"""
    text = SOLUTION.read_text()
    fix = ("the solution's regions are the student API: a region added, removed or renamed in solutions/exercise02.py "
           "must also change STUBS in tests/selftest/test_template.py and the API in docs/contract.md")
    assert text.count(template.BEGIN) == text.count(template.END) == len(STUBS), fix
    assert template.regions(text) == STUBS, fix


# --------------------------------------------------------------------------- the template itself


def test_template_has_no_solution_text():
    """Is no marker and no line of solution code left in the template?"""
    text = TEMPLATE.read_text()
    assert "### BEGIN SOLUTION" not in text and "### END SOLUTION" not in text
    assert text.count("raise NotImplementedError(") == len(STUBS)
    solution_only = {"shifted = z - np.max(z, axis=-1, keepdims=True)", "dZ.T @ self.inputs[layer]"}
    for line in solution_only:
        assert line in SOLUTION.read_text(), f"update this test: {line!r} left the solution"
        assert line not in text


def call_stub(module, name: str):
    """Call the stub `name` of the template module with placeholder arguments."""
    if "." in name:
        cls, method = name.split(".")
        target = getattr(getattr(module, cls)([2, 3, 1]), method)
    else:
        target = getattr(module, name)
    required = [
        p for p in inspect.signature(target).parameters.values()
        if p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    return target(*[np.zeros((2, 2)) for _ in required])


@pytest.mark.parametrize("name", STUBS)
def test_stub_raises_not_implemented(kit_template, name):
    """Does every stub raise NotImplementedError naming its own function?"""
    with pytest.raises(NotImplementedError) as error:
        call_stub(kit_template, name)
    assert error.value.args == (name,)


def test_template_given_mlp_constructor(kit_template):
    """Does the template's given MLP constructor build the contract's shapes and reject bad names?"""
    model = kit_template.MLP([4, 5, 3], activation="relu", seed=1)
    assert [W.shape for W in model.weights] == [(5, 4), (3, 5)]
    assert [b.shape for b in model.biases] == [(5,), (3,)]
    assert [g.shape for g in model.grad_weights] == [(5, 4), (3, 5)]
    assert [g.shape for g in model.grad_biases] == [(5,), (3,)]
    assert all(W.dtype == np.float64 for W in model.weights)
    again = kit_template.MLP([4, 5, 3], activation="relu", seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(model.weights, again.weights))
    with pytest.raises(ValueError, match="allowed"):
        kit_template.MLP([2, 2], activation="swish")
    with pytest.raises(ValueError, match="identity"):
        kit_template.MLP([2, 2], output_activation="sigmoid", loss="cross_entropy")


def test_template_given_one_hot(kit_template):
    """Does the template's one_hot give (N, K) float64 rows with a single 1?"""
    Y = kit_template.one_hot(np.array([0, 3, 9]))
    assert Y.shape == (3, 10) and Y.dtype == np.float64
    assert np.array_equal(Y.argmax(axis=1), [0, 3, 9]) and np.all(Y.sum(axis=1) == 1)
    assert kit_template.one_hot([1, 0], num_classes=2).tolist() == [[0.0, 1.0], [1.0, 0.0]]


def test_template_given_signatures(kit_template):
    """Do train, learning_rate_experiment and load_mnist have the contract's signatures?"""
    train = inspect.signature(kit_template.train).parameters
    assert list(train)[:9] == ["model", "X", "Y", "epochs", "lr", "batch_size", "X_val", "Y_val", "seed"]
    assert (train["batch_size"].default, train["X_val"].default, train["seed"].default) == (32, None, 0)
    lre = inspect.signature(kit_template.learning_rate_experiment).parameters
    assert list(lre)[:5] == ["learning_rates", "X_train", "Y_train", "X_val", "Y_val"]
    defaults = {k: lre[k].default for k in ("layer_sizes", "activation", "epochs", "batch_size", "seed")}
    assert defaults == {"layer_sizes": None, "activation": "relu", "epochs": 2, "batch_size": 32, "seed": 0}
    assert all(lre[k].kind is inspect.Parameter.KEYWORD_ONLY for k in defaults)
    assert list(inspect.signature(kit_template.load_mnist).parameters) == ["data_dir"]


def test_template_given_load_mnist(kit_template):
    """Does the template's load_mnist read the kit's data with the contract's shapes?"""
    X_train, y_train, X_test, y_test = kit_template.load_mnist()
    assert X_train.shape == (60000, 784) and X_test.shape == (10000, 784)
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    assert X_train.dtype == np.float64 and y_train.dtype == np.int64


def hidden_constants(path: Path) -> dict:
    """The module-level constants of a hidden test file, read with ast (the hidden suite is never imported here)."""
    import ast

    found = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                found[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    return found


def test_template_states_the_mnist_rule_the_hidden_test_applies(kit_template):
    """Does the template's module docstring (what students read) state the hidden MNIST test's net, training set size,
    learning rates and threshold with the values the test uses, so that changing one of them in the test alone fails
    here rather than grade students by a rule they cannot read?"""
    c = hidden_constants(KIT / "tests" / "hidden" / "test_training.py")
    text = " ".join(kit_template.__doc__.split())
    stated = [f"MLP([784, {c['MNIST_HIDDEN']}, 10]", f"one epoch over {10 * c['MNIST_PER_CLASS']:,} training images",
              f"lr {c['MNIST_RATES'][0]:g}, then {c['MNIST_RATES'][1]:g}", f"at least {100 * c['MNIST_THRESHOLD']:g} %"]
    assert [phrase for phrase in stated if phrase not in text] == [], text


def test_template_states_the_step_rule_the_hidden_tests_apply(kit_template):
    """Does the template's module docstring state the rule the hidden learning tests check at every step they
    repeat (tests/hidden/trajectory.py), with XOR's steps and rate as tests/hidden/test_training.py uses them, and
    name the public test that shows the rule with other values (which must exist)?"""
    c = hidden_constants(KIT / "tests" / "hidden" / "test_training.py")
    text = " ".join(kit_template.__doc__.split())
    stated = ["must move each weight and bias by exactly -lr times the gradient of the loss",
              f"{c['XOR_EPOCHS']} full-batch steps at lr {c['XOR_LR']:g}", "test_training_steps_follow_the_gradient"]
    assert [phrase for phrase in stated if phrase not in text] == [], text
    assert "def test_training_steps_follow_the_gradient(" in (KIT / "tests" / "public" / "test_training.py").read_text()
