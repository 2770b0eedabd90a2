"""Red team through the whole pipeline: `grader grade` on a class of hostile submissions.

Each hostile submission is the reference solution with one attack planted. Its *honest twin* is the
same file with the attack replaced by an honest failure (`raise RuntimeError`), or by nothing where
the attack runs at import and leaves the functions intact. The grade of a hostile submission must
equal its twin's: an attack earns nothing and costs nothing beyond the honest work it displaces.
The batch must finish, write nothing outside the sandbox, and leave no process behind.

Sandbox (bwrap) only: without it these attacks would run with the grader's rights.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

KIT = Path(__file__).resolve().parents[2]
SOLUTION = (KIT / "solutions" / "exercise02.py").read_text()
CANARY = Path("/tmp/exercise02-redteam-batch-canary")

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


def slot_processes() -> list[str]:
    """Processes of any sandbox slot uid (61000-61063) still alive."""
    alive = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                uid = int((entry / "status").read_text().split("\nUid:")[1].split()[0])
            except (OSError, IndexError, ValueError):
                continue
            if 61000 <= uid < 61064:
                alive.append(f"pid {entry.name} uid {uid}")
    return alive


@pytest.fixture(scope="module")
def hostile_batch(tmp_path_factory):
    from grader.sandbox import probe

    mode, reason = probe()
    if mode != "bwrap":
        pytest.skip(f"needs the bwrap sandbox: {reason}")
    CANARY.mkdir(exist_ok=True)
    for stale in CANARY.iterdir():
        stale.unlink()
    root = tmp_path_factory.mktemp("hostile")
    pairs = make_class(root / "class")
    before = set(slot_processes())  # e.g. the hidden suite's session worker in this same pytest run
    out = root / "out"
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "grader", "grade", str(root / "class"), "--out", str(out), "--jobs", "2", "--budget", "240"],
        cwd=KIT, env=env, capture_output=True, text=True, timeout=1500,
    )  # fmt: skip
    assert run.returncode == 0, f"grader grade failed (exit {run.returncode}):\n{run.stderr[-3000:]}"
    with (out / "grades.csv").open(newline="") as file:
        grades = {row["submission"]: row for row in csv.DictReader(file)}
    return pairs, grades, out, before


def test_batch_grades_every_hostile_submission(hostile_batch):
    """Does the batch finish with a grade for every submission, hostile or not?"""
    pairs, grades, _, _ = hostile_batch
    expected = set(pairs) | set(pairs.values())
    assert expected <= set(grades), f"missing from grades.csv: {sorted(expected - set(grades))}"


@pytest.mark.parametrize("attack", [*AT_IMPORT, "conftest-next-to-template", *IN_FUNCTION])
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
    assert sorted(set(slot_processes()) - before) == []


def test_output_stays_bounded(hostile_batch):
    """Does the output flood leave the report and the CSVs small?"""
    _, _, out, _ = hostile_batch
    assert (out / "report.html").stat().st_size < 20 << 20
    assert (out / "results.csv").stat().st_size < 2 << 20
    assert (out / "feedback" / "output-flood-sigmoid.html").stat().st_size < 2 << 20
