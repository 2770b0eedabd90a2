"""The shelf: gradebooks kept in the user's cache, used only when the cache's rules trust them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from grader.outputs import shelf


@pytest.fixture()
def cache(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("GRADER_CACHE", str(root))
    return root


def book(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_a_kept_gradebook_is_copied_for_the_same_content_only(cache, tmp_path):
    """Is a gradebook kept under its digest copied whole for that digest, and nothing copied for another?"""
    shelf.keep("a" * 64, book(tmp_path / "written.db", "grades of class A"))
    assert shelf.copy_kept("a" * 64, tmp_path / "gradebook.db") is True
    assert (tmp_path / "gradebook.db").read_text() == "grades of class A"
    assert shelf.copy_kept("b" * 64, tmp_path / "other.db") is False and not (tmp_path / "other.db").exists()
    assert not list(tmp_path.glob("*.partial")) and not list((cache / "gradebooks").glob(".*"))


def test_only_the_newest_are_kept_and_never_the_empty_ones(cache, tmp_path, monkeypatch):
    """Are all but the newest KEPT gradebooks dropped, the empty gradebooks (empty-*.db) left alone?"""
    monkeypatch.setattr(shelf, "KEPT", 2)
    (cache / "gradebooks").mkdir(mode=0o700, parents=True)
    empty = book(cache / "gradebooks" / "empty-0123.db", "empty")
    for age, digest in enumerate("abc"):
        shelf.keep(digest * 64, book(tmp_path / "written.db", digest))
        os.utime(cache / "gradebooks" / f"{digest * 64}.db", ns=(10**18 + age, 10**18 + age))  # a before b before c
    assert sorted(p.name[0] for p in (cache / "gradebooks").glob("*.db") if p != empty) == ["b", "c"] and empty.exists()


def test_a_kept_gradebook_others_could_write_is_not_used(cache, tmp_path):
    """Is a kept gradebook that another user could have written (group- or world-writable) ignored?"""
    shelf.keep("a" * 64, book(tmp_path / "written.db", "grades"))
    (cache / "gradebooks" / f"{'a' * 64}.db").chmod(0o666)
    assert shelf.copy_kept("a" * 64, tmp_path / "gradebook.db") is False and not (tmp_path / "gradebook.db").exists()


def test_the_empty_gradebook_is_made_once_and_then_copied(cache, tmp_path):
    """Is nbgrader's empty gradebook made once per version and course, and copied after that (make=False: copy only)?"""
    made = []

    class Gradebook:  # stands in for nbgrader.api.Gradebook: creating one writes the database file
        def __init__(self, url: str, course_id: str):
            made.append(course_id)
            Path(url.removeprefix("sqlite:///")).write_text(f"tables of {course_id}")

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    shelf.copy_empty(tmp_path / "first.db", "exercise02", Gradebook)
    shelf.copy_empty(tmp_path / "second.db", "exercise02", Gradebook)
    shelf.copy_empty(tmp_path / "third.db", "other-course", Gradebook, make=False)
    assert made == ["exercise02"] and (tmp_path / "second.db").read_text() == "tables of exercise02"
    assert not (tmp_path / "third.db").exists()  # nothing kept for that course, and make=False makes nothing
