"""`grader --help`: the defaults that live in the kit folder say so (they do not follow the current folder)."""

from __future__ import annotations

import re

import pytest

from grader import cli


def help_text(capsys, *command: str) -> str:
    with pytest.raises(SystemExit):
        cli.main([*command, "--help"])
    return " ".join(capsys.readouterr().out.split())  # argparse wraps lines: compare with single spaces


@pytest.mark.parametrize("command, folders", [
    (("grade",), ["submissions/", "report/", "tests/hidden"]),
    (("release",), ["dist/"]),
    (("rubric",), ["tests/hidden"]),
    (("review",), ["report/"]),
])  # fmt: skip
def test_kit_relative_defaults_say_so(capsys, command, folders):
    """Does each default folder of the command read 'default: <folder> in the kit folder, <absolute path>'?"""
    text = help_text(capsys, *command)
    for folder in folders:
        path = str(cli.KIT / folder)
        assert re.search(rf"default: {re.escape(folder)} in the kit folder, {re.escape(path)}", text), text


def test_top_level_help_lists_the_new_commands(capsys):
    """Does `grader --help` list samples and rubric, and say where the defaults are?"""
    text = help_text(capsys)
    assert "samples" in text and "rubric" in text
    assert "the defaults (submissions/, report/, dist/, tests/hidden) are in the kit folder" in text
