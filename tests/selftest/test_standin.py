"""grader/sandbox/standin.py: the trusted stand-ins a unit test of MLP's methods runs with."""

from __future__ import annotations

import ast
import types

import numpy as np

from classroom import KIT
from grader.sandbox import standin

BUGGY = '''
import numpy as np
def sigmoid(z): return 0 * z
def sigmoid_grad(z): return z * (1 - z)
def mse_loss_grad(y_hat, y): return y_hat - y
ACTIVATIONS = {"sigmoid": (sigmoid, sigmoid_grad)}
PAIRS = [sigmoid, sigmoid_grad]
class MLP:
    table = {"sigmoid": (sigmoid, sigmoid_grad)}
    derivative = staticmethod(sigmoid_grad)
    def backward(self, z):
        return ACTIVATIONS["sigmoid"][1](z)
'''


def module() -> types.ModuleType:
    mod = types.ModuleType("submission_like")
    exec(BUGGY, mod.__dict__)
    return mod


def test_install_rebinds_globals_tables_and_class_attributes_and_restore_undoes_it():
    """Do the stand-ins replace a function wherever the module refers to it, and does restore put everything back?"""
    mod = module()
    z = np.array([[-2.0, 0.5, 3.0]])
    records = standin.install(mod, standin.NAMES)
    right = standin.FUNCTIONS["sigmoid_grad"](z)
    assert np.allclose(right, np.exp(-z) / (1 + np.exp(-z)) ** 2)
    for function in (mod.sigmoid_grad, mod.ACTIVATIONS["sigmoid"][1], mod.PAIRS[1], mod.MLP.table["sigmoid"][1],
                     mod.MLP.derivative):
        assert np.allclose(function(z), right)
    assert np.allclose(mod.MLP().backward(z), right)
    assert np.allclose(mod.mse_loss_grad(np.ones((2, 3)), np.zeros((2, 3))), 0.5)  # the contract's 1/N
    standin.restore(records)
    assert np.allclose(mod.MLP().backward(z), z * (1 - z))
    assert np.allclose(mod.MLP.derivative(z), z * (1 - z))
    assert np.allclose(mod.sigmoid(z), 0.0)


def test_stand_ins_are_the_contract_and_finite_for_large_inputs():
    """Are the stand-ins the contract's formulas, finite and warning-free for |z| up to 1e3?"""
    z = np.array([[-1000.0, -3.0, -0.5, 0.5, 3.0, 1000.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        values = {name: standin.FUNCTIONS[name](z) for name in standin.NAMES if "loss" not in name}
    assert np.allclose(values["sigmoid"], [[0.0, 1 / (1 + np.e ** 3), 1 / (1 + np.e ** 0.5),
                                            1 / (1 + np.e ** -0.5), 1 / (1 + np.e ** -3), 1.0]])
    assert np.allclose(values["elu"][0, :3], np.expm1([-1000.0, -3.0, -0.5]))
    assert np.allclose(values["softmax"].sum(axis=-1), 1.0)
    logits, y = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]]), np.eye(3)[[1, 2]]
    assert np.isclose(standin.FUNCTIONS["cross_entropy_loss"](logits, y),
                      -np.mean(np.log(np.exp(logits[[0, 1], [1, 2]]) / np.exp(logits).sum(axis=1))))


def test_each_formula_has_one_home_the_grader_keeps():
    """Do the answer key and the stand-ins use the very functions of grader/sandbox/formula.py, and does the
    student bundle leave that module (and standin.py) out, and the sandbox mount standin.py but no formula?"""
    import importlib.util

    from grader.authoring import release
    from grader.sandbox import formula, layout

    spec = importlib.util.spec_from_file_location("answer_key", KIT / "tests" / "hidden" / "reference.py")
    reference = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reference)
    for name in standin.NAMES:
        assert standin.FUNCTIONS[name] is getattr(formula, name) is getattr(reference, name), name
    assert reference.ACTIVATIONS is formula.ACTIVATIONS and reference.LOSSES is formula.LOSSES
    written = {node.name for path in (KIT / "tests" / "hidden").glob("*.py")
               for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.FunctionDef)}
    written |= {node.name for node in ast.walk(ast.parse((KIT / "grader" / "sandbox" / "standin.py").read_text()))
                if isinstance(node, ast.FunctionDef)}
    assert not written & set(standin.NAMES), "a formula is written again outside grader/sandbox/formula.py"
    assert "standin.py" in layout.GRADER_FILES and "formula.py" not in layout.GRADER_FILES  # sent as source only
    assert not {f"sandbox/{name}" for name in layout.GRADER_FILES} & set(release.SANDBOX_RUNTIME)


def test_an_installed_kit_is_hidden_from_the_worker(tmp_path, monkeypatch):
    """A copy of the grader package installed without -e (`pip install .` next to the checkout in use) lies in
    a folder the sandbox binds: is it covered by an empty read-only tmpfs, and is nothing covered when the
    copy lies outside every bound folder or a folder holds another package named grader?"""
    from grader.sandbox import layout

    site = tmp_path / "venv" / "lib" / "site-packages"
    (site / "grader" / "sandbox").mkdir(parents=True)
    (site / "grader" / "sandbox" / "formula.py").write_text("")
    other = tmp_path / "other" / "site-packages"
    (other / "grader").mkdir(parents=True)  # somebody else's package named grader: no formula.py
    copy = str((site / "grader").resolve())
    assert layout.installed_copies([str(tmp_path / "venv")], [str(site), str(other)]) == [copy]
    assert layout.installed_copies([str(tmp_path / "other")], [str(site), str(other)]) == []
    assert layout.installed_copies(["/usr/lib/python3-nowhere"], [str(site)]) == []

    real = layout.installed_copies
    monkeypatch.setattr(layout, "installed_copies", lambda bound: real(bound, [str(site)]))
    cmd = layout.Layout("bwrap", [str(tmp_path / "venv")], False, None).command(None, ["python3"])
    at = cmd.index("--tmpfs", cmd.index("--ro-bind", cmd.index("/tmp")))  # after the interpreter's trees
    assert cmd[at - 2:at + 4] == ["--size", "4096", "--tmpfs", copy, "--remount-ro", copy]
    assert cmd.index(copy) > cmd.index(str(tmp_path / "venv"))  # bwrap mounts in order: over the bind


def test_the_worker_gets_only_the_formulas_it_installs():
    """Does the source sent for a stand-in define that function and the helpers it calls only (closure), and
    compute what the trusted side's own function computes? softmax's must not carry log_softmax, the
    stable half of cross_entropy_loss, which is judged while softmax stands in."""
    z = np.array([[-1000.0, -3.0, -0.5, 0.5, 3.0, 1000.0]])
    logits, y = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]]), np.eye(3)[[1, 2]]
    for name in standin.NAMES:
        built = standin.build(standin.source_of([name]), [name])
        defined = {key for key, value in built[name].__globals__.items() if isinstance(value, types.FunctionType)}
        assert defined == standin.closure([name]), name
        args = (logits, y) if "loss" in name else (z,)
        assert np.allclose(built[name](*args), standin.FUNCTIONS[name](*args)), name
    assert standin.closure(["sigmoid_grad"]) == {"sigmoid_grad", "sigmoid"}
    assert "log_softmax" not in standin.closure(["softmax"])


BUILT_ON = '''

def leaky_relu(z, alpha=0.01):
    return np.where(z > 0, 1.1 * z, alpha * z)  # the bug: the positive side is scaled


def relu(z):
    return leaky_relu(z, 0.0)  # right, given a right leaky_relu
'''


def test_a_base_function_built_on_another_is_judged_with_that_one_standing_in(tmp_path):
    """relu written on the student's own leaky_relu, whose bug is in leaky_relu: does the bug cost leaky_relu's
    test only (relu's own test runs with leaky_relu standing in, read from the code by the trusted side)?"""
    import sys

    sys.path.insert(0, str(KIT / "tests" / "selftest"))
    from test_hidden_suite import hidden_ids, run_hidden

    submission = tmp_path / "exercise02.py"
    submission.write_text((KIT / "solutions" / "exercise02.py").read_text() + BUILT_ON)
    ids = hidden_ids()
    nodeids = [ids["test_activation_values[relu]"], ids["test_activation_values[leaky_relu]"]]
    results = run_hidden(submission, tmp_path / "results.json", nodeids)
    outcome = {t["id"]: t["outcome"] for t in results["tests"]}
    assert outcome == {"test_activation_values[relu]": "passed", "test_activation_values[leaky_relu]": "failed"}, outcome


def counting_requests(student) -> list:
    """The ops of the requests `student` (a SandboxStudent) sends from now on."""
    ops, send = [], student._request

    def request(header, *args, **kwargs):
        ops.append(header["op"])
        return send(header, *args, **kwargs)

    student._request = request
    return ops


def test_an_unchanged_stand_in_set_is_not_sent_again_but_a_new_worker_gets_it(tmp_path, bwrap_sandbox):
    """Does a worker that has a set installed get no request for the same set (nor for none when it has none),
    does a different set or none after a set go out once, and does a fresh worker (after restart) get the set
    again, counted as held by it?"""
    from grader.sandbox.client import SandboxStudent

    path = tmp_path / "exercise02.py"
    path.write_text(BUGGY)
    student = SandboxStudent(path, data_dir=None)
    ops = counting_requests(student)
    try:
        student.standin(None)  # no worker yet: the next one starts with none
        assert ops == [] and student._host.worker is None
        assert student.sigmoid(0.0) == 0.0 and ops == ["call"]  # the submission's own (buggy) sigmoid
        for _ in range(3):
            student.standin(["sigmoid", "sigmoid_grad"])
            student.standin(["sigmoid_grad", "sigmoid"])  # the same set in another order
        assert ops == ["call", "standin"] and student.sigmoid(0.0) == 0.5
        student.standin(None)
        student.standin(None)
        assert ops == ["call", "standin", "call", "standin"] and student.sigmoid(0.0) == 0.0
        student.standin(["sigmoid"])
        student.restart()
        assert student.formulas_held == frozenset()
        student.standin(["sigmoid"])
        assert ops[-2:] == ["standin", "standin"] and student._host.generation == 2
        assert student.sigmoid(0.0) == 0.5 and student.formulas_held == {"sigmoid"}
    finally:
        student.close()


def test_in_process_an_unchanged_stand_in_set_is_not_installed_again(tmp_path, monkeypatch):
    """InProcessStudent as SandboxStudent: the same set again installs nothing, another set or none does, and
    a fresh import (restart) gets the set again?"""
    from grader.sandbox.inprocess import InProcessStudent

    path = tmp_path / "exercise02.py"
    path.write_text(BUGGY)
    student = InProcessStudent(path)
    installs, real = [], standin.install
    monkeypatch.setattr(standin, "install", lambda module, names, *rest: installs.append(list(names))
                        or real(module, names, *rest))
    student.standin(None)
    student.standin(["sigmoid"])
    student.standin(["sigmoid"])
    assert installs == [["sigmoid"]] and student.sigmoid(0.0) == 0.5
    student.standin(None)
    assert student.sigmoid(0.0) == 0.0
    student.standin(["sigmoid"])
    student.restart()
    student.standin(["sigmoid"])
    assert installs == [["sigmoid"], ["sigmoid"], ["sigmoid"]] and student.sigmoid(0.0) == 0.5


def test_a_function_source_is_cut_where_ast_puts_it_whatever_the_line_breaks():
    """Is each function's source the text ast.get_source_segment gives, also when the file holds characters that
    str.splitlines ends a line at but Python does not (a form feed between functions, U+2028 in a comment, a
    lone carriage return, non-ASCII letters)?"""
    text = ('"""A module."""\nimport numpy as np\n\n\x0c\n# a comment \u2028 with a line separator\n'
            'def first(z):\r\n    """h\u00e9"""  # \x85\r\n    return np.tanh(z)\r\n\n\n'
            'def second(z): return z + 1  # \x0b\rdef third(z):\n    return first(z)  # \u00e9\u2029\n')
    sources, defs = standin._functions(text)
    assert set(sources) == {"first", "second", "third"}
    assert sources == {name: ast.get_source_segment(text, node) for name, node in defs.items()}
