"""Self-tests of the student bundle: exactly the right files, and `pytest` works in it as unpacked.

The bundle is built into tmp_path, unpacked into an empty folder and its own `pytest` is run there
in a subprocess with a clean environment, as a student would: it fails cleanly with the template
and passes once the template holds the solution.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from grader.authoring import release, template
from grader.sandbox.layout import GRADER_FILES

KIT = Path(__file__).resolve().parents[2]
SOLUTION = KIT / "solutions" / "exercise02.py"
FORBIDDEN_NAMES = ("hidden", "solution", "selftest", "mutant", "harness", "plugin", "cli.py", "release.py")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return release.build_bundle(KIT, tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="module")
def members(bundle) -> dict[str, bytes]:
    with zipfile.ZipFile(bundle) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


@pytest.fixture
def unpacked(bundle, tmp_path) -> Path:
    """The bundle unpacked into an empty folder; returns its exercise02/ folder."""
    target = tmp_path / "student"
    target.mkdir()
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(target)
    assert [p.name for p in target.iterdir()] == ["exercise02"]
    return target / "exercise02"


def run_pytest(folder: Path, *args: str, pythonpath: Path | None = None) -> subprocess.CompletedProcess:
    """`pytest ARGS` in `folder` with a clean environment, the way a student runs it (PYTHONPATH: `pythonpath`)."""
    script = Path(sys.executable).parent / "pytest"
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "pytest"]
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(folder.parent),
        "LANG": "C.UTF-8",
        "OPENBLAS_NUM_THREADS": "1",
        **({"PYTHONPATH": str(pythonpath)} if pythonpath is not None else {}),
    }
    return subprocess.run(command + list(args), cwd=folder, env=env, capture_output=True, text=True, timeout=300)


def failure_sections(output: str) -> dict[str, str]:
    """{test name: the text pytest printed for its failure}, from the FAILURES section."""
    failures = output.split("= FAILURES =", 1)[1]
    failures = re.split(r"^=+ \S.* =+$", failures, maxsplit=1, flags=re.M)[0]  # up to the next section
    parts = re.split(r"^_{3,} (\S.*?) _{3,}$", failures, flags=re.M)
    return {name: body.strip().strip("=").strip() for name, body in zip(parts[1::2], parts[2::2])}


def assert_fails_cleanly(done: subprocess.CompletedProcess):
    output = done.stdout + done.stderr
    assert done.returncode == 1, output[-3000:]
    counts = re.search(r"(\d+) failed(.*) in [\d.]+s", output)
    # the one test the template passes: it imports only what the from-scratch rule allows
    assert counts and counts.group(2) in ("", ", 1 passed"), output[-3000:]
    sections = failure_sections(output)
    assert "test_imports_only_allowed_modules" not in sections
    assert len(sections) == int(counts.group(1)) > 0
    stubs = set(template.regions(SOLUTION.read_text()))
    for name, text in sections.items():
        match = re.fullmatch(r"not implemented yet: ([\w.]+)", text)
        assert match, f"{name} failed with more than the one line:\n{text}"
        assert match.group(1) in stubs, f"{name} names {match.group(1)}, which is no stub"
    assert "Traceback" not in output and "raise NotImplementedError" not in output


# --------------------------------------------------------------------------- what is inside


def expected_names() -> set[str]:
    names = {"exercise02_template.py", "README.md", "REPORT.md", "requirements.txt", "pytest.ini",
             "tests/conftest.py", "tests/allowed_imports.txt"}
    names |= {f"tests/public/{p.name}" for p in (KIT / "tests" / "public").glob("*.py")}
    names |= {f"data/mnist/{name}" for name in release.MNIST_FILES}
    names |= {f"grader/{name}" for name in release.SANDBOX_RUNTIME if (KIT / "grader" / name).is_file()}
    return {f"exercise02/{name}" for name in names}


def test_bundle_holds_exactly_the_student_files(members):
    """Does the zip hold exercise02/ with the template, public tests, data, README and sandbox runtime, and nothing else?"""
    assert set(members) == expected_names()
    # the formulas and their stand-ins are the grader's only
    assert not [name for name in members if name.rsplit("/", 1)[-1] in GRADER_FILES], sorted(members)
    assert members["exercise02/exercise02_template.py"] == (KIT / "exercise02_template.py").read_bytes()
    for name in release.MNIST_FILES:
        assert members[f"exercise02/data/mnist/{name}"] == (KIT / "data" / "mnist" / name).read_bytes()


def test_bundle_has_no_hidden_or_solution_content(members):
    """Is no hidden test, solution file or line, mutant or self-test in the zip, by name or by content?"""
    for name in members:
        assert not any(word in name.lower() for word in FORBIDDEN_NAMES), name
    secret_files = [SOLUTION, *(KIT / "tests" / "hidden").rglob("*.py"), *(KIT / "tests" / "selftest").rglob("*.py")]
    secret_files += [p for p in KIT.rglob("*mutant*") if p.is_file()]
    secrets = {path.read_bytes() for path in secret_files if path.stat().st_size > 0}
    # two consecutive lines of any solution region: one-line formulas may recur in test references
    text = SOLUTION.read_text()
    regions = re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", text, flags=re.S)
    code = [[line.strip() for line in region.splitlines() if line.strip()] for region in regions]
    pairs = {f"{a}\n{b}" for lines in code for a, b in zip(lines, lines[1:]) if len(a + b) >= 30}
    assert len(regions) == len(template.regions(text)) and pairs
    for name, content in members.items():
        assert content not in secrets, f"{name} is a copy of a solution, hidden test, self-test or mutant"
        if name.endswith(".gz"):
            continue
        text = content.decode()
        assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text, name
        lines = "\n".join(line.strip() for line in text.splitlines())
        leaked = [pair for pair in pairs if pair in lines]
        assert not leaked, f"{name} contains solution code: {leaked[:3]}"


def test_bundle_is_deterministic(bundle, tmp_path):
    """Does building the bundle twice give byte-identical zips (sorted entries, fixed timestamps)?"""
    again = release.build_bundle(KIT, tmp_path)
    assert again.read_bytes() == bundle.read_bytes()
    with zipfile.ZipFile(again) as archive:
        infos = archive.infolist()
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    assert {i.date_time for i in infos} == {release.TIMESTAMP}


def test_bundle_requirements_come_from_pyproject(members):
    """Is requirements.txt exactly pyproject's [project].dependencies?"""
    dependencies = tomllib.loads((KIT / "pyproject.toml").read_text())["project"]["dependencies"]
    lines = [line for line in members["exercise02/requirements.txt"].decode().splitlines() if not line.startswith("#")]
    assert lines == dependencies


def test_bundle_readme_covers_the_workflow(members):
    """Does the student README explain set-up, tests, experiments, hand-in and the report skeleton?"""
    readme = members["exercise02/README.md"].decode()
    for needed in ("python -m venv", "pip install -r requirements.txt", "pytest", "not implemented yet",
                   "python exercise02_template.py", "--quick", "--wandb", "plots/lr_loss_curves.png",
                   "plots/lr_accuracy.png", "REPORT.md", "members.txt", "pytest --sandbox"):
        assert needed in readme, needed
    assert release.REPORT_SLOT not in readme
    report = members["exercise02/REPORT.md"].decode()
    assert report.rstrip() in readme
    assert report.count("### Expected") == report.count("### Observed") == report.count("### Explanation") == 2


# --------------------------------------------------------------------------- pytest in the unpacked bundle


def test_bundle_pytest_fails_cleanly_on_the_template(unpacked):
    """Does `pytest` in the unpacked bundle fail every test with one 'not implemented yet' line and exit 1?"""
    assert_fails_cleanly(run_pytest(unpacked))


def test_bundle_pytest_passes_with_the_solution(unpacked):
    """Does `pytest` in the unpacked bundle pass once exercise02_template.py holds the solution?"""
    shutil.copy(SOLUTION, unpacked / "exercise02_template.py")
    done = run_pytest(unpacked)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert re.search(r"\d+ passed in", done.stdout) and "failed" not in done.stdout.splitlines()[-1]


def test_bundle_pytest_uses_its_own_runtime(unpacked, tmp_path):
    """With a different `grader` package earlier on the path, does the bundle's `pytest` still use its own grader/ (the
    from-scratch rule, the in-process student) and fail cleanly on the template?"""
    decoy = tmp_path / "elsewhere"
    (decoy / "grader" / "sandbox").mkdir(parents=True)
    (decoy / "grader" / "__init__.py").write_text("raise ImportError('a different grader package was imported')\n")
    done = run_pytest(unpacked, pythonpath=decoy)
    assert "a different grader package" not in done.stdout + done.stderr
    assert_fails_cleanly(done)


@pytest.fixture
def sandbox_runtime(members):
    missing = [name for name in release.SANDBOX_RUNTIME if f"exercise02/grader/{name}" not in members]
    if missing:
        pytest.skip(f"the bundle cannot run `pytest --sandbox`: grader/{', grader/'.join(missing)} "
                    "not yet in the kit")


def test_bundle_pytest_sandbox(unpacked, sandbox_runtime):
    """Does `pytest --sandbox` in the unpacked bundle fail cleanly on the template and pass with the solution,
    saying once which backend really ran?"""
    assert_fails_cleanly(run_pytest(unpacked, "--sandbox"))
    shutil.copy(SOLUTION, unpacked / "exercise02_template.py")
    done = run_pytest(unpacked, "--sandbox")
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    said = re.findall(r"submission ran in backend (bwrap|process)\b", done.stdout)
    assert len(said) == 1, done.stdout[-3000:]
