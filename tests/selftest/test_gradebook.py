"""grader.outputs.gradebook's import of nbgrader: nbgrader.api without nbgrader/__init__.py, and nbgrader whole later.

Each case runs in a fresh interpreter (what is imported is the point). The gradebook's content is
tested with the class (test_pipeline.py, test_moodle.py: `nbgrader export` equals grades.csv).
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata

from classroom import KIT

DEFERRED = """
import json, sys
from pathlib import Path
from grader.outputs import gradebook

api = gradebook.api()
loaded = sorted(m for m in sys.modules if m.startswith("nbgrader"))
unused = sorted(m for m in ("jsonschema", "nbformat.validator", "urllib3", "requests.models") if m in sys.modules)
db = Path(sys.argv[1])
gradebook.write_gradebook(db, course_id="exercise02", tests=[("t1", 2.0), ("t2", 3.0)],
                          rows=[gradebook.Entry("s1", "Ada", "Lovelace", "ada@x", {"t1": 2.0, "t2": 1.0}, {})],
                          manual_parts={})
import nbgrader
from nbgrader.apps.nbgraderapp import NbGraderApp

NbGraderApp.launch_instance(argv=["export", f"--CourseDirectory.root={db.parent}", f"--CourseDirectory.db_url=sqlite:///{db}",
                                  "--CourseDirectory.course_id=exercise02", f"--to={db.parent / 'export.csv'}"])
import nbformat, requests
print(json.dumps({"loaded": loaded, "points": nbgrader._jupyter_server_extension_points(), "version": nbgrader.__version__,
                  "same_api": nbgrader.api is api, "extensions": "nbgrader.server_extensions.formgrader" in sys.modules,
                  "unused": unused, "nbformat": nbformat.__version__, "validates": callable(nbformat.validate),
                  "requests": requests.__version__, "request": callable(requests.request)}))
"""

WHOLE_FIRST = """
import json, sys
import nbgrader
from grader.outputs import gradebook

api = gradebook.api()
print(json.dumps({"same_api": api is nbgrader.api, "whole": hasattr(nbgrader, "load_formgrader"),
                  "deferred": "__getattr__" in vars(nbgrader)}))
"""


def run(code: str, *args: str, cwd=KIT, env=None) -> dict:
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_api_loads_without_the_package_init_and_nbgrader_works_whole_after(tmp_path):
    """Does gradebook.api() load nbgrader.api alone (no server extensions, apps, nor what nbformat's and requests'
    __init__.py load: jsonschema, urllib3), and does nbgrader's own export app, run later in the same process, find
    the whole packages (nbgrader, nbformat, requests) and read the gradebook written through it?"""
    import os

    env = dict(os.environ, GRADER_CACHE="off")  # nbgrader makes the empty gradebook itself (its alembic)
    found = run(DEFERRED, str(tmp_path / "gradebook.db"), env=env)
    assert "nbgrader.api" in found["loaded"]
    assert not [m for m in found["loaded"] if m.startswith(("nbgrader.server_extensions", "nbgrader.apps"))], found["loaded"]
    assert found["points"] == [{"module": "nbgrader"}] and found["extensions"] and found["same_api"]
    assert found["version"] == metadata.version("nbgrader")
    assert found["unused"] == [], found["unused"]
    assert found["nbformat"] == metadata.version("nbformat") and found["validates"]
    assert found["requests"] == metadata.version("requests") and found["request"]
    rows = (tmp_path / "export.csv").read_text().splitlines()
    header, row = rows[0].split(","), dict(zip(rows[0].split(","), rows[1].split(",")))
    assert "score" in header and (row["student_id"], float(row["score"]), float(row["max_score"])) == ("s1", 3.0, 5.0)


def test_api_after_a_whole_import_uses_that_package():
    """When nbgrader was imported whole first, does gradebook.api() use that package as it is?"""
    assert run(WHOLE_FIRST) == {"same_api": True, "whole": True, "deferred": False}


def test_a_package_init_that_raises_says_so_every_time(tmp_path, monkeypatch):
    """When the deferred package's __init__.py raises, does the first name asked for, and every later one, raise
    an ImportError that names the file and the original error (chained), never a bare AttributeError?"""
    import pytest

    from grader.outputs import gradebook

    package = tmp_path / "brokenpkg"
    package.mkdir()
    (package / "__init__.py").write_text("raise RuntimeError('init is broken')\nversion = 1\n")
    (package / "part.py").write_text("value = 7\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    deferred = gradebook.deferred_package("brokenpkg")
    monkeypatch.setitem(sys.modules, "brokenpkg", deferred)
    try:
        assert deferred.part.value == 7  # a submodule is imported without the package's __init__.py
        for _ in range(2):
            with pytest.raises(ImportError, match=r"brokenpkg/__init__.py raised RuntimeError: init is broken") as caught:
                deferred.version
            assert isinstance(caught.value.__cause__, RuntimeError)
    finally:
        sys.modules.pop("brokenpkg.part", None)
