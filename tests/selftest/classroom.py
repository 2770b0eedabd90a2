"""Helpers of the grading self-tests: run `grader grade` on the stand-in suite, build a hostile class."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

KIT = Path(__file__).resolve().parents[2]
STANDIN = KIT / "tests" / "selftest" / "fixtures" / "suite"
HOSTILE_NAME = "<img src=x onerror=document.title='pwned-name'> Ève_4242_assignsubmission_file_"
HOSTILE_REPORT = """# Report <script>document.title='pwned-script'</script>
## Loss curves <img src=x onerror="document.title='pwned-onerror'">
Expected: =HYPERLINK("http://evil") Observed: nothing. Explanation: <b>none</b>.
"""


def grade(source: Path, out: Path, *extra: str, check: bool = True, jobs: int = 2) -> subprocess.CompletedProcess:
    """`grader grade` in a subprocess with the stand-in suite, in-process (self-tests only)."""
    command = [sys.executable, "-m", "grader", "grade", str(source), "--out", str(out), "--suite", str(STANDIN),
               "--backend", "in-process", "-j", str(jobs), *extra]  # fmt: skip
    done = subprocess.run(command, cwd=KIT, capture_output=True, text=True, timeout=300)
    if check:
        assert done.returncode == 0, done.stderr[-3000:]
    return done


def make_class(root: Path) -> Path:
    """The committed sample class plus a submission with a hostile folder name and REPORT.md."""
    source = root / "class"
    shutil.copytree(KIT / "submissions", source)
    hostile = source / HOSTILE_NAME
    hostile.mkdir()
    shutil.copyfile(KIT / "solutions" / "exercise02.py", hostile / "exercise02_template.py")
    (hostile / "REPORT.md").write_text(HOSTILE_REPORT)
    (hostile / "members.txt").write_text("=cmd|' /C calc'!A0\nx12345\n")
    return source


def manual_scores(db: Path, student: str) -> dict:
    """The manual scores (plots, report) of one student in gradebook.db, read through nbgrader's API."""
    import warnings

    from grader.outputs import gradebook, manual

    Gradebook = gradebook.api().Gradebook
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Gradebook(f"sqlite:///{db}", course_id="exercise02") as gb:
            return {part: gb.find_grade(part, "exercise02", "exercise02", student).manual_score for part in manual.PARTS}


class Gate:
    """Runs of the stand-in suite held at a point the test controls (the suite's `gate` fixture): a submission
    written by `holding(NAME)` waits before its first test, once the grader runs with `env()`, until `release(NAME)`."""

    ENV = "EXERCISE02_SELFTEST_GATE"

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def env(self) -> dict:
        return {**os.environ, self.ENV: str(self.folder)}

    @staticmethod
    def holding(name: str) -> str:
        """The solution, held by the gate NAME (without the gate's folder in the environment: the plain solution)."""
        return (KIT / "solutions" / "exercise02.py").read_text() + f"\n# selftest gate: {name}\n"

    def started(self, name: str) -> int | None:
        """The pid of the pytest process held at NAME, once one got there."""
        path = self.folder / f"{name}.started"
        return int(path.read_text()) if path.exists() else None

    def release(self, name: str) -> None:
        (self.folder / f"{name}.release").touch()
