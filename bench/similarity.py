"""Similarity for a class of N submissions (a script, not a test): first run, and again with kept fingerprints.

    python bench/similarity.py [--n 300] [--jobs 2]

The class is bench/classgen.py's (folders renamed to be unique at any N): about 60 % copies of the
solution that differ only in a comment, 30 % single-bug mutants of it, the benign rewrites and the
three alternatives, every folder with the same sample plots. For similarity that is the hard case:
nearly every pair is a flagged copy (tens of thousands of pairs), and every file has a different
content hash, so every file is fingerprinted.

In this order, in one run:
1. baseline: read every code file and tokenise it once with pygments in this process (what any
   token-based comparison has to do at least; copydetect tokenises with pygments);
2. grader.outputs.similarity.write_similarity on a fresh --out (jobs children), the first run;
3. the same again on the same --out (the class graded again: fingerprints and plot hashes are kept).

Prints wall and CPU seconds (this process plus its children) and the load average per phase, and
the ratios first run / baseline and second run / first run. The machine may be shared: read the
ratios and the CPU seconds; CPU / jobs is what an idle machine with `jobs` cores would need.
Target: the first run under 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

KIT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(KIT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import classgen  # noqa: E402

from grader.grading import imports, intake  # noqa: E402
from grader.outputs import similarity  # noqa: E402


def write_class(folder: Path, n: int) -> None:
    for index, (name, _, text) in enumerate(classgen.plan(n)):
        target = folder / f"{index:03d}-{name}"
        target.mkdir(parents=True)
        (target / "exercise02_template.py").write_text(text)
        if (classgen.SAMPLE / "plots").is_dir():
            shutil.copytree(classgen.SAMPLE / "plots", target / "plots")


def cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(label: str, work):
    load, started, used = os.getloadavg()[0], time.monotonic(), cpu()
    value = work()
    wall, spent = time.monotonic() - started, cpu() - used
    print(f"{label:<44} wall {wall:7.2f} s   cpu {spent:7.2f} s   load {load:5.1f}")
    return wall, spent, value


def baseline(subs) -> int:
    from pygments.lexers import PythonLexer

    lexer = PythonLexer()
    return sum(1 for sub in subs for _ in lexer.get_tokens(sub.code.read_text(encoding="utf-8", errors="replace")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-similarity-"))
    try:
        write_class(work / "class", options.n)
        subs, _ = intake.collect(work / "class", work / "out" / ".intake")
        found = imports.check_class(subs, imports.read_allowed(KIT))
        print(f"{len(subs)} submissions, jobs {options.jobs}, {os.cpu_count()} cores")
        floor, floor_cpu, tokens = timed("baseline: read + tokenise every file once", lambda: baseline(subs))
        run = lambda: similarity.write_similarity(work / "out", subs, kit=KIT, jobs=options.jobs, imports=found)  # noqa: E731
        first, first_cpu, result = timed("similarity, first run", run)
        second, second_cpu, again = timed("similarity, again (kept fingerprints)", run)
        assert again.pairs == result.pairs
        print(f"{tokens} tokens; {len(result.pairs)} flagged code pairs, {len(result.plots)} plot groups, "
              f"{len(result.flags)} submissions with hints")  # fmt: skip
        print(f"first run / baseline: {first / floor:.1f}x wall ({first_cpu / floor_cpu:.1f}x cpu); "
              f"first run cpu / jobs: {first_cpu / options.jobs:.1f} s (target < 60 s)")  # fmt: skip
        print(f"again / first run: {100 * second / first:.0f} % wall ({100 * second_cpu / first_cpu:.0f} % cpu)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
