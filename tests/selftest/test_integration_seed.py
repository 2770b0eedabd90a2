"""The integration tests' verdicts do not depend on the run seed, so not on the submission's bytes.

The grader's run seed comes from the submission's content (grader.grading.harness.seed_of): a comment
changes it. The integration tests (blame.INTEGRATION) draw from the suite's own seed instead
(blame.seed), so the same code gets the same integration verdicts. The subject is a bug that still
learns: forward applying the hidden activation at the output passes the MNIST test on some seeds and
fails it on others (run seeds 1 and 2 gave 83.7 % and 91.5 % while the run seed reached these tests).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
KIT = HERE.parents[1]
sys.path.insert(0, str(KIT / "tests" / "hidden"))
import blame  # noqa: E402
import mutants  # noqa: E402

from grader.grading.runner import PLUGINS, RUN_ENV  # noqa: E402  (the grader's own pytest options)

SUBJECT = "forward_hidden_activation_at_output"
RUN_SEEDS = (1, 2)  # two run seeds on which this bug's MNIST verdict differed when the run seed reached the test


def integration_results(path: Path, seed: int, out: Path, *extra: str) -> dict:
    """results.json of the integration tests alone, in-process, on `path` with run seed `seed`."""
    nodeids = [f"tests/hidden/{'test_state' if name == 'test_mlp_seed_determinism' else 'test_training'}.py::{name}"
               for name in blame.INTEGRATION]
    command = [sys.executable, "-m", "pytest", *nodeids, "--in-process", "--submission", str(path), "--seed", str(seed),
               *extra, "-q", "-p", "no:cacheprovider", "--assert=plain", *PLUGINS, "--results-json", str(out)]
    done = subprocess.run(command, cwd=KIT, env={**os.environ, **RUN_ENV}, capture_output=True, text=True, timeout=600)
    assert out.is_file(), f"no results (exit {done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return json.loads(out.read_text())


def verdicts(results: dict) -> dict:
    return {t["id"]: (t["outcome"], t["earned"]) for t in results["tests"]}


@pytest.mark.timeout(300)
def test_integration_verdicts_do_not_follow_the_run_seed(tmp_path):
    path = mutants.write(mutants.by_name(SUBJECT), tmp_path / "mutant")
    runs = [integration_results(path, seed, tmp_path / f"{seed}.json") for seed in RUN_SEEDS]
    assert {t["id"].split("[", 1)[0] for t in runs[0]["tests"]} == set(blame.INTEGRATION)
    assert verdicts(runs[0]) == verdicts(runs[1])
    accuracies = [r["artifacts"].get("mnist_test_accuracy") for r in runs]
    assert accuracies[0] is not None and accuracies[0] == accuracies[1]


@pytest.mark.timeout(300)
def test_integration_seed_option_still_moves_them(tmp_path):
    """--integration-seed (margin.py's sweep) does reach the integration tests: the MNIST accuracy changes."""
    path = mutants.write(mutants.by_name(SUBJECT), tmp_path / "mutant")
    accuracies = {integration_results(path, 1, tmp_path / f"{seed}.json", "--integration-seed", str(seed))
                  ["artifacts"].get("mnist_test_accuracy") for seed in RUN_SEEDS}
    assert None not in accuracies and len(accuracies) == 2
