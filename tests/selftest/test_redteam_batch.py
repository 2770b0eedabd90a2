"""Red team through the whole pipeline: `grader grade` on a class of hostile submissions.

Each hostile submission is the reference solution with one attack planted. Its *honest twin* is the
same file with the attack replaced by an honest failure (`raise RuntimeError`), or by nothing where
the attack runs at import and leaves the functions intact. The grade of a hostile submission must
equal its twin's: an attack earns nothing and costs nothing beyond the honest work it displaces.
The batch must finish, write nothing outside the sandbox, and leave no process behind.

Issue 14's items each have a hostile file or scenario here (files in redteam/batch/, appended to the
solution; each file's docstring states the expected outcome):
  1 fail closed      no bwrap -> `grader grade` and `pytest tests/hidden` refuse; --no-sandbox grades,
                     marks every output, and a later sandboxed run grades again (stand-in suite)
  2 interpreter      a venv under /tmp grades sandboxed; a stub reading the solution gains nothing
  3 per submission   redteam/batch/hog.py next to its honest twin: one memory cap, one CPU
  4 trusted cost     redteam/batch/padded_reply.py: rejected by shape, the trusted process stays small
  5 load            redteam/batch/heavy_import.py (honest, 8 s CPU at import): 100 idle and busy
  9 nothing left    redteam/batch/budget_overrun.py: the budget kill leaves nothing; graded again next run

Sandbox (bwrap) only: without it these attacks would run with the grader's rights. These tests FAIL
when bwrap cannot run here, unless EXERCISE02_SKIP_SANDBOX_TESTS=1 (see tests/selftest/isolation.py).
"""

from __future__ import annotations

import contextlib
import csv
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from poll import wait_until

KIT = Path(__file__).resolve().parents[2]
SOLUTION = (KIT / "solutions" / "exercise02.py").read_text()
CANARY = Path("/tmp/exercise02-redteam-batch-canary")
BATCH = Path(__file__).resolve().parent / "redteam" / "batch"
STANDIN = KIT / "tests" / "selftest" / "fixtures" / "suite"
pytestmark = [pytest.mark.usefixtures("bwrap_sandbox"),  # fails without bwrap unless EXERCISE02_SKIP_SANDBOX_TESTS=1
              pytest.mark.timeout(1800)]  # the class takes about 6 minutes on 2 idle cores, more when loaded

# Issue 14: files appended to the solution; the twin is the plain solution. Items 3, 4 and 5.
APPENDED = {"hog": "hog.py", "padded-reply": "padded_reply.py", "heavy-import": "heavy_import.py"}

# Attacks that run at import; the twin is the plain solution.
AT_IMPORT = {
    "fake-results": f"""
import atexit, json, os, sys
print("=" * 20 + " 50 passed in 1.00s " + "=" * 20)
atexit.register(lambda: sys.__stdout__.write("==== 50 passed ====\\n"))
for folder in (os.getcwd(), "/tmp", {str(KIT / "report")!r}, {str(CANARY)!r}):
    try:
        with open(os.path.join(folder, "results.json"), "w") as f:
            json.dump({{"tests": [{{"id": "test_mnist_accuracy", "outcome": "passed", "earned": 100}}]}}, f)
    except OSError:
        pass
""",
    "patch-numpy": """
import numpy, numpy.testing
numpy.allclose = lambda *a, **k: True
numpy.testing.assert_allclose = lambda *a, **k: None
numpy.isfinite = lambda x: numpy.ones(numpy.shape(x), dtype=bool)
""",
    "daemon": f"""
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        while True:
            try:
                open({str(CANARY / "daemon-was-here")!r}, "w").close()
            except OSError:
                pass
            time.sleep(0.2)
    os._exit(0)
""",
}

# Attacks inside one function; the twin raises RuntimeError there instead.
IN_FUNCTION = {
    "fork-bomb-relu": ("relu", "import os\n    while True:\n        os.fork()"),
    "memory-bomb-softmax": ("softmax", "blocks = []\n    while True:\n        blocks.append(bytearray(64 << 20))"),
    "output-flood-sigmoid": ("sigmoid", "while True:\n        print('A' * 65536)"),
    "exit-in-tanh": ("tanh", "import os\n    os._exit(0)"),
}


def replace_body(source: str, function: str, body: str) -> str:
    """The solution with `function`'s solution region replaced by `body` (4-space indented)."""
    pattern = re.compile(
        rf"(def {function}\(.*?\n(?:    \"\"\".*?\"\"\"\n)?)    ### BEGIN SOLUTION\n.*?    ### END SOLUTION\n", re.S
    )
    new, count = pattern.subn(lambda m: m.group(1) + "    " + body + "\n", source, count=1)
    assert count == 1, f"no solution region found for {function}"
    return new


def make_class(root: Path) -> dict[str, str]:
    """Writes the hostile class under root; returns {hostile submission: its honest twin}."""
    pairs = {}

    def write(name: str, text: str, extras: dict[str, str] | None = None) -> None:
        folder = root / name
        folder.mkdir(parents=True)
        (folder / "exercise02_template.py").write_text(text)
        for file_name, content in (extras or {}).items():
            (folder / file_name).write_text(content)

    write("twin-plain", SOLUTION)
    for name, attack in AT_IMPORT.items():
        write(name, SOLUTION + "\n" + attack)
        pairs[name] = "twin-plain"
    for name, file_name in APPENDED.items():
        write(name, SOLUTION + "\n" + (BATCH / file_name).read_text())
        pairs[name] = "twin-plain"
    # A conftest.py and pytest.ini next to a wrong file must not turn failures into passes.
    conftest = "import pytest\n@pytest.hookimpl(wrapper=True)\ndef pytest_runtest_makereport(item, call):\n    r = yield\n    r.outcome = 'passed'\n    return r\n"
    template = (KIT / "exercise02_template.py").read_text()
    write("conftest-next-to-template", template, {"conftest.py": conftest, "pytest.ini": "[pytest]\naddopts = -p no:terminal\n"})
    write("twin-template", template)
    pairs["conftest-next-to-template"] = "twin-template"
    for name, (function, body) in IN_FUNCTION.items():
        write(name, replace_body(SOLUTION, function, body))
        twin = f"twin-{function}"
        write(twin, replace_body(SOLUTION, function, f'raise RuntimeError("honest failure in {function}")'))
        pairs[name] = twin
    return pairs


def memory_cgroup(pid: str = "self") -> str | None:
    """The memory cgroup of a process (graders of other users of this machine may sit in others)."""
    try:
        for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
            number, names, path = line.split(":", 2)
            if "memory" in names.split(","):
                return path
    except (OSError, ValueError):
        pass
    return None


def slot_processes() -> list[str]:
    """Processes of any sandbox slot uid (61000-61063) still alive that belong to this test's graders
    (under this process's memory cgroup, when there is one: other graders on a shared machine use the
    same slot uids)."""
    own = memory_cgroup()
    alive = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                uid = int((entry / "status").read_text().split("\nUid:")[1].split()[0])
            except (OSError, IndexError, ValueError):
                continue
            theirs = memory_cgroup(entry.name)
            if 61000 <= uid < 61064 and (own is None or theirs is None or theirs.startswith(own.rstrip("/") + "/")
                                         or theirs == own):
                alive.append(f"pid {entry.name} uid {uid}")
    return alive


def private_tmp(root: Path) -> Path:
    """A TMPDIR of the test's own for `grader grade` (other graders on this machine share /tmp)."""
    folder = root / "tmp"
    folder.mkdir(mode=0o700)
    return folder


CGROUP_BEFORE: set[int] = set()  # processes in per-submission cgroups before the batch started


def cgroup_processes() -> list[int]:
    """Processes still in a per-submission cgroup of this test's graders (v1: under this process's
    memory cgroup, since other graders on a shared machine sit in others; v2: all of them)."""
    if Path("/sys/fs/cgroup/memory").is_dir():
        own = (memory_cgroup() or "").strip("/")
        pattern = "/".join(p for p in ("/sys/fs/cgroup/memory", own, "exercise02-grader/*/cgroup.procs") if p)
        files = glob.glob(pattern)
    else:
        files = glob.glob("/sys/fs/cgroup/**/exercise02-grader/*/cgroup.procs", recursive=True)
    found = []
    for procs in files:
        try:
            found += [int(p) for p in Path(procs).read_text().split()]
        except OSError:
            pass
    return found


def settled(look, seconds: float = 15.0, quiet: float = 0.0):
    """What `look()` still finds once it has found nothing for `quiet` seconds in a row (at once when 0), or
    after `seconds`: processes SIGKILLed by a budget kill may take a moment to exit (a memory-capped hog
    stalls in the kernel), and are not survivors; nor is a worker whose pytest process died while bwrap
    set it up, which may appear a moment later and ends by itself before the submission is imported
    (grader/sandbox/worker.py, "Dying with its host")."""
    found, empty_since = [look()], [None]

    def calm() -> bool:
        found[0] = look()
        now = time.monotonic()
        if found[0]:
            empty_since[0] = None
            return False
        empty_since[0] = now if empty_since[0] is None else empty_since[0]
        return now - empty_since[0] >= quiet

    with contextlib.suppress(AssertionError):
        wait_until(calm, seconds, "nothing left")
    return found[0]


def kept(out: Path, submission: str) -> dict:
    return json.loads((out / "results" / f"{submission}.json").read_text())


def grade(source: Path, out: Path, *extra: str, python: str = sys.executable, wrap: list[str] = (),
          tmp: Path | None = None, **options):
    """`grader grade` in a subprocess from the kit's folder (with TMPDIR=tmp when given)."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **({"TMPDIR": str(tmp)} if tmp else {})}
    env.pop("EXERCISE02_UNSANDBOXED", None)
    return subprocess.run([*wrap, python, "-m", "grader", "grade", str(source), "--out", str(out), *extra],
                          cwd=KIT, env=env, capture_output=True, text=True, timeout=1500, **options)  # fmt: skip


@pytest.fixture(scope="module")
def hostile_batch(tmp_path_factory):
    CANARY.mkdir(exist_ok=True)
    for stale in CANARY.iterdir():
        stale.unlink()
    root = tmp_path_factory.mktemp("hostile")
    pairs = make_class(root / "class")
    before = set(slot_processes())  # e.g. the hidden suite's session worker in this same pytest run
    CGROUP_BEFORE.update(cgroup_processes())  # that worker sits in a per-submission cgroup of its own
    tmp = private_tmp(root)
    out = root / "out"
    run = grade(root / "class", out, "--jobs", "2", "--budget", "240", tmp=tmp)
    assert run.returncode == 0, f"grader grade failed (exit {run.returncode}):\n{run.stderr[-3000:]}"
    assert list(tmp.iterdir()) == [], "staged copies or private folders were left behind"
    with (out / "grades.csv").open(newline="") as file:
        grades = {row["submission"]: row for row in csv.DictReader(file)}
    return pairs, grades, out, before


def test_batch_grades_every_hostile_submission(hostile_batch):
    """Does the batch finish with a grade for every submission, hostile or not?"""
    pairs, grades, _, _ = hostile_batch
    expected = set(pairs) | set(pairs.values())
    assert expected <= set(grades), f"missing from grades.csv: {sorted(expected - set(grades))}"


@pytest.mark.parametrize("attack", [*AT_IMPORT, "conftest-next-to-template", *IN_FUNCTION, "heavy-import"])
def test_attack_scores_like_its_honest_twin(hostile_batch, attack):
    """Does a hostile submission score exactly what its honest twin scores?"""
    pairs, grades, _, _ = hostile_batch
    hostile, twin = grades[attack], grades[pairs[attack]]
    assert float(hostile["auto_points"]) == float(twin["auto_points"]), (
        f"{attack}: {hostile['auto_points']} points, honest twin {pairs[attack]}: {twin['auto_points']}"
    )


def test_twins_score_what_they_should(hostile_batch):
    """Are the twins themselves graded sensibly (solution 100, template 0, one broken function in between)?"""
    _, grades, _, _ = hostile_batch
    assert float(grades["twin-plain"]["auto_points"]) == 100
    assert float(grades["twin-template"]["auto_points"]) == 0
    for function in ("relu", "softmax", "sigmoid", "tanh"):
        assert 0 < float(grades[f"twin-{function}"]["auto_points"]) < 100, function


def test_nothing_written_outside_the_sandbox(hostile_batch):
    """Did no attack write into the canary folder or the kit?"""
    _, _, out, _ = hostile_batch
    assert list(CANARY.iterdir()) == [], f"written from a sandbox: {list(CANARY.iterdir())}"
    assert not (KIT / "report" / "results.json").exists()


def test_no_process_outlives_the_batch(hostile_batch):
    """Is every process a submission started (fork bomb, daemon) gone when the batch ends?"""
    _, _, _, before = hostile_batch
    assert settled(lambda: sorted(set(slot_processes()) - before)) == []


def test_output_stays_bounded(hostile_batch):
    """Does the output flood leave the report and the CSVs small?"""
    _, _, out, _ = hostile_batch
    assert (out / "report.html").stat().st_size < 20 << 20
    assert (out / "results.csv").stat().st_size < 2 << 20
    assert (out / "feedback" / "output-flood-sigmoid.html").stat().st_size < 2 << 20


def test_no_cgroup_keeps_a_process(hostile_batch):
    """Is every per-submission cgroup the batch used empty when it ends (workers alive before it, such as
    the hidden suite's session worker in the same pytest run, are not the batch's)?"""
    assert settled(lambda: sorted(set(cgroup_processes()) - CGROUP_BEFORE)) == []


# --------------------------------------------------------------------------- issue 14, items 3 and 4


def test_item3_hog_stays_within_one_memory_cap_and_one_cpu(hostile_batch):
    """Do a hog's forked children share ONE memory cap and ONE CPU, while its neighbour keeps full marks?"""
    pairs, grades, out, _ = hostile_batch
    assert float(grades["twin-plain"]["auto_points"]) == 100  # the honest neighbour
    assert float(grades["hog"]["auto_points"]) <= float(grades["twin-plain"]["auto_points"])  # gains nothing
    hog = kept(out, "hog")
    usage = hog["usage"]
    assert usage["peak_mib"] <= 2048 + 512, usage  # 4 children x 700 MB + the worker: capped together
    # One CPU's worth: the submission's CPU time never exceeds its wall time (plus the counter's slack).
    assert usage["cpu_seconds"] <= hog["seconds"] * 1.02 + 2, (usage, hog["seconds"])


def test_item4_padded_replies_are_rejected_and_cost_the_trusted_side_little(hostile_batch):
    """Are padded replies rejected by shape (no points), with the trusted process's memory bounded?"""
    pairs, grades, out, _ = hostile_batch
    assert float(grades["padded-reply"]["auto_points"]) <= float(grades["twin-plain"]["auto_points"])
    padded = kept(out, "padded-reply")
    assert any("reply was rejected" in t["message"] and "unknown reply field" in t["message"] for t in padded["tests"])
    twin = kept(out, "twin-plain")  # the trusted process costs no more than for an honest submission
    assert padded["usage"]["trusted_peak_mib"] <= twin["usage"]["trusted_peak_mib"] + 64, (padded["usage"], twin["usage"])


# --------------------------------------------------------------------------- item 5: load


def test_item5_heavy_import_scores_the_same_with_every_core_busy(hostile_batch, tmp_path):
    """Does an honest file whose import needs 8 s of CPU keep 100 points with every core busy?"""
    _, grades, out, _ = hostile_batch
    assert float(grades["heavy-import"]["auto_points"]) == 100  # in the batch
    source = tmp_path / "class" / "heavy-import-busy"
    source.mkdir(parents=True)
    (source / "exercise02_template.py").write_text(SOLUTION + "\n" + (BATCH / "heavy_import.py").read_text())
    busy_out = tmp_path / "out"
    (busy_out / "results").mkdir(parents=True)
    shutil.copy(out / "results" / "_reference.json", busy_out / "results")  # the answer key, kept
    spin = "import time\nend = time.monotonic() + 900\nwhile time.monotonic() < end:\n    pass\n"
    spinners = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(2 * (os.cpu_count() or 1))]
    try:
        run = grade(source.parent, busy_out, "--jobs", "1")
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
    assert run.returncode == 0, run.stderr[-2000:]
    result = kept(busy_out, "heavy-import-busy")
    assert result["stopped"] == [] and result["status"] == "graded"
    assert sum(t["earned"] for t in result["tests"]) == 100, [t["message"] for t in result["tests"] if t["earned"] == 0]


# --------------------------------------------------------------------------- item 9: budget kill


def readable_by_nobody(path: str) -> bool:
    """Whether uid 65534 (any other local user) can read `path`."""
    done = subprocess.run(["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/bin/cat", path],
                          capture_output=True)  # fmt: skip
    return done.returncode == 0


def test_item9_budget_kill_leaves_nothing_and_is_graded_again(hostile_batch, tmp_path):
    """After a wall-budget kill: no process, staged copy or private folder; while running, nothing readable
    by other users; the stopped result is not served from the store next time."""
    _, _, out, _ = hostile_batch
    source = tmp_path / "class" / "budget-overrun"
    source.mkdir(parents=True)
    (source / "exercise02_template.py").write_text(SOLUTION + "\n" + (BATCH / "budget_overrun.py").read_text())
    kill_out = tmp_path / "out"
    (kill_out / "results").mkdir(parents=True)
    shutil.copy(out / "results" / "_reference.json", kill_out / "results")
    before, slots_before, tmp = set(slot_processes()), cgroup_processes(), private_tmp(tmp_path)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "TMPDIR": str(tmp)}
    command = [sys.executable, "-m", "grader", "grade", str(source.parent), "--out", str(kill_out), "--budget", "20"]
    running = subprocess.Popen(command, cwd=KIT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    staged = []

    def both_copies() -> bool:  # the harness's copy and the sandbox's copy
        staged[:] = glob.glob(f"{tmp}/**/exercise02_template.py", recursive=True)
        return len(staged) >= 2

    with contextlib.suppress(AssertionError):  # the run's own budget (20 s) ends them: look while it runs
        wait_until(both_copies, 18, "both staged copies")
    assert staged, "no staged copy seen while grading ran"
    assert not [p for p in staged if readable_by_nobody(p)], "a staged copy is readable by other local users"
    stdout, stderr = running.communicate(timeout=300)
    assert running.returncode == 0, stderr[-2000:]
    result = kept(kill_out, "budget-overrun")
    assert result["status"] == "timeout"
    assert settled(lambda: sorted(set(slot_processes()) - before)) == []
    assert settled(lambda: sorted(set(cgroup_processes()) - set(slots_before))) == []
    assert list(tmp.iterdir()) == [], "a staged copy or private folder survived the budget kill"
    again = grade(source.parent, kill_out, "--budget", "5", tmp=tmp)
    assert "1 submission: " in again.stdout and "; 0 from earlier runs" in again.stdout, again.stdout + again.stderr[-2000:]


# --------------------------------------------------------------------------- items 1 and 2: fail closed, any interpreter


def no_bwrap() -> list[str]:
    """A command prefix that runs the rest on this machine as if bubblewrap were not installed."""
    return ["/usr/bin/bwrap", "--dev-bind", "/", "/", "--ro-bind", "/dev/null", "/usr/bin/bwrap", "--"]


@pytest.fixture
def tiny_class(tmp_path) -> Path:
    """The solution, the template, and a stub that tries to load the reference solution from the kit."""
    root = tmp_path / "class"
    for name, text in {
        "solution": SOLUTION,
        "template": (KIT / "exercise02_template.py").read_text(),
        "stub-reads-solution": (KIT / "exercise02_template.py").read_text()
        + f"\ntry:\n    exec(open({str(KIT / 'solutions' / 'exercise02.py')!r}).read())\nexcept OSError:\n    pass\n",
    }.items():
        (root / name).mkdir(parents=True)
        (root / name / "exercise02_template.py").write_text(text)
    return root


def test_item1_without_bwrap_nothing_is_graded_unless_asked(tiny_class, tmp_path):
    """No bwrap: `grader grade` and `pytest tests/hidden` refuse; --no-sandbox grades and marks every
    output; a later sandboxed run grades everything again instead of serving the unsandboxed results."""
    out = tmp_path / "out"
    refused = grade(tiny_class, out, "--suite", str(STANDIN), "--backend", "sandbox", wrap=no_bwrap())
    assert refused.returncode != 0
    assert "the sandbox cannot run on this machine, so nothing was graded" in refused.stderr
    assert "bubblewrap (bwrap) is not installed" in refused.stderr and "--no-sandbox" in refused.stderr
    assert not (out / "grades.csv").exists() and not list((out / "results").glob("[!_]*.json"))
    env = {k: v for k, v in os.environ.items() if k != "EXERCISE02_UNSANDBOXED"}
    hidden = subprocess.run([*no_bwrap(), sys.executable, "-m", "pytest", "tests/hidden", "-q", "-p", "no:cacheprovider",
                             "--submission", str(tiny_class / "solution")],
                            cwd=KIT, env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert hidden.returncode not in (0, 1), hidden.stdout[-2000:]
    assert "refusing to run the hidden suite" in hidden.stdout + hidden.stderr
    assert " passed" not in hidden.stdout

    trusted = grade(tiny_class, out, "--suite", str(STANDIN), "--no-sandbox", wrap=no_bwrap())
    assert trusted.returncode == 0, trusted.stderr[-2000:]
    assert "NOT SANDBOXED" in trusted.stderr and "NOT SANDBOXED" in (out / "report.html").read_text()
    assert "NOT SANDBOXED" in (out / "feedback" / "solution.html").read_text()
    with (out / "grades.csv").open(newline="") as file:
        assert all("NOT SANDBOXED" in row["status"] for row in csv.DictReader(file))
    assert "NOT SANDBOXED" in (out / "results.csv").read_text()
    assert kept(out, "solution")["backend"] in ("process", "unsandboxed")  # the stand-in suite does not record it

    sandboxed = grade(tiny_class, out, "--suite", str(STANDIN), "--backend", "sandbox")
    assert sandboxed.returncode == 0, sandboxed.stderr[-2000:]
    assert "; 0 from earlier runs" in sandboxed.stdout, sandboxed.stdout
    assert kept(out, "solution")["backend"] in ("bwrap", "sandbox") and "NOT SANDBOXED" not in (out / "report.html").read_text()


def test_item2_a_venv_under_tmp_grades_sandboxed(tiny_class, tmp_path):
    """A tutor's venv under /tmp: the sandbox runs from it, and a stub cannot reach the solution."""
    venv = Path("/tmp") / f"exercise02-venv-{os.getpid()}"
    shutil.rmtree(venv, ignore_errors=True)
    try:
        # --system-site-packages: numpy and pytest come from the base interpreter (seconds, no network);
        # what is under test is where the interpreter lives, not how the kit is installed.
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True)
        out = tmp_path / "out"
        run = grade(tiny_class, out, "--suite", str(STANDIN), "--backend", "sandbox", python=str(venv / "bin" / "python"))
        assert run.returncode == 0, run.stderr[-2000:]
        assert "NOT SANDBOXED" not in run.stderr
        with (out / "grades.csv").open(newline="") as file:
            grades = {row["submission"]: float(row["auto_points"]) for row in csv.DictReader(file)}
        assert all(kept(out, name)["backend"] in ("bwrap", "sandbox") for name in grades), run.stderr[-2000:]
        assert grades["solution"] == sum(t["points"] for t in kept(out, "solution")["tests"])
        assert grades["stub-reads-solution"] == grades["template"] < grades["solution"]
    finally:
        shutil.rmtree(venv, ignore_errors=True)
