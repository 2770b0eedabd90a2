"""The `grader` command: a thin layer over plain functions. Only this module reads argv and prints."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

KIT = Path(__file__).resolve().parent.parent  # the kit's top folder

EXAMPLES = """examples:
  grader grade                          grade submissions/ into report/
  grader grade class.zip --out r2 -j 2  grade an LMS zip with two parallel jobs
  grader template --check               fail when exercise02_template.py is stale
  grader release --out dist             build dist/exercise02-student.zip
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

    return parser


def run_template(args) -> int:
    from grader import template

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
    from grader import release

    path = release.build_bundle(KIT, args.out)
    print(f"wrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
