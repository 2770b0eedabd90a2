"""Listing: which folders and zip members of SUBMISSIONS are submissions, and their files, without reading any."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from grader.grading import listing

CODE = b"def sigmoid(z):\n    return z\n"


def write(root: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def names_and_files(listed) -> dict[str, list[str]]:
    return {item.name: sorted("/".join(e.parts) for e in item.entries) for item in listed}


def test_folder_lists_each_submission_and_its_files_without_reading_them(tmp_path):
    """Does a folder of folders list one submission per folder with its files' paths and sizes, reading none?"""
    write(tmp_path / "in", {"ann/exercise02.py": CODE, "ann/plots/lr_accuracy.png": b"png", "bob/REPORT.md": b"# r"})
    (tmp_path / "in" / "ann" / "exercise02.py").chmod(0)  # unreadable: listing must not need to read it
    try:
        listed = listing.list_source(tmp_path / "in", notes := [])
    finally:
        (tmp_path / "in" / "ann" / "exercise02.py").chmod(0o644)
    assert names_and_files(listed) == {"ann": ["exercise02.py", "plots/lr_accuracy.png"], "bob": ["REPORT.md"]}
    assert {e.parts: e.size for e in listed[0].entries}[("exercise02.py",)] == len(CODE) and notes == []


def test_a_wrapper_folder_is_unwrapped_and_stray_files_are_notes(tmp_path):
    """Is one folder holding the submission folders unwrapped, and a file beside them a note, not a submission?"""
    write(tmp_path / "in", {"download/ann/exercise02.py": CODE, "download/bob/exercise02.py": CODE})
    listed = listing.list_source(tmp_path / "in", notes := [])
    assert sorted(names_and_files(listed)) == ["ann", "bob"]
    assert notes == ["everything is inside the folder download; unwrapped it"]
    write(tmp_path / "flat", {"ann/exercise02.py": CODE, "grades.txt": b"x"})
    listed = listing.list_source(tmp_path / "flat", notes := [])
    assert sorted(names_and_files(listed)) == ["ann"] and notes == ["grades.txt: not a submission folder or an LMS zip; ignored"]


def test_moodle_zip_flat_files_and_other_plugins(tmp_path):
    """In a Moodle zip, are flat files grouped by their participant prefix and feedback folders left out with a note?"""
    path = tmp_path / "class.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("Ann Lee_101_assignsubmission_file_exercise02.py", CODE)
        archive.writestr("Bob Ray_102_assignsubmission_file_/REPORT.md", b"# r")
        archive.writestr("Bob Ray_102_assignfeedback_comments_/note.html", b"<p>")
    listed = listing.list_source(path, notes := [])
    assert names_and_files(listed) == {"Ann Lee_101_assignsubmission_file_": ["exercise02.py"],
                                       "Bob Ray_102_assignsubmission_file_": ["REPORT.md"]}
    assert len(notes) == 1 and "assignfeedback_comments folder(s) are not file submissions" in notes[0]


def test_links_are_problems_and_the_file_count_is_capped(tmp_path, monkeypatch):
    """Is a symbolic link listed as a problem (never followed), and are files past the cap left unlisted, saying so?"""
    write(tmp_path / "in", {"ann/a.txt": b"a", "ann/b.txt": b"b", "ann/c.txt": b"c"})
    os.symlink("/etc/passwd", tmp_path / "in" / "ann" / "exercise02.py")
    (item,) = listing.list_source(tmp_path / "in", [])
    assert [e.parts for e in item.entries] == [("a.txt",), ("b.txt",), ("c.txt",)]
    assert item.problems == ["exercise02.py is a symbolic link; not followed"]
    monkeypatch.setattr(listing, "MEMBERS_PER_SUBMISSION", 2)
    (item,) = listing.list_source(tmp_path / "in", [])
    assert len(item.entries) == 2 and item.problems == ["more than 2 files; the rest was not looked at"]


def test_display_escapes_control_characters_and_caps_length():
    """Is an untrusted name shown with its control characters escaped and its length capped?"""
    assert listing.display("a\nb\x1b") == "a\\nb\\x1b"
    assert listing.display("x" * 200, 10) == "x" * 10 + "…"
