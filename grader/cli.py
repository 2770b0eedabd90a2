"""The `grader` command: a thin layer over plain functions. Only this module reads argv and prints."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

KIT = Path(__file__).resolve().parent.parent  # the kit's top folder

EXAMPLES = """examples:
  grader grade                          grade submissions/ into report/
  grader grade --manual marks.csv       merge filled-in manual points (default report/manual.csv)
  grader grade class.zip --out r2 -j 2  grade an LMS zip with two parallel jobs
  grader template --check               fail when exercise02_template.py is stale
  grader release --out dist             build dist/exercise02-student.zip
  grader review                         enter the manual points of report/ in the browser
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="grader",
        description="Exercise 02 kit: generate the template, release the bundle, grade a class.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)

    template = commands.add_parser("template", help="write exercise02_template.py from solutions/")
    template.add_argument("--check", action="store_true", help="exit 1 when the committed template is stale")
    template.set_defaults(run=run_template)

    release = commands.add_parser("release", help="build the student bundle as a zip")
    release.add_argument("--out", type=Path, default=KIT / "dist", help="folder for the zip (default dist/)")
    release.set_defaults(run=run_release)

    grade = commands.add_parser(
        "grade",
        help="grade every submission (a folder of folders, or an LMS zip) into a report",
        description="Grade a class: report.html, feedback/<submission>.html, grades.csv, results.csv, "
        "gradebook.db and manual-template.csv in --out. Results are kept in <out>/results/: running "
        "again after an interruption continues, and an unchanged class is served from there.",
    )
    grade.add_argument("submissions", nargs="?", type=Path, default=KIT / "submissions",
                       help="a folder of submission folders, or an LMS zip (default submissions/)")  # fmt: skip
    grade.add_argument("--out", type=Path, default=KIT / "report", help="output folder (default report/)")
    grade.add_argument("-j", "--jobs", type=int, default=None, help="submissions graded in parallel (default: CPU count)")
    grade.add_argument("--budget", type=float, default=600.0, help="wall-clock seconds per submission (default 600)")
    grade.add_argument("--manual", type=Path, default=None, help="filled-in manual points (default <out>/manual.csv)")
    grade.add_argument("--suite", type=Path, default=KIT / "tests" / "hidden", help="test suite (default tests/hidden)")
    grade.add_argument("--backend", choices=["sandbox", "in-process"], default=None, help=argparse.SUPPRESS)  # self-tests only
    grade.set_defaults(run=run_grade)

    # grader review: manual points in the browser (grader/outputs/review.py)
    review = commands.add_parser("review", help="grade the manual points in the browser (a local web app on 127.0.0.1)",
                                 description="Serve the output folder of `grader grade` on 127.0.0.1 at a random port and "
                                 "token: one page per submission, manual points saved to the manual CSV and every output.")  # fmt: skip
    review.add_argument("--out", type=Path, default=KIT / "report", help="output folder of `grader grade` (default report/)")
    review.add_argument("--manual", type=Path, default=None, help="the manual points CSV (default <out>/manual.csv)")
    review.add_argument("--no-browser", action="store_true", help="only print the address; do not open a browser")
    review.set_defaults(run=run_review)

    return parser


def run_review(args) -> int:
    from grader.outputs import review

    try:
        server, url = review.make_server(args.out, args.manual)
    except review.ReviewError as error:
        print(f"grader review: {error}", file=sys.stderr)
        return 2
    print(f"grader review: {url}\n(only this machine can connect, and only with this address; Ctrl-C stops)", flush=True)
    if not args.no_browser and not review.open_browser(url):
        print("no browser found here: open the address above yourself", flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


def run_grade(args) -> int:
    from grader.grading import harness, intake, store
    from grader.outputs import manual, report

    if not args.submissions.exists():
        print(f"grader grade: {args.submissions} does not exist (give a folder of submissions or an LMS zip)", file=sys.stderr)
        return 2
    out = args.out.resolve()
    try:
        submissions, notes = intake.collect(args.submissions, out / ".intake")
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
        if not submissions:
            print(f"grader grade: no submissions found in {args.submissions}", file=sys.stderr)
        runner = harness.Runner(KIT, args.suite.resolve(), budget=args.budget, backend=args.backend)
        bar = Progress(sys.stderr)
        batch = harness.grade_class(
            submissions, runner=runner, solution=KIT / "solutions" / "exercise02.py",
            store=store.Store(out / "results"), jobs=args.jobs, progress=bar.update,
        )  # fmt: skip
        bar.finish()
        points = manual.read_manual(args.manual or out / manual.FILLED_NAME, {s.id for s in submissions})
        for problem in points.problems:
            print(f"manual points: {problem}", file=sys.stderr)
        banner = report.sandbox_banner(batch.backends)
        written = report.write_all(out, submissions=submissions, results=batch.results, key=batch.key,
                                   manual=points, notes=notes, banner=banner)  # fmt: skip
    except harness.Interrupted as stop:
        print(f"\nstopped: {stop.done} of {stop.total} submissions are graded and kept in {out / 'results'}; "
              "run the same command again to continue", file=sys.stderr)  # fmt: skip
        return 130
    except KeyboardInterrupt:
        print("\nstopped; finished results are kept: run the same command again to continue", file=sys.stderr)
        return 130
    except harness.HarnessError as error:
        print(f"grader grade: {error}", file=sys.stderr)
        return 1
    if banner:
        print(f"WARNING: {banner}", file=sys.stderr)
    print(
        f"graded {batch.graded}, from cache {batch.cached}, failed to run {batch.failed} "
        f"(of {len(submissions)}) in {batch.seconds:.0f} s; report: {written['report.html']}"
    )
    return 0


class Progress:
    """i/N, a bar and an ETA on stderr: redrawn in place on a terminal, one line per submission otherwise."""

    def __init__(self, stream):
        self.stream = stream
        self.tty = stream.isatty()
        self.started = None
        self.fresh = 0

    def update(self, done: int, total: int, result, cached: bool) -> None:
        import time

        now = time.monotonic()
        if self.started is None:
            self.started = now
        if not cached:
            self.fresh += 1
        left = total - done
        eta = (now - self.started) / self.fresh * left if self.fresh else 0.0
        what = f"{result.submission}: {result.status} {result.points:g}/{result.max_points:g}" + (" (kept)" if cached else "")
        if self.tty:
            filled = round(30 * done / max(total, 1))
            self.stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {done}/{total}  ETA {eta:4.0f} s  {what[:40]:<40}")
        else:
            self.stream.write(f"{done}/{total} {what} (ETA {eta:.0f} s)\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.tty and self.started is not None:
            self.stream.write("\n")
            self.stream.flush()


def run_template(args) -> int:
    from grader.authoring import template

    solution = KIT / "solutions" / "exercise02.py"
    target = KIT / "exercise02_template.py"
    text = template.render(solution.read_text())
    if args.check:
        if not target.is_file() or target.read_text() != text:
            print(f"{target.name} is stale: run `grader template` to regenerate it from {solution.relative_to(KIT)}")
            return 1
        print(f"{target.name} is up to date with {solution.relative_to(KIT)}")
        return 0
    target.write_text(text)
    print(f"wrote {target.name} from {solution.relative_to(KIT)}")
    return 0


def run_release(args) -> int:
    from grader.authoring import release

    path = release.build_bundle(KIT, args.out)
    print(f"wrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
