"""Values that break the judge: every value the wire format allows ends in a verdict with a message.

The attack (redteam/appended/extreme_values.py, appended to the reference solution) makes every
function, every MLP method and every attribute the suite reads return the next of the extremes of
each type the wire format carries (grader/sandbox/protocol.py): ints beyond float range and at the
int64/uint64 edges, NaN, inf, 1e308, -0.0, the smallest subnormal, bools, None, empty and 100 000
character strings with control characters and a lone surrogate, empty, ragged and nested lists and
tuples, dicts with None/NaN/bool keys, arrays of every numeric kind (0-d, empty, 32 axes, uint64
max, float16 inf, float32 NaN, big-endian float64, bool), NumPy scalars and objects that stay behind
a handle (an object, a builtin, a module); `MLP(...)` itself sometimes returns a plain value. Each
run starts the cycle at another offset, so each test meets other values.

Its honest twin is the template (every stub raises NotImplementedError): both earn 0, and no test of
the attack may end in an internal error ("a fault of the grader") or without a message, in process
and sandboxed. The in-process checks of tests/hidden/check.py are also fed every extreme directly.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
KIT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(KIT / "tests" / "hidden"))
import check  # noqa: E402  (trusted helpers of the hidden suite)
from test_hidden_suite import INTERNAL_NAMES, TEMPLATE, run_hidden, score  # noqa: E402

ATTACK = HERE / "redteam" / "appended" / "extreme_values.py"
SOLUTION = KIT / "solutions" / "exercise02.py"
OFFSETS = (0, 1, 2, 3, 7)


def extremes() -> list:
    namespace = {}
    exec(compile(ATTACK.read_text().split("_VALUES = ")[0], str(ATTACK), "exec"), namespace)
    return namespace["_extremes"]()


def hostile(folder: Path, offset: int) -> Path:
    attack = re.sub(r"^OFFSET = 0$", f"OFFSET = {offset}", ATTACK.read_text(), count=1, flags=re.M)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "exercise02.py"
    path.write_text(SOLUTION.read_text() + "\n\n" + attack)
    return path


def verdicts(results: dict) -> list[str]:
    """What is wrong with a run: internal errors, tests without a message, messages naming kit internals."""
    problems = []
    for t in results["tests"]:
        if t["outcome"] == "error":
            problems.append(f"{t['id']}: internal error: {t['message'][:200]}")
        elif t["outcome"] == "failed" and not t["message"].strip():
            problems.append(f"{t['id']}: failed without a message")
        elif INTERNAL_NAMES.search(t["message"]):
            problems.append(f"{t['id']}: names the kit's internals: {t['message'][:200]}")
    return problems


@pytest.mark.filterwarnings("ignore")  # as in the hidden suite (tests/hidden/conftest.py)
@pytest.mark.parametrize("index", range(len(extremes())))
def test_checks_end_every_value_in_a_verdict(index):
    """Does every check of the hidden suite turn each extreme value into a failure with a message (never raise)?"""
    value = extremes()[index]
    calls = [
        lambda: check.scalar_close("f(x)", value, 0.5, look="f", n=6),
        lambda: check.arrays_close("f(x)", value, np.full((6, 3), 0.25), look="f", n=6),
        lambda: check.array_list(value, "weights", [(3, 2), (1, 3)], look="MLP.update"),
        lambda: check.array(value, "f(x)", (6, 3), look="f"),
    ]
    for call in calls:
        try:
            call()
        except pytest.fail.Exception as failure:
            assert str(failure).strip(), "a failure without a message"
        # passing is fine for the values that are right (none here but shape-free ones)
    assert check.floats(value) is None or check.floats(value).dtype == np.float64
    assert isinstance(check.short(value), str)


@pytest.mark.parametrize("offset", OFFSETS)
def test_extreme_values_in_process(tmp_path, offset):
    """Does every hidden test end in a verdict with a message when each call returns an extreme value (in process)?"""
    results = run_hidden(hostile(tmp_path, offset), tmp_path / "results.json", seed=offset + 1)
    assert score(results)[0] == 0.0
    assert not verdicts(results), verdicts(results)


def test_extreme_values_sandboxed_score_their_twin(tmp_path, bwrap_sandbox):
    """Through the sandbox, does the attack end every test in a verdict and score exactly its twin (0)?"""
    results = run_hidden(hostile(tmp_path / "attack", 0), tmp_path / "attack.json", sandbox=True)
    twin = run_hidden(TEMPLATE, tmp_path / "twin.json", sandbox=True)
    assert not verdicts(results), verdicts(results)
    assert score(results) == score(twin) == (0.0, 100.0)
