"""Self-tests of the kit's grading pipeline. fixtures/ holds data (a stand-in suite), not tests to collect.

`graded_class` grades a small hostile class once per session with the stand-in suite in-process
(seconds, not minutes); the tests read its outputs. Helpers live in classroom.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests import classroom.py (importlib mode)

from classroom import grade, make_class  # noqa: E402
from isolation import require_sandbox  # noqa: E402

collect_ignore = ["fixtures"]

# The slow self-tests (the full hidden suite, a browser, real sandboxed classes, the bundle's own pytest):
# `python3 -m pytest tests/public tests/selftest -m "not slow"` leaves them out (CONTRIBUTING.md).
# A file name marks every test of the file; "file::test" marks one test.
SLOW = (
    "test_cluster.py",
    "test_hidden_suite.py",
    "test_redteam.py",
    "test_redteam_batch.py",
    "test_redteam_learning.py",
    "test_redteam_formulas.py::test_borrowed_formulas_earn_nothing",
    "test_blame.py::test_the_test_after_a_timed_out_call_is_graded",
    "test_blame.py::test_the_test_after_a_worker_died_is_graded",
    "test_blame.py::test_idle_spent_by_integration_tests_costs_no_unit_test",
    "test_redteam_values.py::test_extreme_values_in_process",
    "test_redteam_values.py::test_extreme_values_sandboxed_score_their_twin",
    "test_redteam_slots.py",
    "test_reuse.py::test_cache_changes_no_grade_on_the_benchmark_class",
    "test_release.py",
    "test_report_browser.py",
    "test_grade.py::test_grade_resumes_after_sigkill",
    "test_runner.py::test_forked_runs_grade_as_spawned_runs_with_the_hidden_suite",
    "test_samples.py::test_grade_sample_class_with_hidden_suite",
    "test_samples.py::test_samples_check_plots_finds_a_plot_the_solution_no_longer_draws",
    "test_install.py",
    "test_review_browser.py::test_pages_have_no_serious_accessibility_violation",
    "test_review_browser.py::test_accessibility_check_can_fail",
    "test_student_script.py::test_wandb_missing_is_said_once_and_runs_are_logged_locally",
)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: a self-test of minutes, a browser or whole sandboxed runs "
                            "(listed in SLOW, tests/selftest/conftest.py)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        name = item.path.name
        if name in SLOW or f"{name}::{getattr(item, 'originalname', item.name)}" in SLOW:
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def bwrap_sandbox():
    """Fails the test when the bwrap sandbox cannot run here (skips it with EXERCISE02_SKIP_SANDBOX_TESTS=1)."""
    require_sandbox()


@pytest.fixture(scope="session")
def graded_class(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("graded")
    source = make_class(root)
    out = root / "out"
    grade(source, out)
    return out
