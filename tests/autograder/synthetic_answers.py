"""A generated class of honest answers to one exercise, for the similarity check.

Each honest student writes ``numerical_gradient`` their own way: a choice among the usual
ways of each step (copy, accumulate, loop, perturb, divide), personal extras (checks, helper
variables, a helper function), their own names and comments.  Many students share each
choice — as in a real class — but no two share a whole answer except by chance.
"""

from __future__ import annotations

import numpy as np

COPIES = ["{x} = np.array({x0}, dtype=float)",
          "{x} = np.asarray({x0}, dtype=np.float64).copy()",
          "{x} = np.copy({x0}).astype(float)",
          "{x} = np.array({x0}, dtype=np.float64, copy=True)",
          "{x} = {x0} * 1.0",
          "{x} = np.asarray({x0}).astype(np.float64)"]
ACCUMULATORS = ["{g} = np.zeros_like({x})", "{g} = np.zeros({x}.shape)", "{g} = np.empty_like({x})",
                "{g} = np.zeros(np.shape({x}), dtype=float)", "{g} = 0.0 * {x}", "{g} = np.full({x}.shape, 0.0)"]
LOOPS = ["for {i} in np.ndindex({x}.shape):", "for {i} in np.ndindex(*{x}.shape):",
         "for {i} in itertools.product(*[range(n) for n in {x}.shape]):",
         "for {i}, _ in np.ndenumerate({x}):", "for {i} in list(np.ndindex({x}.shape)):"]
PERTURB = [
    ["{old} = {x}[{i}]", "{x}[{i}] = {old} + {h}", "{up} = f({x})", "{x}[{i}] = {old} - {h}",
     "{down} = f({x})", "{x}[{i}] = {old}"],
    ["{e} = np.zeros_like({x})", "{e}[{i}] = {h}", "{up} = f({x} + {e})", "{down} = f({x} - {e})"],
    ["{xp} = {x}.copy()", "{xm} = {x}.copy()", "{xp}[{i}] += {h}", "{xm}[{i}] -= {h}",
     "{up} = f({xp})", "{down} = f({xm})"],
]
DIVIDE = ["{g}[{i}] = ({up} - {down}) / (2 * {h})", "{g}[{i}] = ({up} - {down}) / 2 / {h}",
          "{g}[{i}] = 0.5 * ({up} - {down}) / {h}", "{g}[{i}] = ({up} - {down}) / {twoh}"]
EXTRAS_BEFORE = ["if {h} <= 0:\n        raise ValueError('h must be positive')",
                 "assert callable(f), 'f must be a function'",
                 "{twoh} = 2.0 * {h}",
                 "{n} = {x}.size",
                 "{shape} = {x}.shape",
                 "{count} = 0",
                 "{count} = 0",
                 "if {x}.ndim == 0:\n        {x} = {x}.reshape(1)",
                 "if not np.all(np.isfinite({x})):\n        raise ValueError('x must be finite')",
                 "{log} = []",
                 "{scale} = 1.0 / {h}"]
EXTRAS_INSIDE = ["{count} += 1", "{diff} = {up} - {down}", "{up} = float({up})", "{down} = float({down})",
                 "{log}.append(({i}, {up}, {down}))", "assert np.isfinite({up})",
                 "if not np.isfinite({down}):\n            {down} = 0.0", "{up}, {down} = {down}, {up}"]
NAMES = {"x": ["x", "xc", "xx", "pt", "arr", "z", "work"], "g": ["grad", "g", "out", "result", "dx", "res"],
         "i": ["idx", "i", "k", "ix", "pos", "j"], "h": ["h"], "old": ["old", "saved", "tmp", "keep", "orig"],
         "up": ["f_plus", "fp", "hi", "a", "plus", "right"], "down": ["f_minus", "fm", "lo", "b", "minus", "left"],
         "e": ["e", "step", "delta", "bump"], "xp": ["xp", "x_plus", "up_pt"], "xm": ["xm", "x_minus", "dn_pt"],
         "twoh": ["two_h", "denom", "hh"], "n": ["n", "size", "total"], "shape": ["shape", "shp", "dims"],
         "count": ["calls", "count", "evals"], "diff": ["diff", "d", "gap"], "x0": ["x"],
         "log": ["log", "trace", "seen"], "scale": ["inv_h", "scale"]}
COMMENTS = ["# central difference", "# perturb one entry at a time", "# work on a copy",
            "# (f(x+h) - f(x-h)) / 2h", "# loop over every coordinate", "# restore", "# done"]


def honest_answer(rng: np.random.Generator) -> str:
    """One student's ``numerical_gradient``, drawn from the choices above."""
    names = {key: str(rng.choice(options)) for key, options in NAMES.items()}
    pick = lambda options: options[rng.integers(len(options))]  # noqa: E731
    comment = lambda: f"  {pick(COMMENTS)}" if rng.random() < 0.3 else ""  # noqa: E731
    body = [pick(COPIES) + comment(), pick(ACCUMULATORS)]
    extras = [e for e in EXTRAS_BEFORE if rng.random() < 0.4]
    rng.shuffle(extras)
    divide = pick(DIVIDE)
    if "{twoh}" in divide and "{twoh} = 2.0 * {h}" not in extras:
        extras.append("{twoh} = 2.0 * {h}")
    body[1:1] = extras
    inside = list(pick(PERTURB))
    for extra in EXTRAS_INSIDE:
        if rng.random() < 0.3:
            inside.insert(int(rng.integers(1, len(inside) + 1)), extra)
    inside.append(divide + comment())
    lines = ["def numerical_gradient(f, x, h=1e-5):"]
    if rng.random() < 0.5:
        lines.append(f'    """{pick(["Central differences.", "Numerical gradient.", "My gradient."])}"""')
    lines += ["    " + line for line in body]
    lines.append("    " + pick(LOOPS))
    lines += ["        " + line for line in inside]
    lines.append("    return " + ("{g}" if rng.random() < 0.7 else "{g}.reshape({x}.shape)"))
    if any("itertools" in line for line in lines):
        lines.insert(0, "import itertools")
    return "\n".join(lines).format(**names) + "\n"


def disguise(source: str, rng: np.random.Generator) -> str:
    """What a copier does: rename every variable, reword comments, change the layout."""
    import ast

    from gradlab_grader.outputs.similarity import _bound_names  # the names a copier renames

    tree = ast.parse(source)
    renames = {name: f"{name}_{rng.integers(100, 999)}" for name in _bound_names(tree)
               if name not in {"f", "x", "h", "numerical_gradient"}}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in renames:
            node.id = renames[node.id]
    text = ast.unparse(tree)
    return "# my own work\n" + text.replace("\n", "\n\n", 2) + "\n# checked it twice\n"


def honest_class(n: int, seed: int = 0) -> dict[str, dict[str, str]]:
    rng = np.random.default_rng(seed)
    return {f"s{i:04d}": {"numerical_gradient": honest_answer(rng)} for i in range(n)}
