"""The review snapshot: what `grader grade` leaves for `grader review`, and how a snapshot of another kit is refused."""

from __future__ import annotations

import json

import pytest

from grader.grading.results import TestResult
from grader.outputs import review, snapshot


def write_empty(out) -> None:
    snapshot.write_snapshot(out, submissions=[], results={}, key=[TestResult("test_a", 1.0, 0.0, "failed")], views=[],
                            notes=["a note"], banner=None, course_id="exercise02")  # fmt: skip


def with_version(out, version) -> dict:
    """class.json as another kit wrote it; returns every file of `out` with its bytes, to check nothing changes."""
    path = out / snapshot.FOLDER / "class.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "version": version}))
    return {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}


def test_a_snapshot_reads_back_as_written(tmp_path):
    """Does the snapshot a run writes read back with its key, notes and course?"""
    write_empty(tmp_path)
    snap = snapshot.read_snapshot(tmp_path)
    assert [t.id for t in snap.key] == ["test_a"] and snap.notes == ["a note"] and snap.course_id == "exercise02"


@pytest.mark.parametrize("version", [1, 2, 3])
def test_an_older_snapshot_is_refused_saying_what_to_run_and_what_is_kept(tmp_path, version):
    """Is a snapshot of an older kit refused, changing nothing, with a message naming its version, the command to
    run and that the manual points are kept, both when read and when `grader review` starts on it?"""
    write_empty(tmp_path)
    before = with_version(tmp_path, version)
    with pytest.raises(snapshot.SnapshotError) as refused:
        snapshot.read_snapshot(tmp_path)
    message = str(refused.value)
    assert f"older kit (snapshot version {version}; this kit reads version {snapshot.VERSION})" in message
    assert f"grader grade --out {tmp_path}" in message and "manual points in manual.csv are kept" in message
    with pytest.raises(review.ReviewError, match="older kit"):
        review.Desk(tmp_path, tmp_path / "manual.csv")
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_a_newer_or_unknown_snapshot_version_is_refused_as_such(tmp_path):
    """Is a snapshot of a newer kit refused as newer, and one with no usable version as damaged?"""
    write_empty(tmp_path)
    with_version(tmp_path, snapshot.VERSION + 1)
    with pytest.raises(snapshot.SnapshotError, match="written by a newer kit"):
        snapshot.read_snapshot(tmp_path)
    for odd in (None, "4", True, 0):
        with_version(tmp_path, odd)
        with pytest.raises(snapshot.SnapshotError, match="names no snapshot version this kit knows"):
            snapshot.read_snapshot(tmp_path)
