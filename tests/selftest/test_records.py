"""Fast unit tests of the grading records and the output folder's bookkeeping: results, store, guard, archive, plots.

Each of these modules is otherwise reached only through whole `grader grade` runs; here they are
exercised directly, in milliseconds, on values chosen to show what each rule does.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import pytest

from grader.grading import archive, results, store
from grader.grading.results import DID_NOT_RUN, Result, TestResult
from grader.outputs import guard, plots

KEY = [TestResult("test_a", 2.0, 2.0, "passed", doc="Does a?"), TestResult("test_b", 3.0, 3.0, "passed", doc="Does b?")]


def test_results_are_scored_against_the_key_only():
    """Are a submission's tests scored with the key's points and order, unknown ids dropped and absent ones 'did not run'?"""
    raw = [{"id": "test_b", "outcome": "passed", "points": 100.0, "seconds": "x"}, {"id": "test_extra", "outcome": "passed"},
           "junk", {"id": 7}]  # fmt: skip
    scored = results.against_key("ann", raw, KEY)
    assert [(t.id, t.points, t.earned, t.outcome) for t in scored] == [("test_a", 2.0, 0.0, DID_NOT_RUN),
                                                                      ("test_b", 3.0, 3.0, "passed")]  # fmt: skip
    assert scored[1].seconds == 0.0 and scored[1].doc == "Does b?"
    unrun = results.unrun(KEY, "did not run: timeout")
    assert {t.outcome for t in unrun} == {DID_NOT_RUN} and sum(t.earned for t in unrun) == 0
    result = Result("ann", "graded", scored)
    assert (result.points, result.max_points) == (3.0, 5.0)
    assert Result.from_json(dict(result.to_json(), unknown="ignored")) == result


def test_store_serves_a_result_only_for_its_key_and_prunes_only_its_own_files(tmp_path):
    """Does the store return a result only for the key it was kept for, survive a damaged file, and prune only what it wrote?"""
    kept = store.Store(tmp_path / "results")
    kept.put(Result("ann", "graded", list(KEY), key="k1"))
    assert kept.get("ann", "k1").points == 5.0 and kept.get("ann", "k2") is None
    kept.path("bob").write_text("{not json")
    assert kept.get("bob", "k1") is None
    (tmp_path / "results" / "notes.json").write_text(json.dumps({"mine": True}))  # not a Result: a tutor's file
    (tmp_path / "results" / ".eve.json.123.partial").write_text("half")
    kept.put(Result("gone", "graded", list(KEY), key="k1"))
    kept.prune({"ann"})
    left = sorted(p.name for p in (tmp_path / "results").iterdir())
    assert left == ["ann.json", "bob.json", "notes.json"]


def test_submission_key_changes_with_any_file_or_the_version(tmp_path):
    """Does a submission's key change when a file's content or name, or the run version, changes (and only then)?"""
    (tmp_path / "exercise02.py").write_text("x = 1\n")
    files = [tmp_path / "exercise02.py"]
    first = store.submission_key(files, tmp_path, "v1")
    assert store.submission_key(files, tmp_path, "v1") == first
    assert store.submission_key(files, tmp_path, "v1:unsandboxed") != first
    (tmp_path / "exercise02.py").write_text("x = 2\n")
    assert store.submission_key(files, tmp_path, "v1") != first


def test_guard_locks_the_folder_and_deletes_only_what_its_last_run_wrote(tmp_path):
    """Does a second guard on a locked folder raise Busy, and finish() delete only stale files of the previous manifest?"""
    out = tmp_path / "out"
    (out / "feedback").mkdir(parents=True)
    for name in ("feedback/ann.html", "feedback/gone.html", "mine.txt"):
        (out / name).write_text("x")
    first = guard.Guard(out)
    first.lock()
    with pytest.raises(guard.Busy, match="another `grader grade` is writing into"):
        guard.Guard(out).lock()
    first.record(out / "feedback" / "ann.html", out / "feedback" / "gone.html")
    first.finish()
    first.release()
    second = guard.Guard(out)
    second.lock()
    second.record(out / "feedback" / "ann.html")
    assert second.finish() == ["feedback/gone.html"]
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [
        ".grader-manifest.json", "feedback/ann.html", "mine.txt"]  # fmt: skip
    second.release()


def zipped(members: dict[str, bytes], links: tuple[str, ...] = ()) -> zipfile.ZipFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as handle:
        for name, data in members.items():
            handle.writestr(name, data)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)
            handle.writestr(info, "target")
    return zipfile.ZipFile(io.BytesIO(buffer.getvalue()))


def test_archive_refuses_unsafe_member_paths():
    """Does the zip reader name absolute paths, '..', links and empty names as unsafe, and keep ordinary ones?"""
    handle = zipped({"/etc/passwd": b"", "a/../../x.py": b"", "C:/win.py": b"", "ann/exercise02.py": b"x = 1\n"},
                    links=("ann/link.py",))  # fmt: skip
    reasons = {info.filename: archive.member_parts(info)[1] for info in handle.infolist()}
    assert reasons == {"/etc/passwd": "absolute path", "a/../../x.py": "path leaves its folder ('..')",
                       "C:/win.py": "absolute path", "ann/exercise02.py": "", "ann/link.py": "symbolic link"}  # fmt: skip
    info = handle.getinfo("ann/exercise02.py")
    assert archive.entry(handle, info, ("ann", "exercise02.py")).read(100) == b"x = 1\n"
    with pytest.raises(archive.ArchiveError, match="not a readable zip file"):
        archive.open_zip(io.BytesIO(b"not a zip"), "class.zip", 10)
    assert archive.size_text(5 << 20) == "5.0 MiB" and archive.size_text(17) == "17 bytes"


def test_plots_keep_only_finite_histories_and_re_encode_pngs(tmp_path):
    """Are recorded histories cleaned (bad rates dropped, non-finite values None) and PNGs re-encoded or refused by name?"""
    histories, problem = plots.clean_histories({"0.1": {"train_loss": [1.0, float("nan"), True, 0.5]}, "-1": {}, "x": {}})
    assert histories == {0.1: {"train_loss": [1.0, None, None, 0.5], "val_loss": [], "val_accuracy": []}}
    assert "not a number" in problem and "not a positive number" in problem
    assert plots.clean_histories(None)[1].startswith("no learning-rate histories")
    (tmp_path / "fake.png").write_bytes(b"GIF89a....")
    assert plots.check_png(tmp_path / "fake.png").problem == "not a PNG file"
    from PIL import Image

    Image.new("RGB", (40, 30), "white").save(tmp_path / "plot.png", pnginfo=None)
    checked = plots.check_png(tmp_path / "plot.png")
    assert checked.problem == "" and checked.size == (40, 30) and checked.png.startswith(b"\x89PNG")
    report = tmp_path / "REPORT.md"
    report.write_text("# Loss curves\nExpected: down. Observed: down. Explanation: the rate.\n")
    assert plots.read_report(report).text.startswith("# Loss curves") and plots.read_report(None).note == "REPORT.md is missing"


def test_store_writes_are_atomic(tmp_path):
    """Does put() leave no partial file behind and replace the old result in one step?"""
    kept = store.Store(tmp_path)
    kept.put(Result("ann", "graded", key="k1"))
    kept.put(Result("ann", "timeout", key="k2"))
    assert kept.get("ann", "k2").status == "timeout" and not [p for p in tmp_path.iterdir() if "partial" in p.name]
    assert os.listdir(tmp_path) == ["ann.json"] and Path(kept.path("ann")).is_file()
