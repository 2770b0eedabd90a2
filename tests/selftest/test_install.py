"""The tutor-only install (README, "A tutor's install"): `bash .ci/install --tutor` in a fresh virtual
environment gives a kit that grades sandboxed and serves the review app, with no browser and none of the
self-tests' or the cluster's packages. Slow (a venv and pip: about a minute with pip's wheel cache)."""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from classroom import KIT

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="the tutor route includes bubblewrap")


@pytest.fixture(scope="module")
def tutor_venv(tmp_path_factory) -> Path:
    """A venv (no system site-packages) where `.ci/install --tutor` installed the kit; its bin/ folder."""
    venv = tmp_path_factory.mktemp("tutor") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    done = subprocess.run(["bash", str(KIT / ".ci" / "install"), "--tutor"], env=venv_env(venv / "bin"),
                          capture_output=True, text=True, timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "installed for grading: bubblewrap" in done.stdout, done.stdout
    return venv / "bin"


def venv_env(bin_dir: Path) -> dict:
    """The environment of a tutor's shell with the venv activated and no desktop (no DISPLAY)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "PYTHONPATH", "BROWSER")}
    return {**env, "VIRTUAL_ENV": str(bin_dir.parent), "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"}


def test_tutor_extra_only(tutor_venv):
    """Does the venv hold the tutor extra (nbgrader, flask, jinja2, ...) and none of selenium, axe or dask?"""
    probe = ("import importlib.util as u; print(' '.join(m for m in ('nbgrader', 'flask', 'waitress', 'jinja2', "
             "'copydetect', 'markdown_it', 'selenium', 'selenium_axe_python', 'dask') if u.find_spec(m)))")
    found = subprocess.run([str(tutor_venv / "python"), "-c", probe], capture_output=True, text=True, timeout=120,
                           cwd=tutor_venv, check=True).stdout.split()  # fmt: skip
    assert found == ["nbgrader", "flask", "waitress", "jinja2", "copydetect", "markdown_it"]


def test_tutor_install_grades_sandboxed_and_reviews_without_a_browser(tutor_venv, tmp_path):
    """Does the installed `grader` command grade a small class with the hidden suite in the bwrap sandbox, and does `grader review`
    on a machine without a browser print the address to open (and serve the page there)?"""
    import urllib.request

    source = tmp_path / "class"
    for name in ("ada-lovelace", "mallory-syntax"):
        shutil.copytree(KIT / "submissions" / name, source / name)
    out, env = tmp_path / "out", venv_env(tutor_venv)
    done = subprocess.run([str(tutor_venv / "grader"), "grade", str(source), "--out", str(out), "-j", "2"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "NOT SANDBOXED" not in done.stdout + done.stderr
    assert (out / "report.html").is_file() and (out / "grades.csv").is_file()
    kept = json.loads((out / "results" / "ada-lovelace.json").read_text())
    assert kept["backend"] == "bwrap" and sum(t["earned"] for t in kept["tests"]) == 100, kept["reason"]
    app = subprocess.Popen([str(tutor_venv / "grader"), "review", "--out", str(out)], cwd=tmp_path, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        seen, deadline = b"", time.monotonic() + 120
        while b"no browser found" not in seen and time.monotonic() < deadline and app.poll() is None:
            if select.select([app.stdout], [], [], 1)[0]:
                seen += os.read(app.stdout.fileno(), 4096)  # unbuffered: select() sees every byte still unread
        said = seen.decode()
        url = re.search(r"http://127\.0\.0\.1:\d+/[\w-]+/", said)
        assert url and "no browser found here: open the address above yourself" in said, said
        with urllib.request.urlopen(url.group(0), timeout=60) as page:
            assert page.status == 200 and "ada-lovelace" in page.read().decode()
    finally:
        app.terminate()
        app.wait(timeout=30)
        app.stdout.close()
