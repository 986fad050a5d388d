"""Render the LaTeX of markdown cells to MathML when feedback is written.

nbconvert's HTML loads MathJax from the internet when the page is viewed, so offline a student
sees raw ``$\\frac{f(x+h)-f(x)}{h}$``.  This preprocessor, run by ``GenerateFeedback``, turns
``$…$`` and ``$$…$$`` in markdown cells into MathML with ``latex2mathml``; browsers draw MathML
themselves, so the page needs nothing from the network.  Code spans and fenced code are left
as written; a formula ``latex2mathml`` cannot read stays as its LaTeX source.
"""

import html
import re

from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Bool

CODE = re.compile(r"```.*?```|~~~.*?~~~|`[^`\n]*`", re.S)
# $$display$$, or $inline$: may wrap onto the next line of its paragraph, never across a blank line
MATH = re.compile(r"\$\$(.+?)\$\$|(?<![\\$])\$(?![\s$])((?:[^$\n]|\n(?![ \t]*\n))+?)(?<![\s\\])\$", re.S)


def to_mathml(tex: str, display: bool) -> str:
    """One formula as MathML on one line (a line break would end a markdown paragraph).  HTML
    puts ``<math>`` in the MathML namespace by itself; without an ``xmlns`` attribute the
    heading anchors nbconvert adds (through ElementTree) leave it as written."""
    from latex2mathml.converter import convert

    mathml = convert(tex.strip(), display="block" if display else "inline").replace("\n", "")
    return mathml.replace(' xmlns="http://www.w3.org/1998/Math/MathML"', "")


class RenderMath(NbGraderPreprocessor):
    """Replace LaTeX math in markdown cells with MathML."""

    enabled = Bool(True, help="Render math to MathML (False: leave the LaTeX as written).").tag(config=True)

    def preprocess_cell(self, cell, resources, cell_index):
        if self.enabled and cell.cell_type == "markdown" and "$" in cell.source:
            cell.source = self.render(cell.source)
        return cell, resources

    @staticmethod
    def render(source: str) -> str:
        def formula(match):
            display = match.group(1) is not None
            tex = match.group(1) if display else match.group(2)
            try:
                return to_mathml(html.unescape(tex), display)
            except Exception:  # latex2mathml's errors have no common base: keep the source
                return match.group(0)

        pieces, last = [], 0
        for code in CODE.finditer(source):  # math inside code is code
            pieces += [MATH.sub(formula, source[last:code.start()]), code.group(0)]
            last = code.end()
        pieces.append(MATH.sub(formula, source[last:]))
        return "".join(pieces)
