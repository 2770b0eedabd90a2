"""Build the student bundle: exercise02-student.zip with one top folder exercise02/.

    exercise02/
      exercise02_template.py        generated from the solution (`grader template`)
      README.md                     grader/authoring/student_readme.md, with the REPORT.md skeleton filled in
      REPORT.md                     grader/authoring/student_report.md: the report skeleton
      requirements.txt              pyproject's [project].dependencies, one per line
      pytest.ini                    testpaths = tests, the options the public tests need, a timeout
      tests/conftest.py, tests/allowed_imports.txt, tests/public/*.py
      data/mnist/                   the four .gz files and README.md
      grader/                       the runtime (SANDBOX_RUNTIME): the in-process student, the from-scratch rule, the sandbox for `pytest --sandbox`

Nothing else: no hidden tests, no solution, no self-tests, no other grader module. The zip is
deterministic: sorted entries, fixed timestamps and permissions, so the same kit gives the same bytes.
"""

from __future__ import annotations

import tomllib
import zipfile
from pathlib import Path

from grader.sandbox.error import GraderError

BUNDLE_NAME = "exercise02-student.zip"
TOP = "exercise02"
SANDBOX_RUNTIME = ("__init__.py", "sandbox/__init__.py", "sandbox/client.py", "sandbox/layout.py", "sandbox/slot.py",
                   "sandbox/worker.py", "sandbox/host.py", "sandbox/boot.py", "sandbox/protocol.py", "sandbox/mnist.py",
                   "sandbox/npy.py", "sandbox/training.py", "sandbox/cgroup.py", "sandbox/activity.py",
                   "sandbox/staging.py", "sandbox/error.py", "sandbox/kit.py", "sandbox/cache.py", "sandbox/rule.py",
                   "sandbox/inprocess.py", "sandbox/student.py", "sandbox/bytecode.py")
MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
    "README.md",
)
REPORT_SLOT = "<!-- REPORT SKELETON: grader release puts grader/authoring/student_report.md here -->"
TIMESTAMP = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip can hold

PYTEST_INI = """\
# The public tests of Exercise 02. Run `pytest` in this folder; `pytest --sandbox` runs them the way
# the grader does.
[pytest]
minversion = 8.0
testpaths = tests
addopts = --import-mode=importlib --strict-markers -p no:cacheprovider --tb=short
timeout = 300
"""


class ReleaseError(GraderError):
    """A file the bundle needs is missing from the kit."""


def requirements(kit: Path) -> str:
    """requirements.txt from pyproject.toml's [project].dependencies (the one list of what students need)."""
    project = tomllib.loads((kit / "pyproject.toml").read_text())["project"]
    lines = "".join(f"{dep}\n" for dep in project["dependencies"])
    return f"# What Exercise 02 needs: pip install -r requirements.txt\n{lines}"


def student_readme(kit: Path) -> str:
    """The student README with the REPORT.md skeleton in place of its slot."""
    readme = (kit / "grader" / "authoring" / "student_readme.md").read_text()
    report = (kit / "grader" / "authoring" / "student_report.md").read_text()
    if REPORT_SLOT not in readme:
        raise ReleaseError(f"grader/authoring/student_readme.md lost its slot line {REPORT_SLOT!r}")
    return readme.replace(REPORT_SLOT, f"```markdown\n{report.rstrip()}\n```")


def bundle_files(kit: Path) -> dict[str, bytes]:
    """{path inside exercise02/: content} for every file of the bundle."""
    def read(relative: str) -> bytes:
        path = kit / relative
        if not path.is_file():
            raise ReleaseError(f"the bundle needs {relative}, which is missing from {kit}")
        return path.read_bytes()

    files = {
        "exercise02_template.py": read("exercise02_template.py"),
        "README.md": student_readme(kit).encode(),
        "REPORT.md": read("grader/authoring/student_report.md"),
        "requirements.txt": requirements(kit).encode(),
        "pytest.ini": PYTEST_INI.encode(),
        "tests/conftest.py": read("tests/conftest.py"),
        "tests/allowed_imports.txt": read("tests/allowed_imports.txt"),  # the from-scratch rule
    }
    public = sorted((kit / "tests" / "public").glob("*.py"))
    if not any(path.name.startswith("test_") for path in public):
        raise ReleaseError(f"no public tests in {kit / 'tests' / 'public'}")
    for path in public:
        files[f"tests/public/{path.name}"] = path.read_bytes()
    for name in MNIST_FILES:
        files[f"data/mnist/{name}"] = read(f"data/mnist/{name}")
    for name in SANDBOX_RUNTIME:  # the runtime may be partly written; ship what exists
        if (kit / "grader" / name).is_file():
            files[f"grader/{name}"] = read(f"grader/{name}")
    return files


def build_bundle(kit: Path, out_dir: Path) -> Path:
    """Write out_dir/exercise02-student.zip from the kit's files; returns its path."""
    kit, out_dir = Path(kit), Path(out_dir)
    files = bundle_files(kit)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / BUNDLE_NAME
    partial = target.with_suffix(".zip.partial")
    with zipfile.ZipFile(partial, "w") as bundle:
        for name in sorted(files):
            info = zipfile.ZipInfo(f"{TOP}/{name}", date_time=TIMESTAMP)
            info.external_attr = 0o644 << 16  # -rw-r--r--
            info.create_system = 3  # unix, so the permissions are read back
            # .gz files are compressed already
            info.compress_type = zipfile.ZIP_STORED if name.endswith(".gz") else zipfile.ZIP_DEFLATED
            bundle.writestr(info, files[name], compresslevel=9)
    partial.replace(target)
    return target
