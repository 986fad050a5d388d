"""``gradlab`` — the instructor's command line, a thin layer over :mod:`gradlab_grader.pipeline`.

    gradlab release [ASSIGNMENT ...]          solutions/ -> course/ (and the gradebook)
    gradlab collect ASSIGNMENT FOLDER         a folder per student -> the workspace
    gradlab autograde ASSIGNMENT [-s STUDENT] run and score every submission
    gradlab feedback ASSIGNMENT               HTML feedback without hidden tests
    gradlab export [--to grades.csv]          the gradebook as CSV
    gradlab summary ASSIGNMENT                the grades table again
    gradlab demo [--assignment A]             all of the above on a bundled class
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import demo, pipeline
from .results import format_table, read_results
from .workspace import default_workspace


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gradlab", description="gradlab: release, collect, autograde, "
                                     "feedback and export for the gradlab course (nbgrader inside).",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspace", type=Path, default=None,
                        help="grading workspace (default: ./grading in the repository)")
    parser.add_argument("--repo", type=Path, default=None,
                        help="the gradlab source tree (default: found from the current folder)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("release", help="generate the student version into course/")
    p.add_argument("assignments", nargs="*", help="assignment ids (default: all in solutions/)")

    p = sub.add_parser("collect", help="copy submissions (a folder per student) into the workspace")
    p.add_argument("assignment")
    p.add_argument("folder", type=Path)

    p = sub.add_parser("autograde", help="run and score submissions")
    p.add_argument("assignment")
    p.add_argument("-s", "--student", action="append", help="only this student (repeatable)")

    p = sub.add_parser("feedback", help="write HTML feedback without hidden tests")
    p.add_argument("assignment")
    p.add_argument("-s", "--student", action="append", help="only this student (repeatable)")

    p = sub.add_parser("export", help="write the gradebook as CSV")
    p.add_argument("--to", type=Path, default=None, help="CSV path (default: <workspace>/exports/grades.csv)")
    p.add_argument("assignments", nargs="*", help="only these assignments")

    p = sub.add_parser("summary", help="print the grades table of an assignment")
    p.add_argument("assignment")

    p = sub.add_parser("demo", help="release, collect, autograde, feedback and export a bundled class")
    p.add_argument("--assignment", action="append",
                   help="only this assignment (repeatable; default: every one in solutions/)")
    return parser


def run(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    progress = not args.quiet
    ws = default_workspace(args.workspace, args.repo)

    if args.command == "release":
        for path in pipeline.release(ws, args.assignments or None):
            print(f"released {path}")
    elif args.command == "collect":
        collected, rejected, renamed = pipeline.collect(ws.init(), args.assignment, args.folder)
        print(f"collected {len(collected)} submissions of {args.assignment}")
        for student, change in renamed.items():
            print(f"renamed {student}: {change}")
        for student, why in rejected.items():
            print(f"rejected {student}: {why}")
        return 1 if rejected else 0
    elif args.command == "autograde":
        results = pipeline.autograde(ws, args.assignment, args.student, progress=progress)
        print(format_table(results))
    elif args.command == "feedback":
        pages, failed = pipeline.feedback(ws, args.assignment, args.student, progress=progress)
        print(f"wrote {len(pages)} feedback pages under {ws.step_root('feedback')}")
        for student, why in failed.items():
            print(f"no feedback for {student}: {why}")
        return 1 if failed else 0
    elif args.command == "export":
        print(f"wrote {pipeline.export(ws, args.to, args.assignments or None)}")
    elif args.command == "summary":
        print(format_table(read_results(ws, args.assignment)))
    elif args.command == "demo":
        demo.run_demo(ws, args.assignment, progress=progress)
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        return run(argv)
    except (pipeline.GradlabError, FileNotFoundError, ValueError) as exc:
        print(f"gradlab: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gradlab: interrupted; grades recorded so far are kept in the gradebook", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
