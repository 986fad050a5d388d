"""Wrong answers made by transforming each solution (negated, doubled, transposed, without
``dout``, without the state written back): no failing test names a cause the answer does not
have, and none shows a raw traceback."""

from __future__ import annotations

import ast
import textwrap
from functools import lru_cache

import pytest

from gradlab import checks
from gradlab_grader.cells import grade_id, is_answer, solution_source

from .harness import _notebook, outcomes

NEUTRAL = {"mismatch", "shape", "type", "none", "nan", "dtype", "error", "assert"}

# transform name -> (the wrapper's body, given `out` = the solution's result and the call's
# arguments `a`, `k`; the diagnostic codes that name this very mistake)
TRANSFORMS = {
    "negated": ("""
if _rule:
    return 2 * np.asarray(a[0], dtype=float) - out[0], out[1]
if isinstance(out, tuple):
    return (-np.asarray(out[0]),) + tuple(out[1:])
return -np.asarray(out)""", {"sign", "known-mistake"}),
    "doubled": ("""
if _rule:
    return np.asarray(a[0], dtype=float) + 2 * (out[0] - np.asarray(a[0], dtype=float)), out[1]
if isinstance(out, tuple):
    return (2 * np.asarray(out[0]),) + tuple(out[1:])
return 2 * np.asarray(out)""", {"factor", "known-mistake"}),
    "transposed": ("""
first = out[0] if isinstance(out, tuple) else out
if np.ndim(first) != 2 or np.shape(first)[0] == np.shape(first)[1] == 1:
    return out
return (np.asarray(first).T,) + tuple(out[1:]) if isinstance(out, tuple) else np.asarray(out).T""",
                   {"shape", "transposed", "known-mistake"}),
}
RULE_ONLY = {"state not written back": ("""
return out[0], ({**a[2], "t": out[1]["t"]} if len(a) > 2 and isinstance(a[2], dict) else out[1])""",
                                        {"state-write", "known-mistake"})}
DOUT_ONLY = {"without dout": ("""
return _orig(np.ones_like(np.asarray(a[0], dtype=float)), *a[1:], **k)""", {"upstream", "known-mistake"})}

NUMERIC = """
def _numeric(out):
    first = out[0] if isinstance(out, tuple) and out else out
    try:
        return np.asarray(first).dtype.kind in "biuf"
    except Exception:
        return False
"""
SKIP = {"07_capstone"}  # its tests train networks for seconds each: graded in tests/notebooks


def _answers():
    for assignment in ("01_derivatives", "02_chain_rule", "03_backprop", "04_optimizers",
                       "05_initialization", "06_batchnorm"):
        for cell in _notebook(assignment).cells:
            if is_answer(cell) and cell.cell_type == "code":
                yield grade_id(cell), solution_source(cell.source)


def _cases():
    for exercise, source in _answers():
        tree = ast.parse(source)
        for node in tree.body:
            if not isinstance(node, ast.FunctionDef):
                continue
            params = [p.arg for p in node.args.args]
            rule = params[:3] == ["w", "dw", "state"]
            transforms = dict(TRANSFORMS)
            if rule:
                transforms.update(RULE_ONLY)
            if params[:1] == ["dout"]:
                transforms.update(DOUT_ONLY)
            for name, (body, codes) in transforms.items():
                wrapper = (NUMERIC + f"\n_orig_{node.name} = {node.name}\n_rule = {rule}\n"
                           f"def {node.name}(*a, **k):\n    _orig = _orig_{node.name}\n"
                           f"    out = _orig(*a, **k)\n    if not _numeric(out):\n        return out\n"
                           + textwrap.indent(body.strip(), "    ") + "\n")
                yield pytest.param(exercise, source + "\n" + wrapper, codes, id=f"{exercise}-{node.name}-{name}")


@lru_cache(maxsize=None)
def _needs_more_than_this_process(exercise):
    """Tests that fail on the solution itself here (they read state a figure cell builds)."""
    source = dict(_answers())[exercise]
    return {gid for gid, shown in outcomes(exercise, source) if shown is not None}


@pytest.mark.parametrize("exercise, source, codes", list(_cases()))
def test_a_transformed_solution_is_never_blamed_on_another_cause(exercise, source, codes):
    for gid, shown in outcomes(exercise, source):
        if shown is None or gid in _needs_more_than_this_process(exercise):
            continue
        assert isinstance(shown, checks.CheckFailure), f"{gid}: a raw {shown!r}"
        assert shown.diagnostic in NEUTRAL | codes, f"{gid}: {shown}"
