"""Why a result is wrong: probes that isolate one ingredient, and relations to the reference.

:func:`gradlab.checks.compare` calls :func:`explain` only when a value check has failed, so a
right answer costs nothing here.  ``explain`` runs the student's function and the reference on
a few *probes* — the failing call, the same inputs rescaled entry by entry (twice), a batch of
one and of two (leading axis cut), and the inputs with every third entry set to 0 — and looks,
on the first result that differs (``affine_backward(...) → dw``), for

* a **relation** to the reference that holds exactly on every probe (:data:`RELATIONS`):
  negated, transposed, scaled by a named quantity of the problem (N, N − 1, 2, ½, η, a bias
  correction 1/(1 − β^t) …), shifted by one step, equal to an input unchanged, a reduction of an
  input over the other axis, computed on the forward value instead of the input;
* an **ingredient** that fails in isolation (:func:`_backward_ingredients`,
  :func:`_update_ingredients`): is ``dout`` multiplied in, is the result linear in ``dout``, do
  the results differ only where an input is 0 (the side of a mask), is the state read and
  written back, is ``t`` advanced once, does ``lr = 0`` leave ``w`` where it is.

A cause is named only when it holds on every probe; otherwise the message says so ("no single
cause found") and shows the first difference on the smallest input that fails.  A relation that
holds on one input by coincidence (a factor 2 on a single number) is never named.

Exceptions raised inside the student's code become one message too (:func:`student_error`):
what was called, which line of their cell raised what, and what that error usually means.
"""

from __future__ import annotations

import copy
import inspect
import linecache
import re
import traceback
from dataclasses import dataclass, field

import numpy as np

SIGN_FLIP = "a sign flip (a step along +∇ instead of −∇, y − t written t − y, a minus sign dropped)?"
RTOL, ATOL = 1e-6, 1e-9  # a relation must hold to this (the reference itself agrees to 1e-12)


# ---------------------------------------------------------------------------------------------
# naming the parts of a result
# ---------------------------------------------------------------------------------------------

_RETURNS = re.compile(r"^\s*Returns[^\n]*:\s*\n((?:\s*-\s*[A-Za-z_]\w*\s*:.*\n?)+)", re.M)

NO_CAUSE = "no single cause found"  # what a failing check says when no relation holds on every probe



def return_names(fn) -> tuple[str, ...] | None:
    """The names of ``fn``'s results, from its docstring's ``Returns:`` block
    (``- dx: …`` lines), or None."""
    doc = inspect.getdoc(fn) or ""
    match = _RETURNS.search(doc)
    if not match:
        return None
    names = tuple(re.findall(r"^\s*-\s*([A-Za-z_]\w*)\s*:", match.group(1), re.M))
    return names if len(names) >= 2 else None


def path_label(path: tuple, names: tuple[str, ...] | None) -> str:
    """``(1,)`` -> ``→ dw``; ``(1, 'v')`` -> ``→ state["v"]``; ``(0, 1)`` -> ``[0][1]``."""
    if not path:
        return ""
    parts, rest = [], list(path)
    if names and isinstance(rest[0], int) and rest[0] < len(names):
        parts.append(f" → {names[rest.pop(0)]}")
    for key in rest:
        parts.append(f'["{key}"]' if isinstance(key, str) else f"[{key}]")
    return "".join(parts)


def get_path(value, path: tuple):
    for key in path:
        value = value[key]
    return value


# ---------------------------------------------------------------------------------------------
# probes: the failing call and a few variations of its inputs
# ---------------------------------------------------------------------------------------------

@dataclass
class Probe:
    label: str            # how a message names this input ("a batch of 1", …)
    args: tuple
    kwargs: dict
    expected: object = None
    got: object = None
    error: BaseException | None = None
    extra: dict = field(default_factory=dict)


def _map_floats(obj, fn):
    """``obj`` with every float array (and plain float) inside tuples, lists and dicts mapped."""
    if isinstance(obj, np.ndarray) and obj.dtype.kind == "f":
        return fn(obj)
    if isinstance(obj, float) and not isinstance(obj, bool):
        return float(fn(np.array(obj)))
    if isinstance(obj, tuple):
        return tuple(_map_floats(o, fn) for o in obj)
    if isinstance(obj, list):
        return [_map_floats(o, fn) for o in obj]
    if isinstance(obj, dict):
        return {k: _map_floats(v, fn) for k, v in obj.items()}
    return obj


def _leading(args) -> int | None:
    """The batch size N: the leading length of the first array of two or more dimensions."""
    for a in _leaves(args):
        if isinstance(a, np.ndarray) and a.ndim >= 2:
            return a.shape[0]
    return None


def _cut(obj, n: int, N: int):
    """Every array whose leading axis has length N cut to its first n rows."""
    if isinstance(obj, np.ndarray) and obj.ndim >= 1 and obj.shape[0] == N:
        return obj[:n].copy()
    if isinstance(obj, tuple):
        return tuple(_cut(o, n, N) for o in obj)
    if isinstance(obj, list):
        return [_cut(o, n, N) for o in obj]
    if isinstance(obj, dict):
        return {k: _cut(v, n, N) for k, v in obj.items()}
    return obj


def _leaves(obj):
    if isinstance(obj, (tuple, list)):
        for o in obj:
            yield from _leaves(o)
    elif isinstance(obj, dict):
        for o in obj.values():
            yield from _leaves(o)
    else:
        yield obj


def make_probes(args: tuple, kwargs: dict, seed: int = 20) -> list[Probe]:
    """The failing call first, then its variations (positional inputs only: hyperparameters
    passed by keyword stay as they are)."""
    rng = np.random.default_rng(seed)
    probes = [Probe("the test's input", args, kwargs)]
    for i in range(2):  # every entry rescaled on its own: signs kept (v ≥ 0, masks), values new
        scale = lambda a: a * rng.uniform(0.6, 1.4, size=np.shape(a))
        probes.append(Probe(f"rescaled input {i + 1}", _map_floats(copy.deepcopy(args), scale), kwargs))
    N = _leading(args)
    if N and N > 2:
        for n in (1, 2):
            probes.append(Probe(f"a batch of {n}", _cut(copy.deepcopy(args), n, N), kwargs))

    def zeros(a):
        if np.ndim(a) == 0:      # a step size, a learning rate: kept
            return a
        b = np.array(a, dtype=float)
        b.reshape(-1)[::3] = 0.0
        return b
    probes.append(Probe("the input with every third entry 0", _map_floats(copy.deepcopy(args), zeros), kwargs))
    return probes


def run(fn, probe: Probe, *, swap: dict | None = None):
    """``fn`` on a copy of the probe's inputs (``swap``: keyword arguments replaced)."""
    kwargs = {**probe.kwargs, **(swap or {})}
    return fn(*copy.deepcopy(probe.args), **copy.deepcopy(kwargs))


# ---------------------------------------------------------------------------------------------
# relations between the student's value s and the reference's value r, checked on every probe
# ---------------------------------------------------------------------------------------------

def close(a, b) -> bool:
    try:
        a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    except (TypeError, ValueError):
        return False
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=RTOL, atol=ATOL))


def _nontrivial(r) -> bool:
    try:
        return bool(np.any(np.abs(np.asarray(r, dtype=float)) > 1e-9))
    except (TypeError, ValueError):
        return False


@dataclass
class Quantity:
    """A named quantity of the problem: a factor the answer may be off by."""
    label: str                 # "N (the batch size)"
    value: object              # probe -> float (or None: not defined for this probe)
    cause: str                 # the mistake when the result is this quantity times the reference
    inverse_cause: str | None = None  # when it is the reference divided by it


def standard_quantities(names) -> list[Quantity]:
    """Quantities every problem has (2, ½), the batch size when inputs have one, and
    hyperparameters of an update rule by their names (η, the bias corrections of Adam)."""
    qs = [Quantity("2", lambda p: 2.0, "a missing ½, or a 2 too many",
                   "a missing factor 2, or an extra ½")]
    qs.append(Quantity("N (the batch size)", lambda p: _leading(p.args),
                       "a sum over the N examples where their mean (1/N) was expected",
                       "a mean over the N examples (1/N) where their sum was expected"))
    qs.append(Quantity("N − 1", lambda p: (_leading(p.args) or 0) - 1 or None,
                       "dividing by N − 1 where N was expected", "dividing by N − 1 where N was expected"))
    return qs


def _holds(runs, component, relation) -> bool:
    """``relation(s, r, probe)`` on every probe where the reference's value is not all zeros;
    at least two such probes, and never an error or a missing value."""
    seen = 0
    for probe in runs:
        if probe.error is not None:
            return False
        try:
            r, s = component(probe, probe.expected), component(probe, probe.got)
        except Exception:
            return False
        if not _nontrivial(r):
            continue
        try:
            if not relation(s, r, probe):
                return False
        except Exception:
            return False
        seen += 1
    return seen >= 2


@dataclass
class Finding:
    problem: str      # what holds, as a fact ("−1× the expected value on every input tried")
    hint: str         # the usual cause
    code: str         # the diagnostic code


def relations(runs, component, what: str, quantities: list[Quantity], inputs: list[tuple[str, object]]):
    """The first relation of the catalogue that holds on every probe, as a Finding, or None."""
    def found(rel, hint, code):
        return Finding(f"{what} is {rel} on every input tried", hint, code)

    if _holds(runs, component, lambda s, r, p: close(s, -np.asarray(r))):
        return found("−1× the expected value", SIGN_FLIP, "sign")
    def first_step_negated(s, r, p):   # a trajectory: the same start, the first step reversed
        s, r = np.asarray(s, dtype=float), np.asarray(r, dtype=float)
        return (r.ndim >= 1 and len(r) >= 2 and s.shape == r.shape and close(s[0], r[0])
                and _nontrivial(r[1] - r[0]) and close(s[1] - s[0], -(r[1] - r[0])))
    if _holds(runs, component, first_step_negated):
        return Finding("the first step is −1× the expected step on every input tried",
                       "the step goes uphill: descent moves against the gradient, θ ← θ − η ∇L", "sign")
    if _holds(runs, component, lambda s, r, p: np.ndim(r) == 2 and close(s, np.asarray(r).T)):
        return found("the transpose of the expected value", "the factors of a product in the "
                     "wrong order (Xᵀ·δ, not δᵀ·X)?", "transposed")
    def root_of(s, r, p):      # never a coincidence of 0 and 1 alone: some entry away from both
        r = np.asarray(r, dtype=float)
        return bool(np.all(r >= 0)) and bool(np.any(np.abs(r - 1) > 1e-3) & np.any(r > 1e-9)) and close(s, np.sqrt(r))
    if _holds(runs, component, root_of):
        return found("the square root of the expected value", "a square root too many: the value itself is "
                     "expected (np.sqrt applied before it was stored or returned?)", "root")
    if _holds(runs, component, lambda s, r, p: root_of(r, s, p) if np.all(np.asarray(s, dtype=float) >= 0) else False):
        return found("the square of the expected value", "a square where the value itself is expected "
                     "(a square root missing?)", "root")
    for q in quantities:
        def times(s, r, p, q=q, power=1):
            v = q.value(p)
            return v not in (None, 0) and close(s, np.asarray(r, dtype=float) * float(v) ** power)
        values = []
        for p in runs:
            try:
                values.append(q.value(p))
            except Exception:
                values.append(None)
        if sum(v not in (None, 1) for v in values) < 2:   # a factor of 1 proves nothing
            continue
        if _holds(runs, component, times):
            return found(f"{q.label} × the expected value", q.cause, "factor")
        if _holds(runs, component, lambda s, r, p, q=q: times(s, r, p, q, -1)):
            return found(f"the expected value ÷ {q.label}", q.inverse_cause or q.cause, "factor")
    for label, pick in inputs:
        if _holds(runs, component, lambda s, r, p, pick=pick: close(s, pick(p)) and not close(r, pick(p))):
            return found(f"equal to the input `{label}` unchanged", f"`{label}` returned as it came "
                         "in: the computation is missing (or its result not returned)", "unchanged")
        for axis in (0, 1):
            for how, reduce in (("summed", np.sum), ("averaged", np.mean)):
                def reduced(s, r, p, pick=pick, axis=axis, reduce=reduce):
                    a = np.asarray(pick(p), dtype=float)
                    return (a.ndim == 2 and close(s, reduce(a, axis=axis)) and not close(r, reduce(a, axis=axis))
                            and close(r, reduce(a, axis=1 - axis)))   # the reference: the other axis
                if _holds(runs, component, reduced):
                    return found(f"`{label}` {how} over axis {axis}",
                                 f"{how} over the wrong axis: the expected value is `{label}` {how} over "
                                 f"axis {1 - axis}", "axis")
    return None


# ---------------------------------------------------------------------------------------------
# exceptions inside the student's code
# ---------------------------------------------------------------------------------------------

# what an error usually means, by its type and message
_MEANINGS = [
    (ValueError, r"could not be broadcast", "two arrays whose shapes do not fit together: print "
     "their .shape (a missing transpose, keepdims=True or a wrong axis?)"),
    (ValueError, r"matmul|shapes .* not aligned|mismatch in its core dimension", "the inner "
     "dimensions of a matrix product do not match: a transpose or the factors in the wrong order?"),
    (ValueError, r"truth value of an array", "Python's max, min, `and`, `or` or `if` applied to an "
     "array: use np.maximum, np.minimum, &, | or np.all / np.any"),
    (KeyError, r"", "the dict has no such key: print its keys() (a key spelled differently, an "
                    "entry never created — say on a first call with state None — or the wrong dict passed)"),
    (TypeError, r"'NoneType' object is not subscriptable|NoneType", "something is None: the state "
     "is None on the first call, or a function without `return`"),
    (TypeError, r"positional argument|keyword argument|required argument", "a function called with "
     "other arguments than its def line takes: compare the call with the definition"),
    (TypeError, r"unsupported operand|can't multiply|can only concatenate", "a list or tuple where "
     "an array is expected: convert with np.asarray"),
    (AttributeError, r"Generator' object has no attribute", "a NumPy Generator (rng) names its "
     "methods differently from np.random: rng.standard_normal, rng.normal, rng.uniform, rng.choice"),
    (AttributeError, r"'list' object|'tuple' object", "a list where an array is expected: convert "
     "with np.asarray(...)"),
    (AttributeError, r"'float' object|'int' object", "a plain number where an array is expected: "
     "np.asarray(...) makes one of either"),
    (IndexError, r"", "an index past the end of an axis: check the shapes and the loop bounds"),
    (ZeroDivisionError, r"", "a division by zero: a count or a norm that can be 0?"),
    (OverflowError, r"", "a number too large for a float: exp of a large input (shift it first)?"),
    (FloatingPointError, r"", "an overflow or 0/0: exp of a large input, log of 0?"),
    (RecursionError, r"", "a function that calls itself without end"),
]


def _meaning(exc: BaseException) -> str | None:
    text = f"{exc}"
    for kind, pattern, meaning in _MEANINGS:
        if isinstance(exc, kind) and re.search(pattern, text):
            return meaning
    return None


@dataclass(frozen=True)
class Frame:
    """One entry of an exception's traceback as the messages read it: the function's qualified
    name (``<module>`` for a cell), the line counted from the function's first line, that line's
    text, whether it is notebook code, its cell's source (empty when not cached) and the module
    it ran in (empty for a frame from another process)."""
    name: str
    line: int
    text: str
    notebook: bool
    source: str = ""
    module: str = ""


def frames(exc: BaseException, homes=()) -> list[Frame]:
    """``exc``'s traceback, outermost first: its own frames (notebook code is module
    ``__main__`` or one of ``homes``, the globals of the student's functions), then the frames an
    exception brought from another process, ``exc.remote_frames`` (the grader's link to the
    student's kernel: what ran there, innermost last)."""
    found = []
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        g, code = frame.f_globals, frame.f_code
        notebook = any(g is h for h in homes) or g.get("__name__") == "__main__"
        found.append(Frame(getattr(code, "co_qualname", code.co_name), lineno - code.co_firstlineno + 1,
                           linecache.getline(code.co_filename, lineno).strip(), notebook,
                           "".join(linecache.getlines(code.co_filename)) if notebook else "",
                           g.get("__name__") or ""))
    return found + list(getattr(exc, "remote_frames", ()))


def _student_frame(exc: BaseException, homes: list[dict]):
    """The innermost traceback entry in the student's notebook code: (cell label, line, text)."""
    found = [f for f in frames(exc, homes) if f.notebook]
    return (found[-1].name, found[-1].line, found[-1].text) if found else None


def student_error(exc: BaseException, call: str, homes: list[dict]) -> tuple[str, str] | None:
    """``(problem, hint)`` for an exception raised inside the student's code, or None when it
    was not raised there (a library error of the test itself keeps its traceback)."""
    where = _student_frame(exc, homes)
    if where is None:
        return None
    func, line, text = where
    what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, KeyError):
        what = f"KeyError {exc}"
    at = f"line {line} of `{func}`" if func != "<module>" else f"line {line} of your cell"
    problem = f"raised {what} at {at}" + (f" ({text})" if text else "")
    return problem, _meaning(exc) or "read that line with the shapes and types of the inputs above"


# ---------------------------------------------------------------------------------------------
# wrapping messages
# ---------------------------------------------------------------------------------------------

_GROUPS = {"(": ")", "[": "]", "`": "`"}


def _words(text: str) -> list[str]:
    """Words, with a bracketed or backquoted group of at most 40 characters kept as one word:
    ``(1 - beta2^t)`` never breaks."""
    words, current, closing, depth = [], "", None, 0
    for ch in text:
        if closing is None and ch == " ":
            if current:
                words.append(current)
            current = ""
            continue
        current += ch
        if closing is None and ch in _GROUPS:
            closing, opening, depth = _GROUPS[ch], ch, 1
        elif closing is not None:
            if ch == closing and (closing == "`" or depth == 1):
                closing = None
            elif ch == opening and closing != "`":
                depth += 1
            elif ch == closing:
                depth -= 1
            if closing is not None and len(current) > 40:   # an unclosed or long group: give up
                closing = None
    if current:
        words.append(current)
    return words


def wrap(text: str, width: int, indent: str) -> str:
    """``text`` in lines of at most ``width`` characters (a longer word stays whole), every line
    after the first starting with ``indent``."""
    lead = text[: len(text) - len(text.lstrip(" "))]
    lines, line = [], ""
    for word in _words(text):
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = indent + word
        else:
            line = f"{line} {word}" if line else lead + word
    lines.append(line)
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# ingredients: a backward pass (first parameter `dout`)
# ---------------------------------------------------------------------------------------------

UPSTREAM = ("dout", "dD", "dy", "dY", "dz", "dZ")  # how the exercises name the upstream gradient


def upstream_index(reference) -> int | None:
    """The position of the upstream gradient among the reference's parameters, if it has one."""
    names = _params(reference)
    return next((i for i, n in enumerate(names) if n in UPSTREAM), None)


def _scaled_dout(probe: Probe, c: float, at: int = 0) -> Probe:
    args = list(probe.args)
    args[at] = np.asarray(args[at], dtype=float) * c
    return Probe(probe.label, tuple(args), probe.kwargs)


def backward_ingredients(student, reference, runs, component, what, at: int = 0) -> Finding | None:
    """Is ``dout`` (argument ``at``) multiplied in, is the result linear in it, which side of a
    mask is x = 0 on."""
    good = [p for p in runs if p.error is None]
    if len(good) < 2:
        return None
    unchanged = nonlinear = 0
    for p in good:
        try:
            doubled = _scaled_dout(p, 2.0, at)
            s1, s2 = component(p, p.got), component(p, run(student, doubled))
            r1, r2 = component(p, p.expected), component(p, run(reference, doubled))
        except Exception:
            return None
        if not _nontrivial(r1) or close(r1, r2):
            continue
        if close(s1, s2):
            unchanged += 1
        elif not close(s2, 2 * np.asarray(s1, dtype=float)):
            nonlinear += 1
    d = _params(reference)[at]
    if unchanged == len(good) or (unchanged >= 2 and not nonlinear):
        return Finding(f"{what} does not change when `{d}` doubles (on every input tried)",
                       f"the upstream gradient `{d}` is not multiplied in: the result is `{d}` "
                       "times the local derivative", "upstream")
    if nonlinear:
        return Finding(f"{what} is not linear in `{d}`: doubling `{d}` does not double it",
                       f"a backward pass multiplies `{d}` by the local derivative; it does not "
                       f"transform `{d}` itself (max({d}, 0), {d}², …)", "upstream")
    # the side of a mask: on every probe, wrong only where one input of the result's shape is 0
    def wrong_where_zero(p, k):
        s, r = np.asarray(component(p, p.got), dtype=float), np.asarray(component(p, p.expected), dtype=float)
        leaves = [a for a in _leaves(p.args[:at] + p.args[at + 1:]) if isinstance(a, np.ndarray)]
        if s.shape != r.shape or k >= len(leaves) or leaves[k].shape != s.shape:
            return None
        wrong = ~np.isclose(s, r, rtol=RTOL, atol=ATOL)
        return bool(np.all(leaves[k][wrong] == 0)), bool(wrong.any())
    for k in range(8):
        seen = [wrong_where_zero(p, k) for p in good]
        if all(v is not None and v[0] for v in seen) and any(v[1] for v in seen):
            return Finding(f"{what} differs from the expected value only where the input is exactly 0 "
                           "(on every input tried)", "the side of the mask at x = 0 (x > 0 against "
                           "x >= 0): the derivative at 0 is taken from the other side", "mask")
    return None


# ---------------------------------------------------------------------------------------------
# ingredients: an update rule  update(w, dw, state=None, **hyper) -> (next_w, state)
# ---------------------------------------------------------------------------------------------

def is_update_rule(fn) -> bool:
    try:
        return list(inspect.signature(fn).parameters)[:3] == ["w", "dw", "state"]
    except (TypeError, ValueError):
        return False


def hyper_of(reference, kwargs) -> dict:
    """The hyperparameters of a call: the reference's defaults, then what the call passes."""
    defaults = {k: p.default for k, p in inspect.signature(reference).parameters.items()
                if p.default is not inspect.Parameter.empty and k != "state"}
    return {**defaults, **kwargs}


def _t_in(probe) -> int:
    state = probe.args[2] if len(probe.args) > 2 else probe.kwargs.get("state")
    return int(state.get("t", 0)) if isinstance(state, dict) else 0


def update_quantities(key, hyper: dict) -> list[Quantity]:
    """What a step (``key`` None) or a state entry may be off by, from the hyperparameters."""
    qs = []
    lr = hyper.get("lr")
    b1, b2 = hyper.get("beta1"), hyper.get("beta2")
    if key is None and lr is not None:
        qs.append(Quantity("η (lr)", lambda p: p.kwargs.get("lr", lr), "the learning rate multiplies twice",
                           "the learning rate η (lr) is missing from the step"))
    if b1 is not None and b2 is not None:
        c1 = lambda p, dt=0: 1 - p.kwargs.get("beta1", b1) ** (_t_in(p) + 1 + dt)
        c2 = lambda p, dt=0: 1 - p.kwargs.get("beta2", b2) ** (_t_in(p) + 1 + dt)
        if key is None:
            qs += [
                Quantity("(1 - beta1^t)", c1, "the first moment m is not bias-corrected: divide it "
                         "by (1 - beta1^t) before the step", "m is bias-corrected twice"),
                Quantity("1/√(1 - beta2^t)", lambda p: c2(p) ** -0.5, "the second moment v is not "
                         "bias-corrected: divide it by (1 - beta2^t) before the square root",
                         "v is bias-corrected twice"),
                Quantity("(1 - beta1^t)/√(1 - beta2^t)", lambda p: c1(p) / c2(p) ** 0.5,
                         "neither moment is bias-corrected: divide m by (1 - beta1^t) and v by "
                         "(1 - beta2^t), t counting this step", "both moments are bias-corrected twice"),
                Quantity("the correction of step t − 1 over that of step t",
                         lambda p: None if _t_in(p) == 0 else (c1(p) / c2(p) ** 0.5) / (c1(p, -1) / c2(p, -1) ** 0.5),
                         "the bias correction uses the old t: advance t first (t = state[\"t\"] + 1), "
                         "then divide by (1 - beta^t)", "the bias correction uses the old t"),
                Quantity("the correction of step t + 1 over that of step t",
                         lambda p: (c1(p) / c2(p) ** 0.5) / (c1(p, 1) / c2(p, 1) ** 0.5),
                         "the bias correction uses t + 1: t is advanced twice, or starts at 1",
                         "the bias correction uses t + 1"),
            ]
        elif key in ("m", "v"):
            c = c1 if key == "m" else c2
            qs.append(Quantity(f"(1 - beta{1 if key == 'm' else 2}^t)", c,
                               f"the state's `{key}` is multiplied by its correction",
                               f"the state keeps the bias-corrected `{key}`: store the raw moment; "
                               "only the step uses the corrected one"))
    return qs


AVERAGING = ("rho", "beta", "beta1", "beta2", "alpha", "momentum")  # the weights of running averages


def first_close(a, b) -> bool:
    """``(next_w, state)`` pairs equal, the state's arrays entry by entry."""
    try:
        (wa, sa), (wb, sb) = a, b
    except (TypeError, ValueError):
        return False
    if not close(wa, wb) or not isinstance(sa, dict) or not isinstance(sb, dict):
        return False
    return all(k in sa and close(sa[k], v) for k, v in sb.items() if isinstance(v, np.ndarray))


def _steps(fn, w, grads, state, hyper):
    """Chained calls of ``fn`` from ``state``: [(w before, next_w, state after)]."""
    out = []
    for g in grads:
        next_w, new_state = fn(copy.deepcopy(w), copy.deepcopy(g), copy.deepcopy(state), **hyper)
        out.append((w, np.asarray(next_w, dtype=float), new_state))
        w, state = next_w, new_state
    return out


def update_ingredients(student, reference, probe0: Probe, what_w: str, call: str, seed: int = 21):
    """Findings about an update rule from its own probes: the state read, written back, ``t``
    advanced once, the step a call late, lr = 0 and dw = 0; then relations of the step."""
    rng = np.random.default_rng(seed)
    w = np.asarray(probe0.args[0], dtype=float)
    kw = dict(probe0.kwargs)
    if "eps" in hyper_of(reference, kw):
        kw["eps"] = 0.0   # the step's factors are exact without δ (gradients here are never 0)
    grads = [rng.normal(size=w.shape) + 0.3 for _ in range(3)]
    try:
        ref_run = _steps(reference, w, grads, None, kw)
        stu_run = _steps(student, w, grads, None, kw)
    except Exception:
        return None
    # the state after each reference step: probes of one call from a state with history
    probes = []
    for i in (0, 1):
        state = ref_run[i][2]
        probes.append(Probe(f"a call after {i + 1} steps", (ref_run[i][1], grads[i + 1], state), kw))
    for p in probes:
        try:
            p.expected, p.got = run(reference, p), run(student, p)
        except Exception as exc:
            p.error = exc
    if any(p.error is not None for p in probes):
        return None
    state_keys = [k for k, v in probes[0].args[2].items() if isinstance(v, np.ndarray)]

    # t advanced once per call
    for p in probes:
        s_state = p.got[1] if isinstance(p.got, tuple) and len(p.got) == 2 else None
        if isinstance(s_state, dict) and "t" in s_state and "t" in p.expected[1]:
            if s_state["t"] == p.args[2]["t"]:
                return Finding(f"state[\"t\"] stays at {s_state['t']} (expected "
                               f"{p.expected[1]['t']})", "t is not advanced: each call counts one "
                               "step, t = state[\"t\"] + 1", "state-t")
            if s_state["t"] - p.args[2]["t"] >= 2:
                return Finding(f"state[\"t\"] goes from {p.args[2]['t']} to {s_state['t']}",
                               "t is advanced twice in one call", "state-t")
    # the state written back, and read
    for key in state_keys:
        def same_as_given(p, key=key):
            s = p.got[1].get(key) if isinstance(p.got[1], dict) else None
            return s is not None and close(s, p.args[2][key]) and not close(p.expected[1][key], p.args[2][key])
        if all(same_as_given(p) for p in probes):
            return Finding(f"state[\"{key}\"] comes back as it was given (on every input tried)",
                           f"the new `{key}` is not written back: return it in the state dict", "state-write")
    if state_keys:
        zeroed = lambda p: Probe(p.label, (p.args[0], p.args[1], {k: (np.zeros_like(v) if k in state_keys else v)
                                                                  for k, v in p.args[2].items()}), p.kwargs)
        try:
            fresh = [run(reference, zeroed(p))[0] for p in probes]
        except Exception:
            fresh = None
        if fresh is not None and all(close(p.got[0], f) and not close(p.expected[0], f) for p, f in zip(probes, fresh)):
            names = ", ".join(f"`{k}`" for k in state_keys)
            return Finding(f"{what_w} is the step from an empty history (on every input tried)",
                           f"the state passed in is not read: start from its {names}, not from zeros",
                           "state-read")
    # the weights of a running average swapped: what the reference gives with h -> 1 - h
    hyper_now = hyper_of(reference, kw)
    for h in AVERAGING:
        value = hyper_now.get(h)
        if not isinstance(value, float) or not 0 < value < 1 or np.isclose(value, 0.5):
            continue
        def swapped(p, h=h, value=value):
            other = run(reference, p, swap={h: 1 - value})
            return first_close(p.got, other) and not first_close(p.expected, other)
        try:
            if all(swapped(p) for p in probes):
                return Finding(f"{what_w} and the state are what `{h}` = {1 - value:g} (1 − {h}) gives, on every "
                               "input tried", f"`{h}` and `1 - {h}` swapped in the running average? The old value "
                               f"is weighted by `{h}`", "swapped")
        except Exception:
            pass
    # the step a call late: each step is the one the previous call should have taken
    ref_steps = [n - b for b, n, _ in ref_run]
    stu_steps = [n - b for b, n, _ in stu_run]
    if all(close(stu_steps[k], ref_steps[k - 1]) for k in (1, 2)) and not close(ref_steps[1], ref_steps[2]):
        return Finding(f"{what_w}: each step is the one the previous call should have taken",
                       "the step uses the old state: update the velocity/moments first, then step "
                       "with the new ones", "state-order")
    # lr = 0 and dw = 0 leave w where it is
    try:
        # the step must depend on lr and on dw: a step the same for two learning rates, or for
        # two gradients, while the reference's differ, has lost that ingredient
        probe = Probe("", (w, grads[0], None), kw)
        if "lr" in hyper_of(reference, kw):
            lr = hyper_of(reference, kw)["lr"]
            same = lambda fn: close(run(fn, probe)[0], run(fn, probe, swap={"lr": 2 * lr})[0])
            if same(student) and not same(reference):
                return Finding("the step is the same for lr and for 2 lr", "the learning rate η (lr) "
                               "must multiply the step", "lr")
        doubled = Probe("", (w, 2 * grads[0], None), kw)
        if close(run(student, probe)[0], run(student, doubled)[0]) and not close(run(reference, probe)[0],
                                                                                run(reference, doubled)[0]):
            return Finding("the step is the same when dw doubles", "the step must come from the "
                           "gradient dw (not from w alone)", "gradient")
    except Exception:
        pass
    # relations of the step w' − w and of each state entry
    step = lambda p, out: np.asarray(out[0], dtype=float) - np.asarray(p.args[0], dtype=float)
    hyper = hyper_of(reference, kw)
    found = relations(probes, step, what_w, update_quantities(None, hyper), [])
    if found:
        return found
    for key in state_keys:
        found = relations(probes, lambda p, out, key=key: out[1][key], f'state["{key}"]',
                          update_quantities(key, hyper), [])
        if found:
            return found
    try:
        return gradient_ingredients(student, reference, probes, hyper, state_keys, what_w)
    except Exception:
        return None


def _fed(p: Probe, dw) -> Probe:
    """The probe with the gradient ``dw`` in place of its own."""
    return Probe(p.label, (p.args[0], dw, p.args[2]), p.kwargs)


def _fed_scaled(student, reference, probes, c, swap=None) -> bool:
    """On every probe the student's (next_w, state) is the reference's fed c × dw, and not the
    reference's own (each call of the student's is a request to its kernel: the probe's own
    results are reused)."""
    for p in probes:
        other = run(reference, _fed(p, c * np.asarray(p.args[1], dtype=float)), swap=swap)
        got, expected = (p.got, p.expected) if swap is None else (run(student, p, swap=swap),
                                                                 run(reference, p, swap=swap))
        if not first_close(got, other) or first_close(expected, other):
            return False
    return True


def gradient_ingredients(student, reference, probes, hyper, state_keys, what_w) -> Finding | None:
    """How the gradient enters an update rule, on probes with a history (eps = 0): the rule fed
    −dw (deck 001's v ← αv − ηg with the sign of g flipped), fed (1 − h) dw for an averaging
    weight h (momentum's moving-average form; proven for a second value of h too, so that a
    constant factor is never taken for it); a step × the state entry r (× √r where RMSProp and
    AdaGrad divide by √r); a state entry that takes |dw| where the rule squares dw (the entry is
    what the reference keeps for √|dw|, and the reference's entry is even in dw)."""
    if _fed_scaled(student, reference, probes, -1.0):
        return Finding(f"{what_w} and the state are what the rule gives for −dw, on every input tried",
                       "the gradient enters with the wrong sign, so every step goes uphill: descent moves "
                       "against the gradient (θ ← θ − η∇L)", "sign")
    k = state_keys[0] if state_keys else "v"
    for h in AVERAGING:
        value = hyper.get(h)
        if not isinstance(value, float) or not 0 < value < 1:
            continue
        other = value / 2 if value > 0.3 else (value + 1) / 2
        if (_fed_scaled(student, reference, probes, 1 - value)
                and _fed_scaled(student, reference, probes, 1 - other, swap={h: other})):
            return Finding(f"{what_w} and the state are what the rule gives for (1 − {h}) × dw, on every input "
                           f"tried (also with another `{h}`)", f"dw is weighted by (1 - {h}): the moving-average "
                           f"form {k} = {h}·{k} + (1 - {h})·dw, where this rule adds dw itself "
                           f"({k} = {h}·{k} + dw)?", "factor")
    step = lambda p, out: np.asarray(out[0], dtype=float) - np.asarray(p.args[0], dtype=float)
    for key in state_keys:
        if all(close(p.got[1][key], p.expected[1][key])
               and close(step(p, p.got), step(p, p.expected) * p.expected[1][key])
               and not close(step(p, p.got), step(p, p.expected)) for p in probes):
            return Finding(f'{what_w} is the expected step × state["{key}"] (eps = 0) on every input tried',
                           f"the step multiplies by sqrt({key}) where it should divide by it: "
                           f"lr · dw / (eps + sqrt({key}))", "root")
    for key in state_keys:
        even = all(close(run(reference, _fed(p, -np.asarray(p.args[1], dtype=float)))[1][key], p.expected[1][key])
                   for p in probes)
        if not even:
            continue
        absolute = [run(reference, _fed(p, np.sqrt(np.abs(np.asarray(p.args[1], dtype=float)))))[1][key]
                    for p in probes]
        if all(close(p.got[1][key], a) and not close(p.expected[1][key], a) for p, a in zip(probes, absolute)):
            return Finding(f'state["{key}"] is what the rule keeps for √|dw| in place of dw, on every input tried',
                           f"the square is missing: `{key}` takes dw * dw (the squared gradient), not |dw|",
                           "square")
    return None


# ---------------------------------------------------------------------------------------------
# the whole diagnosis of one failed comparison
# ---------------------------------------------------------------------------------------------

def _params(fn) -> list[str]:
    try:
        return list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return []


def _inputs(reference, args) -> list[tuple[str, object]]:
    """The call's array inputs by parameter name (``cache[0]`` inside a tuple), to compare a
    result with."""
    names, found = _params(reference), []
    for i, a in enumerate(args):
        label = names[i] if i < len(names) else f"argument {i + 1}"
        if isinstance(a, np.ndarray):
            found.append((label, lambda p, i=i: p.args[i]))
        elif isinstance(a, tuple):
            for j, b in enumerate(a):
                if isinstance(b, np.ndarray):
                    found.append((f"{label}[{j}]", lambda p, i=i, j=j: p.args[i][j]))
    return found


def _first_difference(s, r) -> str | None:
    try:
        s, r = np.asarray(s, dtype=float), np.asarray(r, dtype=float)
    except (TypeError, ValueError):
        return None
    if s.shape != r.shape:
        return f"shape {s.shape} where {r.shape} was expected"
    wrong = np.argwhere(~np.isclose(s, r, rtol=1e-7, atol=1e-9))
    if not len(wrong):
        return None
    i = tuple(int(k) for k in wrong[0])
    at = f" at index {i}" if i else ""
    return f"expected {float(r[i]):.6g}{at}, got {float(s[i]):.6g}"


def _smallest_failure(runs, component, describe) -> str:
    """"the first difference is at … on <the smallest input that fails>"."""
    failing = []
    for p in runs:
        if p.error is not None:
            continue
        try:
            diff = _first_difference(component(p, p.got), component(p, p.expected))
        except Exception:
            continue
        if diff:
            size = sum(np.size(a) for a in _leaves(p.args) if isinstance(a, (np.ndarray, float, int)))
            failing.append((size, p, diff))
    if not failing:
        return NO_CAUSE
    size, p, diff = min(failing, key=lambda f: f[0])
    shown = describe(p.args, p.kwargs) if size <= 8 else p.label
    return f"{NO_CAUSE}; the first difference is {diff}, on {shown}"


def explain(student, reference, args, kwargs, path, call, describe, *, quantities=(), mistakes=None):
    """A Finding for a failed comparison of ``student(*args, **kwargs)`` with the reference at
    the result's ``path``, proven on every probe; or a plain "no single cause found" Finding."""
    if is_update_rule(reference):
        what_w = "the step w′ − w"
        found = update_ingredients(student, reference, Probe("", args, kwargs), what_w, call)
        if found:
            return found
    runs = []
    for p in make_probes(args, kwargs):
        try:
            p.expected = run(reference, p)
        except Exception:
            continue          # an input the reference itself cannot take: not a probe
        try:
            p.got = run(student, p)
        except Exception as exc:
            p.error = exc
        runs.append(p)
    component = lambda p, out: get_path(out, path)
    for hint, wrong in (mistakes or {}).items():
        def matches(s, r, p, wrong=wrong):
            return close(s, get_path(run(wrong, p), path))
        if _holds(runs, component, matches):
            return Finding("", hint, "known-mistake")
    quantities = [*standard_quantities(None), *quantities]
    found = relations(runs, component, "it", quantities, _inputs(reference, args))
    at = upstream_index(reference)
    if found is None and at is not None:
        found = backward_ingredients(student, reference, runs, component, "it", at)
    if found is None:
        errors = [p for p in runs if p.error is not None]
        text = _smallest_failure(runs, component, describe)
        if errors and text == NO_CAUSE:
            exc = errors[0].error
            text += f"; on {errors[0].label} your code raised {type(exc).__name__}: {exc}"
        found = Finding("", text, "mismatch")
    return found
