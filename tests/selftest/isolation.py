"""Whether the sandbox self-tests may run here: they FAIL when the bwrap sandbox cannot run (CI installs
it), unless EXERCISE02_SKIP_SANDBOX_TESTS=1 says to skip them (a laptop without bubblewrap, say)."""

from __future__ import annotations

import os

import pytest

SKIP_ENV = "EXERCISE02_SKIP_SANDBOX_TESTS"


def require_sandbox() -> None:
    """Return when the bwrap sandbox works here; else skip (SKIP_ENV=1) or fail, saying why."""
    from grader.sandbox import probe

    mode, reason = probe()
    if mode == "bwrap":
        return
    if os.environ.get(SKIP_ENV) == "1":
        pytest.skip(f"the bwrap sandbox cannot run here ({reason}) and {SKIP_ENV}=1")
    pytest.fail(f"this self-test needs the bwrap sandbox, which cannot run here: {reason}. Install bubblewrap "
                f"(see docs/security.md), or set {SKIP_ENV}=1 to skip the sandbox self-tests", pytrace=False)
