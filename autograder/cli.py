"""``gradlab`` — the instructor's command line, a thin layer over :mod:`gradlab_grader.pipeline`.

    gradlab release [ASSIGNMENT ...]          solutions/ -> course/, the gradebook, a bundle per assignment
    gradlab collect ASSIGNMENT FOLDER         a folder per student -> the workspace
    gradlab collect ASSIGNMENT ZIP --roster R [--times T] [--map KEY=STUDENT]   an LMS download
    gradlab autograde ASSIGNMENT [-s STUDENT] run and score what is new or changed (--force: all)
            [--scheduler tcp://HOST:PORT]     ... on the workers of a Dask cluster
    gradlab --db postgresql+psycopg2://... COMMAND   the gradebook in PostgreSQL
    gradlab feedback ASSIGNMENT               HTML feedback without hidden tests (works offline)
    gradlab export [--to grades.csv]          the gradebook as CSV
    gradlab summary ASSIGNMENT                the grades table again
    gradlab report ASSIGNMENT                 the class report (HTML) and its summary
    gradlab status                            per assignment: collected, graded, failed, flagged, pending
    gradlab demo [--assignment A]             all of the above on a bundled class
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from . import demo, pipeline
from .outputs import lms, report
from .outputs.results import format_status, format_table, read_results
from .workspace import default_workspace


def _shared_options(default) -> argparse.ArgumentParser:
    """--workspace, --repo, --quiet, --db: accepted before the command and after it.  The copy given
    to each command leaves them unset (SUPPRESS) so it never overwrites the one given before."""
    shared = argparse.ArgumentParser(add_help=False)
    shared.add_argument("--workspace", type=Path, default=default(None),
                        help="grading workspace (default: ./grading in the repository)")
    shared.add_argument("--repo", type=Path, default=default(None),
                        help="the gradlab source tree (default: found from the current folder)")
    shared.add_argument("--quiet", action="store_true", default=default(False), help="no progress bars")
    shared.add_argument("--db", metavar="URL", default=default(None),
                        help="the gradebook's SQLAlchemy URL, e.g. postgresql+psycopg2://user:pass@host/db "
                        "(default: db_url of the workspace's nbgrader_config.py, else gradebook.db in it); "
                        "remembered in nbgrader_config.py")
    return shared


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gradlab", description="gradlab: release, collect, autograde, "
                                     "feedback and export for the gradlab course (nbgrader inside).",
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     parents=[_shared_options(lambda value: value)])
    shared = _shared_options(lambda value: argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, parents=[shared])

    p = command("release", help="generate the student version into course/")
    p.add_argument("assignments", nargs="*", help="assignment ids (default: all in solutions/)")

    p = command("collect", help="copy submissions (a folder per student, or an LMS download "
                "with --roster) into the workspace")
    p.add_argument("assignment")
    p.add_argument("folder", type=Path, help="a folder per student; with --roster also a Canvas or "
                   "Moodle submissions zip (or the folder it unpacks to)")
    p.add_argument("--roster", type=Path, help="roster CSV to match an LMS download against: "
                   "student_id,name,email,lms_id, or Canvas's gradebook export, or Moodle's grades export")
    p.add_argument("--times", type=Path, help="the LMS's submission times: Canvas's submissions JSON "
                   "(API), Moodle's grading worksheet CSV, or a CSV of student_id,submitted_at; without "
                   "it a hand-in time is unknown (no late penalty)")
    p.add_argument("--timezone", metavar="ZONE", help="the zone of --times' times when they carry none "
                   "(Moodle's worksheet: the downloading teacher's), e.g. Europe/Berlin")
    p.add_argument("--map", action="append", default=[], metavar="KEY=STUDENT",
                   help="give the files of an LMS key (an anonymous id such as anon_x7Yz2, Participant_71, "
                   "a Canvas user id) or one file of the download to a roster student (remembered; repeatable)")
    p.add_argument("--drop", action="append", default=[], metavar="KEY",
                   help="set aside the files of an LMS key (or one file) for good (remembered; repeatable)")

    p = command("autograde", help="run and score what is new or changed (a stopped run resumes)")
    p.add_argument("assignment")
    p.add_argument("-s", "--student", action="append", help="only this student (repeatable; graded again)")
    p.add_argument("--force", action="store_true", help="grade again what is already recorded and current")
    p.add_argument("--workers", type=int, default=None, help="notebooks graded at once (default: the cores)")
    p.add_argument("--no-sandbox", dest="sandbox", action="store_false", default=None,
                   help="run student kernels without the sandbox (limits only; trusted code)")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT", default=None,
                   help="grade on the workers of this Dask cluster (this machine stays the only "
                   "gradebook writer); --workers is then how many Dask workers to wait for")

    p = command("feedback", help="write HTML feedback without hidden tests")
    p.add_argument("assignment")
    p.add_argument("-s", "--student", action="append", help="only this student (repeatable)")
    p.add_argument("--hidden-tests", choices=("message", "name"), default="message",
                   help="what a failing hidden test shows: its message (what was called, what was "
                        "expected; the default) or only its name")

    p = command("export", help="write the gradebook as CSV")
    p.add_argument("--to", type=Path, default=None, help="CSV path (default: <workspace>/exports/grades.csv)")
    p.add_argument("assignments", nargs="*", help="only these assignments")
    p.add_argument("--lms", choices=["canvas", "moodle"], help="write the gradebook CSV this LMS "
                   "imports (one assignment; the column is [lms.<assignment>] of gradlab.toml)")
    p.add_argument("--roster", type=Path, help="roster CSV with the students' LMS ids (default: the "
                   "roster given at collect, <workspace>/roster.csv)")

    p = command("report", help="write the class report (HTML) and print its summary")
    p.add_argument("assignment")

    p = command("summary", help="print the grades table of an assignment")
    p.add_argument("assignment")

    p = command("status", help="per assignment: collected, graded, failed, flagged, pending")
    p.add_argument("assignments", nargs="*", help="only these assignments")

    p = command("demo", help="release, collect, autograde, feedback and export a bundled class")
    p.add_argument("--assignment", action="append",
                   help="only this assignment (repeatable; default: every one in solutions/)")
    return parser


def run(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    progress = not args.quiet
    ws = default_workspace(args.workspace, args.repo, args.db)
    code = _command(args, ws, progress)
    if args.db and code == 0:
        ws.init()  # it worked: nbgrader_config.py names this gradebook from now on (nbgrader's tools too)
    return code


def _print_summary(ws, assignment: str) -> None:
    """The grades table, then the LMS download's files that no roster student claims."""
    from .recording.submissions import unmatched_lines

    print(format_table(read_results(ws, assignment), report.roster_names(ws)))
    for line in unmatched_lines(ws, assignment):
        print(line)


def _mapping(pairs: list[str]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        key, equals, student = pair.rpartition("=")
        if not equals or not key or not student:
            raise pipeline.GradlabError(f"--map takes KEY=STUDENT (e.g. --map anon_x7Yz2=s07), not {pair!r}")
        mapping[key] = student
    return mapping


def _collect(args, ws) -> int:
    """``gradlab collect``: a rejected hand-in is a normal outcome (exit 0, said); a download of
    which nothing matched the roster is not (exit 1)."""
    from .recording import submissions

    pipeline.check_assignment(ws, args.assignment)
    lms_only = [flag for flag, value in (("--times", args.times), ("--map", args.map), ("--drop", args.drop))
                if value]
    if lms_only and not args.roster:
        raise pipeline.GradlabError(f"{', '.join(lms_only)} go with an LMS download and --roster")
    unpacked = None
    if args.roster:
        unpacked, collected = pipeline.collect_download(ws.init(), args.assignment, args.folder, args.roster,
                                                   times=args.times, tz=args.timezone,
                                                   mapping=_mapping(args.map), drop=args.drop)
        print(f"{unpacked.layout} download: {len(unpacked.students)} students matched the roster")
        for student, older in unpacked.duplicates.items():
            print(f"duplicate {student}: kept the latest, set aside {', '.join(older)}")
        for name, why in unpacked.refused.items():
            print(f"refused {name}: {why}")
        for line in submissions.unmatched_lines(ws, args.assignment):
            print(line)
        if unpacked.late:
            print(f"marked late by the LMS: {', '.join(unpacked.late)}")
        unknown = sorted(s for s, when in unpacked.times.items() if when is None)
        if unknown:
            print(f"hand-in time unknown (no late penalty; pass --times to apply one): {', '.join(unknown)}")
        if unpacked.missing:
            print(f"no submission from: {', '.join(unpacked.missing)}")
    else:
        collected = pipeline.collect(ws.init(), args.assignment, args.folder)
    print(collected.summary(args.assignment))
    for student, change in collected.renamed.items():
        print(f"renamed {student}: {change}")
    for student, why in collected.rejected.items():
        print(f"rejected {student}: {why}")
    if collected.rejected:
        print(f"{len(collected.rejected)} hand-in{'s were' if len(collected.rejected) > 1 else ' was'} rejected "
              "(kept in the summary until the student hands in again)")
    if unpacked is not None and not unpacked.students:
        print("nothing in the download matched the roster: check the roster's LMS ids and names, "
              "or map the files with --map", file=sys.stderr)
        return 1
    return 0


def _command(args, ws, progress: bool) -> int:
    if args.command == "release":
        for path in pipeline.release(ws, args.assignments or None):
            print(f"released {path}; student bundle {ws.bundle(path.name)}")
    elif args.command == "collect":
        return _collect(args, ws)
    elif args.command == "autograde":
        pipeline.autograde(ws, args.assignment, args.student, progress=progress,
                           workers=args.workers, sandbox=args.sandbox, force=args.force,
                           scheduler=args.scheduler,   # the closing line, --quiet or not
                           echo=lambda line: print(line, file=sys.stderr))
        _print_summary(ws, args.assignment)
    elif args.command == "status":
        print(format_status(pipeline.status(ws, args.assignments or None)))
    elif args.command == "feedback":
        ws = dataclasses.replace(ws, hidden_test_feedback=args.hidden_tests)
        pages, failed = pipeline.feedback(ws, args.assignment, args.student, progress=progress)
        graded = args.student or [s for s in ws.students(args.assignment)
                                  if ws.autograded(s, args.assignment).is_dir()]
        current = len(graded) - len({p.parent.parent.name for p in pages}) - len(failed)
        print(f"wrote {len(pages)} feedback page{'' if len(pages) == 1 else 's'} under "
              f"{ws.step_root('feedback')}" + (f"; {current} unchanged (same graded notebook and "
                                               "grades as their page)" if current else ""))
        for student, why in failed.items():
            print(f"no feedback for {student}: {why}")
        return 1 if failed else 0
    elif args.command == "export":
        for assignment in args.assignments:
            pipeline.check_assignment(ws, assignment)
        if args.lms:
            if len(args.assignments) != 1:
                raise pipeline.GradlabError("--lms needs one assignment, e.g. "
                                            "gradlab export --lms canvas --roster roster.csv week1")
            out = lms.export_lms(ws, args.assignments[0], args.lms, args.roster, args.to)
            print(f"wrote {out.path}: {len(out.written)} students")
            for student, why in out.left_out.items():
                print(f"left out {student}: {why}")
            if args.lms == "canvas" and not lms.lms_column(ws, args.assignments[0], 0).id:
                print(f"note: no Canvas assignment id for {args.assignments[0]} in {ws.policy_file} "
                      f"([lms.{args.assignments[0]}] title and id): Canvas matches the column by its "
                      "exact title, or creates a new assignment")
        else:
            print(f"wrote {pipeline.export(ws, args.to, args.assignments or None)}")
    elif args.command == "report":
        pipeline.check_assignment(ws, args.assignment)
        path, text = report.write_report(ws, args.assignment)
        print(text)
    elif args.command == "summary":
        pipeline.check_assignment(ws, args.assignment)
        _print_summary(ws, args.assignment)
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
