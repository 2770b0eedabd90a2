"""A pytest plugin of the benchmarks: the requests each test file of the hidden suite made to the sandboxed worker.

    TALLY_OUT=tally.json python3 -m pytest tests/hidden --sandbox ... -p bench.tally   (from the kit's folder)

After each test it reads the `student` fixture's request counter (every request the trusted side sent,
stand-ins and pings included) and the generation of its worker (the workers started so far); it
wraps nothing, so it costs the run nothing measurable. At the end it writes {"files": {file: requests},
"requests": total, "workers": started} to TALLY_OUT. In-process runs are not counted (no worker).
bench/suite_cost.py --sandbox loads it and prints the figures.
"""

from __future__ import annotations

import collections
import json
import os

import pytest

FILES: collections.Counter = collections.Counter()
SEEN = {"requests": 0, "workers": 0}


STUDENT: list = []  # the session's student object, once a test has set it up


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    try:
        return (yield)
    finally:
        found = getattr(item, "funcargs", {}).get("student")
        if found is not None:
            STUDENT[:] = [found]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    try:
        return (yield)
    finally:
        student = STUDENT[0] if STUDENT else None
        host = getattr(student, "_host", None)
        if host is not None:  # the sandboxed backend
            requests = int(getattr(student, "_request_id", 0))
            FILES[item.nodeid.split("::")[0]] += requests - SEEN["requests"]
            SEEN.update(requests=requests, workers=int(host.generation))


def pytest_sessionfinish(session):
    out = os.environ.get("TALLY_OUT")
    if out:
        with open(out, "w", encoding="utf-8") as handle:
            json.dump({"files": dict(FILES), **SEEN}, handle)
