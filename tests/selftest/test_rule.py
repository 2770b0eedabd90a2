"""The from-scratch rule (grader/sandbox/rule.py): one list, one scan, one message, applied in three places.

The public test (through tests/conftest.py's `import_rule`), the sandboxed worker's import guard and the
grader's static scan (grader/grading/imports.py) all use this one module; these tests check that they do,
and that each place refuses what the rule refuses with the rule's message.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys

import pytest
from classroom import KIT

from grader.grading import imports
from grader.sandbox import rule
from grader.sandbox.error import GraderError
from grader.sandbox.rule import ImportRule, RuleError

FORBIDDEN = "import numpy as np\nimport scipy.special\n\n\ndef sigmoid(z):\n    return scipy.special.expit(z)\n"
SNEAKY = "import importlib\n\n\ndef relu(z):\n    return importlib.import_module('torch').relu(z)\n"
ALLOWED = "import json\nimport numpy as np\nfrom numpy.linalg import norm\nimport matplotlib.pyplot as plt\n"


def kit_conftest():
    """tests/conftest.py as a module, loaded the way pytest loads it for the public tests."""
    spec = importlib.util.spec_from_file_location("kit_conftest_rule", KIT / "tests" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_scan_finds_statements_and_constant_calls():
    """Does the scan find import and from-import statements and constant import_module/__import__ calls, with their lines,
    and nothing relative or computed?"""
    source = ("import os, numpy.linalg\nfrom scipy import special\nfrom . import sibling\n"
              "__import__('torch')\nimportlib.import_module('.private')\nimportlib.import_module(name)\n")  # fmt: skip
    assert rule.imported(source) == [("os", 1), ("numpy.linalg", 1), ("scipy", 2), ("torch", 4)]
    assert ImportRule(("numpy",)).allows("numpy.linalg") and ImportRule(()).allows("json")
    assert not ImportRule(("numpy",)).allows("scipy.special")


def test_static_scan_lists_forbidden_not_allowed():
    """Does the trusted scan list scipy and a constant import_module('torch'), and never numpy, matplotlib or the stdlib?"""
    allowed = imports.read_allowed(KIT)
    assert [(f.module, f.line) for f in imports.forbidden(FORBIDDEN, allowed)] == [("scipy", 2)]
    assert [(f.module, f.line) for f in imports.forbidden(SNEAKY, allowed)] == [("torch", 5)]
    assert imports.forbidden(ALLOWED, allowed) == [] and imports.forbidden("def broken(:\n", allowed) == []


def test_rule_lives_once_and_allows_the_template():
    """Do the public tests' fixture and the grader's scan use the one rule module (no parser or scanner of their own), read
    the same list, and does that list allow what the template and the solution import?"""
    conftest = kit_conftest()
    assert conftest.ImportRule is ImportRule and conftest.read_rule() == ImportRule.of_folder(KIT)
    assert imports.imported is rule.imported and imports.read_allowed(KIT) == ImportRule.of_folder(KIT).allowed
    for path in (KIT / "tests" / "conftest.py", KIT / "grader" / "grading" / "imports.py"):
        text = path.read_text()
        assert "ast.parse" not in text and ".isidentifier()" not in text, f"{path.name} scans or parses on its own"
    for path in (KIT / "exercise02_template.py", KIT / "solutions" / "exercise02.py"):
        assert imports.forbidden(path.read_text(), ImportRule.of_folder(KIT).allowed) == [], path


def test_a_line_that_is_no_module_name_is_refused(tmp_path):
    """Does a list line that is not a module name stop the rule with the file and the line's text (a kit error)?"""
    listed = tmp_path / "allowed_imports.txt"
    listed.write_text("numpy  # arrays\n\nmatplotlib.pyplot\n")
    with pytest.raises(RuleError, match=re.escape("'matplotlib.pyplot' is not a module name")) as refused:
        ImportRule.read(listed)
    assert isinstance(refused.value, GraderError) and str(listed) in str(refused.value)
    listed.write_text("numpy  # arrays\n\nmatplotlib\n")
    assert ImportRule.read(listed).allowed == ("numpy", "matplotlib")


def test_public_test_fails_with_the_rule(tmp_path):
    """Does the public test fail on a forbidden import with the rule's message, and pass on allowed imports?"""
    bad, good = tmp_path / "bad" / "exercise02_template.py", tmp_path / "good" / "exercise02_template.py"
    for path, text in ((bad, FORBIDDEN), (good, ALLOWED)):
        path.parent.mkdir()
        path.write_text(text)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/public/test_from_scratch.py", "--submission"]
    failed = subprocess.run(command + [str(bad)], cwd=KIT, capture_output=True, text=True, timeout=120)
    message = ImportRule.of_folder(KIT).message("exercise02_template.py", "scipy")
    assert failed.returncode == 1 and f"line 2: {message}" in failed.stdout, failed.stdout[-2000:]
    passed = subprocess.run(command + [str(good)], cwd=KIT, capture_output=True, text=True, timeout=120)
    assert passed.returncode == 0, passed.stdout[-2000:]


def test_sandbox_refuses_forbidden_import(tmp_path):
    """Does the sandboxed worker refuse scipy (installed here) with the rule's message, while numpy and matplotlib keep working?"""
    from grader.sandbox import SandboxStudent
    from grader.sandbox.protocol import StudentError

    kit_rule = ImportRule.of_folder(KIT)
    bad = tmp_path / "bad" / "exercise02_template.py"
    bad.parent.mkdir()
    bad.write_text(FORBIDDEN)
    student = SandboxStudent(bad, imports=kit_rule.worker_config(bad.name))
    try:
        with pytest.raises(StudentError) as refused:
            student.sigmoid(0.0)
        assert kit_rule.message(bad.name, "scipy") in str(refused.value) and "ImportError" in str(refused.value)
    finally:
        student.close()
    good = tmp_path / "good" / "exercise02_template.py"
    good.parent.mkdir()
    good.write_text(ALLOWED + SNEAKY + "\n\ndef draw():\n    import io\n    figure = plt.figure()\n    plt.plot([1, 2], [3, 1])\n"
                    "    data = io.BytesIO()\n    figure.savefig(data, format='png')\n    return len(data.getvalue()) + norm([3.0, 4.0])\n")  # fmt: skip
    student = SandboxStudent(good, imports=kit_rule.worker_config(good.name))
    try:
        assert student.call("draw") > 5
        with pytest.raises(StudentError, match=re.escape(kit_rule.message(good.name, "torch"))):
            student.relu(1.0)
    finally:
        student.close()


def test_messages_students_see_are_unchanged():
    """Are the public test's and worker's message and the report's hint still word for word what students were shown?"""
    kit_rule = ImportRule(("numpy", "matplotlib"))
    assert kit_rule.message("exercise02.py", "torch.nn") == (
        "exercise02.py imports torch, which this exercise does not allow: the network is built from scratch, so a "
        "submission may import only the Python standard library and numpy, matplotlib (the list is "
        "tests/allowed_imports.txt). Remove the import and write that part yourself with numpy.")
    assert kit_rule.worker_config("a.py")["message"].startswith("a.py imports {module}, which this exercise")
    assert imports.Forbidden("scipy", 3).hint(("numpy", "matplotlib")) == (
        "imports scipy (line 3), which the from-scratch rule does not allow: only the standard library and numpy, "
        "matplotlib may be imported (tests/allowed_imports.txt)")


def test_a_class_scanned_again_is_served_from_the_kept_scan(tmp_path, monkeypatch):
    """Is an unchanged code file not parsed again (what it imports kept by its content), a changed one parsed again,
    and a kept file of the wrong shape scanned afresh, with the same forbidden imports every time?"""
    from grader.grading.intake import Submission

    def subs(codes: dict[str, str]) -> list[Submission]:
        made = []
        for sub_id, code in codes.items():
            (tmp_path / sub_id).mkdir(exist_ok=True)
            (tmp_path / sub_id / "exercise02.py").write_text(code)
            made.append(Submission(id=sub_id, label=sub_id, folder=tmp_path / sub_id, code=tmp_path / sub_id / "exercise02.py"))
        return made

    allowed, kept = imports.read_allowed(KIT), tmp_path / "results"
    parsed = []
    monkeypatch.setattr(imports, "imported", lambda source: parsed.append(source) or rule.imported(source))

    def check(codes: dict[str, str]) -> dict:
        scan = imports.Scan(kept)
        found = imports.check_class(subs(codes), allowed, scan)
        scan.keep()
        return {sub_id: [(f.module, f.line) for f in bad] for sub_id, bad in found.items()}

    first = check({"ann": FORBIDDEN, "bob": ALLOWED})
    assert first == {"ann": [("scipy", 2)]} and len(parsed) == 2
    parsed.clear()
    assert check({"ann": FORBIDDEN, "bob": ALLOWED}) == first and parsed == []
    assert check({"ann": FORBIDDEN, "bob": SNEAKY}) == {"ann": [("scipy", 2)], "bob": [("torch", 5)]} and parsed == [SNEAKY]
    parsed.clear()
    damaged = {key: [["scipy", "2"]] for key in json.loads((kept / imports.KEPT).read_text())}  # a line that is no number
    (kept / imports.KEPT).write_text(json.dumps(damaged))
    assert check({"ann": FORBIDDEN, "bob": SNEAKY}) == {"ann": [("scipy", 2)], "bob": [("torch", 5)]} and len(parsed) == 2
