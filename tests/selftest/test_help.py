"""`grader --help`: the defaults that live in the kit folder say so (they do not follow the current folder)."""

from __future__ import annotations

import re

import pytest

from grader import cli


def help_text(capsys, monkeypatch, *command: str) -> str:
    """The help as one line: a width no line reaches keeps every line whole; single spaces compare the rest."""
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


@pytest.mark.parametrize("command", [(), ("grade",), ("review",), ("rubric",), ("release",), ("samples",)])
@pytest.mark.parametrize("columns", [50, 70, 90])
def test_help_never_splits_a_word_at_its_hyphen(capsys, monkeypatch, command, columns):
    """Wrapped to a narrow terminal, does every line end at a space, never inside a file name or option at its
    hyphen (feedback-files.zip, --late-penalty), so what the help names can be copied whole?"""
    monkeypatch.setenv("COLUMNS", str(columns))
    with pytest.raises(SystemExit):
        cli.main([*command, "--help"])
    lines = capsys.readouterr().out.splitlines()
    split = [line for line in lines if re.search(r"[A-Za-z0-9]-$", line)]
    assert not split, split
    wide = " ".join(help_text(capsys, monkeypatch, *command).split())
    assert sorted(" ".join(lines).split()) == sorted(wide.split())  # the same words, only wrapped (usage reorders)
