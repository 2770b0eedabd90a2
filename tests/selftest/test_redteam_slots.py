"""Red team through `grader grade`, third round: slots, names, the sandbox's view, signals.

Each attack is graded next to its honest twin (the plain reference solution, `twin-plain`):
  2 slots held by sleeping   redteam/batch/sleeper.py: every call sleeps; it holds its slot for the idle
                             allowance only, earns nothing, and its verdict is kept for the unchanged
                             file (graded again only with --retry-timeouts)
  4 reserved names           a submission folder named `class` (review/class.json): another id, the
                             snapshot stays whole, the same points as its twin
  6 host paths in the view   redteam/batch/mountinfo.py: a probe that breaks relu when the mount table
                             names a host path; it scores exactly as its twin
  7 nothing after a signal   `grader grade` stopped by SIGTERM while a run is sandboxed: no staging
                             folder, copy or process remains
Figures before and after: docs/security.md. Sandbox (bwrap) only, like test_redteam_batch.py.
"""

from __future__ import annotations

import csv
import glob
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from poll import wait_until
from test_redteam_batch import BATCH, KIT, SOLUTION, grade, kept, private_tmp, settled, slot_processes

from grader.sandbox.host import IDLE_CALL, IDLE_TOTAL

pytestmark = [pytest.mark.usefixtures("bwrap_sandbox"), pytest.mark.timeout(1800)]

CLASS = {
    "twin-plain": SOLUTION,
    "sleeper": SOLUTION + "\n" + (BATCH / "sleeper.py").read_text(),
    "mountinfo": SOLUTION + "\n" + (BATCH / "mountinfo.py").read_text(),
    "class": SOLUTION + "\n# the folder's name is the attack\n",
}


def write_class(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).mkdir(parents=True)
        (root / name / "exercise02_template.py").write_text(text)
    return root


def points(out: Path) -> dict[str, float]:
    with (out / "grades.csv").open(newline="") as file:
        return {row["submission"]: float(row["auto_points"]) for row in csv.DictReader(file)}


@pytest.fixture(scope="module")
def slots_batch(tmp_path_factory):
    root = tmp_path_factory.mktemp("slots")
    source, out, tmp = write_class(root / "class", CLASS), root / "out", private_tmp(root)
    run = grade(source, out, "--jobs", "2", tmp=tmp)
    assert run.returncode == 0, f"grader grade failed (exit {run.returncode}):\n{run.stderr[-3000:]}"
    assert list(tmp.iterdir()) == [], "staged copies or private folders were left behind"
    return source, out, tmp


def test_item2_a_sleeper_holds_its_slot_briefly_and_gains_nothing(slots_batch):
    """Does a submission that sleeps in every call earn nothing, hold its slot waiting for no more than the idle
    allowance (by the grader's own count of idle time, not by a clock that load stretches), with only idle
    stops, while its twin is never idle?"""
    _, out, _ = slots_batch
    grades = points(out)
    assert grades["twin-plain"] == 100 and grades["sleeper"] == 0
    sleeper, twin = kept(out, "sleeper"), kept(out, "twin-plain")
    assert sleeper["status"] == "graded" and set(sleeper["stopped"]) == {"idle"}, sleeper["stopped"]
    assert IDLE_TOTAL - 0.5 <= sleeper["usage"]["idle_seconds"] <= IDLE_TOTAL + IDLE_CALL, sleeper["usage"]
    assert any("without computing" in t["message"] for t in sleeper["tests"])
    assert twin["stopped"] == [] and twin["usage"]["idle_seconds"] < 3, twin["usage"]  # what an honest run needs


def test_item2_an_idle_verdict_is_kept_until_retried(slots_batch):
    """Is the sleeper's verdict served from the store for the unchanged file, and graded again with --retry-timeouts?"""
    source, out, tmp = slots_batch
    again = grade(source, out, "--jobs", "2", tmp=tmp)
    assert again.returncode == 0 and "4 submissions: " in again.stdout and "; 4 from earlier runs" in again.stdout, again.stdout + again.stderr[-2000:]
    retry = grade(source, out, "--jobs", "2", "--retry-timeouts", tmp=tmp)
    assert retry.returncode == 0 and "; 3 from earlier runs" in retry.stdout, retry.stdout + retry.stderr[-2000:]
    assert points(out)["sleeper"] == 0


def test_item4_a_folder_named_class_keeps_the_snapshot_whole(slots_batch):
    """Does a folder named `class` get another id, leave review/class.json the class's, and score as its twin?"""
    from grader.outputs.snapshot import read_snapshot

    _, out, _ = slots_batch
    grades = points(out)
    assert "class" not in grades
    (renamed,) = [sid for sid in grades if sid.startswith("class-")]
    assert grades[renamed] == grades["twin-plain"]
    snapshot = read_snapshot(out)  # stopped with KeyError: 'label' when the submission overwrote class.json
    assert {s.id for s in snapshot.submissions} == set(grades)
    assert [s.label for s in snapshot.submissions if s.id == renamed] == ["class"]


def test_item6_the_mount_table_names_no_host_path(slots_batch):
    """Does the probe find no host path in /proc/self/mountinfo (it would break relu), scoring as its twin?"""
    _, out, _ = slots_batch
    grades = points(out)
    assert grades["mountinfo"] == grades["twin-plain"] == 100
    relu = [t for t in kept(out, "mountinfo")["tests"] if "relu" in t["id"]]
    assert relu and all(t["outcome"] == "passed" for t in relu), [t["message"] for t in relu if t["outcome"] != "passed"]


def test_item7_sigterm_during_grading_leaves_nothing(tmp_path):
    """When `grader grade` is stopped by SIGTERM while a submission runs sandboxed, does no staging folder,
    copy or process of it remain?"""
    source = write_class(tmp_path / "class", {"sleeper-stopped": CLASS["sleeper"] + "\n# stopped by SIGTERM\n"})
    tmp, out = private_tmp(tmp_path), tmp_path / "out"
    before = set(slot_processes())
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "TMPDIR": str(tmp)}
    env.pop("EXERCISE02_UNSANDBOXED", None)
    running = subprocess.Popen([sys.executable, "-m", "grader", "grade", str(source), "--out", str(out)], cwd=KIT,
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    staged = wait_until(lambda: glob.glob(f"{tmp}/**/exercise02-sandbox-*/sub/*.py", recursive=True)  # the worker's copy
                        or running.poll() is not None, 300, "a sandboxed run")
    assert staged is not True, "no sandboxed run was seen (grading ended first)"
    running.send_signal(signal.SIGTERM)
    _, stderr = running.communicate(timeout=120)
    assert running.returncode == -signal.SIGTERM, stderr[-2000:]
    assert settled(lambda: sorted(set(slot_processes()) - before), quiet=2.0) == []
    assert settled(lambda: sorted(str(p) for p in tmp.iterdir())) == [], "a staging folder survived SIGTERM"
