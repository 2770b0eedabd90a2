"""The from-scratch rule: your file may import only the standard library and tests/allowed_imports.txt.

The grader enforces the same rule: inside its sandbox any other import fails with the same message,
so a file that imports torch, scipy or scikit-learn gets no points for the parts that need them.
"""

import pytest


def test_imports_only_allowed_modules(student, import_rule):
    """Does the file import only the standard library and the allowed modules (numpy, ...)?"""
    source = student.path.read_text(encoding="utf-8", errors="replace")
    try:
        found = import_rule.imports(source)
    except SyntaxError as error:
        pytest.fail(f"{student.path.name} has a SyntaxError at line {error.lineno}: {error.msg}", pytrace=False)
    bad = [(module, line) for module, line in found if not import_rule.allows(module)]
    if bad:
        lines = [f"line {line}: {import_rule.message(student.path.name, module)}" for module, line in bad]
        pytest.fail("\n".join(lines), pytrace=False)
