"""Nothing of a student's runs in their feedback page: each known way in, through the outputs of
their code and through their markdown, is cleaned away, the page forbids scripts, and the page's
own math and styles still render."""

from __future__ import annotations

import re

import nbformat
import pytest
from nbformat.v4 import new_markdown_cell

from gradlab_grader import Workspace, pipeline
from gradlab_grader.preprocessors.sanitize import SanitizeHTML, clean

from .conftest import answer, write_inbox

pytestmark = pytest.mark.kernel   # grades, or starts kernels (make test-fast leaves it out)

# each attack sets document.title (or a window flag) when it runs: a browser test checks that none did
ATTACKS_HTML = ('<img src=x onerror="document.title=\'pwned-onerror\'">'
                "<script>document.title='pwned-script'</script>"
                "<a href=\"javascript:document.title='pwned-link'\">a link</a>"
                "<iframe srcdoc=\"<script>parent.document.title='pwned-srcdoc'</script>\"></iframe>"
                "<svg><script>document.title='pwned-svg'</script></svg>"
                "<b>kept bold</b>")
ANSWER = ("from IPython.display import HTML, Javascript, Markdown, display\n"
          f"display(HTML({ATTACKS_HTML!r}))\n"
          "display(Javascript(\"document.title='pwned-js'\"))\n"
          "display(Markdown(\"<script>document.title='pwned-md-output'</script>**md bold**\"))\n"
          "def double(x):\n    return 2.0 * np.asarray(x, dtype=float)")
MARKDOWN = ("## My notes $\\frac{\\partial L}{\\partial w}$\n\n"
            "<img src=x onerror=\"document.title='pwned-md-onerror'\">\n\n"
            "[click me](javascript:document.title='pwned-md-link') and <script>document.title='pwned-md'</script>\n\n"
            "```python\nif a < b:\n\n    pass\n```\n")
RUNS = ("<script", "onerror", "javascript:", "srcdoc", "<iframe", "pwned-js")


def test_clean_keeps_text_math_and_images_and_drops_what_runs():
    out = clean(ATTACKS_HTML + '<math display="block"><mi>x</mi></math><img src="data:image/png;base64,AAAA">'
                '<a href="data:text/html,<script>x</script>">d</a><a href="#top">top</a>')
    assert not [w for w in RUNS if w in out.lower()], out
    assert "<b>kept bold</b>" in out and '<math display="block"><mi>x</mi></math>' in out
    assert '<img src="data:image/png;base64,AAAA">' in out and 'href="#top"' in out
    assert "data:text/html" not in out


def test_preprocessor_cleans_markdown_and_every_output_kind():
    nb = nbformat.v4.new_notebook()
    nb.cells = [new_markdown_cell(MARKDOWN), nbformat.v4.new_code_cell("x", outputs=[
        nbformat.v4.new_output("display_data", data={"text/html": ATTACKS_HTML, "text/plain": "<HTML>"}),
        nbformat.v4.new_output("display_data", data={"application/javascript": "document.title='pwned-js'"}),
        nbformat.v4.new_output("display_data", data={"text/markdown": "<script>x</script>\n\n**b**"}),
        nbformat.v4.new_output("display_data", data={"text/html": "<b>iso</b>"},
                               metadata={"text/html": {"isolated": True}})])]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    nb, _ = SanitizeHTML().preprocess(nb, {})
    markdown, code = nb.cells
    assert "\n" not in markdown.source and markdown.source.startswith('<div class="gradlab-cleaned">')
    assert ":</span>&#10;&#10;    <span class=\"k\">pass" in markdown.source, "code keeps its blank line"
    html, js, md, iso = code.outputs
    assert not [w for w in RUNS if w in (markdown.source + html.data["text/html"]).lower()]
    assert js.data == {"text/plain": "[a JavaScript or widget output was here; it does not run in the feedback page]"}
    assert list(md.data) == ["text/html"] and "<strong>b</strong>" in md.data["text/html"]
    assert "<script" not in md.data["text/html"]
    assert "isolated" not in iso.metadata["text/html"] and "widgets" not in nb.metadata


@pytest.fixture(scope="module")
def page_of_attacks(released, tmp_path_factory):
    """A graded submission whose answer displays every attack and whose notes hold them too."""
    root = tmp_path_factory.mktemp("safety")
    ws = Workspace(root / "ws", repo=released.repo)
    pipeline.release(ws, ["toy"], course=root / "course", bundles=False)
    nb = answer(released, ANSWER)
    nb.cells.insert(2, new_markdown_cell(MARKDOWN))
    pipeline.collect(ws, "toy", write_inbox(root / "in", {"mallory": nb}))
    pipeline.autograde(ws, "toy", progress=False, sandbox=False)
    pages, failed = pipeline.feedback(ws, "toy", progress=False)
    assert not failed and len(pages) == 1
    graded = ws.autograded("mallory", "toy") / "toy.ipynb"
    return pages[0], graded


def test_feedback_page_holds_nothing_that_runs(page_of_attacks):
    page, graded = page_of_attacks
    raw = graded.read_text()
    assert "pwned-js" in raw and "onerror" in raw, "the attacks reached the graded notebook"
    html = page.read_text()
    head = html[:html.index("</head>")]
    meta = re.search(r'<meta[^>]*http-equiv="Content-Security-Policy"[^>]*>', head)
    csp = re.search(r'content="([^"]+)"', meta.group(0)).group(1) if meta else ""
    assert "default-src 'none'" in csp and "script-src" not in csp, "scripts fall back to 'none'"
    assert html.index("Content-Security-Policy") < min([m.start() for m in re.finditer("<script", html)] or [len(html)])
    body = html[html.index("<body"):]
    for word in ("pwned-onerror", "pwned-script", "pwned-link", "pwned-srcdoc", "pwned-svg", "pwned-js",
                 "pwned-md-output", "pwned-md-onerror", "pwned-md-link"):
        assert not re.search(rf"<[^>]*{word}|<script[^>]*>[^<]*{word}", body), word
    assert not re.search(r"<script(?![^>]*application/(vnd\.jupyter|json))", body), "no script element at all"
    assert "<math" in body and "kept bold" in body and "md bold" in body
