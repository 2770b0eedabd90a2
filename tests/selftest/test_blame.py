"""The hidden suite's run order and the integration tests' "fix X first" line (tests/hidden/conftest.py, blame.py).

The integration tests run first, before any trusted formula reaches the worker, and the unit tests after
them; yet a failed integration test still starts with the line naming the functions whose own tests
failed (applied once every test has run), results.json lists the tests as before (unit tests, then the
integration tests that point at "the unit tests above"), and a worker an integration test leaves behind
(stopped, timed out, dead) costs the unit tests after it nothing: they run on a fresh one.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
KIT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(KIT / "tests" / "hidden"))
import blame  # noqa: E402
import mutants  # noqa: E402
from test_hidden_suite import hidden_ids, run_hidden  # noqa: E402

SOLUTION = KIT / "solutions" / "exercise02.py"
MUTANT = next(m for m in mutants.MUTANTS if m.name == "mse_grad_sign")  # its own test and XOR fail
UNIT, XOR = "test_mse_loss_grad_matches_finite_differences", "test_xor_learns"
PASSING = "test_activation_values[sigmoid]"


@pytest.fixture(scope="module")
def mutant(tmp_path_factory):
    return mutants.write(MUTANT, tmp_path_factory.mktemp("blame") / "mse_grad_sign")


def nodeids(*names) -> list[str]:
    ids = hidden_ids()
    return [ids[i] for i in ids if i in names or i.split("[", 1)[0] in names]


@pytest.mark.parametrize("sandbox", [False, True], ids=["in-process", "sandbox"])
def test_integration_failure_names_the_unit_to_fix_first(mutant, tmp_path, sandbox, request):
    """With mse_loss_grad wrong, does XOR's message (XOR runs before the unit tests) still start with "Fix
    mse_loss_grad first", followed by exactly the message XOR gives alone, and are the tests listed in the
    order the student reads them (the unit tests above the integration test)?"""
    if sandbox:
        request.getfixturevalue("bwrap_sandbox")  # fails without bwrap unless EXERCISE02_SKIP_SANDBOX_TESTS=1
    alone = run_hidden(mutant, tmp_path / "alone.json", nodeids(XOR))
    [xor_alone] = alone["tests"]
    assert xor_alone["outcome"] == "failed" and not xor_alone["message"].startswith("Fix"), xor_alone["message"]

    results = run_hidden(mutant, tmp_path / "results.json", nodeids(XOR, UNIT, PASSING), sandbox=sandbox)
    tests = {t["id"]: t for t in results["tests"]}
    assert tests[PASSING]["outcome"] == "passed" and tests[UNIT]["outcome"] == "failed", tests
    hint = blame.fix_first([UNIT])
    assert hint == "Fix mse_loss_grad first: its own test fails, and this test needs it."
    assert tests[XOR]["message"] == f"{hint} {xor_alone['message']}"
    assert [t["id"] for t in results["tests"]] == [PASSING, UNIT, XOR]  # shown order; XOR ran first


def test_no_hint_when_every_unit_test_passes(mutant, tmp_path):
    """Does an integration test that fails while no unit test failed keep its own message, with no hint?"""
    results = run_hidden(mutant, tmp_path / "results.json", nodeids(XOR, PASSING))
    tests = {t["id"]: t for t in results["tests"]}
    assert tests[PASSING]["outcome"] == "passed"
    assert tests[XOR]["outcome"] == "failed" and not tests[XOR]["message"].startswith("Fix"), tests[XOR]["message"]


HANGS = '''

import time as _time


def learning_rate_experiment(*args, **kwargs):
    _time.sleep(60)  # stopped by the test's timeout (pytest-timeout) while the call is in the worker
'''
DIES = '''

import os as _os


def learning_rate_experiment(*args, **kwargs):
    _os._exit(3)  # the worker dies in the middle of an integration test
'''
AFTER = ("test_activation_values", "test_softmax_lecture_table", "test_mlp_update_step")  # the three phases


@pytest.mark.parametrize("sandbox", [False, True], ids=["in-process", "sandbox"])
def test_unit_tests_after_a_timed_out_integration_test_are_graded(tmp_path, sandbox, request):
    """An integration test cut short by its timeout while the submission computes: does every unit test after
    it still pass, on a fresh worker (not one still busy with the cut call, whose late reply it would read)?"""
    if sandbox:
        request.getfixturevalue("bwrap_sandbox")
    submission = tmp_path / "exercise02.py"
    submission.write_text(SOLUTION.read_text() + HANGS)
    test = "test_learning_rate_experiment_defaults_other_classes"  # no timeout marker: --timeout applies
    selected = nodeids(test, *AFTER)
    results = run_hidden(submission, tmp_path / "results.json", selected + ["--timeout", "3"], sandbox=sandbox)
    tests = {t["id"]: t for t in results["tests"]}
    assert tests[test]["outcome"] == "failed" and "Timeout" in tests[test]["message"], tests[test]
    rest = [t for t in results["tests"] if t["id"] != test]
    assert len(rest) == len(selected) - 1 and all(t["outcome"] == "passed" for t in rest), \
        [(t["id"], t["message"][:200]) for t in rest if t["outcome"] != "passed"]


@pytest.mark.usefixtures("bwrap_sandbox")
def test_unit_tests_after_a_worker_died_in_an_integration_test_are_graded(tmp_path):
    """The worker dies during an integration test: does every unit test after it still pass on a fresh worker?"""
    submission = tmp_path / "exercise02.py"
    submission.write_text(SOLUTION.read_text() + DIES)
    test = "test_learning_rate_experiment_defaults_other_classes"
    selected = nodeids(test, *AFTER)
    results = run_hidden(submission, tmp_path / "results.json", selected, sandbox=True)
    tests = {t["id"]: t for t in results["tests"]}
    assert tests[test]["outcome"] == "failed", tests[test]
    rest = [t for t in results["tests"] if t["id"] != test]
    assert len(rest) == len(selected) - 1 and all(t["outcome"] == "passed" for t in rest), \
        [(t["id"], t["message"][:200]) for t in rest if t["outcome"] != "passed"]
