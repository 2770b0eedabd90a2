"""The hidden suite's set-up: the submission runs sandboxed unless --in-process is given.

* `student` (session): the root conftest's `open_student` with the sandbox as the default backend;
* after each test its output (the submission's stdout/stderr, "" in-process) and the backend are
  recorded for results.json;
* warnings raised by the submission do not fail a test (a direct `pytest` run in the kit's folder
  reads the kit's pytest config, which turns warnings into errors; a graded run reads no config file,
  docs/decisions.md): in the sandbox they are invisible to this process, so in-process they must not
  count either. The softmax/cross-entropy stability tests judge values on both backends and, in
  process only, also fail on overflow/invalid/divide warnings (check.no_warnings), as the SPEC
  forbids them; a warning-only softmax bug is therefore visible in-process only.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import resource
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT_CONFTEST = HERE.parent / "conftest.py"

# The tests import their helpers (check.py, reference.py, nets.py) as top-level modules.
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import blame  # noqa: E402


def root_conftest(config):
    """The module object of tests/conftest.py, as pytest loaded it (any import mode)."""
    for plugin in config.pluginmanager.get_plugins():
        path = getattr(plugin, "__file__", None)
        if path and Path(path).resolve() == ROOT_CONFTEST:
            return plugin
    # Not registered (unusual rootdir): load it ourselves under a private name.
    name = "exercise02_root_conftest"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT_CONFTEST)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.filterwarnings("ignore"))
    # A function's trusted formula may reach the submission only after every test that judges it (plan):
    # the tests of the base functions first, then the derivatives and losses, then MLP's methods, then the
    # integration tests (after the unit tests, whose failures their messages name, and so that what the
    # integration tests may spend of the run's limits, its idle allowance and wall budget, never costs a
    # unit test its points: docs/decisions.md). Stable: files keep their order within a phase.
    items.sort(key=lambda item: plan(item.nodeid.split("::")[-1])[0] if HERE in Path(str(item.path)).resolve().parents
               else 0)


@pytest.fixture(scope="session")
def student(request):
    """The submission under test: sandboxed (the default here), or in this process with --in-process."""
    root = root_conftest(request.config)
    handle = root.open_student(request.config, root.choose_backend(request.config, "sandbox"))
    if handle.backend == "in-process":
        handle.name_raises = True  # one line naming the call, as the sandbox reports it
    yield handle
    handle.close()


FAILED_UNITS: list[str] = []  # ids of the tests that failed so far in this run (one session per process)


def pytest_runtest_logreport(report):
    """Remember the unit tests that failed, for the integration tests' "fix X first" line."""
    test_id = report.nodeid.split("::")[-1]
    if report.failed and test_id not in FAILED_UNITS:
        FAILED_UNITS.append(test_id)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """An integration test that fails after unit tests failed says first which functions to fix."""
    report = yield
    if report.failed and report.when == "call" and item.originalname in blame.INTEGRATION:
        hint = blame.fix_first(FAILED_UNITS)
        if hint:
            report.longrepr = f"{hint} {message_of(report)}"
    return report


def message_of(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, str):
        return longrepr
    crash = getattr(longrepr, "reprcrash", None)
    return crash.message.removeprefix("Failed: ") if crash is not None else str(longrepr)


def plan(test_id: str, calls: dict | None = None) -> tuple[int, tuple, frozenset]:
    """(phase, the stand-ins the test runs with, the functions whose formula must not have reached the
    submission before it). Phase 0: a test judging a base function (standin.BASE), with stand-ins only for
    the other base functions its own code names (`calls`: function -> names, from calls_of); 1: a derivative
    or a loss, with the base functions standing in; 2: MLP's methods, with every function standing in;
    3: the integration tests and any test this suite does not know, with none."""
    from grader.sandbox.standin import BASE, NAMES

    if not blame.is_unit(test_id):
        return 3, (), frozenset(NAMES)
    judged = frozenset(blame.owners(test_id)) & frozenset(NAMES)
    if not judged:
        return 2, NAMES, frozenset()
    if judged & frozenset(BASE):
        named = set().union(*((calls or {}).get(name, frozenset()) for name in judged))
        return 0, tuple(n for n in BASE if n in named and n not in judged), judged
    return 1, tuple(n for n in BASE if n not in judged), judged


@functools.lru_cache(maxsize=4)
def calls_of(path: str) -> dict:
    """Which functions of the contract each module-level function of the submission names in its body:
    read with ast here (never run), so a base function the student built on another (relu as their own
    leaky_relu(z, 0.0)) is judged with that one standing in. {} when the file does not parse."""
    from grader.sandbox.standin import NAMES

    try:
        tree = ast.parse(Path(path).read_bytes())
    except (OSError, SyntaxError, ValueError, RecursionError):
        return {}
    return {node.name: frozenset(n.id for n in ast.walk(node) if isinstance(n, ast.Name) and n.id in NAMES)
            - {node.name} for node in tree.body if isinstance(node, ast.FunctionDef)}


@pytest.fixture(autouse=True)
def standins(request):
    """A unit test judges its function alone: while it runs, the activations, derivatives, softmax and losses
    it may call but does not judge are the contract's own (grader/sandbox/standin.py), so a bug in sigmoid
    costs sigmoid's points only, not sigmoid_grad's or backward's. Integration tests (blame.INTEGRATION) run
    the submission as it is. The trusted formula of a function never reaches the submission before a test
    that judges it (the tests are ordered so; should that not hold, the submission is started afresh). Each test
    asks for its own set (none for the integration tests) and nothing is removed after it: the student object
    sends nothing when the set installed is the one asked for, so a phase of tests costs one install."""
    student = request.getfixturevalue("student")
    _, names, judged = plan(request.node.nodeid.split("::")[-1], calls_of(str(student.path)))
    if judged & student.formulas_held:
        student.restart()
    swap_standins(student, list(names) or None)
    yield


def swap_standins(student, names) -> bool:
    """Install (names) or remove (None) the stand-ins; False when the submission could not take them (a
    broken module: the test then runs with the submission's own functions and says what is wrong)."""
    try:
        student.standin(names)
        return True
    except Exception as error:  # noqa: BLE001 - the submission's failure, never the test's verdict
        if getattr(error, "student_message", None) is None and not isinstance(error, NotImplementedError):
            raise
        return False


@pytest.fixture(autouse=True)
def record_output(student, record_property):
    """After each test: what the submission printed during it, and which backend ran it."""
    yield
    try:
        output = student.take_output()
    except Exception as error:  # a dead worker must not turn a result into an error
        output = f"[output unavailable: {type(error).__name__}]"
    record_property("output", output)
    record_property("backend", student.backend)
    record_sandbox_limits(student, record_property)


def record_sandbox_limits(student, record_property):
    """Which limits stopped a worker so far (the grader then does not keep the result) and the cgroup's counters."""
    record_property("stops", list(getattr(student, "stops", ())))  # a sandbox's only: the in-process student has none
    usage = student.usage() if hasattr(student, "usage") else {}
    usage["trusted_peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10  # this pytest process
    record_property("usage", usage)


def pytest_configure(config):
    """Fail closed: with the sandbox as backend, refuse to start when it cannot run (docs/security.md)."""
    root = root_conftest(config)
    if root.choose_backend(config, "sandbox") != "sandbox":
        return
    if str(HERE.parent.parent) not in sys.path:
        sys.path.append(str(HERE.parent.parent))
    from grader.sandbox.layout import sandbox_refusal

    refusal = sandbox_refusal()
    if refusal is not None:
        raise pytest.UsageError(f"refusing to run the hidden suite: {refusal}")
