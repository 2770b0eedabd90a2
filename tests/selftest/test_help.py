"""`grader --help`: the defaults that live in the kit folder say so (they do not follow the current folder)."""

from __future__ import annotations

import re

import pytest

from grader import cli


def help_text(capsys, monkeypatch, *command: str) -> str:
    """The help as one line. argparse wraps it to $COLUMNS, also inside a path at a hyphen ("kit-" / "with-hyphens"),
    which no joining undoes: a width no line reaches keeps every line whole; single spaces compare the rest."""
    monkeypatch.setenv("COLUMNS", "100000")
    with pytest.raises(SystemExit):
        cli.main([*command, "--help"])
    return " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("command, folders", [
    (("grade",), ["submissions/", "report/", "tests/hidden"]),
    (("release",), ["dist/"]),
    (("rubric",), ["tests/hidden"]),
    (("review",), ["report/"]),
])  # fmt: skip
def test_kit_relative_defaults_say_so(capsys, monkeypatch, command, folders):
    """Does each default folder of the command read 'default: <folder> in the kit folder, <absolute path>'?"""
    text = help_text(capsys, monkeypatch, *command)
    for folder in folders:
        path = str(cli.KIT / folder)
        assert re.search(rf"default: {re.escape(folder)} in the kit folder, {re.escape(path)}", text), text


def test_top_level_help_lists_the_new_commands(capsys, monkeypatch):
    """Does `grader --help` list samples and rubric, and say where the defaults are?"""
    text = help_text(capsys, monkeypatch)
    assert "samples" in text and "rubric" in text
    assert "the defaults (submissions/, report/, dist/, tests/hidden) are in the kit folder" in text
