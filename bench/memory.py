"""Peak memory of the grader process itself (not its pytest children) for two class sizes.

    python bench/memory.py [--sizes 10 40] [--jobs CORES] [--quick]

For each size, generates a class (bench/classgen.py) and runs `grader grade CLASS --out FRESH -j
JOBS` in a child process that calls the CLI's main() and, at exit, reads its own VmHWM
(/proc/self/status) and ru_maxrss (RUSAGE_SELF): the grader process only, never the pytest
processes or sandboxed workers it starts. Prints per size the peak, the high-water mark after each
phase (intake; the batch, whose first task in the pool is the answer key, so it has no phase of its
own; the report incl. the gradebook), the answer key run's seconds, and the ratio largest / smallest
class (target: about 1.0, i.e. memory independent of the number of submissions). Every size grades
with the bench's own cache folder (bench/cache.py) emptied of answer keys and gradebooks, so each
runs its own answer key and writes its own gradebook (a kept key, GRADER_CACHE, would otherwise serve
every size after the first).

Default: the real hidden suite, sandboxed (sizes 10 and 40: ~4-6 min on 2 cores). --quick grades
with the stand-in suite in-process (tests/selftest/fixtures/suite, the self-tests' suite: same
fixture, markers and lr_histories artifact) in about 2 min; the grader process does the
same work per submission (store, report, plots) either way.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cache  # noqa: E402  (bench/cache.py)
import classgen  # noqa: E402
import throughput  # noqa: E402

STANDIN = throughput.KIT / "tests" / "selftest" / "fixtures" / "suite"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 40])
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--quick", action="store_true", help="stand-in suite, in-process (seconds, not minutes)")
    options = parser.parse_args()
    suite = STANDIN if options.quick else throughput.SUITE
    extra = ["--backend", "in-process"] if options.quick else []

    work = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    rows = []
    try:
        cache_dir = cache.use_folder(work / "cache")
        for n in options.sizes:
            class_dir = work / f"class-{n}"
            classgen.write_class(class_dir, n)
            print(f"grading {n} submissions ...", file=sys.stderr)
            cache.forget_class(cache_dir)  # every size runs its own answer key and writes its own gradebook
            data = throughput.grade(class_dir, work / f"out-{n}", options.jobs, work / f"stats-{n}.json",
                                    suite=suite, extra=extra)  # fmt: skip
            rows.append((n, data))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    mb = 1 / 1024
    print(f"grader process peak memory ({'stand-in suite, in-process' if options.quick else 'hidden suite, sandboxed'}, "
          f"-j {options.jobs})")  # fmt: skip
    print(f"{'submissions':>12}{'VmHWM MB':>10}{'maxrss MB':>11}{'after intake':>14}{'after batch':>13}"
          f"{'after report':>14}{'key s':>8}{'wall s':>8}")  # fmt: skip
    for n, data in rows:
        m, h = data["memory_kb"], data["hwm_after_kb"]
        print(f"{n:12d}{m['VmHWM'] * mb:10.0f}{m['ru_maxrss'] * mb:11.0f}{h.get('intake', 0) * mb:14.0f}"
              f"{h.get('grade_class', 0) * mb:13.0f}{h.get('report', 0) * mb:14.0f}{data['reference_seconds']:8.1f}"
              f"{data['wall']:8.0f}")  # fmt: skip
    print("  (after X: VmHWM in MB when phase X ended; the batch includes the answer key, the pool's first task; "
          "key s: the answer key run's seconds)")  # fmt: skip
    (small, a), (large, b) = rows[0], rows[-1]
    ratio = b["memory_kb"]["VmHWM"] / a["memory_kb"]["VmHWM"]
    print(f"ratio VmHWM {large} / {small} submissions: {ratio:.2f}x "
          f"({(b['memory_kb']['VmHWM'] - a['memory_kb']['VmHWM']) * mb / (large - small):+.2f} MB per extra submission)")


if __name__ == "__main__":
    main()
