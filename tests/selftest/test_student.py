"""The student API (grader/sandbox/student.py): both backends and their handles provide all of it.

Checked with `inspect` on the classes, never by starting a worker: every member of the Protocol exists,
a method is a method with a compatible signature (the same parameters in the same order, kinds and
defaults; extra parameters only with a default), a property or attribute is a value, not a method.
"""

from __future__ import annotations

import inspect

import pytest

from grader.sandbox import client, inprocess
from grader.sandbox.student import Student, SubmissionObject

BACKENDS = {"SandboxStudent": client.SandboxStudent, "InProcessStudent": inprocess.InProcessStudent}
HANDLES = {"client.Remote": client.Remote, "client.Kept": client.Kept,
           "inprocess.Remote": inprocess.Remote, "inprocess.Kept": inprocess.Kept}
VAR_KINDS = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def api_members(protocol) -> dict[str, object]:
    """{name: declaration} of a Protocol: its methods (and __getattr__), properties, and annotated attributes."""
    found = {name: value for name, value in vars(protocol).items()
             if (inspect.isfunction(value) or isinstance(value, property)) and (not name.startswith("_") or name == "__getattr__")}  # fmt: skip
    found |= {name: "attribute" for name in vars(protocol).get("__annotations__", {})}
    return found


def annotated(cls, name: str) -> bool:
    return any(name in vars(base).get("__annotations__", {}) for base in cls.__mro__)


def signature_drift(where: str, declared, found) -> list[str]:
    """How the implementation's signature differs from the declared one in a way a caller would notice."""
    want = list(inspect.signature(declared).parameters.values())[1:]  # without self
    have = list(inspect.signature(found).parameters.values())[1:]
    named_want = [p for p in want if p.kind not in VAR_KINDS]
    named_have = [p for p in have if p.kind not in VAR_KINDS]
    problems = []
    for index, wanted in enumerate(named_want):
        got = named_have[index] if index < len(named_have) else None
        if got is None or (got.name, got.kind) != (wanted.name, wanted.kind):
            problems.append(f"{where}: parameter {index + 1} is {got or 'missing'}, the API has {wanted}")
        elif wanted.default is not wanted.empty and got.default != wanted.default:
            problems.append(f"{where}: {got.name} defaults to {got.default!r}, the API to {wanted.default!r}")
    problems += [f"{where}: requires {extra.name}, which the API does not pass"
                 for extra in named_have[len(named_want):] if extra.default is extra.empty]  # fmt: skip
    for kind in VAR_KINDS:
        if any(p.kind is kind for p in want) and not any(p.kind is kind for p in have):
            problems.append(f"{where}: takes no {'*args' if kind is VAR_KINDS[0] else '**kwargs'}, the API does")
    return problems


def api_drift(cls, protocol) -> list[str]:
    """Every member of `protocol` that `cls` lacks or provides incompatibly, one line each."""
    problems = []
    for name, declared in api_members(protocol).items():
        where = f"{cls.__name__}.{name}"
        try:
            found = inspect.getattr_static(cls, name)
        except AttributeError:
            if not (declared == "attribute" or isinstance(declared, property)) or not annotated(cls, name):
                problems.append(f"{where}: missing ({protocol.__name__} has it)")
            continue
        if declared == "attribute" or isinstance(declared, property):
            if inspect.isfunction(found):
                problems.append(f"{where}: a method, the API has a value")
        elif not inspect.isfunction(found):
            problems.append(f"{where}: not a method ({type(found).__name__}), the API has a method")
        else:
            problems += signature_drift(where, declared, found)
    return problems


def test_the_api_names_every_member_tests_use():
    """Does the Protocol name the calls, values and handle operations the tests rely on (not an empty shell)?"""
    assert set(api_members(Student)) == {"__getattr__", "call", "construct", "keep", "read", "run_epochs", "standin", "data", "limits",
                                         "take_output", "close", "backend", "path", "name_raises", "formulas_held", "restart"}
    assert set(api_members(SubmissionObject)) == {"__getattr__", "get", "get_attrs", "set", "set_attrs", "keep", "keep_attr",
                                                    "type_name"}


@pytest.mark.parametrize("name", BACKENDS)
def test_backend_provides_the_student_api(name):
    """Does this backend provide every member of the student API, with signatures compatible with the Protocol's?"""
    problems = api_drift(BACKENDS[name], Student)
    assert not problems, "the backend drifted from grader/sandbox/student.py:\n" + "\n".join(problems)


@pytest.mark.parametrize("name", HANDLES)
def test_handle_provides_the_object_api(name):
    """Does this handle (an object of the submission, or a kept value) provide get, set, keep, keep_attr and calls?"""
    problems = api_drift(HANDLES[name], SubmissionObject)
    assert not problems, "the handle drifted from grader/sandbox/student.py:\n" + "\n".join(problems)


def test_the_check_sees_a_backend_that_drifted():
    """Does the check name a missing member, a lost **kwargs, a renamed parameter, a changed default, a new required
    parameter and a value turned into a method?"""

    class Drifted(inprocess.InProcessStudent):
        def keep(self, name, *args):
            return None

        def limits(self, budget=None):
            return None

        def data(self, name, rows=(0, 10)):
            return None

        def take_output(self, wait):
            return ""

        def backend(self):
            return "in-process"

    problems = api_drift(Drifted, Student)
    assert [p.split(":")[0] for p in problems] == ["Drifted.backend", "Drifted.keep", "Drifted.data", "Drifted.limits",
                                                   "Drifted.take_output"], problems
    assert "takes no **kwargs" in problems[1] and "defaults to (0, 10)" in problems[2] and "budget" in problems[3]
    without_read = type("WithoutRead", (), {k: v for k, v in vars(client.SandboxStudent).items() if k != "read"})
    assert api_drift(without_read, Student) == ["WithoutRead.read: missing (Student has it)"]


def test_the_api_names_are_the_templates_functions_and_classes():
    """Are the names `student.<name>` calls those the template defines at module level (read from it, not listed)?"""
    import ast

    from grader.sandbox.kit import KIT, TEMPLATE
    from grader.sandbox.student import read_api_names

    tree = ast.parse((KIT / TEMPLATE).read_text(encoding="utf-8"))
    defined = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    assert read_api_names() == {name for name in defined if not name.startswith("_")}
    assert {"sigmoid", "softmax", "cross_entropy_loss_grad", "MLP", "train", "learning_rate_experiment"} <= read_api_names()


def test_a_template_that_does_not_parse_leaves_the_import_error_to_the_student(tmp_path, monkeypatch):
    """In the student bundle the template is the student's work file: with a syntax error in it, does a public
    test meet the submission's own import error (what the first call reports) rather than an error of the kit?"""
    from grader.sandbox import student as api

    (tmp_path / "exercise02_template.py").write_text("def sigmoid(z:\n    return z\n", encoding="utf-8")
    monkeypatch.setattr(api, "KIT", tmp_path)
    api.read_api_names.cache_clear()
    try:
        assert api.read_api_names() is None
        backend = inprocess.InProcessStudent(str(tmp_path / "exercise02_template.py"))
        with pytest.raises(Exception, match="could not import") as caught:
            backend.sigmoid(1.0)
        assert "was never closed" in str(caught.value) and "student API" not in str(caught.value)
    finally:
        api.read_api_names.cache_clear()


@pytest.mark.parametrize("name", BACKENDS)
def test_only_the_api_names_reach_the_submission(name):
    """Does `student.<name>` become a call into the submission only for a function or class of the student API, while
    any other name (a typo, or the backend's own property that failed) raises AttributeError saying how to call it?"""
    backend = object.__new__(BACKENDS[name])  # nothing set up: its own properties fail inside
    assert callable(backend.sigmoid) and callable(backend.MLP)  # not called: that would need a submission
    own = {"SandboxStudent": ("backend", "stops", "reason", "slot_uid", "formulas_held", "path"),
           "InProcessStudent": ("path", "stops", "reason", "usage")}  # fmt: skip
    for missing in ("anything", "sigmoidd", *own[name]):
        assert not hasattr(backend, missing), f"{name}.{missing} became a call into the submission"
    with pytest.raises(AttributeError, match=rf"{name} has no attribute 'sigmoidd'.*call\('sigmoidd', \.\.\.\)"):
        backend.sigmoidd(1.0)


def test_an_in_process_student_has_no_sandbox_values():
    """Are the sandbox's own values (stops, reason, usage) missing on an in-process student, not calls?"""
    student = inprocess.InProcessStudent("/nonexistent/exercise02.py")
    assert student.backend == "in-process"
    for missing in ("stops", "reason", "usage", "slot_uid"):
        with pytest.raises(AttributeError, match=f"InProcessStudent has no attribute '{missing}'"):
            getattr(student, missing)
