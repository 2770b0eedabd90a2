"""The sample class in submissions/, generated from the solution (one source of truth).

    python tests/selftest/samples.py            rewrite the sample code files from solutions/exercise02.py
    python tests/selftest/samples.py --plots    also re-run the solution (--quick) for the sample plots
    python tests/selftest/samples.py --check    exit 1 when a committed sample is stale

The code of each sample is the solution with named edits; test_samples.py fails when the committed
files differ from what this script makes. The REPORT.md and members.txt files are written by hand
and committed as they are.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

KIT = Path(__file__).resolve().parents[2]
SOLUTION = KIT / "solutions" / "exercise02.py"
SUBMISSIONS = KIT / "submissions"

# Named edits: (what a tutor should see, old text, new text). Each old text must occur exactly once.
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
        old, new = EDITS[name]
        if text.count(old) != 1:
            raise ValueError(f"edit {name!r}: {old!r} occurs {text.count(old)} times in the solution (must be once)")
        text = text.replace(old, new)
    return text


def render(solution_text: str) -> dict[str, str]:
    """{relative path under submissions/: content} for every generated code file."""
    return {f"{folder}/{code}": apply(solution_text, edits) for folder, (code, edits, _) in SAMPLES.items()}


def stale(root: Path = SUBMISSIONS) -> list[str]:
    wanted = render(SOLUTION.read_text())
    found = [p for p, text in wanted.items() if not (root / p).is_file() or (root / p).read_text() != text]
    for folder, (_, _, with_plots) in SAMPLES.items():
        for name in PLOT_FILES:
            if with_plots != (root / folder / "plots" / name).is_file():
                found.append(f"{folder}/plots/{name}")
    return found


def make_plots() -> Path:
    """Run the solution on the quick subset; the plots it writes are the samples' plots."""
    folder = Path(tempfile.mkdtemp(prefix="sample-plots-"))
    subprocess.run([sys.executable, str(SOLUTION), "--quick", "--plots", str(folder / "plots"),
                    "--runs", str(folder / "runs")], check=True, cwd=KIT, stdout=subprocess.DEVNULL)  # fmt: skip
    return folder / "plots"


def write(with_plots: bool) -> None:
    plots = make_plots() if with_plots else None
    for path, text in render(SOLUTION.read_text()).items():
        (SUBMISSIONS / path).parent.mkdir(parents=True, exist_ok=True)
        (SUBMISSIONS / path).write_text(text)
    for folder, (_, _, wants) in SAMPLES.items():
        if plots is not None and wants:
            (SUBMISSIONS / folder / "plots").mkdir(exist_ok=True)
            for name in PLOT_FILES:
                shutil.copyfile(plots / name, SUBMISSIONS / folder / "plots" / name)


if __name__ == "__main__":
    if "--check" in sys.argv:
        problems = stale()
        print("samples are stale: " + ", ".join(problems) if problems else "samples are up to date")
        sys.exit(1 if problems else 0)
    write("--plots" in sys.argv)
    print(f"wrote the sample class in {SUBMISSIONS}")
