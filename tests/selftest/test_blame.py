"""The hidden suite's run order and the integration tests' "fix X first" line (tests/hidden/conftest.py, blame.py).

The unit tests run first and the integration tests last: a failed integration test starts with the line
naming the functions whose own tests failed; what the integration tests spend of the run's limits (the
idle allowance) never costs a unit test its points; and a worker an integration test leaves behind
(cut short by the test's timeout, dead) costs the tests after it nothing: they run on a fresh one.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from grader.grading import harness
from grader.grading.results import GRADED

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
DETERMINISM = "test_mlp_seed_determinism"  # calls train; no timeout marker, so --timeout applies


@pytest.fixture(scope="module")
def mutant(tmp_path_factory):
    return mutants.write(MUTANT, tmp_path_factory.mktemp("blame") / "mse_grad_sign")


def nodeids(*names) -> list[str]:
    ids = hidden_ids()
    return [ids[i] for i in ids if i in names or i.split("[", 1)[0] in names]


@pytest.mark.parametrize("sandbox", [False, True], ids=["in-process", "sandbox"])
def test_integration_failure_names_the_unit_to_fix_first(mutant, tmp_path, sandbox, request):
    """With mse_loss_grad wrong, does XOR's message start with "Fix mse_loss_grad first", followed by exactly
    the message XOR gives alone, and are the tests listed in the order the student reads them (the unit
    tests above the integration test)?"""
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
    assert [t["id"] for t in results["tests"]] == [PASSING, UNIT, XOR]


def test_no_hint_when_every_unit_test_passes(mutant, tmp_path):
    """Does an integration test that fails while no unit test failed keep its own message, with no hint?"""
    results = run_hidden(mutant, tmp_path / "results.json", nodeids(XOR, PASSING))
    tests = {t["id"]: t for t in results["tests"]}
    assert tests[PASSING]["outcome"] == "passed"
    assert tests[XOR]["outcome"] == "failed" and not tests[XOR]["message"].startswith("Fix"), tests[XOR]["message"]



def test_a_failed_seeds_test_points_at_its_own_message_not_at_given_code(tmp_path):
    """When the seeds test failed and no unit test did (the constant impostor's steps move nothing): do the
    integration tests after it point at that test's message, which names the cause, rather than claiming that
    MLP.__init__ and train (given code, with no test of their own) fail their own tests?"""
    import impostors
    from test_hidden_suite import INTERNAL_NAMES

    hint = blame.fix_first(["test_mlp_seed_determinism"])
    assert hint == ("test_mlp_seed_determinism failed above: an MLP built and trained with a seed does not give what "
                    "the given MLP.__init__ and train give. This test trains too: fix what that test's message names first.")
    assert blame.fix_first(["test_xor_learns"]) == ""  # an integration test without a finding of its own: no line
    other_classes = "test_learning_rate_experiment_defaults_other_classes"
    results = run_hidden(impostors.write("constant", tmp_path / "constant"), tmp_path / "results.json",
                         nodeids(DETERMINISM, XOR, other_classes))  # fmt: skip
    tests = {t["id"]: t for t in results["tests"]}
    assert tests[DETERMINISM]["outcome"] == "failed" and "Look at MLP.backward and MLP.update" in tests[DETERMINISM]["message"]
    for later in (XOR, other_classes):
        message = tests[later]["message"]
        assert tests[later]["outcome"] == "failed" and message.startswith(hint), message
        assert "their own tests fail" not in message and not INTERNAL_NAMES.search(message), message

def with_train(body: str) -> str:
    """The solution with its train replaced by one that first runs `body` (indented code)."""
    return SOLUTION.read_text() + f'''

import os as _os
import time as _time
_honest_train = train


def train(*args, **kwargs):
    {body}
    return _honest_train(*args, **kwargs)
'''


UNITS = ("test_activation_values", "test_softmax_lecture_table", "test_mlp_update_step")  # one per phase


@pytest.mark.parametrize("sandbox", [False, True], ids=["in-process", "sandbox"])
def test_the_test_after_a_timed_out_call_is_graded(tmp_path, sandbox, request):
    """An integration test cut short by its timeout while the submission computes: does the next test still
    pass, on a fresh worker (not one still busy with the cut call, whose late reply it would read)?"""
    if sandbox:
        request.getfixturevalue("bwrap_sandbox")
    submission = tmp_path / "exercise02.py"
    submission.write_text(with_train("_time.sleep(60)  # stopped by the test's timeout (pytest-timeout)"))
    results = run_hidden(submission, tmp_path / "results.json", nodeids(DETERMINISM, XOR) + ["--timeout", "3"],
                         sandbox=sandbox)
    tests = {t["id"]: t for t in results["tests"]}
    message = tests[DETERMINISM]["message"]
    assert tests[DETERMINISM]["outcome"] == "failed" and "time limit of 3 s" in message, tests
    assert "Likely cause" in message and "grades your submission again" in message and "pytest" not in message, message
    assert tests[XOR]["outcome"] == "passed", tests[XOR]["message"]
    # the cut depended on the wall clock (the machine's load): the grader must not keep the result
    assert "timeout" in results["stops"], results["stops"]
    kept = harness.to_result("a", "key", [], results, GRADED, "", "", 1.0)
    assert kept.stopped == results["stops"] and not harness.reusable(kept)


@pytest.mark.usefixtures("bwrap_sandbox")
def test_the_test_after_a_worker_died_is_graded(tmp_path):
    """The worker dies during an integration test: does the next one still pass, on a fresh worker?"""
    submission = tmp_path / "exercise02.py"
    submission.write_text(with_train("_os._exit(3)  # the worker dies in the middle of a test"))
    results = run_hidden(submission, tmp_path / "results.json", nodeids(DETERMINISM, XOR), sandbox=True)
    tests = {t["id"]: t for t in results["tests"]}
    assert tests[DETERMINISM]["outcome"] == "failed" and tests[XOR]["outcome"] == "passed", tests


@pytest.mark.usefixtures("bwrap_sandbox")
def test_idle_spent_by_integration_tests_costs_no_unit_test(tmp_path):
    """A train that waits 8 s before training: the integration tests that call it use up the run's idle
    allowance (no call is made after that), yet does every unit test keep its points? (With the integration
    tests run first, this submission lost every unit test: 95 -> 14 of 100.)"""
    submission = tmp_path / "exercise02.py"
    submission.write_text(with_train("_time.sleep(8)  # 'time to read the progress'"))
    callers = ("test_learning_rate_experiment_histories", "test_learning_rate_experiment_defaults_other_classes")
    selected = nodeids(DETERMINISM, *callers, *UNITS)
    results = run_hidden(submission, tmp_path / "results.json", selected, sandbox=True)
    assert "idle" in results["stops"], results["stops"]
    units = [t for t in results["tests"] if blame.is_unit(t["id"])]
    assert len(units) == len(selected) - 3 and all(t["outcome"] == "passed" for t in units), \
        [(t["id"], t["message"][:200]) for t in units if t["outcome"] != "passed"]
