"""The Runner: one run version composed in one place, the same on the coordinator and on every worker."""

from __future__ import annotations

import pickle

import pytest

from classroom import KIT, STANDIN

BACKENDS = (None, "sandbox", "in-process", "unsandboxed")


@pytest.mark.parametrize("backend", BACKENDS)
def test_runner_version_round_trips_for_each_backend(backend):
    """Does a Runner of each backend, pickled and rebuilt on this kit, carry the same run version and no mismatch?"""
    from grader.grading.runner import Runner, run_version

    runner = Runner(KIT, STANDIN, budget=7.0, backend=backend)
    assert runner.version == run_version(KIT, STANDIN, KIT / "solutions" / "exercise02.py", backend)
    same = pickle.loads(pickle.dumps(runner))
    assert (same.version, same.mismatch, same.backend, same.solution) == (runner.version, "", backend, runner.solution)


def test_run_version_separates_isolation():
    """Are results graded without the sandbox keyed apart from sandboxed ones (and the default equal to the sandbox)?"""
    from grader.grading.runner import run_version

    solution = KIT / "solutions" / "exercise02.py"
    versions = {b: run_version(KIT, STANDIN, solution, b) for b in BACKENDS}
    assert versions[None] == versions["sandbox"]
    assert len({versions[b] for b in ("sandbox", "in-process", "unsandboxed")}) == 3
    assert versions["unsandboxed"].endswith(":unsandboxed")


def test_runner_travels_as_its_portable_part_and_refuses_another_kit(tmp_path):
    """Is a Runner rebuilt on this machine's kit, and does one built for another suite version refuse to run?"""
    from grader.grading.runner import HarnessError, KitMismatch, Runner

    runner = Runner(KIT, STANDIN, budget=7.0, backend="sandbox")
    same = pickle.loads(pickle.dumps(runner))
    assert (same.kit, same.suite, same.budget, same.backend, same.mismatch) == (KIT, STANDIN, 7.0, "sandbox", "")
    assert same is not runner and same.token == runner.token
    runner.version = "0" * 64
    other = pickle.loads(pickle.dumps(runner))
    with pytest.raises(KitMismatch, match="different kit .*install the same kit version on every worker"):
        other.run("exercise02.py", b"x = 1\n", 1)
    outside = Runner(KIT, tmp_path)
    with pytest.raises(HarnessError, match="not inside the kit"):
        pickle.dumps(outside)
