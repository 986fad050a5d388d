"""The writer: the one process that owns the gradebook prepares work units and records results,
each exactly once, so that a grading run killed at any moment resumes without double counting.

The writer gives the gradebook the assignment's deadline from ``gradlab.toml`` when it opens it,
so every path to a grade meets it.  Recording one submission is, in this order:

1. the executed notebooks and the working files are written to a fresh folder beside
   ``autograded/<s>/<a>/``;
2. nbgrader's ``SaveAutoGrades`` and ``AssignLatePenalties`` (and the other post-execution
   steps of nbgrader's Autograde) run against the gradebook in **one transaction**;
3. the fresh folder replaces ``autograded/<s>/<a>/``;
4. the ledger entry ``ledger/<a>/<s>.json`` (status, score, reasons, fingerprints of the
   submission and the source) is written atomically (temporary file, fsync, rename).

Only step 4 marks the submission done.  A run killed before it leaves the submission pending:
the next ``gradlab autograde`` grades it again, and since nbgrader's grades are *set*, never
added, the gradebook ends exactly as after one recording.  A submission whose files or whose
source changed since its entry is pending again.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

from ..execution import engine
from ..fileio import replace_folder, staging_folder, write_atomically
from ..status import FAILED, GRADED, PENDING, Status, could_not_grade, is_failure
from ..workspace import GradlabError, Workspace


class Ledger:
    """``ledger/<a>/<student>.json``: what grading recorded for each submission of one assignment."""

    def __init__(self, ws: Workspace, assignment: str):
        self.ws, self.assignment = ws, assignment
        self.folder = ws.ledger(assignment)

    def get(self, student: str) -> dict | None:
        try:
            return json.loads((self.folder / f"{student}.json").read_text())
        except (FileNotFoundError, ValueError):
            return None

    def put(self, record: dict) -> None:
        write_atomically(self.folder / f"{record['student']}.json", json.dumps(record, indent=1, sort_keys=True))

    def fingerprints(self, student: str) -> dict[str, str]:
        return {"submission": engine.digest(self.ws.submission(student, self.assignment)),
                "source": self._source_digest()}

    _source_cache: tuple | None = None

    def _source_digest(self) -> str:
        folder = self.ws.source(self.assignment)
        stamp = tuple(sorted((str(p), p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file())) \
            if folder.is_dir() else ()
        if self._source_cache is None or self._source_cache[0] != stamp:
            self._source_cache = (stamp, engine.digest(folder))
        return self._source_cache[1]

    def superseded(self, student: str) -> bool:
        """A grade is recorded, but for other files than those collected now (a resubmission)
        or another source (a re-release): it shows as superseded until graded again."""
        record = self.get(student)
        return record is not None and record.get("fingerprints") != self.fingerprints(student)

    def state(self, student: str) -> Status:
        """GRADED, FAILED or PENDING (never recorded, or its files or the source changed since)."""
        record = self.get(student)
        if record is None or record.get("fingerprints") != self.fingerprints(student):
            return PENDING
        return Status(record["status"])


# lookups of what the release put in the gradebook (the same for every student of a run): asked
# once per cell for each submission by nbgrader's OverwriteCells, answered once per run
_RELEASED_LOOKUPS = frozenset({"find_notebook", "find_source_cell", "find_graded_cell"})


class _SharedGradebook:
    """What nbgrader's preprocessors get when they open a gradebook during recording: the
    writer's own session, so that all of one submission's writes are one transaction."""

    def __init__(self, gb, released: dict):
        self._gb, self._released = gb, released

    def __call__(self, *args, **kwargs):
        return self

    def __getattr__(self, name):
        found = getattr(self._gb, name)
        if name not in _RELEASED_LOOKUPS:
            return found
        answers = self._released.setdefault(name, {})

        def once(*args, **kwargs):   # a MissingEntry is raised each time, never kept
            key = (args, tuple(sorted(kwargs.items())))
            if key not in answers:
                answers[key] = found(*args, **kwargs)
            return answers[key]
        return once

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# every nbgrader preprocessor module that opens a gradebook while a submission is prepared or
# recorded (tests/autograder/test_nbgrader_pin.py scans nbgrader for them)
NBGRADER_MODULES = ("nbgrader.preprocessors.overwritekernelspec", "nbgrader.preprocessors.overwritecells",
                    "nbgrader.preprocessors.saveautogrades", "nbgrader.preprocessors.latesubmissions")


class Writer:
    """Prepares work units and records results for one assignment; owns the gradebook meanwhile."""

    def __init__(self, ws: Workspace, assignment: str, limits: engine.ExecLimits | None = None):
        self.ws, self.assignment = ws, assignment
        self.limits = limits or engine.ExecLimits(cell_timeout=ws.cell_timeout)
        self.ledger = Ledger(ws, assignment)
        self._gb_context = None
        self._released: dict = {}   # nbgrader's lookups of released cells, answered once per run

    def __enter__(self):
        self._gb_context = self.ws.gradebook()
        self.gb = self._gb_context.__enter__()
        config = self.ws.config()
        self._sanitize = engine.sanitize_preprocessors(config)
        self._record = engine.record_preprocessors(config)
        from nbgrader.api import MissingEntry

        try:
            notebooks = self.gb.find_assignment(self.assignment).notebooks
            self.notebooks = [nb.name for nb in notebooks]
            # the ids the release gave each notebook's cells (a cell claiming another is the student's)
            self._known = {nb.name: {cell.name for cell in nb.source_cells} for nb in notebooks}
        except MissingEntry:
            self._gb_context.__exit__(None, None, None)
            raise GradlabError(f"the gradebook at {self.ws.db_name} knows no assignment {self.assignment}: "
                               f"run `gradlab release {self.assignment}` with this gradebook first") from None
        try:  # gradlab.toml's deadline, whichever way the submissions came in
            self.ws.apply_deadlines(self.gb, [self.assignment])
        except BaseException:
            self._gb_context.__exit__(None, None, None)
            raise
        # the instructor's notebooks: how each cell is run while grading (engine.plan_cells)
        sources = {name: self.ws.source(self.assignment) / f"{name}.ipynb" for name in self.notebooks}
        self._sources = {name: nbformat_read(path) for name, path in sources.items() if path.exists()}
        return self

    def __exit__(self, *exc):
        return self._gb_context.__exit__(*exc)

    @contextmanager
    def _shared_session(self):
        """nbgrader's preprocessors use the writer's session; commits wait for the end."""
        import importlib

        shared = _SharedGradebook(self.gb, self._released)
        modules = [importlib.import_module(m) for m in NBGRADER_MODULES]
        saved = [m.Gradebook for m in modules]
        session = self.gb.db
        for m in modules:
            m.Gradebook = shared
        session.commit = session.flush  # one commit at the end, or none
        try:
            yield
            del session.commit
            session.commit()
        except BaseException:
            if "commit" in vars(session):
                del session.commit
            session.rollback()
            raise
        finally:
            for m, original in zip(modules, saved):
                m.Gradebook = original

    # -- prepare --------------------------------------------------------------------------------
    def prepare(self, student: str) -> tuple[engine.WorkUnit, list[str]]:
        """The work unit of ``student``'s submission, and what kept notebooks out of it."""
        folder = self.ws.submission(student, self.assignment)
        notebooks, problems = [], []
        with self._shared_session():
            for name in self.notebooks:
                path = folder / f"{name}.ipynb"
                if not path.exists():
                    continue  # recorded as a zero, as nbgrader does
                try:
                    nb = engine.read_submitted_notebook(path)
                    notebooks.append(engine.prepare_notebook(nb, name, self.assignment, student,
                                                             self.ws.db_url, self._sanitize,
                                                             self._sources.get(name), self._known[name]))
                except engine.PreparationError as exc:
                    problems.append(could_not_grade(f"{exc}; ask the student to re-download and resubmit"))
                except Exception as exc:
                    problems.append(could_not_grade(f"{name}.ipynb: {explain(exc)}"))
        return engine.WorkUnit(self.assignment, student, notebooks, self._files(folder), self.limits), problems

    def _files(self, folder: Path) -> dict[str, bytes]:
        """The working copy's files as nbgrader's autograde lays them out: the submission's own
        files, overwritten by the instructor's non-notebook files (data the tests read)."""
        from nbgrader.utils import find_all_files

        ignore = list(self.ws.coursedir().ignore) + ["*.ipynb"]
        files = {}
        for base in (folder, self.ws.source(self.assignment)):
            for filename in find_all_files(str(base), ignore):
                files[os.path.relpath(filename, base)] = Path(filename).read_bytes()
        return files

    # -- record ---------------------------------------------------------------------------------
    def record(self, unit: engine.WorkUnit, result: engine.UnitResult | None, problems: list[str],
               fingerprints: dict[str, str]) -> dict:
        """Record one submission's result (see the module docstring for the order of writes)."""
        import nbformat

        student = unit.student
        problems, notes = list(problems), []
        dest = self.ws.autograded(student, self.assignment)
        staging = staging_folder(dest)
        try:
            for rel, data in unit.files.items():
                (staging / rel).parent.mkdir(parents=True, exist_ok=True)
                (staging / rel).write_bytes(data)
            with self._shared_session():
                timestamp = self.ws.coursedir().get_existing_timestamp(
                    str(self.ws.submission(student, self.assignment)))
                self.gb.update_or_create_student(student)
                # None when the hand-in time is unknown: no late penalty (an older time is cleared)
                self.gb.update_or_create_submission(self.assignment, student, timestamp=timestamp)
                handed_in = {w.name for w in unit.notebooks}
                executed = {r.name: r for r in (result.notebooks if result else [])}
                for name in self.notebooks:
                    if name in executed and executed[name].notebook:
                        nb = nbformat.reads(executed[name].notebook, as_version=4)
                        resources = {"nbgrader": {"notebook": name, "assignment": self.assignment,
                                                  "student": student, "db_url": self.ws.db_url},
                                     "unique_key": name}
                        try:
                            for pp in self._record:
                                nb, resources = pp(nb, resources)
                        except Exception as exc:  # nbgrader could not score it: this notebook only
                            problems.append(f"could not be graded: {name}.ipynb: {explain(exc)}")
                            self._zero(name, student)
                            continue
                        (staging / f"{name}.ipynb").write_text(nbformat.writes(nb))
                        problems += cell_problems(executed[name])
                        notes += cell_problems(executed[name], scored=False)
                        continue
                    if name in executed:
                        problems.append(could_not_grade(f"{name}.ipynb: {executed[name].error}"))
                    elif name not in handed_in and not (self.ws.submission(student, self.assignment)
                                                        / f"{name}.ipynb").exists():
                        problems.append(f"{name}.ipynb was not handed in: scored 0")
                    self._zero(name, student)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        replace_folder(staging, dest)
        failed = any(map(is_failure, problems))
        flags = self._integrity(student)
        record = {"student": student, "assignment": self.assignment, "status": FAILED if failed else GRADED,
                  "problems": problems, "notes": notes, "flags": flags, "fingerprints": fingerprints,
                  "recorded_at": time.time(),
                  "seconds": round(result.seconds, 3) if result else 0.0,
                  "sandboxed": bool(result and result.sandboxed),
                  "cells": [asdict(c) for r in (result.notebooks if result else []) for c in r.cells
                            if c.status != "ok"]}
        self.ledger.put(record)
        return record

    def _integrity(self, student: str) -> list[str]:
        """What the integrity check finds in the handed-in notebooks (kept for ``gradlab status``)."""
        from .integrity import inspect_submission

        found = []
        for name in self.notebooks:
            released = self.ws.release(self.assignment) / f"{name}.ipynb"
            try:
                submitted = engine.read_submitted_notebook(self.ws.submission(student, self.assignment)
                                                           / f"{name}.ipynb")
                found += inspect_submission(nbformat_read(released), submitted)
            except (OSError, engine.PreparationError):
                continue
        return found

    def _zero(self, notebook: str, student: str) -> None:
        """Every test of a notebook that did not run scores 0 (nbgrader's rule for a missing one)."""
        from nbgrader.api import MissingEntry

        try:
            submitted = self.gb.find_submission_notebook(notebook, self.assignment, student)
        except MissingEntry:
            return
        for grade in submitted.grades:
            grade.auto_score = 0
            grade.needs_manual_grade = False
        self.gb.db.commit()


def nbformat_read(path: Path):
    import nbformat

    return nbformat.read(path, as_version=4)


def cell_problems(result: engine.NotebookResult, scored: bool = True) -> list[str]:
    """What the executor did to cells that did not finish, for a human to read: of the cells a
    score depends on (a review flag), or with ``scored=False`` of the others (a note only)."""
    return problems_of_cells([asdict(c) for c in result.cells], scored)


def problems_of_cells(cells: list[dict], scored: bool = True) -> list[str]:
    """:func:`cell_problems` of cells as the ledger records them (``grade_id``, ``index``,
    ``status``, ``scored``)."""
    found = []
    by_status: dict[str, list[str]] = {}
    for cell in cells:
        if cell["status"] in ("crashed", "timeout", "output-cut", "not-run", "untrusted") \
                and cell.get("scored", True) == scored:
            by_status.setdefault(cell["status"], []).append(cell["grade_id"] or f"cell {cell['index']}")
    words = {"crashed": "cells stopped the kernel (scored 0, the rest still graded)",
             "timeout": "cells ran past the time limit",
             "output-cut": "cells printed past the output limit (cut and interrupted)",
             "not-run": "cells were not run",
             "untrusted": "tests scored 0: the kernel kept the trusted checker from deciding them "
                          "(a call ran past its time limit or sent what could not be read)"}
    for status, ids in by_status.items():
        found.append(f"{words[status]} ({', '.join(ids[:4])}{' …' if len(ids) > 4 else ''})"
                     + ("" if scored else f": {engine.UNSCORED_NOTE}"))
    return found


def explain(exc: BaseException) -> str:
    """``<Name>: <message>`` of an exception, with what it usually means."""
    name = type(exc).__name__
    text = f"{name}: {str(exc).strip() or 'no message'}"
    return f"{text} — {engine.REMEDIES[name]}" if name in engine.REMEDIES else text
