"""The class report: one self-contained HTML page that tells a teacher what the class got wrong.

Built from graded results alone (``read_results``), so it can be written again at any time:

* score distribution, and points lost per exercise and per test;
* what the class got wrong: every failing test in exactly one cluster (:func:`cluster_key`),
  most students first, each with its counts and one anonymised example of the message students
  saw — the mistakes the course foresaw and the ones it did not;
* who needs a human look (integrity flags, crashes, timeouts, rejected hand-ins), with the reason;
* grading time per notebook, as the grader recorded it;
* near-identical answers (:mod:`gradlab_grader.outputs.similarity`), side by side — a pointer for a
  human, never a penalty;
* across assignments: each student's totals and the class's trend.

Every number counts the same students as the summary's mean (:func:`results.counted`: current
grades; the others are said, never counted as 0).  Students show as ``Name (id)`` where the
workspace has the roster given at collect (``roster.csv``).

Plots are matplotlib figures embedded as SVG: sharp on screen and in print, no files beside
the page, no scripts, nothing fetched from the network.
"""

from __future__ import annotations

import html
import io
import re
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ..contract import CHECK_CODE
from ..fileio import write_atomically
from .results import counted, display_name, read_results
from .similarity import Pair

STUDENT_PLACEHOLDER = "<student>"
SEPARATOR = " — "  # gradlab.checks' one-line message: "<call>: <problem> — <likely mistake>"


@dataclass
class Cluster:
    """Failing tests that failed the same way (see :func:`cluster_key`)."""
    title: str                          # what went wrong, in a few words
    code: str                           # gradlab.checks' code, the exception's type, or ""
    members: list[tuple[str, str]]      # (student, test) of every failing test in it
    exercises: list[str]
    example: str                        # one message as a student saw it, anonymised
    named: bool = False                 # the checks named the likely mistake (the title says it)

    @property
    def tests(self) -> list[str]:
        return sorted({test for _, test in self.members})

    @property
    def count(self) -> int:
        return len(self.members)

    @property
    def students(self) -> int:
        return len({student for student, _ in self.members})


@dataclass
class ClassReport:
    """The numbers behind the page (tests compare them with the gradebook)."""
    assignment: str
    max_score: float
    scores: dict[str, float]                        # student -> score
    lost_per_exercise: dict[str, float]             # exercise -> points lost over the class
    lost_per_test: dict[str, float]                 # grade_id -> points lost over the class
    clusters: list[Cluster]                         # every failing test, each in one cluster
    review: dict[str, list[str]]                    # student -> reasons for a human look
    seconds: dict[str, float] = field(default_factory=dict)   # student -> grading time
    pairs: list[Pair] = field(default_factory=list)
    totals: dict[str, dict[str, float]] = field(default_factory=dict)  # student -> assignment -> %
    left_out: str = ""                              # " (not counted: 1 rejected)", or ""
    names: dict[str, str] = field(default_factory=dict)  # student -> name, from the roster

    def who(self, student: str) -> str:
        return display_name(student, self.names)


def _anonymised(student: str, message: str) -> str:
    """``message`` with the student's id replaced by a placeholder, up to the likely mistake
    (the checks' own text, whatever the id)."""
    head, separator, hint = message.partition(SEPARATOR)
    return re.sub(rf"\b{re.escape(student)}\b", STUDENT_PLACEHOLDER, head) + separator + hint


def _example(hits: list[tuple[str, str]]) -> str:
    """The most common message of ``hits`` [(student, message)], preferring one that does not
    name its student; else one anonymised."""
    own = Counter(m for s, m in hits if _anonymised(s, m) == m)
    return (own or Counter(_anonymised(s, m) for s, m in hits)).most_common(1)[0][0]


def cluster_key(cell, problems=()) -> tuple[tuple, str, str, str]:
    """``(key, title, code, message)`` of one failing test; tests with one key are one cluster.

    * gradlab.checks named the likely mistake (``<problem> — <hint> (check: <code>)``): its code
      and hint, whatever the test — the same misunderstanding wherever it shows;
    * it gave a code but named no mistake (``mismatch``, a shape it cannot explain): the test
      and the message — the same wrong result of the same call;
    * the test raised something else (``OverflowError: math range error (raised inside
      sigmoid(-1000.0))``): the test and the error line, with the call gradlab.checks notes;
    * no error at all (a cell that did not run, partial credit): the test and the reason among
      the submission's ``problems`` that names it.
    """
    from gradlab.diagnosis import NO_CAUSE  # imported here: importing the report imports no NumPy

    error = cell.error
    code = CHECK_CODE.search(error)
    if code:
        message = error[:code.start()].strip().split(": ", 1)[-1]  # without "<ename>: "
        hint = message.split(SEPARATOR, 1)[1] if SEPARATOR in message else ""
        if hint and not hint.startswith(NO_CAUSE):  # checks named no mistake
            # an error inside the student's code is named by what it raised ("raised OverflowError")
            raised = re.search(r"\braised (\w+)", message) if code[1] == "error" else None
            label = raised[1] if raised else code[1]
            return ("named", label, hint), f"{label}: {hint}", code[1], message
        return ("test", cell.grade_id, message), f"{code[1]} in {cell.grade_id}, no mistake named", code[1], message
    if error:
        ename = error.split(":", 1)[0]
        return ("test", cell.grade_id, error), f"{ename} in {cell.grade_id}", ename, error
    why = next((re.sub(r"\s*\([^()]*\)$", "", p) for p in problems
                if re.search(rf"\b{re.escape(cell.grade_id)}\b", p)), "no error shown")
    return ("test", cell.grade_id, why), f"points lost in {cell.grade_id} without an error", "", why


def clusters_of(results) -> list[Cluster]:
    """Every failing test of ``results`` in exactly one :class:`Cluster`, most students first."""
    groups: dict[tuple, list] = defaultdict(list)
    for r in results:
        for cell in r.cells:
            if cell.score < cell.max_score:
                key, title, code, message = cluster_key(cell, r.problems)
                groups[key].append((r.student, cell, title, code, message))
    clusters = []
    for key, hits in groups.items():
        example = _example([(s, message) for s, *_, message in hits])
        clusters.append(Cluster(hits[0][2], hits[0][3], [(s, c.grade_id) for s, c, *_ in hits],
                                sorted({c.exercise for _, c, *_ in hits}), example, key[0] == "named"))
    return sorted(clusters, key=lambda c: (-c.students, -c.count, c.title))


def analyse(results, pairs: list[Pair] | None = None, history: dict[str, list] | None = None,
            names: dict[str, str] | None = None) -> ClassReport:
    """The report's numbers for one assignment's ``results`` (SubmissionResult list): the
    current grades (:func:`results.counted`); the others are named under "needs a human look".

    ``history`` maps other assignment ids to their results, for the across-assignments part;
    ``names`` maps student ids to names (the roster)."""
    kept, left_out = counted(results)
    if not kept:
        raise ValueError(f"no graded submissions to report on{left_out}; run `gradlab autograde` first")
    assignment = kept[0].assignment
    lost_ex: defaultdict[str, float] = defaultdict(float)   # points lost
    lost_test: defaultdict[str, float] = defaultdict(float)
    for r in kept:
        for cell in r.cells:
            missing = cell.max_score - cell.score
            if missing > 0:
                lost_ex[cell.exercise] += missing
                lost_test[cell.grade_id] += missing
    review = {r.student: list(r.problems) for r in results if r.needs_review}
    totals: dict[str, dict[str, float]] = defaultdict(dict)
    for name, res in {**(history or {}), assignment: results}.items():
        for r in counted(res)[0]:
            totals[r.student][name] = r.percent
    return ClassReport(assignment, max(r.max_score for r in kept),
                       {r.student: r.final for r in kept}, dict(lost_ex), dict(lost_test),
                       clusters_of(kept), review, {r.student: r.seconds for r in kept if r.seconds},
                       list(pairs or []), dict(totals), left_out, dict(names or {}))


# -- plots -------------------------------------------------------------------------------------

def _svg(fig) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def _figure(width=6.4, height=3.0):
    # a bare Figure needs no pyplot and no GUI backend; imported here so that importing the
    # grader stays free of matplotlib's import-time settings
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    ax = fig.add_subplot()
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def plot_scores(report: ClassReport) -> str:
    fig, ax = _figure()
    scores = list(report.scores.values())
    bins = min(20, max(5, int(report.max_score) or 5))
    ax.hist(scores, bins=bins, range=(0, report.max_score or 1), color="0.35", edgecolor="white")
    ax.axvline(statistics.mean(scores), color="black", linestyle="--", linewidth=1,
               label=f"mean {statistics.mean(scores):.1f}")
    ax.set(xlabel=f"score (out of {report.max_score:g})", ylabel="students",
           title="Score distribution")
    ax.legend(frameon=False)
    return _svg(fig)


def plot_lost(report: ClassReport) -> str:
    items = sorted(report.lost_per_exercise.items(), key=lambda kv: kv[1])
    fig, ax = _figure(height=max(2.0, 0.35 * len(items) + 1))
    ax.barh([k for k, _ in items], [v / len(report.scores) for _, v in items], color="0.35")
    ax.set(xlabel="points lost per student, on average", title="Where the points went")
    return _svg(fig)


def _short(text: str, limit: int = 48) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def plot_clusters(report: ClassReport) -> str:
    from matplotlib.ticker import MaxNLocator

    items = report.clusters[:10][::-1]
    fig, ax = _figure(height=max(2.0, 0.35 * len(items) + 1))
    ax.barh([f"{i}. {_short(c.title)}" for i, c in zip(range(len(items), 0, -1), items)],
            [c.students for c in items], color="0.35")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlabel="students", title="What the class got wrong (the most students first)")
    return _svg(fig)


def plot_seconds(report: ClassReport) -> str:
    fig, ax = _figure()
    ax.hist(list(report.seconds.values()), bins=20, color="0.35", edgecolor="white")
    ax.set(xlabel="seconds to grade one notebook", ylabel="notebooks", title="Grading time")
    return _svg(fig)


def plot_trend(report: ClassReport) -> str:
    assignments = sorted({a for per in report.totals.values() for a in per})
    means = [statistics.mean([per[a] for per in report.totals.values() if a in per]) for a in assignments]
    fig, ax = _figure()
    ax.plot(assignments, means, marker="o", color="black")
    ax.set(ylim=(0, 100), ylabel="class mean (%)", title="The class across assignments")
    ax.tick_params(axis="x", rotation=30)
    return _svg(fig)


# -- the page ----------------------------------------------------------------------------------

CSS = """
body { font: 15px/1.45 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #111; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.2rem; border-bottom: 1px solid #999; margin-top: 2rem; }
table { border-collapse: collapse; margin: .5rem 0; }
td, th { border: 1px solid #bbb; padding: .2rem .5rem; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; margin: 0; font-size: 13px; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: .5rem; }
.pair pre { border: 1px solid #bbb; padding: .4rem; }
figure { margin: .5rem 0; } svg { max-width: 100%; height: auto; }
@media print { h2 { break-after: avoid; } figure, table, .pair { break-inside: avoid; } }
"""


def _table(header, rows) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(
        f'<td class="num">{c:g}</td>' if isinstance(c, (int, float)) else f"<td>{c}</td>" for c in row)
        + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _headline(report: ClassReport) -> str:
    """'mean 3.9 / 6 of 7 current grades (not counted: 1 rejected), median 4, 1 full marks'."""
    scores = list(report.scores.values())
    n = len(scores)
    return (f"mean {statistics.mean(scores):.1f} / {report.max_score:g} of {n} current grade"
            f"{'' if n == 1 else 's'}{report.left_out}, median {statistics.median(scores):g}, "
            f"{sum(s == report.max_score for s in scores)} full marks")


def render(report: ClassReport) -> str:
    """The report as one self-contained HTML page."""
    e = html.escape
    n = len(report.scores)
    sections = [
        f"<h1>Class report: {e(report.assignment)}</h1>",
        f"<p>{e(_headline(report))} · written {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC</p>",
        '<section id="distribution"><h2>Score distribution</h2>'
        f"<figure>{plot_scores(report)}</figure></section>",
        '<section id="lost"><h2>Points lost per exercise and per test</h2>'
        f"<figure>{plot_lost(report)}</figure>"
        + _table(["test", "points lost (class)", "per student"],
                 [(e(t), round(v, 2), round(v / n, 2)) for t, v in
                  sorted(report.lost_per_test.items(), key=lambda kv: -kv[1])]) + "</section>",
        '<section id="clusters"><h2>What the class got wrong</h2><p>Every failing test is in '
        "exactly one row: grouped by the likely mistake the checks named, or, where they named none, "
        "by the test and what it raised or returned.</p>"
        + (f"<figure>{plot_clusters(report)}</figure>" + _table(
            ["", "what went wrong", "tests", "failing tests", "students", "exercises", "example (anonymised)"],
            [(i, e(c.title), e(", ".join(c.tests)), c.count, c.students, e(", ".join(c.exercises)),
              f"<pre>{e(c.example)}</pre>") for i, c in enumerate(report.clusters, start=1)])
           if report.clusters else "<p>No test failed.</p>")
        + "</section>",
        '<section id="review"><h2>Needs a human look</h2>'
        + (_table(["student", "why"], [(e(report.who(s)), "<br>".join(map(e, why)))
                                       for s, why in sorted(report.review.items())])
           if report.review else "<p>Nothing needs a human look.</p>") + "</section>",
        '<section id="timing"><h2>Grading time per notebook</h2>'
        + (f"<figure>{plot_seconds(report)}</figure><p>median {statistics.median(report.seconds.values()):.2f} s, "
           f"slowest {max(report.seconds.values()):.2f} s</p>" if report.seconds
           else "<p>The grader did not record grading times for this run.</p>") + "</section>",
        '<section id="similarity"><h2>Near-identical answers</h2><p>A pointer for a human, never a '
        "penalty: answers that match after renaming, recommenting and reformatting.</p>"
        + ("".join(f"<h3>{e(p.exercise)}: {e(report.who(p.a))} ~ {e(report.who(p.b))} (score {p.score:.2f})</h3>"
                   f'<div class="pair"><pre>{e(p.a_source)}</pre><pre>{e(p.b_source)}</pre></div>'
                   for p in report.pairs) if report.pairs else "<p>No pair above the threshold.</p>")
        + "</section>",
        '<section id="trend"><h2>Across assignments</h2>'
        f"<figure>{plot_trend(report)}</figure>" + _table(
            ["student", *sorted({a for per in report.totals.values() for a in per})],
            [(e(report.who(s)), *[round(per.get(a, float("nan")), 1)
                                  for a in sorted({a for p in report.totals.values() for a in p})])
             for s, per in sorted(report.totals.items())]) + "</section>",
    ]
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>Class report: "
            f"{e(report.assignment)}</title><style>{CSS}</style></head><body>"
            + "\n".join(sections) + "</body></html>\n")


SHOWN = 5  # clusters and pairs the text summary names; the page has them all


def summary(report: ClassReport, path=None) -> str:
    """One screen of text: the headline numbers, what most students got wrong, who needs a look,
    which students' answers look alike and in which exercises."""
    lines = [f"class report {report.assignment}" + (f": {path}" if path else ""), f"  {_headline(report)}"]
    worst = sorted(report.lost_per_exercise.items(), key=lambda kv: -kv[1])[:3]
    if worst:
        lines.append("  most points lost in: " + ", ".join(f"{ex} ({v:g})" for ex, v in worst))
    if report.clusters:
        more = len(report.clusters) - SHOWN
        lines.append(f"  what went wrong ({len(report.clusters)} kinds"
                     + (f"; {more} more in the report" if more > 0 else "") + "):")
    for c in report.clusters[:SHOWN]:
        what = c.title if c.named else f"{c.title}: {c.example}"
        lines.append(f"    {c.students} student{'s' if c.students != 1 else ''}: {_short(what, 110)}")
    if report.review:
        lines.append(f"  needs a human look: {', '.join(map(report.who, sorted(report.review)))}")
    if report.pairs:
        where: dict[tuple[str, str], list[str]] = defaultdict(list)
        for p in report.pairs:
            where[p.a, p.b].append(p.exercise)
        shown = [f"{report.who(a)} ~ {report.who(b)} ({', '.join(sorted(set(ex)))})"
                 for (a, b), ex in list(where.items())[:SHOWN]]
        more = len(where) - SHOWN
        lines.append("  near-identical answers: " + ", ".join(shown) + (f" and {more} more pairs" if more > 0 else ""))
    return "\n".join(lines)


# -- from a workspace --------------------------------------------------------------------------

def class_answers(ws, assignment: str) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """Every collected student's answer cells ({student: {exercise: source}}) and the released
    scaffold of each ({exercise: source}), read from the workspace's notebooks."""
    import nbformat

    from ..cells import cells_by_id, is_answer

    scaffold = {}
    for path in sorted(ws.release(assignment).glob("*.ipynb")):
        scaffold.update({gid: c.source for gid, c in cells_by_id(nbformat.read(path, as_version=4)).items()
                         if is_answer(c)})
    answers = {}
    for student in ws.students(assignment):
        cells = {}
        for path in sorted(ws.submission(student, assignment).glob("*.ipynb")):
            try:
                notebook = nbformat.read(path, as_version=4)
            except Exception:  # a broken file was reported at collect; nothing to compare
                continue
            cells.update({gid: c.source for gid, c in cells_by_id(notebook).items()
                          if is_answer(c) and gid in scaffold})
        answers[student] = cells
    return answers, scaffold


def reference_sources(ws) -> dict[str, str]:
    """The reference library's functions: every package under the course's ``lib/``."""
    from .similarity import reference_functions

    found = {}
    for package in sorted(p for p in (ws.repo / "lib").glob("*") if (p / "__init__.py").exists()):
        found.update(reference_functions(package))
    return found


def _notebook_bytes(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.glob("*.ipynb"))}




def roster_names(ws) -> dict[str, str]:
    """Student id -> name from the workspace's roster (``{}`` without one, or for a roster that
    cannot be read: the ids are shown then)."""
    from .lms import RosterError, read_roster

    path = ws.roster
    if not path.is_file():
        return {}
    try:
        return {s.id: s.name for s in read_roster(path) if s.name}
    except RosterError:
        return {}


def write_report(ws, assignment: str) -> tuple[Path, str]:
    """Write ``<workspace>/reports/<assignment>.html``; return its path and the text summary."""
    from .similarity import find_similar, identical_files

    results = read_results(ws, assignment)
    history = {}
    for other in ws.assignments():
        if other != assignment and ws.students(other):
            history[other] = read_results(ws, other)
    answers, scaffold = class_answers(ws, assignment)
    pairs = find_similar(answers, reference=reference_sources(ws), scaffold=scaffold)
    pairs += identical_files({s: _notebook_bytes(ws.submission(s, assignment)) for s in ws.students(assignment)},
                             _notebook_bytes(ws.release(assignment)))
    numbers = analyse(results, pairs, history, roster_names(ws))
    path = ws.report(assignment)
    write_atomically(path, render(numbers))  # a reader never sees half a page
    return path, summary(numbers, path)
