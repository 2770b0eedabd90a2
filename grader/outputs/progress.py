"""The grading progress on stderr: a tqdm bar on a terminal, one line per submission in a log.

Each update shows i/N, the submission's status and points, the runs in flight (on how many workers,
for a cluster) and an ETA. Kept results are counted as done at once; the ETA is the time per
freshly graded submission so far (measured from the start of grading, the answer key included)
times the fresh ones left, and "?" until one has been graded. `summary` is the line printed at the end.
"""

from __future__ import annotations

import time

from grader.grading.results import GRADED, STATUSES

# What a status that is not "graded" is called in the summary line: (one, several).
COULD_NOT_RUN = {"import-error": ("import error", "import errors"), "no-code": ("without code", "without code"),
                 "syntax-error": ("syntax error", "syntax errors"), "timeout": ("over the time limit",) * 2,
                 "crashed": ("crashed", "crashed")}  # fmt: skip


def summary(statuses: list[str], reused: int) -> str:
    """The run in words that add up: "6 submissions: 4 graded, 2 could not run (1 syntax error, 1 import
    error); 0 from earlier runs". `statuses`: every submission's status; `reused`: results served from the store."""
    total = len(statuses)
    failed = [s for s in statuses if s != GRADED]
    counts = {s: failed.count(s) for s in (*STATUSES, *sorted(set(failed) - set(STATUSES))) if s in failed}
    why = ", ".join(f"{n} {COULD_NOT_RUN.get(s, (s, s))[n != 1]}" for s, n in counts.items())
    return (f"{total} submission{'s' if total != 1 else ''}: {total - len(failed)} graded, {len(failed)} could not run"
            f"{f' ({why})' if why else ''}; {reused} from earlier runs")


class Progress:
    def __init__(self, stream):
        self.stream = stream
        self.bar = None  # the tqdm bar on a terminal, made at the first update
        self.tty = stream.isatty()
        self.started = time.monotonic()
        self.fresh = 0

    def update(self, done: int, total: int, result, cached: bool, in_flight: int = 0, workers: int | None = None) -> None:
        if not cached and result.seconds > 0:  # run now (not refused before running: no code, syntax error)
            self.fresh += 1
        left = total - done
        eta = "0 s" if not left else f"{(time.monotonic() - self.started) / self.fresh * left:.0f} s" if self.fresh else "?"
        what = f"{result.submission}: {result.status} {result.points:g}/{result.max_points:g}" + (" (kept)" if cached else "")
        where = f"{in_flight} running" + ("" if workers is None else f" on {workers} workers")
        if not self.tty:
            self.stream.write(f"{done}/{total} {what} ({where}, ETA {eta})\n")
            self.stream.flush()
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, file=self.stream, dynamic_ncols=True, bar_format="{bar:30} {n_fmt}/{total_fmt} {postfix}")
        self.bar.set_postfix_str(f"{where}  ETA {eta:>6}  {what[:40]}", refresh=False)
        self.bar.update(done - self.bar.n)

    def finish(self) -> None:
        if self.bar is not None:
            self.bar.close()
