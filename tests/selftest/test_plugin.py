"""grader/grading/plugin.py: a test cut short by its own time limit, wherever the limit ran out.

pytest-timeout's timer runs across a test's set-up, call and teardown together (or over the call alone
with func_only). Whatever phase it cuts, the result depended on the wall clock, so the plugin records
the stop `timeout` (the grader grades the submission again next run) and says what happened.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

KIT = Path(__file__).resolve().parents[2]

SUITE = '''
import time
import pytest

@pytest.fixture
def slow_setup():
    time.sleep(float(__import__("os").environ.get("SETUP_SECONDS", "0")))
    yield

def test_slow_call(slow_setup):
    """A set-up and a call that together run past the limit."""
    time.sleep(float(__import__("os").environ.get("CALL_SECONDS", "0")))

@pytest.mark.timeout(timeout=1.5)
def test_keyword_marker():
    """A limit given as the marker's keyword."""
    time.sleep(float(__import__("os").environ.get("KEYWORD_SECONDS", "0")))

def test_fails_quickly():
    """A plain failure, well inside the limit."""
    pytest.fail("an ordinary failure", pytrace=False)
'''


def run_suite(tmp_path: Path, timeout: float, **seconds) -> dict:
    """Run the little suite with the grader's plugins; {test id: entry} and the run's stops."""
    (tmp_path / "test_timed.py").write_text(textwrap.dedent(SUITE))
    out = tmp_path / "results.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHON"))}
    env.update({name: str(value) for name, value in seconds.items()}, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    command = [sys.executable, "-m", "pytest", str(tmp_path / "test_timed.py"), "-p", "pytest_timeout",
               "-p", "grader.grading.plugin", "--results-json", str(out), "--timeout", str(timeout),
               "--rootdir", str(tmp_path), "-p", "no:cacheprovider", "-q"]  # fmt: skip
    subprocess.run(command, cwd=KIT, env=env, capture_output=True, text=True, timeout=120)
    data = json.loads(out.read_text())
    return {t["id"]: t for t in data["tests"]}, data["stops"]


def test_a_limit_that_runs_out_during_the_call_after_a_long_set_up_is_a_timeout(tmp_path):
    """Set-up 1.2 s, call 5 s, limit 2 s: the call alone is cut after 0.8 s, yet the limit was used up."""
    tests, stops = run_suite(tmp_path, 2, SETUP_SECONDS=1.2, CALL_SECONDS=5)
    assert tests["test_slow_call"]["outcome"] == "failed"
    assert "time limit of 2 s" in tests["test_slow_call"]["message"], tests["test_slow_call"]["message"]
    assert "timeout" in stops
    assert "time limit" not in tests["test_fails_quickly"]["message"]  # an ordinary failure keeps its own message


def test_a_limit_that_runs_out_during_set_up_is_a_timeout(tmp_path):
    """A set-up that alone runs past the limit: the test errors with the time-limit message and the stop."""
    tests, stops = run_suite(tmp_path, 1, SETUP_SECONDS=5)
    entry = tests["test_slow_call"]
    assert entry["outcome"] == "error" and "time limit of 1 s" in entry["message"], entry
    assert "timeout" in stops


def test_a_keyword_marker_limit_is_read(tmp_path):
    """`timeout(timeout=1.5)` is the test's limit, not --timeout's 30 s."""
    tests, stops = run_suite(tmp_path, 30, KEYWORD_SECONDS=5)
    assert "time limit of 1.5 s" in tests["test_keyword_marker"]["message"], tests["test_keyword_marker"]
    assert "timeout" in stops


def test_no_stop_without_a_cut(tmp_path):
    """Nothing runs out: no stop, and the ordinary failure says what it says."""
    tests, stops = run_suite(tmp_path, 30)
    assert stops == [] and tests["test_slow_call"]["outcome"] == "passed"
    assert "an ordinary failure" in tests["test_fails_quickly"]["message"]


def test_a_phase_that_passed_is_judged_without_its_limit():
    """Is a test's time limit looked up only for a phase that failed (every passing phase of every test would
    otherwise read its marker and options for nothing, and a limit that cannot be read would fail a passed test)?"""
    from grader.grading import plugin

    class Unreadable:  # a test whose limit cannot be read
        nodeid = "test_x"

        def get_closest_marker(self, name):
            raise AssertionError(f"the {name!r} marker was read for a phase that passed")

    class Phase:
        def __init__(self, failed: bool):
            self.failed = failed

    assert plugin.cut_by_timer(Unreadable(), Phase(False), 1e9) is None
    try:
        plugin.cut_by_timer(Unreadable(), Phase(True), 1e9)
    except AssertionError as error:  # a failed phase does look its limit up
        assert "marker was read" in str(error)
    else:
        raise AssertionError("a failed phase was judged without its limit")
