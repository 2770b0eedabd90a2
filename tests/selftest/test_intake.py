"""Intake: folders and LMS zips into one safe folder per submission; every oddity a message, never a crash."""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

import pytest

from grader.grading import intake

CODE = b"def sigmoid(z):\n    return z\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40


def write(root: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def zip_of(path: Path, members: dict[str, bytes], links: dict[str, str] = ()) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        for name, target in dict(links).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return path


def by_id(subs):
    return {s.id: s for s in subs}


def test_intake_folder_of_folders(tmp_path):
    """Does a folder of submission folders give one submission each, with exactly the expected files?"""
    write(tmp_path / "in", {
        "alice/exercise02_template.py": CODE, "alice/plots/lr_loss_curves.png": PNG,
        "alice/plots/lr_accuracy.png": PNG, "alice/REPORT.md": b"# r", "alice/notes.txt": b"x",
        "bob/exercise02.py": CODE,
    })  # fmt: skip
    subs, notes = intake.collect(tmp_path / "in", tmp_path / "work")
    subs = by_id(subs)
    assert sorted(subs) == ["alice", "bob"] and notes == []
    alice = subs["alice"]
    assert alice.code.name == "exercise02_template.py" and alice.report is not None
    assert all(alice.plots.values()) and alice.ignored == ["notes.txt"] and alice.members == ["alice"]
    assert sorted(p.name for p in (tmp_path / "work" / "alice").rglob("*") if p.is_file()) == [
        "REPORT.md", "exercise02_template.py", "lr_accuracy.png", "lr_loss_curves.png"]
    assert subs["bob"].code.name == "exercise02.py"
    assert any("lr_loss_curves.png is missing" in p for p in subs["bob"].problems)


def test_intake_moodle_zip_nested_and_flat(tmp_path):
    """Does a Moodle zip give one submission per participant folder, also one folder deeper and flat?"""
    source = zip_of(tmp_path / "class.zip", {
        "Anna Müller_12345_assignsubmission_file_/exercise02_template.py": CODE,
        "Anna Müller_12345_assignsubmission_file_/REPORT.md": b"r",
        "Jo Li_777_assignsubmission_file_/ex02/exercise02_template.py": CODE,
        "Jo Li_777_assignsubmission_file_/ex02/plots/lr_accuracy.png": PNG,
        "Kim Ng_9_assignsubmission_file_exercise02_template.py": CODE,
    })  # fmt: skip
    subs, notes = intake.collect(source, tmp_path / "work")
    subs = by_id(subs)
    assert sorted(subs) == ["anna-muller-12345", "jo-li-777", "kim-ng-9"], notes
    assert subs["anna-muller-12345"].members == ["12345"]
    assert subs["jo-li-777"].code is not None and subs["jo-li-777"].plots["plots/lr_accuracy.png"] is not None
    assert subs["kim-ng-9"].code is not None


def test_intake_zip_attacks_are_skipped(tmp_path):
    """Are zip-slip, absolute, backslash, symlink, oversize and bomb members skipped with a message?"""
    bomb = b"\x00" * (20 << 20)  # compresses to ~20 KB, declared size honest: over the code cap
    source = zip_of(tmp_path / "evil.zip", {
        "a_1_assignsubmission_file_/../../escape.py": CODE,
        "/abs_2_assignsubmission_file_/exercise02_template.py": CODE,
        "a_1_assignsubmission_file_/..\\..\\win.py": CODE,
        "a_1_assignsubmission_file_/REPORT.md": bomb,
        "a_1_assignsubmission_file_/exercise02_template.py": CODE,
    }, links={"a_1_assignsubmission_file_/plots/lr_accuracy.png": "/etc/passwd"})  # fmt: skip
    work = tmp_path / "work"
    subs, notes = intake.collect(source, work)
    assert [s.id for s in subs] == ["a-1", "abs-2"]
    assert subs[1].code is None and "absolute path" in " ".join(subs[1].problems)
    text = " | ".join(subs[0].problems + subs[1].problems + notes)
    assert "'..'" in text and "absolute path" in text and "symbolic link" in text and "REPORT.md is 20.0 MiB; the limit is 64 KiB" in text
    assert not (tmp_path / "escape.py").exists() and not (tmp_path / "win.py").exists()
    files = sorted(str(p.relative_to(work)) for p in work.rglob("*") if p.is_file())
    assert files == ["a-1/exercise02_template.py"]


def test_intake_lying_zip_size_is_capped(tmp_path):
    """Does a member whose declared size lies still stop at the cap (a decompression bomb)?"""
    path = zip_of(tmp_path / "lie.zip", {"x_5_assignsubmission_file_/REPORT.md": b"A" * (1 << 20)})
    data = bytearray(path.read_bytes())
    # patch the declared uncompressed size (local header and central directory) down to 10 bytes
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = data.find(signature)
        data[at + offset : at + offset + 4] = (10).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    subs, notes = intake.collect(path, tmp_path / "work")
    assert subs[0].report is None
    assert any("REPORT.md" in p for p in subs[0].problems)


def test_intake_not_a_zip_and_missing_source(tmp_path):
    """Is a zip that is not a zip a note, and a missing SUBMISSIONS the only error?"""
    (tmp_path / "fake.zip").write_bytes(b"hello")
    subs, notes = intake.collect(tmp_path / "fake.zip", tmp_path / "work")
    assert subs == [] and "not a readable zip" in notes[0]
    with pytest.raises(intake.IntakeError):
        intake.collect(tmp_path / "nope", tmp_path / "work")


def test_intake_links_are_not_followed(tmp_path):
    """Are symbolic links (to a folder or a file) never followed?"""
    secret = tmp_path / "secret.py"
    secret.write_bytes(b"SECRET = 1\n")
    (tmp_path / "in" / "eve").mkdir(parents=True)
    os.symlink(secret, tmp_path / "in" / "eve" / "exercise02_template.py")
    os.symlink(tmp_path, tmp_path / "in" / "linked")
    subs, notes = intake.collect(tmp_path / "in", tmp_path / "work")
    assert [s.id for s in subs] == ["eve"] and subs[0].code is None
    assert any("symbolic link" in n for n in notes) and any("symbolic link" in p for p in subs[0].problems)


def test_intake_odd_names_and_empty_folder(tmp_path):
    """Do unicode, spaces, dots and markup in names give safe, distinct ids, and an empty folder a message?"""
    names = ["Zoë Ünal", "zoe unal", "..", "a b <c>", "日本語"]
    for name in names:
        if name == "..":
            continue
        write(tmp_path / "in", {f"{name}/exercise02.py": CODE})
    (tmp_path / "in" / "empty").mkdir()
    subs, notes = intake.collect(tmp_path / "in", tmp_path / "work")
    ids = [s.id for s in subs]
    assert len(set(ids)) == len(ids) == 5
    assert all(intake.re.fullmatch(r"[a-z0-9-]+", i) for i in ids)
    empty = by_id(subs)["empty"]
    assert empty.code is None and "empty folder" in empty.problems[0]


def test_intake_groups(tmp_path):
    """Are members.txt ids validated, more than three flagged, and a student in two groups noted?"""
    write(tmp_path / "in", {
        "g1/exercise02.py": CODE, "g1/members.txt": b"s1\ns2\n=evil()\ns3\ns4\n",
        "g2/exercise02.py": CODE, "g2/members.txt": b"\xef\xbb\xbfs1 # me\n\n",
        "g3/exercise02.py": CODE, "g3/members.txt": b"!!!\n",
    })  # fmt: skip
    subs = by_id(intake.collect(tmp_path / "in", tmp_path / "work")[0])
    assert subs["g1"].members == ["s1", "s2", "s3"]
    assert any("more than 3" in p for p in subs["g1"].problems)
    assert any("not valid student ids" in p for p in subs["g1"].problems)
    assert subs["g2"].members == ["s1"] and any("also listed in g1" in p for p in subs["g2"].problems)
    assert subs["g3"].members == ["g3"] and any("no valid student id" in p for p in subs["g3"].problems)


def test_intake_stray_top_level_file_is_a_note(tmp_path):
    """Is a file at the top of a zip or folder a note, never a submission (no student called "submission")?"""
    source = zip_of(tmp_path / "class.zip", {
        "notes.txt": b"remember to grade", "exercise02_template.py": CODE,
        "A B_1_assignsubmission_file/exercise02.py": CODE,
    })  # fmt: skip
    subs, notes = intake.collect(source, tmp_path / "work")
    assert [s.id for s in subs] == ["a-b-1"]
    assert sum("outside every submission folder" in n for n in notes) == 2
    write(tmp_path / "in", {"stray.py": CODE, "alice/exercise02.py": CODE})
    subs, notes = intake.collect(tmp_path / "in", tmp_path / "work")
    assert [s.id for s in subs] == ["alice"] and "stray.py" in notes[0]


def test_intake_one_wrapper_folder_unwrapped(tmp_path):
    """Is one folder around the whole class (a zip of the download) unwrapped, in a zip and in a folder?"""
    source = zip_of(tmp_path / "class.zip", {
        "EX02-42/Ada L_1_assignsubmission_file/exercise02.py": CODE,
        "EX02-42/Bo M_2_assignsubmission_file/exercise02.py": CODE,
        "__MACOSX/EX02-42/._x": b"",
    })  # fmt: skip
    subs, notes = intake.collect(source, tmp_path / "work")
    assert [s.id for s in subs] == ["ada-l-1", "bo-m-2"] and [s.participant for s in subs] == ["1", "2"]
    assert any("unwrapped" in n for n in notes)
    write(tmp_path / "in", {"class/alice/exercise02.py": CODE, "class/bob/exercise02.py": CODE})
    subs, notes = intake.collect(tmp_path / "in", tmp_path / "work")
    assert [s.id for s in subs] == ["alice", "bob"]


def test_intake_single_nested_submission_not_unwrapped(tmp_path):
    """Is one student's folder with the files one level deeper still one submission (not unwrapped away)?"""
    write(tmp_path / "in", {"alice/ex02/exercise02.py": CODE, "alice/ex02/REPORT.md": b"r"})
    subs, _ = intake.collect(tmp_path / "in", tmp_path / "work")
    assert [s.id for s in subs] == ["alice"] and subs[0].code is not None


def test_intake_onlinetext_and_feedback_folders_are_not_submissions(tmp_path):
    """Are Moodle's online-text and feedback folders notes, not extra submissions of the same student?"""
    source = zip_of(tmp_path / "class.zip", {
        "Ada L_1_assignsubmission_file/exercise02.py": CODE,
        "Ada L_1_assignsubmission_onlinetext/onlinetext.html": b"<p>hi</p>",
        "Ada L_1_assignfeedback_file_/feedback.pdf": b"%PDF",
        "Bo M_2_assignsubmission_onlinetext_onlinetext.html": b"<p>flat</p>",
    })  # fmt: skip
    subs, notes = intake.collect(source, tmp_path / "work")
    assert [s.id for s in subs] == ["ada-l-1"]
    assert any("assignsubmission_onlinetext" in n for n in notes) and any("assignfeedback_file" in n for n in notes)


def test_intake_submission_that_is_one_zip_is_opened_one_level(tmp_path):
    """Is a submission holding one zip opened once, with the same path checks and caps, and no deeper?"""
    inner = zip_of(tmp_path / "inner.zip", {
        "ex02/exercise02_template.py": CODE, "ex02/REPORT.md": b"r", "ex02/members.txt": b"S0123\n",
        "../../escape.py": CODE, "nested.zip": b"PK...", "ex02/plots/lr_accuracy.png": b"x" * (6 << 20),
    }).read_bytes()  # fmt: skip
    source = zip_of(tmp_path / "class.zip", {"Kim N_7_assignsubmission_file/handin.zip": inner})
    subs, notes = intake.collect(source, tmp_path / "work")
    sub = subs[0]
    assert sub.code is not None and sub.report is not None and sub.members == ["s0123"]
    text = " | ".join(sub.problems)
    assert "opened it (one level)" in text and "'..'" in text and "lr_accuracy.png is 6.0 MiB; the limit is 5.0 MiB" in text
    assert not (tmp_path / "escape.py").exists() and "nested.zip" in sub.ignored


def test_intake_cap_refusal_names_file_and_cap(tmp_path):
    """Does a code file over its cap say which file and which cap, and keep that as the code's problem?"""
    write(tmp_path / "in", {"big/exercise02_template.py": b"#" * (300 << 10)})
    sub = intake.collect(tmp_path / "in", tmp_path / "work")[0][0]
    assert sub.code is None and sub.code_problem == "exercise02_template.py is 300 KiB; the limit is 256 KiB; not used"
    assert not any("no exercise02" in p for p in sub.problems)


def test_intake_colliding_names_never_crash(tmp_path):
    """Do folder names that collide after slugging (and the same name in a folder and a zip) get distinct ids?"""
    write(tmp_path / "in", {"Anna/exercise02.py": CODE, "anna/exercise02.py": CODE, "ANNA!/exercise02.py": CODE})
    hashed = intake._assign_ids(["Anna", "anna"])[0]
    write(tmp_path / "in", {f"{hashed}/exercise02.py": CODE})
    zip_of(tmp_path / "in" / "more.zip", {"Anna/exercise02.py": CODE, "anna/REPORT.md": b"r"})
    subs, notes = intake.collect(tmp_path / "in", tmp_path / "work")
    ids = [s.id for s in subs]
    assert len(ids) == len(set(ids)) == 6 and all(intake.re.fullmatch(r"[a-z0-9-]+", i) for i in ids)


def test_intake_reserved_names_never_become_ids(tmp_path):
    """Does a folder named like a file the outputs write (class -> review/class.json) get another id?"""
    names = ["class", "Class", "CLASS!", "class-2", "report", "klasse"]
    write(tmp_path / "in", {f"{n}/exercise02.py": CODE for n in names})
    ids = [s.id for s in intake.collect(tmp_path / "in", tmp_path / "work")[0]]
    assert len(ids) == len(set(ids)) == len(names)
    assert not set(ids) & intake.RESERVED_IDS, ids
    assert "klasse" in ids and "class-2" in ids  # ordinary names keep their slug


def test_intake_non_ascii_names_keep_their_letters(tmp_path):
    """Do non-ASCII names become ids that keep their letters (ü -> u, ß -> ss), never dropped?"""
    write(tmp_path / "in", {f"{n}/exercise02.py": CODE for n in ("Jörg Müßig_5_assignsubmission_file", "Łukasz Żółć", "Ærø Ørn")})
    ids = sorted(s.id for s in intake.collect(tmp_path / "in", tmp_path / "work")[0])
    assert ids == ["aero-orn", "jorg-mussig-5", "lukasz-zolc"]


def test_intake_out_inside_submissions(tmp_path):
    """Is an output folder inside (or equal to) the submissions folder recognised?"""
    (tmp_path / "in").mkdir()
    assert intake.out_inside(tmp_path / "in", tmp_path / "in" / "report")
    assert intake.out_inside(tmp_path / "in", tmp_path / "in")
    assert not intake.out_inside(tmp_path / "in", tmp_path / "report")


def test_intake_submission_time_from_the_zip(tmp_path):
    """Is a submission's time (for --deadline) the newest time stamp of its picked files?"""
    path = tmp_path / "class.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name, when in (("exercise02.py", (2026, 11, 30, 23, 58, 0)), ("REPORT.md", (2026, 12, 1, 0, 30, 0)),
                           ("notes.txt", (2027, 1, 1, 0, 0, 0))):  # fmt: skip
            archive.writestr(zipfile.ZipInfo(f"Kim N_7_assignsubmission_file/{name}", when), b"x")
    sub = intake.collect(path, tmp_path / "work")[0][0]
    assert sub.submitted.replace(tzinfo=None).isoformat() == "2026-12-01T00:30:00"  # notes.txt is not picked


def test_intake_junk_entries_and_browser_copies(tmp_path):
    """A '../../evil.py' entry is no submission; 'exercise02_template (1).py' is graded with a note; Moodle's
    team download "Default group_assignsubmission_file" keeps its name."""
    source = zip_of(tmp_path / "class.zip", {
        "../../evil.py": CODE,
        "Ada Lovelace_7_assignsubmission_file/exercise02_template (1).py": CODE,
        "Default group_assignsubmission_file/exercise02_template.py": CODE,
    })  # fmt: skip
    subs, notes = intake.collect(source, tmp_path / "work")
    assert [s.id for s in subs] == ["ada-lovelace-7", "default-group-assignsubmission-file"], notes
    ada, default = subs
    assert ada.code is not None and ada.code.name == "exercise02_template.py" and ada.code.read_bytes() == CODE
    assert "a browser's copy suffix" in " ".join(ada.problems) and default.name == "Default group"
    assert any("'..'" in n for n in notes)
