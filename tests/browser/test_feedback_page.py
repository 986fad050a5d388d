"""A feedback page of a submission full of attacks, opened in a real Chromium: nothing of the
student's ran, the page asked for nothing outside itself, and its math and styles render."""

from __future__ import annotations

import pytest
from autograder.conftest import released, toy_repo  # noqa: F401  (fixtures)
from autograder.test_feedback_safety import page_of_attacks  # noqa: F401  (fixture)

pytestmark = pytest.mark.browser

# what could still run, counted in the page's DOM (independent of when an event would fire)
# (scripts: none at all in a feedback page; none holding the student's text in the formgrader)
LIVE_ATTACKS = ("() => document.querySelectorAll('[onerror], iframe, [srcdoc], "
                "a[href^=\"javascript:\" i]').length")


def test_attacks_do_not_run_and_math_and_styles_render(page_of_attacks, page, artifacts):  # noqa: F811
    html, _ = page_of_attacks
    requests, dialogs = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(html.as_uri())
    page.wait_for_load_state("load")
    for link in page.locator("a", has_text="a link").all() + page.locator("a", has_text="click me").all():
        link.click()  # a javascript: link that survived would run now
    assert page.title() == "toy", "a student's script changed the page"
    assert page.evaluate(LIVE_ATTACKS) == 0
    assert page.evaluate("() => document.scripts.length") == 0
    assert dialogs == []
    # the page's own math: MathML laid out by the browser, not raw LaTeX
    boxes = page.evaluate("() => [...document.querySelectorAll('math')].map(m => m.getBoundingClientRect().width)")
    assert boxes and all(w > 5 for w in boxes), boxes
    assert "\\frac" not in page.inner_text("body")
    # the page's own styles: nbgrader's (body 14px) and gradlab's (wrapped output)
    assert page.evaluate("() => getComputedStyle(document.body).fontSize") == "14px"
    assert page.evaluate("() => getComputedStyle(document.querySelector('div.output_subarea pre') || "
                         "document.body).whiteSpace") in ("pre-wrap", "normal")
    assert "kept bold" in page.inner_text("body") and "md bold" in page.inner_text("body")
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
    # the student's <img src=x> is refused by the policy; nothing of the page's own is (bootstrap's
    # icon font is not shipped beside the page: it never loaded, with or without the policy)
    violations = [e for e in page.errors_seen if "Content Security Policy" in e and "/toy/x'" not in e
                  and "glyphicons-halflings" not in e]
    assert violations == [], violations
    page.screenshot(path=str(artifacts / "feedback-attacks.png"), full_page=True)


def test_formgrader_of_lab_instructor_works_offline(page_of_attacks, page, monkeypatch):  # noqa: F811
    """make lab-instructor's formgrader on a graded workspace: no exchange banner, no
    "Unwritable directory", the student's math typeset by MathJax from this server, none of the
    student's HTML run, and the gradebook's flag shown (the submission imports IPython: a flag)."""
    from pathlib import Path

    from gradlab_grader import Workspace

    from browser import harness

    html, graded = page_of_attacks
    root = graded.parents[3]
    repo = Path(__file__).resolve().parents[2]
    ws = Workspace(root, repo=repo)
    with ws.gradebook() as gb:
        notebook = gb.find_submission_notebook("toy", "toy", "mallory")
        submission_id, flagged = notebook.id, notebook.flagged
    assert flagged, "autograde set nbgrader's flag"
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    monkeypatch.setenv("JUPYTER_PATH", str(repo / "lab" / "instructor" / "share"))  # as the Makefile
    with harness.jupyter_lab(root, config_path=repo / "lab" / "instructor", cwd=root) as lab:
        page.goto(f"{lab.url}/formgrader/manage_assignments/?token={lab.token}")
        page.wait_for_selector("#main-table, table", timeout=60_000)
        assert page.locator("#warning-exchange").count() == 0
        # what the Manual Grading table's "Flagged?" column shows
        (row,) = lab.api("/formgrader/api/submitted_notebooks/toy/toy")
        assert row["student"] == "mallory" and row["flagged"] is True
        page.goto(f"{lab.url}/formgrader/submissions/{submission_id}/?token={lab.token}")
        page.wait_for_function("() => document.querySelector('.MathJax, .MathJax_CHTML, mjx-container')",
                               timeout=60_000)
        # the student's HTML does not run in the instructor's lab either (it could call the
        # server's API as the instructor): nbconvert's sanitizer is on for the formgrader
        assert "pwned" not in page.title(), page.title()
        assert page.evaluate(LIVE_ATTACKS) == 0
        for link in page.locator("a", has_text="a link").all() + page.locator("a", has_text="click me").all():
            link.click()
        assert "pwned" not in page.title() and page.locator("iframe").count() == 0
        assert page.evaluate("() => [...document.scripts].filter(s => s.textContent.includes('pwned')).length") == 0
        log = lab.server_log(200_000)
    assert "Unwritable directory" not in log, log[-2000:]
    assert [u for u in requests if not u.startswith(lab.url)] == [], "nothing from the internet"
