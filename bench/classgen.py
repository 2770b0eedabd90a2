"""A synthetic class of N submissions for the grading benchmarks, generated from the solution.

    python bench/classgen.py OUT_FOLDER [--n 40]      write the class and print its composition

Composition (deterministic for a given N): about 60 % correct submissions (the solution with a
per-student comment so every content hash differs, the benign rewrites of the mutant catalogue, the
alternative implementations in tests/selftest/alternatives), about 30 % single-bug mutants spread
over the catalogue in tests/selftest/mutants.py (past the catalogue's size, N > ~235, a mutant comes
again under a numbered folder with a comment, so folder names and contents stay unique), one slow
but correct submission (forward sleeps 0.2 ms per call, some +5 s on the hidden suite), one that
crashes at import and one whose worker dies inside train().
Every folder also holds the sample plots and REPORT.md of submissions/ada-lovelace, like a real
hand-in (the report pages embed them). Used by bench/throughput.py and bench/memory.py.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections import Counter
from pathlib import Path

KIT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(KIT / "tests" / "selftest"))
import mutants  # noqa: E402  (tests/selftest/mutants.py: the catalogue of generated single-bug mutants)

from grader.authoring.edits import apply_edits  # noqa: E402

SOLUTION = KIT / "solutions" / "exercise02.py"
ALTERNATIVES = sorted((KIT / "tests" / "selftest" / "alternatives").glob("*.py"))
SAMPLE = KIT / "submissions" / "ada-lovelace"  # plots/ and REPORT.md copied into every submission

SLOW = ("        self.output = A\n        return A\n",
        "        self.output = A\n        __import__('time').sleep(0.0002)  # slow but correct\n        return A\n")
CRASH_IMPORT = ("import numpy as np\n", 'import numpy as np\n\nPRETRAINED = np.load("/home/carol/weights.npy")\n')
CRASH_TRAIN = ('    rng = np.random.default_rng(seed)\n    history = {"train_loss": [], "val_loss": [], "val_accuracy": []}\n',
               '    __import__("os")._exit(3)  # the worker dies\n'
               '    rng = np.random.default_rng(seed)\n    history = {"train_loss": [], "val_loss": [], "val_accuracy": []}\n')


def edit(text: str, old: str, new: str, name: str) -> str:
    """`text` with the class's named edit applied; EditMismatch names the edit and says what to change."""
    return apply_edits(text, [(old, new)], owner=f"benchmark class edit {name!r}", catalogue="bench/classgen.py")


def plan(n: int) -> list[tuple[str, str, str]]:
    """[(folder name, kind, code text)] for a class of n submissions (n >= 4)."""
    solution = SOLUTION.read_text()
    special = [
        ("slow", "slow (correct)", edit(solution, *SLOW, "SLOW")),
        ("crash-import", "crash at import", edit(solution, *CRASH_IMPORT, "CRASH_IMPORT")),
        ("crash-worker", "worker dies in train", edit(solution, *CRASH_TRAIN, "CRASH_TRAIN")),
    ]
    special = special[: max(0, n - 1)]
    n_mutants = round(0.3 * n) if n >= 5 else 0
    n_correct = n - len(special) - n_mutants
    picked = [mutants.MUTANTS[(i * len(mutants.MUTANTS)) // max(n_mutants, 1)] for i in range(n_mutants)]
    rows, seen = [], Counter()
    for m in picked:  # past the catalogue's size a mutant comes again: its folder and content then get a number
        name, seen[m.name] = f"mutant-{m.name.replace('_', '-')}", seen[m.name] + 1
        text = m.apply(solution)
        if seen[m.name] > 1:
            name += f"-{seen[m.name]}"
            text += f"\n# submitted by {name}\n"
        rows.append((name, "mutant", text))
    variants = [("benign", m.apply(solution)) for m in mutants.BENIGN]
    variants += [("alternative", path.read_text()) for path in ALTERNATIVES]
    for i in range(n_correct):
        kind, text = variants[i - 1] if 1 <= i <= len(variants) else ("correct", solution)
        rows.append((f"student-{i:03d}", kind, text + f"\n# submitted by student {i:03d}\n"))
    rows.extend(special)
    return rows


def write_class(folder: Path, n: int) -> Counter:
    """Write n submission folders into `folder` (created); returns the count per kind."""
    folder.mkdir(parents=True, exist_ok=True)
    kinds = Counter()
    for name, kind, text in plan(n):
        target = folder / name
        target.mkdir()
        (target / "exercise02_template.py").write_text(text)
        if (SAMPLE / "REPORT.md").is_file():
            shutil.copyfile(SAMPLE / "REPORT.md", target / "REPORT.md")
        if (SAMPLE / "plots").is_dir():
            shutil.copytree(SAMPLE / "plots", target / "plots")
        kinds[kind] += 1
    return kinds


def describe(kinds: Counter) -> str:
    return ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items(), key=lambda kv: -kv[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--n", type=int, default=40)
    options = parser.parse_args()
    kinds = write_class(options.out, options.n)
    print(f"wrote {options.n} submissions into {options.out}: {describe(kinds)}")


if __name__ == "__main__":
    main()
