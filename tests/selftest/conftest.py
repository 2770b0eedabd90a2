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
