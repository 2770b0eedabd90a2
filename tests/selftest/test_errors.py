"""One error root: every exception class of the kit derives from GraderError, and the CLI catches only that."""

from __future__ import annotations

import ast
import builtins

from classroom import KIT

GRADER = KIT / "grader"
BUILTIN_ERRORS = {name for name, value in vars(builtins).items() if isinstance(value, type) and issubclass(value, BaseException)}


def exception_classes() -> dict[str, list[str]]:
    """{class name: base names} of every class in grader/ that derives from an exception (by name, parsed with ast)."""
    bases: dict[str, list[str]] = {}
    where: dict[str, str] = {}
    for path in sorted(GRADER.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef):
                names = [b.attr if isinstance(b, ast.Attribute) else getattr(b, "id", "") for b in node.bases]
                bases[node.name] = names
                where[node.name] = str(path.relative_to(KIT))

    def is_error(name: str, seen=()) -> bool:
        if name in BUILTIN_ERRORS:
            return True
        return name not in seen and any(is_error(b, (*seen, name)) for b in bases.get(name, []))

    return {f"{where[name]}:{name}": names for name, names in bases.items() if is_error(name)}


def test_every_kit_error_derives_from_grader_error():
    """Does every (non-private) exception class of the kit derive from GraderError, so the CLI can catch them all at once?"""
    classes = exception_classes()
    by_name = {key.split(":")[1]: names for key, names in classes.items()}

    def rooted(name: str, seen=()) -> bool:
        return name == "GraderError" or (name not in seen and any(rooted(b, (*seen, name)) for b in by_name.get(name, [])))

    strays = [key for key in classes if not key.split(":")[1].startswith("_") and not rooted(key.split(":")[1])]
    assert len(classes) > 20 and not strays, f"derive these from grader.sandbox.error.GraderError: {strays}"


def test_cli_has_one_except_clause_for_kit_errors():
    """Does grader/cli.py catch no kit error by name, only GraderError (in main)?"""
    kit_errors = {key.split(":")[1] for key in exception_classes()} - {"GraderError"}
    caught = []
    for node in ast.walk(ast.parse((GRADER / "cli.py").read_text())):
        if isinstance(node, ast.ExceptHandler) and node.type is not None:
            types = node.type.elts if isinstance(node.type, ast.Tuple) else [node.type]
            caught += [t.attr if isinstance(t, ast.Attribute) else getattr(t, "id", "") for t in types]
    assert caught.count("GraderError") == 1 and not kit_errors & set(caught), caught


def test_cli_prints_the_message_and_returns_the_exit_code(tmp_path, capsys):
    """Does a kit error end `grader` with one line naming the command and the error's exit code (1, or 2 for bad input)?"""
    from grader import cli

    (tmp_path / "test_broken.py").write_text("def test_(:\n")
    assert cli.main(["rubric", "--suite", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("grader rubric: cannot read the suite") and "Traceback" not in err
    assert cli.main(["grade", str(tmp_path / "absent"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"grader grade: {tmp_path / 'absent'} does not exist (give a folder of submissions or an LMS zip)"
    assert not (tmp_path / "out").exists()
