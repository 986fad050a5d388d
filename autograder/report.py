"""The class report: one self-contained HTML page that tells a teacher what the class got wrong.

Built from graded results alone (``read_results``), so it can be written again at any time:

* score distribution, and points lost per exercise and per test;
* the misconceptions: the hints gradlab.checks raised, most frequent first, each with its count
  and one anonymised example of the message students saw;
* who needs a human look (integrity flags, crashes, timeouts), with the reason;
* grading time per notebook, when the grader recorded it;
* near-identical answers (:mod:`gradlab_grader.similarity`), side by side — a pointer for a
  human, never a penalty;
* across assignments: each student's totals and the class's trend.

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

from .similarity import Pair

STUDENT_PLACEHOLDER = "<student>"


@dataclass
class Misconception:
    code: str                  # gradlab.checks' diagnostic, e.g. "shape"
    count: int                 # failing tests that raised it
    students: int              # distinct students
    exercises: list[str]
    example: str               # one message as a student saw it, with the student's id removed


@dataclass
class ClassReport:
    """The numbers behind the page (tests compare them with the gradebook)."""
    assignment: str
    max_score: float
    scores: dict[str, float]                        # student -> score
    lost_per_exercise: dict[str, float]             # exercise -> points lost over the class
    lost_per_test: dict[str, float]                 # grade_id -> points lost over the class
    misconceptions: list[Misconception]
    review: dict[str, list[str]]                    # student -> reasons for a human look
    seconds: dict[str, float] = field(default_factory=dict)   # student -> grading time
    pairs: list[Pair] = field(default_factory=list)
    totals: dict[str, dict[str, float]] = field(default_factory=dict)  # student -> assignment -> %


def _example(hits) -> str:
    """The most common message of ``hits`` [(student, cell)], preferring one that does not name
    its student; a student's id left in a message is replaced by a placeholder."""
    own = Counter(c.error for s, c in hits if c.error and not re.search(rf"\b{re.escape(s)}\b", c.error))
    if own:
        return own.most_common(1)[0][0]
    named = Counter(re.sub(rf"\b{re.escape(s)}\b", STUDENT_PLACEHOLDER, c.error) for s, c in hits if c.error)
    return named.most_common(1)[0][0] if named else ""


def analyse(results, pairs: list[Pair] | None = None, history: dict[str, list] | None = None) -> ClassReport:
    """The report's numbers for one assignment's ``results`` (SubmissionResult list).

    ``history`` maps other assignment ids to their results, for the across-assignments part."""
    if not any(r.has_score for r in results):
        raise ValueError("no graded submissions to report on; run `gradlab autograde` first")
    assignment = results[0].assignment
    lost_ex, lost_test = Counter(), Counter()
    by_code: dict[str, list] = defaultdict(list)
    for r in results:
        for cell in r.cells:
            missing = cell.max_score - cell.score
            if missing > 0:
                lost_ex[cell.exercise] += missing
                lost_test[cell.grade_id] += missing
                if cell.diagnostic:
                    by_code[cell.diagnostic].append((r.student, cell))
    misconceptions = []
    for code, hits in sorted(by_code.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        misconceptions.append(Misconception(code, len(hits), len({s for s, _ in hits}),
                                            sorted({c.exercise for _, c in hits}), _example(hits)))
    review = {r.student: list(r.problems) for r in results if r.needs_review}
    seconds = {r.student: r.seconds for r in results if getattr(r, "seconds", None)}
    totals: dict[str, dict[str, float]] = defaultdict(dict)
    for name, res in {**(history or {}), assignment: results}.items():
        for r in res:
            totals[r.student][name] = r.percent
    return ClassReport(assignment, max(r.max_score for r in results),
                       {r.student: r.final for r in results if r.has_score}, dict(lost_ex), dict(lost_test),
                       misconceptions, review, seconds, list(pairs or []), dict(totals))


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


def plot_misconceptions(report: ClassReport) -> str:
    items = report.misconceptions[:10][::-1]
    fig, ax = _figure(height=max(2.0, 0.35 * len(items) + 1))
    ax.barh([m.code for m in items], [m.students for m in items], color="0.35")
    ax.set(xlabel="students", title="Most frequent hints (misconceptions)")
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
table { border-collapse: collapse; margin: .5rem 0; } td, th { border: 1px solid #bbb; padding: .2rem .5rem; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; margin: 0; font-size: 13px; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: .5rem; } .pair pre { border: 1px solid #bbb; padding: .4rem; }
figure { margin: .5rem 0; } svg { max-width: 100%; height: auto; }
@media print { h2 { break-after: avoid; } figure, table, .pair { break-inside: avoid; } }
"""


def _table(header, rows) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(
        f'<td class="num">{c:g}</td>' if isinstance(c, (int, float)) else f"<td>{c}</td>" for c in row)
        + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def render(report: ClassReport) -> str:
    """The report as one self-contained HTML page."""
    e = html.escape
    scores = list(report.scores.values())
    n = len(scores)
    sections = [
        f"<h1>Class report: {e(report.assignment)}</h1>",
        f"<p>{n} submissions · mean {statistics.mean(scores):.1f} / {report.max_score:g} · median "
        f"{statistics.median(scores):g} · {sum(s == report.max_score for s in scores)} full marks · "
        f"written {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC</p>",
        '<section id="distribution"><h2>Score distribution</h2>'
        f"<figure>{plot_scores(report)}</figure></section>",
        '<section id="lost"><h2>Points lost per exercise and per test</h2>'
        f"<figure>{plot_lost(report)}</figure>"
        + _table(["test", "points lost (class)", "per student"],
                 [(e(t), round(v, 2), round(v / n, 2)) for t, v in
                  sorted(report.lost_per_test.items(), key=lambda kv: -kv[1])]) + "</section>",
        '<section id="misconceptions"><h2>Most frequent hints: what the class misunderstood</h2>'
        + (f"<figure>{plot_misconceptions(report)}</figure>" + _table(
            ["hint", "failing tests", "students", "exercises", "example (anonymised)"],
            [(e(m.code), m.count, m.students, e(", ".join(m.exercises)), f"<pre>{e(m.example)}</pre>")
             for m in report.misconceptions]) if report.misconceptions else "<p>No hints fired.</p>")
        + "</section>",
        '<section id="review"><h2>Needs a human look</h2>'
        + (_table(["student", "why"], [(e(s), "<br>".join(map(e, why))) for s, why in sorted(report.review.items())])
           if report.review else "<p>Nothing needs a human look.</p>") + "</section>",
        '<section id="timing"><h2>Grading time per notebook</h2>'
        + (f"<figure>{plot_seconds(report)}</figure><p>median {statistics.median(report.seconds.values()):.2f} s, "
           f"slowest {max(report.seconds.values()):.2f} s</p>" if report.seconds
           else "<p>The grader did not record grading times for this run.</p>") + "</section>",
        '<section id="similarity"><h2>Near-identical answers</h2><p>A pointer for a human, never a '
        "penalty: answers that match after renaming, recommenting and reformatting.</p>"
        + ("".join(f"<h3>{e(p.exercise)}: {e(p.a)} ~ {e(p.b)} (score {p.score:.2f})</h3>"
                   f'<div class="pair"><pre>{e(p.a_source)}</pre><pre>{e(p.b_source)}</pre></div>'
                   for p in report.pairs) if report.pairs else "<p>No pair above the threshold.</p>")
        + "</section>",
        '<section id="trend"><h2>Across assignments</h2>'
        f"<figure>{plot_trend(report)}</figure>" + _table(
            ["student", *sorted({a for per in report.totals.values() for a in per})],
            [(e(s), *[round(per.get(a, float("nan")), 1) for a in sorted({a for p in report.totals.values() for a in p})])
             for s, per in sorted(report.totals.items())]) + "</section>",
    ]
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>Class report: "
            f"{e(report.assignment)}</title><style>{CSS}</style></head><body>"
            + "\n".join(sections) + "</body></html>\n")


def summary(report: ClassReport, path=None) -> str:
    """One screen of text: the headline numbers, the top misconceptions, who needs a look."""
    scores = list(report.scores.values())
    lines = [f"class report {report.assignment}" + (f": {path}" if path else ""),
             f"  {len(scores)} submissions, mean {statistics.mean(scores):.1f} / {report.max_score:g}, "
             f"median {statistics.median(scores):g}, {sum(s == report.max_score for s in scores)} full marks"]
    worst = sorted(report.lost_per_exercise.items(), key=lambda kv: -kv[1])[:3]
    if worst:
        lines.append("  most points lost in: " + ", ".join(f"{ex} ({v:g})" for ex, v in worst))
    for m in report.misconceptions[:5]:
        where = ", ".join(m.exercises[:3]) + (f" and {len(m.exercises) - 3} more" if len(m.exercises) > 3 else "")
        lines.append(f"  hint {m.code}: {m.students} student{'s' if m.students != 1 else ''} ({where})")
    if report.review:
        lines.append(f"  needs a human look: {', '.join(sorted(report.review))}")
    if report.pairs:
        lines.append("  near-identical answers: " + ", ".join(f"{p.a}~{p.b}" for p in report.pairs[:5]))
    return "\n".join(lines)


# -- from a workspace --------------------------------------------------------------------------

def class_answers(ws, assignment: str) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """Every collected student's answer cells ({student: {exercise: source}}) and the released
    scaffold of each ({exercise: source}), read from the workspace's notebooks."""
    import nbformat

    from .cells import cells_by_id, is_answer

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


def write_report(ws, assignment: str) -> tuple[Path, str]:
    """Write ``<workspace>/reports/<assignment>.html``; return its path and the text summary."""
    from .results import read_results
    from .similarity import find_similar

    results = read_results(ws, assignment)
    history = {}
    for other in ws.assignments():
        if other != assignment and ws.students(other):
            history[other] = read_results(ws, other)
    answers, scaffold = class_answers(ws, assignment)
    pairs = find_similar(answers, reference=reference_sources(ws), scaffold=scaffold)
    numbers = analyse(results, pairs, history)
    path = ws.root / "reports" / f"{assignment}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".html.partial")
    partial.write_text(render(numbers))
    partial.replace(path)  # atomic: a reader never sees half a page
    return path, summary(numbers, path)
