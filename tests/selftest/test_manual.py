"""Manual points' sheets: the blank template a run keeps current without touching what a tutor typed."""

from __future__ import annotations

import os
from pathlib import Path

from grader.outputs import manual

ROWS = [("ann", ["s1"]), ("bob", ["s2", "s3"])]
OLD = 1_000_000_000_000_000_000  # ns: a modification time no write of this test can give


def aged(path: Path) -> Path:
    os.utime(path, ns=(OLD, OLD))
    return path


def test_an_unchanged_template_is_left_alone(tmp_path):
    """Does writing the same rows again leave the file, and its modification time, as they were?"""
    path = tmp_path / manual.TEMPLATE_NAME
    assert manual.update_template(path, ROWS) is None and manual.is_blank(path.read_bytes())
    aged(path)
    assert manual.update_template(path, ROWS) is None
    assert path.stat().st_mtime_ns == OLD


def test_a_changed_class_rewrites_a_blank_template(tmp_path):
    """Does a run with other submissions replace the grader's own blank sheet with its rows?"""
    path = tmp_path / manual.TEMPLATE_NAME
    manual.update_template(path, ROWS)
    assert manual.update_template(aged(path), ROWS + [("cy", ["s4"])]) is None
    assert path.stat().st_mtime_ns != OLD and path.read_text().splitlines()[-1] == "cy,s4,,6,,4,"


def test_a_template_someone_typed_into_is_never_overwritten(tmp_path):
    """Is a sheet with points, a comment or a spreadsheet's re-save left byte for byte, with a note saying what to do?"""
    path = tmp_path / manual.TEMPLATE_NAME
    blank = manual.template_text(ROWS)
    for edited in (blank.replace("ann,s1,,6", "ann,s1,5,6"), blank.replace("ann,s1,,6,,4,", "ann,s1,,6,,4,see me"),
                   blank.replace(",", ";")):
        path.write_text(edited, newline="")
        note = manual.update_template(aged(path), ROWS + [("cy", ["s4"])])
        assert path.read_bytes() == edited.encode() and path.stat().st_mtime_ns == OLD
        assert note and "was not rewritten" in note and manual.FILLED_NAME in note


def test_the_blank_sheet_is_what_read_manual_reads_as_nothing_graded(tmp_path):
    """Does the blank sheet read back as every submission known and no point given yet?"""
    path = tmp_path / manual.TEMPLATE_NAME
    path.write_text(manual.template_text(ROWS), newline="")
    read = manual.read_manual(path, {"ann", "bob"})
    assert read.problems == [] and not read.complete("ann") and read.total("bob") == 0


def test_a_folder_in_the_templates_place_is_left_with_a_note(tmp_path):
    """Is a folder named like the template left as it is, with a note instead of a crash?"""
    path = tmp_path / manual.TEMPLATE_NAME
    (path / "inside").mkdir(parents=True)
    note = manual.update_template(path, ROWS)
    assert note and note.startswith(f"{manual.TEMPLATE_NAME} was not rewritten: Is a directory") and (path / "inside").is_dir()
