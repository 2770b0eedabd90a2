"""The harness's verdicts from canned run outcomes (no pytest process): statuses, reasons, what is served again."""

from __future__ import annotations

from grader.grading import harness
from grader.grading.results import CRASHED, DID_NOT_RUN, GRADED, IMPORT_ERROR, TIMEOUT, Result, TestResult

KEY = [TestResult("test_a", 2.0, 2.0, "passed", doc="Does a?"), TestResult("test_b", 3.0, 3.0, "passed", doc="Does b?")]


def test_a_run_without_results_fails_every_test_with_its_reason():
    """Does a run that wrote no results.json keep its status and fail each key test with 'did not run: <reason>'?"""
    result = harness.to_result("ann", "k", KEY, None, TIMEOUT, "ran over the wall budget", "log", 9.123)
    assert (result.status, result.points, result.seconds) == (TIMEOUT, 0.0, 9.12)
    assert {t.message for t in result.tests} == {"did not run: ran over the wall budget"}


def test_one_import_failure_is_said_once_as_the_reason():
    """When every test failed with 'could not import', is the status import-error with that line as the reason?"""
    raw = [{"id": t.id, "outcome": "failed", "message": "could not import exercise02.py: NameError: x\nmore"} for t in KEY]
    result = harness.to_result("ann", "k", KEY, {"tests": raw, "backend": "bwrap"}, GRADED, "", "", 1.0)
    assert result.status == IMPORT_ERROR and result.reason == "could not import exercise02.py: NameError: x"
    partly = harness.to_result("ann", "k", KEY, {"tests": raw[:1]}, GRADED, "stopped half way", "", 1.0)
    assert partly.status == GRADED and partly.tests[1].message == f"{DID_NOT_RUN}: stopped half way"


def test_oversized_artifacts_are_dropped_with_a_reason():
    """Are artifacts larger than the limit dropped, and does the reason say so?"""
    data = {"tests": [], "artifacts": {"big": "x" * (harness.ARTIFACT_LIMIT + 1)}}
    result = harness.to_result("ann", "k", KEY, data, GRADED, "", "", 1.0)
    assert result.artifacts == {} and "artifacts too large" in result.reason


def test_what_is_served_again_from_the_store():
    """Are timeouts, crashes and limit stops graded again, and idle-only stops kept unless --retry-timeouts?"""
    assert harness.reusable(Result("a", GRADED))
    assert not harness.reusable(Result("a", TIMEOUT)) and not harness.reusable(Result("a", CRASHED))
    assert not harness.reusable(Result("a", GRADED, stopped=["cpu"]))
    assert not harness.reusable(Result("a", GRADED, stopped=["timeout"]))  # a test cut by its time limit (plugin)
    assert not harness.reusable(Result("a", GRADED, stopped=["idle", "timeout"]))
    assert harness.reusable(Result("a", GRADED, stopped=["idle"]))
    assert not harness.reusable(Result("a", GRADED, stopped=["idle"]), retry_timeouts=True)


def test_syntax_errors_are_found_without_running_the_code(tmp_path):
    """Is a syntax error reported as one line with its line number, from parsing only?"""
    (tmp_path / "bad.py").write_text("import os\nos.system('touch /tmp/never')\ndef f(:\n")
    assert harness.syntax_error(tmp_path / "bad.py").startswith("SyntaxError at line 3:")
    (tmp_path / "good.py").write_text("x = 1\n")
    assert harness.syntax_error(tmp_path / "good.py") is None
