"""report.html in headless Chromium: the images render, and no planted script or handler runs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed: the browser check needs it")
PLOT_BLUE = (31, 119, 180)  # matplotlib's first line colour; the page's own CSS never uses it


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--hide-scrollbars"]  # fmt: skip
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120)


def test_report_runs_no_script(graded_class, tmp_path):
    """Does the DOM after load show the planted <script> and onerror= payloads as text, with nothing run?"""
    done = chromium(tmp_path, "--virtual-time-budget=3000", "--dump-dom", (graded_class / "report.html").as_uri())
    dom = done.stdout
    assert "<title>Exercise 02: class report</title>" in dom, done.stderr[-2000:]
    assert "pwned" not in dom.split("</title>")[0]  # no payload changed document.title
    assert "<script" not in dom.lower()  # no script element exists, planted or otherwise
    assert "&lt;script&gt;document.title='pwned-script'&lt;/script&gt;" in dom
    assert "&lt;img src=x onerror=" in dom  # the hostile folder name, as text
    assert '<img src="x"' not in dom and "<iframe" not in dom  # no element was made from a payload


def test_report_images_render(graded_class, tmp_path):
    """Do the inline plots paint pixels (a screenshot of the first submission's figures)?"""
    from PIL import Image

    shot = tmp_path / "shot.png"
    page = (graded_class / "report.html").as_uri()  # a tall window reaches the first submission's figures
    chromium(tmp_path, "--window-size=1300,3200", "--virtual-time-budget=3000", f"--screenshot={shot}", page)
    with Image.open(shot) as image:
        pixels = list(image.convert("RGB").tobytes())
        pixels = zip(pixels[0::3], pixels[1::3], pixels[2::3])
        blue = sum(1 for p in pixels if all(abs(a - b) <= 12 for a, b in zip(p, PLOT_BLUE)))
    assert blue > 200, f"only {blue} plot-blue pixels: the images did not render"
