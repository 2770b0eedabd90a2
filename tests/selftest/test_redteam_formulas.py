"""Borrowed formulas: a submission must not earn a function's points with the grader's own formula.

The stand-ins (grader/sandbox/standin.py) put trusted activations and losses next to the submission while
some tests run. The attack (redteam/appended/borrowed_formulas.py, appended to the reference solution)
makes sigmoid, tanh, softmax, sigmoid_grad and cross_entropy_loss_grad return whatever trusted function
of their name they can reach (the stand-ins module, a stand-in's globals, gc, a formula.py next to the
runtime) and a wrong value otherwise. Every test that judges one of the five must fail, sandboxed as
the grader runs it: the worker has no formula file, gets only the stand-ins it installs, and a function's
formula reaches it only after the tests that judge that function (tests/hidden/conftest.py plan).
In-process the formulas are importable by design (no sandbox, no boundary), so only the sandbox counts.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
KIT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(KIT / "tests" / "hidden"))
import blame  # noqa: E402
from test_hidden_suite import hidden_ids, run_hidden  # noqa: E402

from grader.sandbox import standin  # noqa: E402

ATTACK = HERE / "redteam" / "appended" / "borrowed_formulas.py"
SOLUTION = KIT / "solutions" / "exercise02.py"
BORROWED = {"sigmoid", "tanh", "softmax", "sigmoid_grad", "cross_entropy_loss_grad"}


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    folder = tmp_path_factory.mktemp("borrowed")
    path = folder / "exercise02.py"
    path.write_text(SOLUTION.read_text() + "\n\n" + ATTACK.read_text())
    return run_hidden(path, folder / "results.json", sandbox=True)


@pytest.mark.usefixtures("bwrap_sandbox")  # fails without bwrap unless EXERCISE02_SKIP_SANDBOX_TESTS=1
def test_borrowed_formulas_earn_nothing(attacked):
    """Does every test judging a borrowed function fail, while the rest of the honest solution passes?"""
    judged = {t["id"]: set(blame.owners(t["id"])) if blame.is_unit(t["id"]) else set() for t in attacked["tests"]}
    values = [t for t in attacked["tests"] if t["id"] != "test_functions_return_fresh_arrays"]  # judges copies, not values
    borrowed = [t for t in values if judged[t["id"]] & BORROWED]
    assert len(borrowed) >= 10, sorted(t["id"] for t in borrowed)
    passed = sorted(t["id"] for t in borrowed if t["outcome"] == "passed")
    assert not passed, f"tests judging a borrowed function passed (a trusted formula reached the worker): {passed}"
    honest = [t for t in values if blame.is_unit(t["id"]) and judged[t["id"]] and not judged[t["id"]] & BORROWED]
    assert honest and all(t["outcome"] == "passed" for t in honest), \
        [(t["id"], t["message"][:200]) for t in honest if t["outcome"] != "passed"]


def test_the_worker_is_sent_no_formula_before_its_tests():
    """In the order the hidden suite runs, is each function's formula sent only after every unit test that
    judges it, so that only the integration tests need a fresh worker (one restart)?"""
    spec = importlib.util.spec_from_file_location("hidden_conftest_plan", KIT / "tests" / "hidden" / "conftest.py")
    hidden = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hidden)
    plan = hidden.plan

    ids = sorted(hidden_ids(), key=lambda i: plan(i)[0])  # the order the hidden conftest runs them in
    sent, restarts = set(), []
    for test_id in ids:
        phase, names, judged = plan(test_id)
        if judged & sent:  # the fixture starts a fresh worker here
            assert phase == 3, f"unit test {test_id} judges {sorted(judged & sent)}, whose formula was sent before it"
            restarts.append(test_id)
            sent = set()
        sent |= standin.closure(names)  # what the worker is sent: the stand-ins and the helpers they call
        # A helper the judged function's own formula is built on (log_softmax for cross_entropy_loss) must not
        # come with a stand-in either; rows, the contract's N, is no formula.
        shared = (sent & standin.closure(judged)) - set(standin.NAMES) - {"rows"}
        assert not shared, f"{test_id} judges {sorted(judged)} while the worker holds their helpers {sorted(shared)}"
    assert len(restarts) == 1, restarts
    assert any(plan(i)[1] for i in ids), "no test used a stand-in (the plan would then prove nothing)"


class _Worker:
    def __init__(self, generation):
        self.generation = generation
        self.rpc_in, self.end = os.pipe()  # the end the submission could write to (or close, as it dies)

    def close(self):
        for fd in (self.rpc_in, self.end):
            with contextlib.suppress(OSError):
                os.close(fd)


class _Host:
    """client.WorkerHost as _request uses it: a worker per generation, each request's worker remembered."""

    def __init__(self):
        self.worker, self.generation, self.sent, self.workers = None, 0, [], []

    def ensure(self):
        if self.worker is None:
            self.generation += 1
            self.worker = _Worker(self.generation)
            self.workers.append(self.worker)
        return self.worker

    def stop(self, dying=False):
        self.worker = None

    def exchange(self, worker, message, seconds, call, handle):
        self.sent.append(worker.generation)
        return {"id": self.student._request_id, "ok": True, "value": 1}, []


def test_formulas_count_as_held_by_the_worker_that_got_them():
    """When the worker dies (or writes) after a reply, the next request goes to a fresh one: does a stand-in
    request sent that way count as held by that fresh worker, so the suite still restarts before a test that
    judges those functions? (Before: they were booked for the dead worker and the fresh one counted as clean.)"""
    from grader.sandbox import client

    student = object.__new__(client.SandboxStudent)
    host = _Host()
    host.student = student
    student._host, student._released, student._request_id, student._budget, student._call_timeout = host, [], 0, None, 5.0
    try:
        student.standin(list(standin.BASE))
        assert student.formulas_held >= set(standin.BASE) and host.sent == [1]
        student.standin(None)
        os.close(host.worker.end)  # the submission ends its worker after the reply (an alarm, a thread)
        student.standin(list(standin.NAMES))
        assert host.sent[-1] == 2, host.sent
        assert student.formulas_held >= set(standin.NAMES), sorted(student.formulas_held)
        student.restart()
        assert student.formulas_held == frozenset()
    finally:
        for worker in host.workers:
            worker.close()


def test_a_set_promised_to_a_test_is_on_the_worker_that_runs_it():
    """A set the worker has is not sent again; but when the submission ends its worker after a reply (before
    the next test asks for the same set, or after it asked), the next call goes to a fresh worker: does that
    worker get the set before the call, so the test judges its function with the others standing in as
    promised? (Before: the same set was not re-sent and the call ran on the submission's own functions.)"""
    from grader.sandbox import client

    student = object.__new__(client.SandboxStudent)
    host = _Host()
    host.student = student
    student._host, student._released, student._request_id, student._budget, student._call_timeout = host, [], 0, None, 5.0
    ops, exchange = [], host.exchange  # each request's op, in the order the requests are sent
    host.exchange = lambda worker, message, *rest: ops.append(json.loads(bytes(message[2]))["op"]) or \
        exchange(worker, message, *rest)
    try:
        student.standin(list(standin.BASE))
        os.close(host.worker.end)  # gone after the reply, before the next test's set-up
        student.standin(list(standin.BASE))  # the next test: the same set
        student.call("sigmoid_grad", 0.0)
        student.standin(list(standin.BASE))  # one more test, same set: nothing to send
        os.close(host.worker.end)  # gone after the set-up, before the test's first call
        student.call("sigmoid_grad", 0.0)
        sent = list(zip(ops, host.sent))
        assert sent == [("standin", 1), ("standin", 2), ("call", 2), ("standin", 3), ("call", 3)], sent
        assert student.formulas_held >= set(standin.BASE)
    finally:
        for worker in host.workers:
            worker.close()
