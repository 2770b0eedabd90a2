"""The conditions a benchmark ran in, printed before its figures: load, cores, Python, BLAS, caches, bytecode.

Two runs of the same bench can differ by a third for reasons that are not in the code: another
process on the cores, a first run that builds caches a second run finds, an interpreter in a fresh
venv. Each bench prints this block first (`print_block`) and the load average again at the end
(`end_line`), so that a figure can be read with what it was measured under. What each line means
and how to read it is in docs/benchmarks.md ("The conditions block").

Caches, each said to be warm (there, used) or cold (absent, so the run that needs it pays for it):
* the user's cache folder (grader.sandbox.cache.cache_root): MNIST's uncompressed copies, answer
  keys by suite version, empty gradebooks by nbgrader version, gradebooks by content. The benches
  grade with a cache folder of their own (bench/cache.py), seeded from it, so a cold user cache
  costs the bench's set-up, not its timed runs; it is printed so that this can be checked;
* matplotlib's font cache (built on the first import of a matplotlib version: seconds);
* bytecode: whether the kit's modules have __pycache__ files and whether this environment writes
  them. The pytest runs of the grader never write any (grader.grading.runner.RUN_ENV); the
  sandboxed worker gets its runtime modules' bytecode made by the trusted side (grader/sandbox/
  bytecode.py: compiled once per process) and compiles only boot.py; the installed packages (numpy,
  pytest) have theirs from pip;
* per output folder (not printed here; a fresh --out starts cold): the report's images
  (results/images), the similarity fingerprints (results/.fingerprints) and the kept results.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

KIT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(KIT))
from grader.grading import store  # noqa: E402
from grader.grading.runner import RUN_ENV, THREAD_ENV, Runner  # noqa: E402
from grader.sandbox import mnist  # noqa: E402
from grader.sandbox.cache import cache_root  # noqa: E402
from grader.sandbox.kit import SUITE  # noqa: E402


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def kit_version() -> str:
    """The kit's commit (and whether its files differ from it), or "not a git checkout"."""
    try:
        head = subprocess.run(["git", "-C", str(KIT), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "-C", str(KIT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "not a git checkout"
    return f"{head}{' + uncommitted changes' if dirty else ''}" if head else "not a git checkout"


def python_line() -> str:
    venv = sys.prefix != sys.base_prefix
    where = f"venv {sys.prefix} (base {sys.base_prefix})" if venv else f"no venv ({sys.prefix})"
    return f"{sys.executable}, Python {sys.version.split()[0]}, {where}"


def blas_line() -> str:
    """numpy's version and BLAS, and the BLAS threads: this process's setting and the runs' (RUN_ENV)."""
    import numpy

    try:
        blas = numpy.show_config(mode="dicts")["Build Dependencies"]["blas"]
        name = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # noqa: BLE001 - older numpy: no dict mode
        name = "unknown BLAS"
    here = ", ".join(f"{k}={os.environ[k]}" for k in THREAD_ENV if k in os.environ) or "not set (BLAS picks: all cores)"
    runs = RUN_ENV.get("OPENBLAS_NUM_THREADS", "?")
    return f"numpy {numpy.__version__} with {name}; BLAS threads in every graded and in-process run {runs}; this process: {here}"


def user_cache_lines(kit: Path = KIT) -> list[str]:
    """What the user's cache folder holds for this kit: warm or cold, part by part."""
    root = cache_root()
    if root is None:
        return ["user cache: off (GRADER_CACHE=off): every run decodes MNIST and runs its answer key"]
    lines = [f"user cache: {root}{'' if root.is_dir() else ' (absent: cold)'}"]
    folder = mnist.cache_folder()
    copies = len(list(folder.glob("*.npy"))) if folder is not None and folder.is_dir() else 0
    lines.append(f"  MNIST copies: {copies} of {len(mnist.FILES)} ({'warm' if copies >= len(mnist.FILES) else 'cold'}: "
                 "without them each trusted read decompresses the .gz, about 1.5 s)")  # fmt: skip
    runner = Runner(kit, kit / SUITE)  # the answer key's name: the solution's key under this run version
    key = store.submission_key([runner.solution], runner.solution.parent, runner.version)
    keys = root / "answer-keys"
    kept = list(keys.glob("*.json")) if keys.is_dir() else []
    this = (keys / f"{key}-default.json").is_file()
    lines.append(f"  answer keys: {len(kept)} kept; this suite version's: {'warm' if this else 'cold'} "
                 "(the benches drop it before each first grading run, so every run pays its own)")  # fmt: skip
    books = root / "gradebooks"
    empty = len(list(books.glob("empty-*.db"))) if books.is_dir() else 0
    lines.append(f"  empty gradebooks: {empty} ({'warm' if empty else 'cold: the first run builds one, seconds of alembic'})")
    return lines


def font_cache_line() -> str:
    try:
        import matplotlib
    except ImportError:
        return "matplotlib: not installed"
    folder = Path(matplotlib.get_cachedir())
    found = sorted(folder.glob("fontlist-*.json"))
    state = f"warm ({found[-1].name})" if found else "cold: the first import of this version builds it (seconds)"
    return f"matplotlib {matplotlib.__version__} font cache in {folder}: {state}"


def bytecode_line(kit: Path = KIT) -> str:
    compiled = sum(1 for _ in (kit / "grader").rglob("__pycache__/*.pyc"))
    writes = "does not write bytecode (PYTHONDONTWRITEBYTECODE)" if os.environ.get("PYTHONDONTWRITEBYTECODE") else "writes bytecode"
    return (f"bytecode: the kit's grader/ has {compiled} .pyc files ({'warm' if compiled else 'cold'}); this environment "
            f"{writes}; the graded runs write none (RUN_ENV), so each pytest run compiles the kit's modules it imports "
            "(about 0.03 s); each sandboxed worker gets its runtime modules' bytecode (grader/sandbox/bytecode.py)")  # fmt: skip


def sandbox_line() -> str:
    from grader.sandbox.layout import probe

    mode, how = probe()
    return f"sandbox: {mode} ({how})"


def print_block(extra: list[str] | None = None, kit: Path = KIT) -> None:
    """The conditions block, first thing a bench prints (stdout)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    lines = [
        f"load average (1, 5, 15 min) at start: {load()}; cores: {os.cpu_count()} ({cores} usable by this process)",
        f"kit: {kit} at {kit_version()}",
        f"python: {python_line()}",
        blas_line(),
        sandbox_line(),
        *user_cache_lines(kit),
        font_cache_line(),
        bytecode_line(kit),
        *(extra or []),
    ]
    print("conditions:")
    for line in lines:
        print(f"  {line}")
    print(flush=True)


def end_line() -> str:
    return f"load average (1, 5, 15 min) at end: {load()}"
