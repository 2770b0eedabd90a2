"""Nothing lost by a mistaken command: no submissions, foreign files in --out, two runs at once, bad numbers,
missing extras, a stale template, --out inside the submissions, nbgrader export; and what a tutor sees."""

from __future__ import annotations

import csv
import fcntl
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from classroom import KIT, grade

from grader import cli


def snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def rerun(graded_class, tmp_path_factory):
    """The graded class copied; one submission removed, tutor files added, manual.csv with ';'; graded again."""
    root = tmp_path_factory.mktemp("rerun")
    source, out = root / "class", root / "out"
    shutil.copytree(graded_class.parent / "class", source)
    shutil.copytree(graded_class, out)
    shutil.rmtree(source / "dave-no-plots")
    tutor = {"feedback/my-notes.html": b"mine", "results/tutor.json": b'{"mine": 1}', "notes.txt": b"mine",
             "moodle/keep.txt": b"mine"}  # fmt: skip
    for rel, data in tutor.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(data)
    (out / "manual.csv").write_text("submission;students;plots_points;plots_max;report_points;report_max;comment\n"
                                    "ada-lovelace;;5,5;6;4;4;nice; really\n", encoding="utf-8")  # fmt: skip
    done = grade(source, out, jobs=1)
    return out, tutor, done


def test_safety_never_deletes_what_it_did_not_write(rerun, graded_class):
    """Does a run delete only its own stale outputs (a page of a submission that left) and keep every foreign file?"""
    out, tutor, _ = rerun
    assert (graded_class / "feedback" / "dave-no-plots.html").is_file()  # written by the first run
    assert not (out / "feedback" / "dave-no-plots.html").exists() and not (out / "results" / "dave-no-plots.json").exists()
    for rel, data in tutor.items():
        assert (out / rel).read_bytes() == data, rel
    assert "feedback/my-notes.html" not in (out / ".grader-manifest.json").read_text()
    assert (out / "manual.csv").read_text(encoding="utf-8").endswith("ada-lovelace;;5,5;6;4;4;nice; really\n")  # kept
    assert '"manual.csv"' not in (out / ".grader-manifest.json").read_text()  # so no later run deletes it


def test_safety_progress_lines_for_kept_results(rerun):
    """Do kept results count up 1..N in order, with an ETA of "?" until something is graded afresh?"""
    _, _, done = rerun
    lines = [line for line in done.stderr.splitlines() if re.match(r"\d+/\d+ ", line)]
    assert [line.split()[0] for line in lines] == [f"{i}/6" for i in range(1, 7)]
    assert all("(kept)" in line for line in lines) and "ETA ?)" in lines[0] and "ETA 0 s)" in lines[-1]


def test_safety_progress_bar_on_a_terminal():
    """On a terminal, is the progress one bar redrawn in place, ending at N/N with the last submission's status?"""
    import io
    from types import SimpleNamespace

    from grader.outputs.progress import Progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    screen = Terminal()
    bar = Progress(screen)
    for i in range(1, 4):
        bar.update(i, 3, SimpleNamespace(submission=f"s{i}", status="graded", points=i, max_points=3, seconds=1.0), False, 3 - i)
    bar.finish()
    text = screen.getvalue()
    assert "\n" not in text.rstrip("\n") and "\r" in text, repr(text)  # redrawn in place, one line
    last = text.rstrip("\n").split("\r")[-1]
    assert "3/3" in last and "ETA    0 s" in last and "s3: graded 3/3" in last, repr(last)


def test_safety_manual_points_with_semicolons(rerun):
    """Is a manual-points sheet saved by German or French Excel (';', decimal comma) read as it is meant?"""
    out, _, _ = rerun
    with open(out / "grades.csv", newline="", encoding="utf-8") as handle:
        grades = {r["student"]: r for r in csv.DictReader(handle)}
    assert grades["ada-lovelace"]["plots_points"] == "5.5" and grades["ada-lovelace"]["points"] == "69.5"


def test_safety_no_submissions_changes_nothing(tmp_path):
    """Does a run that finds no submissions exit non-zero and leave --out exactly as it was (or absent)?"""
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("not a submission")
    out = tmp_path / "out"
    (out / "feedback").mkdir(parents=True)
    (out / "grades.csv").write_text("student,points\nada,99\n")
    before = snapshot(out)
    done = grade(tmp_path / "empty", out, check=False)
    assert done.returncode == 1 and "no submissions found" in done.stderr and "Traceback" not in done.stderr
    assert snapshot(out) == before and sorted(p.name for p in out.iterdir()) == ["feedback", "grades.csv"]
    done = grade(tmp_path / "empty", tmp_path / "new", check=False)
    assert done.returncode == 1 and not (tmp_path / "new").exists()


def test_safety_second_run_stops_at_once(graded_class, tmp_path):
    """While one run holds --out, does a second stop at once with a clear message, no traceback, nothing changed?"""
    out = tmp_path / "out"
    shutil.copytree(graded_class, out)
    before = snapshot(out)
    fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # what a running `grader grade` holds
        done = grade(graded_class.parent / "class", out, check=False)
    finally:
        os.close(fd)
    assert done.returncode == 1 and "another `grader grade` is writing into" in done.stderr
    assert "Traceback" not in done.stderr and snapshot(out) == before


@pytest.mark.parametrize("argv, message", [
    (["--jobs", "0"], "argument -j/--jobs: 0 is not from 1 to 256"),
    (["-j", "two"], "argument -j/--jobs: 'two' is not a number"),
    (["--budget", "-5"], "argument --budget: -5 is not from 1 to 86400"),
    (["--budget", "nan"], "argument --budget: nan is not from 1 to 86400"),
    (["--late-penalty", "lots"], "argument --late-penalty: 'lots' is not PERCENT_PER_DAY"),
    (["--deadline", "friday"], "argument --deadline: 'friday' is not a date and time"),
])  # fmt: skip
def test_safety_numbers_validated_by_the_parser(argv, message, capsys):
    """Are --jobs, --budget, --late-penalty and --deadline refused by the argument parser with a usage error?"""
    with pytest.raises(SystemExit) as stop:
        cli.build_parser().parse_args(["grade", *argv])
    assert stop.value.code == 2 and message in capsys.readouterr().err


def test_safety_tutor_extras_checked_before_grading(tmp_path):
    """Does a missing tutor package stop the run before intake, naming it and the install command?"""
    code = ("import sys; sys.modules['nbgrader'] = None; from grader.cli import main; "
            f"sys.exit(main(['grade', {str(KIT / 'submissions')!r}, '--out', {str(tmp_path / 'out')!r}]))")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], cwd=KIT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "missing: nbgrader" in done.stderr and "pip install -e" in done.stderr
    assert not (tmp_path / "out").exists()
    assert {"nbgrader", "jinja2", "pillow", "anyascii"} <= set(cli.tutor_packages())  # read from pyproject.toml
    assert cli.missing_extras() == []  # every tutor extra maps to a module that is installed here


def test_safety_release_regenerates_stale_template(tmp_path, monkeypatch, capsys):
    """Does `grader release` regenerate a stale template (and say so) before building the bundle?"""
    from grader.authoring import release

    (tmp_path / "solutions").mkdir()
    shutil.copyfile(KIT / "solutions" / "exercise02.py", tmp_path / "solutions" / "exercise02.py")
    (tmp_path / "exercise02_template.py").write_text("# stale\n")
    built = []
    monkeypatch.setattr(cli, "KIT", tmp_path)
    monkeypatch.setattr(release, "build_bundle", lambda kit, out: built.append((kit / "exercise02_template.py").read_text()) or out)
    assert cli.main(["release", "--out", str(tmp_path / "dist")]) == 0
    assert "was stale" in capsys.readouterr().out
    assert built == [(KIT / "exercise02_template.py").read_text()]  # the bundle got the regenerated one


def test_safety_out_inside_submissions_refused(tmp_path):
    """Is an --out inside the submissions folder refused before anything is written?"""
    source = tmp_path / "class"
    shutil.copytree(KIT / "submissions" / "ada-lovelace", source / "ada")
    done = grade(source, source / "report", check=False)
    assert done.returncode == 2 and "inside the submissions folder" in done.stderr
    assert sorted(p.name for p in source.iterdir()) == ["ada"]


def test_safety_nbgrader_export_command_keeps_grades_csv(graded_class, tmp_path):
    """Does the `nbgrader export` command of docs/moodle.md write its own file and leave grades.csv alone?"""
    out = tmp_path / "out"
    shutil.copytree(graded_class, out)
    before = (out / "grades.csv").read_bytes()
    command = re.search(r"^    (nbgrader export .*)$", (KIT / "docs" / "moodle.md").read_text(), re.M).group(1)
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    done = subprocess.run(command, shell=True, cwd=out, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (out / "grades.csv").read_bytes() == before and (out / "nbgrader-grades.csv").is_file()


def test_status_import_error_flagged_once(graded_class):
    """Is an import crash its own status, flagged in the class table, its error said once (no row per test) on the
    feedback page and in the report?"""
    report = (graded_class / "report.html").read_text()
    assert "⚑ import error" in report and "st-import-error" in report
    page = (graded_class / "feedback" / "carol-crash.html").read_text()
    assert page.count("could not import") == 1 and "not run:" not in page  # the error once, no row per test
    assert re.search(r"(\d+) of \1 tests \([\d.]+ points\) did not run, for the reason above\.", page), page
    section = report.split('id="s-carol-crash"', 1)[1].split("test run log (for the tutor)", 1)[0]  # before the raw log
    assert section.count("could not import") == 1 and "<table>" not in section and "lost points" not in section


def test_status_pages_show_date_and_versions(graded_class):
    """Do the report and every feedback page show the date, the kit's version and the suite's version?"""
    pattern = re.compile(r"graded \d{4}-\d\d-\d\d \d\d:\d\d \S* · kit 1\.0\.0 · suite [0-9a-f]{12}")
    assert pattern.search((graded_class / "report.html").read_text())
    for page in (graded_class / "feedback").glob("*.html"):
        assert pattern.search(page.read_text()), page.name


def test_safety_manual_save_keeps_a_semicolon_sheet(tmp_path):
    """Does saving one row (grader review) keep every other row of a ';' sheet, and its delimiter?"""
    from grader.outputs import manual

    path = tmp_path / "manual.csv"
    path.write_text("submission;students;plots_points;plots_max;report_points;report_max;comment\n"
                    "ada;x;5,5;6;4;4;nice, really\nbob;y;;6;;4;\n", encoding="utf-8")  # fmt: skip
    manual.save_points(path, "bob", ["y"], {"plots_points": "3"})
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[1] == "ada;x;5,5;6;4;4;nice, really" and lines[2] == "bob;y;3;6;;4;"
    assert manual.read_manual(path, {"ada", "bob"}).points == {"ada": {"plots": 5.5, "report": 4.0}, "bob": {"plots": 3.0, "report": None}}
