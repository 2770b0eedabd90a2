"""The sample class in submissions/, generated from the solution (one source of truth).

    grader samples              rewrite the sample code files from solutions/exercise02.py
    grader samples --plots      also re-run the solution (--quick) for the sample plots
    grader samples --check      exit 1 when a committed sample's code is stale (the plots are not checked)
    grader samples --check --plots   also re-run the solution (--quick) and compare the sample plots' pixels

The code of each sample is the solution with named edits (grader/authoring/edits.py); the self-test
tests/selftest/test_samples.py fails when the committed files differ from what this module makes.
The REPORT.md and members.txt files are written by hand and committed as they are.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from grader.authoring.edits import apply_edits
from grader.sandbox.kit import SOLUTION

SUBMISSIONS = Path("submissions")
CATALOGUE = "grader/authoring/samples.py"

# Named edits: what a tutor should see -> (old text, new text). Each old text must occur exactly once.
EDITS = {
    "sigmoid_grad sign": ("return s * (1.0 - s)", "return s * (1.0 + s)"),
    "softmax without the max shift": (
        "shifted = z - np.max(z, axis=-1, keepdims=True)",
        "shifted = z",
    ),
    "l2 penalty not halved": ("penalty += 0.5 * self.l2 * np.sum(W * W)", "penalty += self.l2 * np.sum(W * W)"),
    "crash at import": (
        "import numpy as np\n",
        'import numpy as np\n\nPRETRAINED = np.load("/home/carol/Desktop/weights.npy")  # only on her laptop\n',
    ),
    "syntax error": ("def relu(z):", "def relu(z)"),
}

SAMPLES = {  # folder -> (code file name, edits, with plots)
    "ada-lovelace": ("exercise02_template.py", [], True),
    "bob-partly-wrong": ("exercise02.py", ["sigmoid_grad sign", "softmax without the max shift"], True),
    "carol-crash": ("exercise02_template.py", ["crash at import"], True),
    "dave-no-plots": ("exercise02_template.py", ["l2 penalty not halved"], False),
    "group-eve-frank": ("exercise02_template.py", [], True),
    "mallory-syntax": ("exercise02_template.py", ["syntax error"], False),
}
PLOT_FILES = ("lr_loss_curves.png", "lr_accuracy.png")


def apply(text: str, names: list[str]) -> str:
    for name in names:
        text = apply_edits(text, [EDITS[name]], owner=f"sample edit {name!r}", catalogue=CATALOGUE)
    return text


def render(solution_text: str) -> dict[str, str]:
    """{relative path under submissions/: content} for every generated code file."""
    return {f"{folder}/{code}": apply(solution_text, edits) for folder, (code, edits, _) in SAMPLES.items()}


def stale(kit: Path) -> list[str]:
    """The sample files (under submissions/) that differ from what the solution makes, or are missing."""
    root = kit / SUBMISSIONS
    wanted = render((kit / SOLUTION).read_text())
    found = [p for p, text in wanted.items() if not (root / p).is_file() or (root / p).read_text() != text]
    for folder, (_, _, with_plots) in SAMPLES.items():
        for name in PLOT_FILES:
            if with_plots != (root / folder / "plots" / name).is_file():
                found.append(f"{folder}/plots/{name}")
    return found


def stale_plots(kit: Path) -> list[str]:
    """The committed sample plots whose pixels differ from a fresh quick run of the solution.

    Plots are drawn by running the experiment (tens of seconds), so only `--check --plots` compares them.
    The pixels are compared, not the PNG bytes (the file's metadata may differ); another matplotlib
    version can draw the same experiment differently, which also shows up here.
    """
    from PIL import Image

    fresh = make_plots(kit)
    try:
        found = []
        for folder, (_, _, with_plots) in SAMPLES.items():
            for name in PLOT_FILES if with_plots else ():
                committed = kit / SUBMISSIONS / folder / "plots" / name
                if not committed.is_file():
                    continue  # stale() already lists a missing plot
                with Image.open(committed) as old, Image.open(fresh / name) as new:
                    if old.size != new.size or old.convert("RGBA").tobytes() != new.convert("RGBA").tobytes():
                        found.append(f"{folder}/plots/{name}")
        return found
    finally:
        shutil.rmtree(fresh.parent, ignore_errors=True)


def make_plots(kit: Path) -> Path:
    """Run the solution on the quick subset; the plots it writes are the samples' plots."""
    folder = Path(tempfile.mkdtemp(prefix="sample-plots-"))
    subprocess.run([sys.executable, str(kit / SOLUTION), "--quick", "--plots", str(folder / "plots"),
                    "--runs", str(folder / "runs")], check=True, cwd=kit, stdout=subprocess.DEVNULL)  # fmt: skip
    return folder / "plots"


def write(kit: Path, with_plots: bool) -> list[str]:
    """Rewrite the sample code files (and, with_plots, their plots); the paths that changed."""
    root = kit / SUBMISSIONS
    before = set(stale(kit))
    rendered = render((kit / SOLUTION).read_text())  # raises EditMismatch before anything is written
    plots = make_plots(kit) if with_plots else None
    for path, text in rendered.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    for folder, (_, _, wants) in SAMPLES.items():
        if plots is not None and wants:
            (root / folder / "plots").mkdir(exist_ok=True)
            for name in PLOT_FILES:
                shutil.copyfile(plots / name, root / folder / "plots" / name)
    if plots is not None:
        shutil.rmtree(plots.parent, ignore_errors=True)
    return sorted(before - set(stale(kit)))
