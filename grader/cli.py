"""The `grader` command: a thin layer over plain functions. Only this module reads argv and prints."""

from __future__ import annotations

import argparse
import gc
import sys
import textwrap
from pathlib import Path

from grader.sandbox.error import GraderError, InputError
from grader.sandbox.kit import KIT, SOLUTION, TEMPLATE  # KIT: the kit's top folder


def in_kit(relative: str) -> str:
    """How --help names a default that lives in the kit folder (not in the current folder)."""
    return f"default: {relative} in the kit folder, {KIT / relative}"


EXAMPLES = """examples:
  grader grade                          grade submissions/ into report/
  grader grade --manual marks.csv       merge filled-in manual points (default <out>/manual.csv)
  grader grade class.zip --out r2 -j 2  grade an LMS zip with two parallel jobs
  grader grade --cluster local:2        on Dask (also tcp://HOST:8786, slurm:4; docs/cluster.md)
  grader grade class.zip --worksheet Grades.csv --late-penalty 10,50
                                        Moodle's download + grading worksheet -> <out>/moodle/ to upload
  grader template --check               fail when exercise02_template.py is stale
  grader samples --check [--plots]      fail when the sample class in submissions/ is stale
  grader rubric                         list the hidden suite's points per test and per file
  grader release --out dist             build dist/exercise02-student.zip
  grader review                         enter the manual points of report/ in the browser

Relative paths given on the command line are relative to the current folder; the defaults
(submissions/, report/, dist/, tests/hidden) are in the kit folder, wherever grader is run from.
"""


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """argparse's help, wrapped at spaces only: a path or file name (feedback-files.zip, --late-penalty) is never
    split at its hyphen or inside a long word, so what the help shows can be copied."""

    def _split_lines(self, text, width):
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False, break_long_words=False) or [""]


class CommandHelpFormatter(HelpFormatter):
    """A command's description, wrapped like its options' help (at spaces only)."""

    def _fill_text(self, text, width, indent):
        return "\n".join(textwrap.wrap(" ".join(text.split()), width, initial_indent=indent, subsequent_indent=indent,
                                       break_on_hyphens=False, break_long_words=False))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="grader",
        description="Exercise 02 kit: generate the template and the sample class, list the rubric, release the "
        "bundle, grade a class.",
        epilog=EXAMPLES,
        formatter_class=HelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)

    template = commands.add_parser("template", help="write exercise02_template.py from solutions/")
    template.add_argument("--check", action="store_true", help="exit 1 when the committed template is stale")
    template.set_defaults(run=run_template)

    samples = commands.add_parser("samples", help="write the sample class in submissions/ from solutions/")
    samples.add_argument("--check", action="store_true", help="exit 1 when a committed sample is stale")
    samples.add_argument("--plots", action="store_true",
                         help="also re-run the solution (--quick) for the sample plots (with --check: compare them)")
    samples.set_defaults(run=run_samples)

    rubric = commands.add_parser("rubric", help="list the points per hidden test and file, and the manual points")
    rubric.add_argument("--suite", type=Path, default=KIT / "tests" / "hidden", help=f"test suite ({in_kit('tests/hidden')})")
    rubric.set_defaults(run=run_rubric)

    release = commands.add_parser("release", help="build the student bundle as a zip")
    release.add_argument("--out", type=Path, default=KIT / "dist", help=f"folder for the zip ({in_kit('dist/')})")
    release.set_defaults(run=run_release)

    grade = commands.add_parser(
        "grade",
        help="grade every submission (a folder of folders, or an LMS zip) into a report",
        description="Grade a class: report.html, feedback/<submission>.html, grades.csv, results.csv, "
        "gradebook.db and manual-template.csv in --out. Results are kept in <out>/results/: running "
        "again after an interruption continues, and an unchanged class is served from there.",
    )
    grade.add_argument("submissions", nargs="?", type=Path, default=KIT / "submissions",
                       help=f"a folder of submission folders, or an LMS zip ({in_kit('submissions/')})")  # fmt: skip
    grade.add_argument("--out", type=Path, default=KIT / "report", help=f"output folder ({in_kit('report/')})")
    grade.add_argument("-j", "--jobs", type=bounded(int, 1, 256), default=None,
                       help="submissions in flight at once, 1 to 256 (default: CPU count, or the cluster's worker threads)")  # fmt: skip
    grade.add_argument("--budget", type=bounded(float, 1, 86400), default=600.0,
                       help="wall-clock seconds per submission, 1 to 86400 (default 600)")  # fmt: skip
    grade.add_argument("--retry-timeouts", action="store_true",
                       help="grade again the unchanged submissions whose kept result was stopped for waiting without "
                            "computing (such verdicts are kept otherwise; docs/security.md)")  # fmt: skip
    grade.add_argument("--cluster", metavar="ADDRESS", help="grade on Dask: tcp://HOST:PORT (a running scheduler), local:N "
                       "(N worker processes here) or slurm[:N] (N Slurm jobs); docs/cluster.md, pip install '.[cluster]'")
    grade.add_argument("--manual", type=Path, default=None, help="filled-in manual points (default <out>/manual.csv)")
    grade.add_argument("--suite", type=Path, default=KIT / "tests" / "hidden", help=f"test suite ({in_kit('tests/hidden')})")
    grade.add_argument("--backend", choices=["sandbox", "in-process"], default=None, help=argparse.SUPPRESS)  # self-tests only
    grade.add_argument("--no-sandbox", dest="backend", action="store_const", const="unsandboxed",
                       help="trusted submissions only: grade in a worker process without the bubblewrap sandbox "
                            "when it cannot run here; every output is marked NOT SANDBOXED (docs/security.md)")  # fmt: skip
    add_moodle_options(grade)
    integrity = grade.add_argument_group("academic integrity (docs/integrity.md; hints in similarity.html, never points)")
    integrity.add_argument("--compare-with", type=Path, action="append", default=[], metavar="DIR",
                           help="also compare with earlier terms' submissions (a folder, an LMS zip or any folder of "
                           ".py files); not graded; may be given more than once")  # fmt: skip
    integrity.add_argument("--similarity-threshold", type=bounded(float, 0.0, 1.0), default=0.5, metavar="SHARE",
                           help="flag a pair when this share of one file's own code matches (default 0.5)")
    integrity.add_argument("--no-similarity", action="store_true", help="do not write similarity.html (forbidden imports are still listed in the report)")
    grade.set_defaults(run=run_grade)

    # grader review: manual points in the browser (grader/outputs/review.py)
    review = commands.add_parser("review", help="grade the manual points in the browser (a local web app on 127.0.0.1)",
                                 description="Serve the output folder of `grader grade` on 127.0.0.1 at a random port and "
                                 "token: one page per submission, manual points saved to the manual CSV and every output.")  # fmt: skip
    review.add_argument("--out", type=Path, default=KIT / "report", help=f"output folder of `grader grade` ({in_kit('report/')})")
    review.add_argument("--manual", type=Path, default=None, help="the manual points CSV (default <out>/manual.csv)")
    review.add_argument("--no-browser", action="store_true", help="only print the address; do not open a browser")
    review.set_defaults(run=run_review)

    for command in commands.choices.values():
        command.formatter_class = CommandHelpFormatter
    return parser


def run_review(args) -> int:
    from grader.outputs import review

    server, url = review.make_server(args.out, args.manual)
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


def bounded(kind, low, high):
    """An argparse type: a number of `kind` from low to high, else a clear usage error."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not low <= value <= high:  # also refuses nan
            raise argparse.ArgumentTypeError(f"{text} is not from {low:g} to {high:g}")
        return value

    return parse


# --------------------------------------------------------------------------- Moodle round trip (docs/moodle.md)

IMPORT_NAMES = {"pillow": "PIL", "markdown-it-py": "markdown_it"}  # a tutor package whose import name is not its name (else "-" becomes "_")


def add_moodle_options(grade) -> None:
    from grader.grading import lateness
    from grader.outputs import language

    def typed(parse):
        def wrapped(text):
            try:
                return parse(text)
            except ValueError as error:
                raise argparse.ArgumentTypeError(str(error)) from None

        return wrapped

    group = grade.add_argument_group("Moodle and lateness (docs/moodle.md)")
    group.add_argument("--worksheet", type=Path, default=None, help="Moodle's grading worksheet (CSV): writes "
                       "<out>/moodle/grades-upload.csv and feedback-files.zip for upload")  # fmt: skip
    group.add_argument("--columns", type=typed(language.parse_columns), default=None, metavar="KEY=HEADER,...",
                       help="the worksheet's headers in a language other than English or German, by Moodle's string "
                       "keys: recordid=...,gradenoun=...,lastmodifiedgrade=...,maxgrade=...")  # fmt: skip
    group.add_argument("--upload-pending", action="store_true", help="put grades whose manual points are pending "
                       "into the upload too (default: left out, so that the complete upload later is not skipped)")  # fmt: skip
    group.add_argument("--missing-zero", action="store_true", help="worksheet rows without a submission get 0 "
                       "and a 'no submission' comment (default: left blank)")  # fmt: skip
    group.add_argument("--deadline", type=typed(lateness.parse_deadline), default=None,
                       help="ISO date and time (2026-11-30T23:59); later submissions are marked late")  # fmt: skip
    group.add_argument("--timezone", type=typed(lateness.parse_timezone), default=None, metavar="ZONE",
                       help="the course's time zone for --deadline and the worksheet's times (e.g. Europe/Berlin; "
                       "default: this machine's)")  # fmt: skip
    group.add_argument("--late-penalty", type=typed(lateness.parse_policy), default=None, metavar="P[,CAP]",
                       help="P %% of the points per started day late, at most CAP %% (e.g. 10,50)")  # fmt: skip


def tutor_packages() -> list[str]:
    """The `tutor` extra's package names, from pyproject.toml (one source of truth) or the installed metadata."""
    import re

    try:
        import tomllib

        entries = tomllib.loads((KIT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["tutor"]
    except (OSError, ValueError, KeyError):
        from importlib import metadata

        try:
            entries = [r for r in metadata.requires("exercise02-kit") or [] if re.search(r"extra\s*==\s*.tutor.", r)]
        except metadata.PackageNotFoundError:
            entries = []
    return [re.split(r"[\s<>=!~;\[(]", entry.strip(), maxsplit=1)[0].lower() for entry in entries]


def missing_extras() -> list[str]:
    """The tutor extras that are not installed (checked before anything is graded)."""
    import importlib.util

    missing = []
    for package in tutor_packages():
        try:
            found = importlib.util.find_spec(IMPORT_NAMES.get(package, package.replace("-", "_"))) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(package)
    return missing


def run_grade(args) -> int:
    """`grader grade`: the options as a pipeline Request, one call, the summary lines."""
    if missing := missing_extras():
        raise InputError(f"the tutor extras are not installed (missing: {', '.join(missing)}); install them with\n"
                         f"    python3 -m pip install -e '{KIT}[tutor]'")  # fmt: skip
    from grader.outputs.progress import Progress, summary
    from grader.pipeline import flow, request

    try:
        done = flow.grade_class(request.Request.from_options(args, kit=KIT), progress=Progress(sys.stderr),
                                say=lambda line: print(line, file=sys.stderr))  # fmt: skip
    except KeyboardInterrupt:
        print("\nstopped; finished results are kept: run the same command again to continue", file=sys.stderr)
        return 130
    if done.banner:
        print(f"WARNING: {done.banner}", file=sys.stderr)
    batch = done.batch
    print(f"{summary([r.status for r in batch.results.values()], batch.cached)}; took {batch.seconds:.0f} s\n"
          f"report: {done.written.report_html}")  # fmt: skip
    if args.worksheet:
        moodle = args.out.resolve() / "moodle"
        print(f"Moodle: {moodle / 'grades-upload.csv'} (Upload grading worksheet), "
              f"{moodle / 'feedback-files.zip'} (Upload multiple feedback files in a zip)")  # fmt: skip
        if done.unmatched:
            print(f"Moodle: {len(done.unmatched)} submission(s) match no worksheet row and get NO grade in Moodle: "
                  f"{', '.join(done.unmatched[:10])} (see Attention in the report)", file=sys.stderr)  # fmt: skip
    return 0


def run_template(args) -> int:
    from grader.authoring import template

    solution, target = KIT / SOLUTION, KIT / TEMPLATE
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


def run_samples(args) -> int:
    from grader.authoring import samples

    if args.check:
        problems = samples.stale(KIT)
        plots = sorted(set(samples.stale_plots(KIT)) - set(problems)) if args.plots else []
        if problems or plots:
            redo = "grader samples --plots" if plots or any("/plots/" in p for p in problems) else "grader samples"
            print(f"stale samples (run `{redo}`): " + ", ".join(problems + plots))
            return 1
        print("the sample class in submissions/ is up to date" + (
            ", plots included (redrawn by a quick run of the solution)" if args.plots else
            " (code only: the plots are not checked; `grader samples --check --plots` redraws and compares them)"))
        return 0
    changed = samples.write(KIT, with_plots=args.plots)
    print(f"wrote the sample class in {KIT / 'submissions'} ({len(changed)} stale files fixed)")
    left = samples.stale(KIT)
    if left:
        print("still stale (run `grader samples --plots`): " + ", ".join(left))
    return 1 if left else 0


def run_rubric(args) -> int:
    from grader.outputs import rubric

    items = rubric.read_rubric(args.suite)
    if not items:
        raise GraderError(f"no test_*.py files with tests in {args.suite}")
    print(rubric.render(items))
    return 0


def run_release(args) -> int:
    from grader.authoring import release, template

    solution, target = KIT / SOLUTION, KIT / TEMPLATE
    text = template.render(solution.read_text())
    if not target.is_file() or target.read_text() != text:
        target.write_text(text)
        print(f"{target.name} was stale (it did not match {solution.relative_to(KIT)}); regenerated it before building the bundle")
    path = release.build_bundle(KIT, args.out)
    print(f"wrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run one command; any kit error (grader.sandbox.error.GraderError) is its message and its exit code."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except GraderError as error:
        print(f"grader {args.command}: {error}", file=sys.stderr)
        return error.exit_code


def run(argv: list[str] | None = None) -> int:
    """The `grader` command as a process (`python -m grader`, the `grader` script): main(), then the exit made cheap.

    At exit the interpreter clears every module and runs the garbage collector over every object still
    tracked: after `grader grade` (nbgrader, SQLAlchemy, matplotlib, Jinja2 imported: some 250,000
    objects) that took 0.3-0.5 s after the last line was printed. Frozen (gc.freeze), those objects are
    left out of the shutdown's collections; everything else about the exit stays: atexit handlers run,
    files are closed as their references go. Only for a process that ends now: tests call main().
    """
    code = main(argv)
    gc.freeze()
    return code


if __name__ == "__main__":
    sys.exit(run())
