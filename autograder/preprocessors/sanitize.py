"""Student HTML never runs in a feedback page.

A submission's markdown cells and outputs are the student's: raw ``<script>``, ``onerror=``,
``javascript:`` links, ``<iframe srcdoc>``, JavaScript outputs (``application/javascript``) and
widget views would otherwise reach the page whoever opens it.  Run last by ``GenerateFeedback``
(after :class:`RenderMath`, whose MathML it keeps), this preprocessor

* renders each markdown cell to HTML (nbconvert's own renderer, attachments included), cleans it
  with ``nh3`` (the Ammonia sanitizer) and puts it back as one HTML block that the page's
  markdown step passes on unchanged;
* cleans ``text/html`` outputs the same way, turns ``text/markdown`` outputs into cleaned HTML,
  and drops JavaScript and widget outputs (a line says one was there);
* drops the notebook's saved widget state.

What stays: text, headings, lists, tables, code, links (http, https, mailto, fragments), images
(embedded ``data:`` images too) and MathML.  The page also carries a Content-Security-Policy
that forbids scripts (templates/gradlab_feedback), so anything missed here still cannot run.
"""

from __future__ import annotations

import nh3
from jinja2 import pass_context
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
from nbgrader.preprocessors import NbGraderPreprocessor

MATHML_TAGS = {"math", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace", "msup", "msub", "msubsup",
               "mfrac", "msqrt", "mroot", "mover", "munder", "munderover", "mtable", "mtr", "mtd",
               "mstyle", "mpadded", "mphantom", "menclose", "semantics", "annotation"}
MATHML_ATTRIBUTES = {"display", "mathvariant", "stretchy", "fence", "separator", "lspace", "rspace",
                     "accent", "accentunder", "columnalign", "rowalign", "columnspacing", "rowspacing",
                     "width", "height", "depth", "linethickness", "displaystyle", "scriptlevel",
                     "movablelimits", "largeop", "symmetric", "minsize", "maxsize", "notation", "form",
                     "encoding"}
TAGS = set(nh3.ALLOWED_TAGS) | MATHML_TAGS
ATTRIBUTES = {**{tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()},
              **{tag: set(MATHML_ATTRIBUTES) for tag in MATHML_TAGS},
              "*": {"class", "id", "title", "lang", "dir"}}
LINK_SCHEMES = {"http", "https", "mailto"}
SCRIPT_TYPES = ("javascript", "ecmascript", "application/vnd.jupyter.widget")
REMOVED = "[a JavaScript or widget output was here; it does not run in the feedback page]"


def _only_images_embed_data(element: str, attribute: str, value: str) -> str | None:
    """``data:`` URLs only as an image source (an embedded picture), never as a link target."""
    if attribute in ("href", "src", "cite") and value.strip().lower().startswith("data:"):
        return value if (element, attribute) == ("img", "src") and value.strip().lower().startswith("data:image/") \
            else None
    return value


def clean(html: str) -> str:
    """``html`` with everything that could run removed (see the module docstring)."""
    return nh3.clean(html, tags=TAGS, attributes=ATTRIBUTES, url_schemes=LINK_SCHEMES | {"data"},
                     attribute_filter=_only_images_embed_data,
                     clean_content_tags={"script", "style", "iframe", "object", "embed", "template"})


def markdown_to_html(source: str, attachments: dict | None = None) -> str:
    """Markdown as the feedback page renders it (nbconvert's renderer, math left as it is)."""
    renderer = IPythonRenderer(escape=False, attachments=attachments or {}, anchor_link_text="¶")
    return MarkdownWithMath(renderer=renderer).render(source)


@pass_context
def markdown2html_clean(context, source: str) -> str:
    """nbconvert's ``markdown2html`` template filter, cleaned: the instructor's lab puts it in
    place of nbconvert's (``HTMLExporter.filters`` in lab/instructor), since nbgrader's formgrader
    page renders markdown cells with it whatever ``HTMLExporter.sanitize_html`` says."""
    return clean(markdown_to_html(source, context.get("cell", {}).get("attachments")))


def as_html_block(html: str) -> str:
    """Cleaned HTML as markdown that renders to exactly it: one line (a markdown HTML block ends
    at a blank line; a newline in ``<pre>`` is kept as ``&#10;``), inside one ``<div>``."""
    return '<div class="gradlab-cleaned">' + html.replace("\r", "").replace("\n", "&#10;") + "</div>"


class SanitizeHTML(NbGraderPreprocessor):
    """Clean the student's markdown and outputs before the feedback page is written."""

    def preprocess(self, nb, resources):
        nb.metadata.pop("widgets", None)
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type == "markdown":
            cell.source = as_html_block(clean(markdown_to_html(cell.source, cell.get("attachments"))))
            cell.pop("attachments", None)
        elif cell.cell_type == "raw":
            cell.source = clean(cell.source)
        for output in cell.get("outputs", []):
            if "data" in output:
                self._clean_data(output)
        return cell, resources

    @staticmethod
    def _clean_data(output) -> None:
        data, metadata = output["data"], output.get("metadata", {})
        scripts = [mime for mime in data if any(kind in mime for kind in SCRIPT_TYPES)]
        for mime in scripts:
            del data[mime]
        if "text/markdown" in data:
            data["text/html"] = clean(markdown_to_html(data.pop("text/markdown")))
        elif "text/html" in data:
            html = data["text/html"]
            data["text/html"] = clean("".join(html) if isinstance(html, list) else html)
        if isinstance(metadata.get("text/html"), dict):
            metadata["text/html"].pop("isolated", None)  # nbconvert would frame it
        if scripts and not data:
            data["text/plain"] = REMOVED
