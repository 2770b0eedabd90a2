"""`grader grade` end to end on the stand-in suite: outputs, resume after SIGKILL, CSVs, manual points, gradebook."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from classroom import KIT, STANDIN, Gate, grade
from poll import gone, wait_until

from grader.outputs import grades, manual


def rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def stable(path: Path) -> list[tuple]:
    """results.csv without the timing column."""
    return [tuple(v for k, v in r.items() if k != "seconds") for r in rows(path)]


def test_grade_writes_every_output(graded_class):
    """Does one run write every output docs/contract.md names, plus the manual-points sheet?"""
    for name in ("report.html", "grades.csv", "results.csv", "gradebook.db", "manual-template.csv"):
        assert (graded_class / name).is_file(), name
    pages = sorted(p.name for p in (graded_class / "feedback").iterdir())
    assert "ada-lovelace.html" in pages and len(pages) == 7


def test_grade_starts_the_manual_sheet(graded_class):
    """Does the first run write manual.csv itself, one blank row per submission, so a tutor only fills it in?"""
    sheet = rows(graded_class / "manual.csv")
    assert sheet == rows(graded_class / "manual-template.csv") and len(sheet) == 7
    assert all(r["plots_points"] == r["report_points"] == "" for r in sheet)


def test_manual_sheet_is_never_replaced(tmp_path):
    """Does writing the sheet with keep=True leave an existing manual.csv exactly as it was?"""
    sheet = tmp_path / "manual.csv"
    assert manual.write_template(sheet, [("ada", ["s1"])], keep=True) is True
    sheet.write_text("mine\n")
    assert manual.write_template(sheet, [("ada", ["s1"]), ("bob", ["s2"])], keep=True) is False
    assert sheet.read_text() == "mine\n"


def test_grade_csv_columns_and_spreadsheet_safety(graded_class):
    """Are the CSV columns exactly as docs/contract.md says, groups expanded, and no cell a formula?"""
    with open(graded_class / "results.csv", newline="") as handle:
        header = next(csv.reader(handle))
    assert header == ["submission", "student", "test", "points", "max_points", "status", "seconds", "message"]
    with open(graded_class / "grades.csv", newline="") as handle:
        header = next(csv.reader(handle))
    assert header[:4] == ["student", "submission", "points", "max_points"]
    by_student = {r["student"]: r for r in rows(graded_class / "grades.csv")}
    assert {"s1234567", "s7654321", "ada-lovelace", "x12345"} <= set(by_student)  # the group expanded
    assert by_student["ada-lovelace"]["points"] == "60" and by_student["ada-lovelace"]["max_points"] == "70"
    for name in ("grades.csv", "results.csv"):
        with open(graded_class / name, newline="") as handle:
            for line in csv.reader(handle):
                assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in line), line
    assert grades.safe_cell("=1+1") == "'=1+1" and grades.safe_cell("-3") == "'-3" and grades.safe_cell("ok") == "ok"


def test_grade_reference_defines_max_and_statuses(graded_class):
    """Do the crash and syntax-error samples get 0 of the reference's maximum, with a reason?"""
    results = {p.stem: json.loads(p.read_text()) for p in (graded_class / "results").glob("*.json")}
    assert sum(t["points"] for t in results["_reference"]["tests"]) == 60
    assert results["mallory-syntax"]["status"] == "syntax-error"
    assert "SyntaxError at line" in results["mallory-syntax"]["reason"]
    assert results["carol-crash"]["status"] == "import-error" and "could not import" in results["carol-crash"]["reason"]
    bob = {t["id"]: t["outcome"] for t in results["bob-partly-wrong"]["tests"]}
    assert bob["test_sigmoid_grad_values"] == "failed" and bob["test_softmax_large_inputs"] == "failed"
    assert bob["test_sigmoid_values"] == "passed"


def test_grade_report_escapes_hostile_text(graded_class):
    """Are a hostile folder name and REPORT.md shown as text, never as markup?"""
    page = (graded_class / "report.html").read_text()
    assert "<script" not in page.lower() and "<img src=x" not in page and "<iframe" not in page
    # REPORT.md as Markdown (grader.outputs.markdown): a heading whose tags are text
    assert "<h1>Report &lt;script&gt;document.title='pwned-script'&lt;/script&gt;</h1>" in page
    assert "&lt;img src=x onerror=" in page
    assert "default-src &#39;none&#39;; img-src data:" in page  # the CSP meta (entities decode in the attribute)
    assert "NOT SANDBOXED" in page  # the stand-in suite ran in-process


def test_grade_feedback_hides_test_code(graded_class):
    """Does a feedback page explain lost points with the question and message, without test code or log?"""
    page = (graded_class / "feedback" / "bob-partly-wrong.html").read_text()
    assert "Is sigmoid_grad the derivative of sigmoid?" in page and "sigmoid_grad(z) is not s(z)(1 - s(z))" in page
    assert "np.allclose" not in page and "test run log" not in page and "def test_" not in page
    hostile = next((graded_class / "feedback").glob("img-src-x-onerror*.html")).read_text()
    assert "<h2>Loss curves &lt;img src=x onerror=" in hostile and "<img src=x" not in hostile  # REPORT.md, as text


def test_grade_manual_points_merge(graded_class, tmp_path):
    """Are filled-in manual points merged into grades.csv, and bad rows reported without a crash?"""
    template = rows(graded_class / "manual-template.csv")
    assert [c for c in template[0]] == manual.COLUMNS and template[0]["plots_max"] == "6"
    sheet = tmp_path / "marks.csv"
    with open(sheet, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=manual.COLUMNS)
        writer.writeheader()
        writer.writerow({"submission": "ada-lovelace", "plots_points": "5.5", "report_points": "4", "comment": "good"})
        writer.writerow({"submission": "bob-partly-wrong", "plots_points": "99", "report_points": "abc"})
        writer.writerow({"submission": "nobody", "plots_points": "1"})
    done = grade(graded_class.parent / "class", graded_class, "--manual", str(sheet))
    assert "7 submissions: " in done.stdout and "; 7 from earlier runs" in done.stdout, done.stdout
    assert "unknown submission 'nobody'" in done.stderr and "not a number from 0 to 6" in done.stderr
    by_student = {r["student"]: r for r in rows(graded_class / "grades.csv")}
    assert by_student["ada-lovelace"]["points"] == "69.5" and by_student["ada-lovelace"]["plots_points"] == "5.5"
    assert "pending" in by_student["bob-partly-wrong"]["status"]
    assert "unknown submission" in (graded_class / "report.html").read_text()
    check_export(graded_class / "gradebook.db", tmp_path, {"ada-lovelace": 69.5, "s1234567": 60.0})


def check_export(db: Path, tmp_path: Path, expected: dict[str, float]) -> None:
    """`nbgrader export` on the gradebook gives each student's total."""
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    work = tmp_path / "export"
    work.mkdir()
    nbgrader = Path(sys.executable).parent / "nbgrader"
    done = subprocess.run([str(nbgrader), "export", f"--CourseDirectory.db_url=sqlite:///{db}",
                           "--CourseDirectory.course_id=exercise02", "--CourseDirectory.root=" + str(work)],
                          cwd=work, env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    exported = {r["student_id"]: r for r in rows(work / "grades.csv")}
    for student, total in expected.items():
        assert float(exported[student]["score"]) == total and float(exported[student]["max_score"]) == 70.0


def test_grade_missing_source_is_one_line_error(tmp_path):
    """Does a missing SUBMISSIONS path give a one-line error and a non-zero status?"""
    done = grade(tmp_path / "nope", tmp_path / "out", check=False)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1 and "does not exist" in done.stderr


def kept_results(out: Path) -> dict[str, list]:
    """Each submission's kept test outcomes and points (not timings or logs)."""
    kept = {}
    for path in (out / "results").glob("*.json"):
        data = json.loads(path.read_text())
        kept[path.stem] = [data["status"], data["key"], [(t["id"], t["outcome"], t["earned"], t["message"]) for t in data["tests"]]]
    return kept


def test_grade_resumes_after_sigkill(graded_class, tmp_path):
    """After the grader is SIGKILLed half way, does a second run finish with identical results, nothing twice?

    The class is the graded class plus "zz-gate", graded last (-j 1) and held before its first test until
    the test releases it (classroom.Gate): the kill lands while it runs, after every other submission was kept.
    """
    import shutil

    source, out, gate = tmp_path / "class", tmp_path / "out", Gate(tmp_path / "gate")
    shutil.copytree(graded_class.parent / "class", source)
    (source / "zz-gate").mkdir()
    (source / "zz-gate" / "exercise02.py").write_text(Gate.holding("zz-gate"))
    command = [sys.executable, "-m", "grader", "grade", str(source), "--out", str(out), "--suite", str(STANDIN),
               "--backend", "in-process", "-j", "1"]  # fmt: skip
    process = subprocess.Popen(command, cwd=KIT, env=gate.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    held = wait_until(lambda: gate.started("zz-gate"), 240, "the gate submission started (every other one graded before it)")
    parent = int(Path(f"/proc/{held}/stat").read_text().rsplit(")", 1)[1].split()[1])  # the zygote (or the grader)
    process.send_signal(signal.SIGKILL)
    process.wait()
    kept = lambda: sorted(p.stem for p in (out / "results").glob("*.json") if not p.name.startswith("_"))  # noqa: E731
    others = sorted(kept_results(graded_class).keys() - {"_reference"})
    assert kept() == others, "the kill landed half way: every submission but the held one is kept"
    # the killed grader's pytest child dies with it, and so does the zygote it was forked from (PR_SET_PDEATHSIG)
    wait_until(lambda: not subprocess.run(["pgrep", "-f", str(out)], capture_output=True).stdout, 30,
               "the pytest processes of the killed grader are gone")  # fmt: skip
    wait_until(lambda: gone(held) and gone(parent), 30, "the held run and its zygote are gone")
    gate.release("zz-gate")
    resumed = grade(source, out)
    assert f"; {len(others)} from earlier runs" in resumed.stdout, resumed.stdout  # the held one is graded now
    held = kept_results(out).pop("zz-gate")
    assert held[0] == "graded" and {k: v for k, v in kept_results(out).items() if k != "zz-gate"} == kept_results(graded_class)
    lines = [line for line in stable(out / "results.csv") if line[0] != "zz-gate"]
    assert len(lines) == len(set(lines)) == len(stable(graded_class / "results.csv"))
    auto = lambda path: [(r["student"], r["auto_points"]) for r in rows(path) if r["submission"] != "zz-gate"]  # noqa: E731
    assert auto(out / "grades.csv") == auto(graded_class / "grades.csv")
    assert not [p for p in (out / "results").iterdir() if "partial" in p.name]
    again = grade(source, out)
    assert f"; {len(others) + 1} from earlier runs" in again.stdout, again.stdout


def test_grade_output_names_are_reserved_ids(graded_class):
    """Is every name the outputs give their own files, in any folder of --out, one that no submission id may take?"""
    from grader.grading.intake import RESERVED_IDS

    ids = {row["submission"] for row in rows(graded_class / "grades.csv")}
    names = set()
    for path in graded_class.rglob("*"):
        relative = path.relative_to(graded_class)
        if any(part.startswith((".", "_")) for part in relative.parts):  # ids are [a-z0-9-]: never these
            continue
        stem = path.name.split(".")[0]
        if stem not in ids:
            names.add(stem)
    assert names - RESERVED_IDS == set(), f"output names a submission id could take: {sorted(names - RESERVED_IDS)}"
    assert "class" in names  # review/class.json
