"""Checks that turn a wrong answer into a hint.

The notebook tests call these helpers instead of a bare ``assert np.allclose``.  A failing
check raises :class:`CheckFailure` (an ``AssertionError``, so nbgrader scores the cell as
failed) whose message says *what* is wrong and *what to try*:

* ``None`` returned                     -> "did you forget ``return``?"
* wrong shape, or the transpose         -> "expected (3, 4), got (4, 3) — transposed?"
* NaN or inf                            -> where the first one is
* a constant factor off                 -> "0.5× the reference — a missing factor 2?"
* a flipped sign                        -> "−1× the reference — a sign flip?"
* integer dtype where floats are needed -> "integer division or an int array?"
* an input changed in place             -> which argument, which entry
* a call to gradlab's own reference     -> the tripwire (:func:`tripwire`)

A failure is one plain message in three parts — what was called, what was expected against
what came back, and the likely mistake — and a short machine-readable ``diagnostic`` code
(``"shape"``, ``"factor"``, …) that the instructor's class report counts.  ``str(failure)`` is
one line ending in ``(check: <code>)``: the error line nbgrader stores and the grader reads the
code from.  In a notebook, :func:`install_handler` (called once in the setup cell) shows the
student the message alone, without traceback or code::

    Test failed: central_difference(np.sin, 1.0, h=0.01)
      expected 0.5402933008, got 0.5360859810
      likely mistake: it matches the forward difference …

It also turns the two errors that hide the real problem into that form: the stub's
``NotImplementedError`` ("`grad_quadratic` is not implemented yet") and the ``NameError`` of a
function whose answer cell does not parse ("your `central_difference` cell has a syntax error
on line 3").

Typical use in a test cell::

    from gradlab import checks, calculus as ref
    checks.compare(central_difference, ref.central_difference, np.sin, 0.3, h=1e-3)
"""

from __future__ import annotations

import contextvars
import copy
import inspect
import os
import re
import sys
import threading
from contextlib import contextmanager
from types import FunctionType, ModuleType

import numpy as np

from . import diagnosis
from .diagnosis import wrap

__all__ = [
    "CheckFailure", "assert_close", "assert_not_mutated", "compare", "diagnose", "install_handler",
    "one_step", "part", "trajectory", "tripwire",
]

# A measuring switch, not a course setting: ``GRADLAB_DIAGNOSIS=off`` in the environment of the
# process running the checks (the grader's workers: grading kernels never get it, see
# gradlab_grader.kernelenv) makes a wrong value fail with its bare comparison, no probe run;
# bench/bench_diagnosis.py grades with it on and off.  Read at each failing check.
DIAGNOSIS_SWITCH = "GRADLAB_DIAGNOSIS"

# Relative/absolute tolerances: results computed with the same formula in float64 agree to
# ~1e-12; 1e-7 leaves room for a different but equally valid order of operations.
RTOL = 1e-7
ATOL = 1e-9


class CheckFailure(AssertionError):
    """A failed check: ``call`` (what was called), ``problem`` (what was expected, what came
    back), ``hint`` (the likely mistake, or what to do); ``diagnostic`` names the kind of
    mistake for the class report.  ``str()`` is all of it on one line, ending in
    ``(check: <diagnostic>)``."""

    def __init__(self, problem: str, diagnostic: str = "mismatch", *, call: str | None = None,
                 hint: str | None = None):
        self.problem, self.diagnostic, self.call, self.hint = problem, diagnostic, call, hint
        super().__init__(f"{self.summary()} (check: {diagnostic})")

    def summary(self) -> str:
        """The message on one line, without the diagnostic code."""
        text = f"{self.call}: {self.problem}" if self.call else self.problem
        return f"{text} — {self.hint}" if self.hint else text

    def student_lines(self) -> list[str]:
        """The message as a student reads it: at most three parts (the call, what came back,
        the likely mistake), each wrapped at word boundaries to :data:`WIDTH` columns (nbgrader's
        Validate cuts longer lines), no code."""
        head = "Test failed: "
        if self.call:
            lines = [head + self.call, f"  {self.problem}"]
        else:
            lines = [head + self.problem]
        if self.hint:
            label = _LABELS.get(self.diagnostic, "likely mistake: ")
            lines.append(f"  {label}{self.hint}")
        lines = [wrap(line, WIDTH, "    ") for line in lines]
        lines[0] = lines[0].replace(head, f"{_RED}Test failed:{_RESET} ", 1)
        return lines


# codes whose hint says what to do, or what an error means, rather than the likely mistake
_LABELS = {"not-implemented": "", "syntax-error": "", "mismatch": "", "error": "this usually means: "}
WIDTH = 84  # nbgrader's Validate prints 90 columns, 4 of indent, and cuts what is longer
_RED, _RESET = "\x1b[0;31m", "\x1b[0m"  # IPython colours an error's name this way


# ---------------------------------------------------------------------------------------------
# comparing values
# ---------------------------------------------------------------------------------------------

def _as_array(value, name: str) -> np.ndarray:
    """``value`` as a numeric array, or a CheckFailure saying why it is not one."""
    if value is None:
        raise CheckFailure("returned None", "none", call=name, hint="did you forget `return`?")
    try:
        arr = np.asarray(value)
    except Exception:  # ragged lists and the like
        arr = None
    if arr is None or not np.issubdtype(arr.dtype, np.number):
        raise CheckFailure(
            f"expected a number or an array of numbers, got {type(value).__name__} {_short(value)}",
            "type", call=name)
    if np.iscomplexobj(arr):
        raise CheckFailure(
            f"expected real numbers, got complex ones ({_short(value, 40)})", "dtype", call=name,
            hint="a square root or log of a negative number?")
    return arr


def _short(value, limit: int = 80) -> str:
    text = repr(value).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _factor_hint(c: float, entries: int) -> tuple[str, str | None] | None:
    """``(how far off, the usual cause or None)`` of a result that is ``c`` times the reference
    on one input.  One input proves the factor, not its cause (a factor 2 on one number is not a
    missing ½): only a sign flip over several entries is named here; :func:`compare` names
    other causes after checking them on several inputs.  A single number is always *some*
    multiple of another, so for one entry only −1, 2, ½ and 1/k, k count as a finding."""
    if np.isclose(c, -1.0, rtol=1e-6):
        return "−1× the expected value", diagnosis.SIGN_FLIP if entries >= 2 else None
    telling = [2.0, 0.5] + [float(k) for k in range(3, 257)] + [1.0 / k for k in range(3, 257)]
    if entries < 2 and not any(np.isclose(c, k, rtol=1e-6) for k in telling):
        return None
    for k in range(2, 257):
        if np.isclose(c, 1.0 / k, rtol=1e-6):
            return f"1/{k} of the expected value", None
    return f"{c:.6g}× the expected value" + (" at every entry" if entries >= 2 else ""), None


def _expected_got(want, got, where) -> str:
    """"expected <w> [at index i], got <g>" for the entry at ``where``."""
    at = f" at index {tuple(int(i) for i in where)}" if np.ndim(want) else ""
    return f"expected {float(want[where]):.10g}{at}, got {float(got[where]):.10g}"


def diagnose(actual, expected, name: str = "result", rtol: float = RTOL, atol: float = ATOL):
    """Return ``None`` when ``actual`` matches ``expected``, else a CheckFailure to raise."""
    try:
        got = _as_array(actual, name)
    except CheckFailure as failure:
        return failure
    want = np.asarray(expected, dtype=float)

    if got.shape != want.shape:
        hint = None
        if got.ndim == 2 and got.shape == want.shape[::-1]:
            hint = "transposed? (rows and columns swapped)"
        elif got.size == want.size:
            hint = "same number of entries: a reshape or a missing/extra axis?"
        elif got.ndim == 0 and want.ndim > 0:
            hint = "a single number where an array was expected: summed too early?"
        return CheckFailure(f"expected shape {want.shape}, got {got.shape}", "shape", call=name,
                            hint=hint)

    finite = np.isfinite(want)
    bad = ~np.isfinite(got) & finite
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        kind = "NaN" if np.isnan(got[where]) else "inf"
        return CheckFailure(
            f"expected {want[where]:.6g} at index {where or '()'}, got {kind}", "nan", call=name,
            hint="an overflow, a 0/0, or log of a non-positive number?")

    gotf = got.astype(float)
    if np.allclose(gotf, want, rtol=rtol, atol=atol, equal_nan=True):
        return None

    special = ~finite & ~((gotf == want) | (np.isnan(gotf) & np.isnan(want)))
    if special.any():
        where = tuple(int(i) for i in np.argwhere(special)[0])
        return CheckFailure(f"expected {want[where]} at index {where or '()'}, got "
                            f"{gotf[where]:.10g}", "mismatch", call=name)

    # integers where fractions are expected (whole expected values — an index, a count — are no hint)
    fractional = finite & (want != np.round(want))
    if fractional.any() and not (np.issubdtype(got.dtype, np.floating) or np.issubdtype(got.dtype, np.complexfloating)):
        where = np.unravel_index(int(np.argmax(np.abs(gotf - want) * finite)), want.shape)
        return CheckFailure(
            f"{_expected_got(want, gotf, where)} (an array of integers, dtype {got.dtype})",
            "dtype", call=name,
            hint="integer division, or an array created from integers (np.zeros_like of an int "
                 "array)? Convert with .astype(float).")

    # a constant factor (including -1): every entry off by the same ratio
    usable = finite & (np.abs(want) > 1e-12) & np.isfinite(gotf)
    if usable.any():
        ratios = gotf[usable] / want[usable]
        c = float(np.median(ratios))
        hint = _factor_hint(c, int(usable.sum())) if abs(c) > 1e-6 else None  # ~0: no factor, a mismatch
        if hint and np.allclose(gotf, c * want, rtol=1e-6, atol=atol):
            where = tuple(np.argwhere(usable)[0])
            return CheckFailure(f"{_expected_got(want, gotf, where)}: {hint[0]}",
                                "sign" if np.isclose(c, -1) else "factor", call=name, hint=hint[1])

    err = np.array(np.abs(gotf - want), dtype=float)
    err[~finite] = 0
    where = np.unravel_index(int(np.argmax(err)), err.shape)
    rel = err[where] / max(1e-300, float(np.abs(want[where])))
    return CheckFailure(
        f"{_expected_got(want, gotf, where)} (off by {err[where]:.3g}, relative {rel:.3g}; "
        f"tolerance rtol={rtol:g}, atol={atol:g})", "mismatch", call=name)


def _ndim(value) -> int:
    """``np.ndim``, with a ragged sequence (arrays of several shapes) counted as structured."""
    try:
        return np.ndim(value)
    except ValueError:
        return 1


def _structured(expected) -> bool:
    """Several return values (a tuple, a list of arrays, a dict) rather than one array."""
    return isinstance(expected, dict) or (isinstance(expected, tuple) and not all(_ndim(e) == 0 for e in expected)) or (
        isinstance(expected, list) and not _is_numeric_sequence(expected))


def first_failure(actual, expected, name: str = "result", rtol: float = RTOL, atol: float = ATOL,
                  names: tuple[str, ...] | None = None, _path: tuple = ()):
    """Like :func:`diagnose`, entry by entry through tuples and lists of arrays (of any shapes,
    nested) and dicts: ``None`` when everything matches, else the first CheckFailure, whose
    ``path`` says where (``(1,)``, ``(1, "v")``) and whose call names that part of the result by
    ``names`` (``affine_backward(...) → dw``, ``adam(...) → state["v"]``)."""
    label = name + diagnosis.path_label(_path, names)
    failure = None
    if isinstance(expected, dict):                     # an optimizer's state, say
        if not isinstance(actual, dict):
            failure = CheckFailure(f"expected a dict with keys {sorted(expected)}, got {_short(actual)}",
                                   "type", call=label)
        elif set(actual) != set(expected):
            failure = CheckFailure(f"expected the keys {sorted(expected)}, got {sorted(actual)}", "type",
                                   call=label)
        else:
            for key in expected:
                failure = first_failure(actual[key], expected[key], name, rtol, atol, names, (*_path, key))
                if failure is not None:
                    return failure
            return None
    elif not _structured(expected):
        failure = diagnose(actual, expected, name=label, rtol=rtol, atol=atol)
    elif actual is None:
        failure = CheckFailure("returned None", "none", call=label, hint="did you forget `return`?")
    elif not isinstance(actual, (tuple, list)) or len(actual) != len(expected):
        what = f" ({', '.join(names)})" if names and not _path and len(names) == len(expected) else ""
        failure = CheckFailure(f"expected {len(expected)} values{what}, got {_short(actual)}", "type", call=label)
    else:
        for i, (a, e) in enumerate(zip(actual, expected)):
            failure = first_failure(a, e, name, rtol, atol, names, (*_path, i))
            if failure is not None:
                return failure
        return None
    if failure is not None and not hasattr(failure, "path"):
        failure.path = _path
    return failure


def assert_close(actual, expected, name: str = "result", rtol: float = RTOL, atol: float = ATOL):
    """Raise a CheckFailure with a hint unless ``actual`` ≈ ``expected``.

    ``expected`` may be a number, an array (or list of numbers), or a tuple/list/dict of those —
    several return values such as ``(dx, dw, db)``, ``(loss, [(dW1, db1), …])`` or an
    optimizer's ``(next_w, {"t": 1, "v": …})``, nested and of any shapes; then ``actual`` must
    have the same structure, compared entry by entry.
    """
    __tracebackhide__ = True  # students see the hint, not gradlab's frames
    failure = first_failure(actual, expected, name=name, rtol=rtol, atol=atol)
    if failure is not None:
        raise failure


def _is_numeric_sequence(value) -> bool:
    try:
        return np.asarray(value).dtype.kind in "biuf"
    except Exception:
        return False


# ---------------------------------------------------------------------------------------------
# calling student code: mutation and the reference tripwire
# ---------------------------------------------------------------------------------------------

def _codes(target):
    """Every code object that belongs to ``target`` (function, method, class or module)."""
    if isinstance(target, FunctionType):
        yield target.__code__
    elif inspect.ismethod(target):
        yield target.__func__.__code__
    elif isinstance(target, type):
        for member in vars(target).values():
            if isinstance(member, (staticmethod, classmethod)):
                member = member.__func__
            if isinstance(member, property):
                yield from (c for f in (member.fget, member.fset) if f for c in _codes(f))
            elif isinstance(member, FunctionType):
                yield member.__code__
    elif isinstance(target, ModuleType):
        for member in vars(target).values():
            if getattr(member, "__module__", None) == target.__name__:
                yield from _codes(member)


def _label(target) -> str:
    module = getattr(target, "__module__", None) or getattr(target, "__name__", "")
    qual = getattr(target, "__qualname__", None)
    return f"{module}.{qual}" if qual and module != qual else str(module)


@contextmanager
def tripwire(*targets):
    """Fail if any of ``targets`` (gradlab functions, classes or modules) runs inside the block.

    The check follows code objects, not names, so ``from gradlab.calculus import
    central_difference as cd`` and other aliases are caught too.

    This is a hint for the student's own runs of the tests, not a grading verdict: it watches
    the process it runs in, which the student's code controls (a raw ``_thread`` or a cleared
    record slips past it).  While grading, the tests run in the grader's process and the
    student's functions in their kernel, where no tripwire watches; the grader finds calls of
    the reference by reading the answer's code (``gradlab_grader.recording.integrity``) and
    by the similarity check.
    """
    __tracebackhide__ = True  # students see the hint, not gradlab's frames
    watched = {code: _label(t) for t in targets for code in _codes(t)}
    if not watched:
        yield
        return
    hits: list[str] = []

    def profiler(frame, event, arg):
        if event == "call" and frame.f_code in watched:
            hits.append(watched[frame.f_code])
        if previous is not None:
            previous(frame, event, arg)

    previous, previous_threads = sys.getprofile(), threading.getprofile()
    sys.setprofile(profiler)
    threading.setprofile(profiler)  # threads the student's code starts are watched too
    error = None
    try:
        yield
    except BaseException as exc:  # report the tripwire first, whatever else happened
        error = exc
    finally:
        removed = sys.getprofile() is not profiler
        sys.setprofile(previous)
        threading.setprofile(previous_threads)
    # chained to what the student's code raised: a test may tell a RecursionError that switched
    # the tracer off from a deliberate one (the handler shows the failure alone either way)
    if removed:
        raise CheckFailure("your code switched off the check for calls to gradlab's reference "
                           "(sys.setprofile)", "tripwire", hint="remove that line") from error
    if hits:
        raise CheckFailure(f"your code calls gradlab's reference `{hits[0]}`", "tripwire",
                           hint="the exercise is to write it yourself") from error
    if error is not None:
        raise error


def _call(fn, args, kwargs, forbid=()):
    """Call student code, turning the usual non-answers into hints: an unfinished stub, a
    function whose latest cell does not parse (the old definition still runs), and an error
    raised inside the student's code (which line of their cell raised what)."""
    __tracebackhide__ = True  # students see the hint, not gradlab's frames
    name = getattr(fn, "__name__", "your function")
    stale = _latest_cell_broken(fn)
    if stale is not None:
        raise stale
    try:
        with tripwire(*forbid):
            return fn(*args, **kwargs)
    except NotImplementedError as exc:
        failure = _unfinished(exc, getattr(fn, "__globals__", None))
        if failure is None:
            raise
        raise failure from None
    except CheckFailure:
        raise
    except Exception as exc:
        call = f"{name}({_describe_args(fn, args, kwargs)})"
        explained = diagnosis.student_error(exc, call, _homes(fn))
        if explained is None:
            exc.add_note(f"(raised inside {call})")
            raise
        raise CheckFailure(explained[0], "error", call=call, hint=explained[1]) from None


def _notebook_functions(fn):
    """``fn`` and what it wraps (a ``functools.partial``, a test's helper around an update
    rule): the functions whose definitions may live in the notebook."""
    seen = 0
    while fn is not None and seen < 5:
        yield fn
        fn = getattr(fn, "__wrapped__", None) or getattr(fn, "func", None)
        seen += 1


def _homes(fn) -> list[dict]:
    return [g for f in _notebook_functions(fn) if (g := getattr(f, "__globals__", None)) is not None]


def _latest_cell_broken(fn) -> CheckFailure | None:
    """A syntax-error failure when the latest notebook cell that defines ``fn`` (or what it
    wraps) does not parse: after Run All the definition that runs is an older one (the stub's
    placeholder, say), and the student must hear about the cell they are editing."""
    history = _history()
    if history is None:
        return None
    for f in _notebook_functions(fn):
        if getattr(f, "__module__", None) == "__main__" and (
                isinstance(f, FunctionType) or getattr(f, "remote_function", False)):
            failure = _broken_definition(f.__name__, history)
            if failure is not None:
                return failure
    return None


def _describe_args(fn, args, kwargs) -> str:
    def show(v):
        if callable(v) and not isinstance(v, np.ndarray):   # a function: its name, not its address
            name = getattr(v, "__name__", "")
            return "f" if not name or name == "<lambda>" else name
        return _short(v, 30)
    parts = [show(a) for a in args] + [f"{k}={show(v)}" for k, v in kwargs.items()]
    return ", ".join(parts)


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape
                and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    try:
        return bool(a == b) or (a != a and b != b)  # NaN == NaN here
    except Exception:
        return a is b


def _mutation_message(fn, original, changed, label) -> tuple[str, str]:
    name = getattr(fn, "__name__", "your function")
    where = ""
    if isinstance(original, np.ndarray) and isinstance(changed, np.ndarray) and original.shape == changed.shape:
        diff = np.argwhere(~np.isclose(original, changed, equal_nan=True, rtol=0, atol=0))
        if len(diff):
            i = tuple(int(j) for j in diff[0])
            where = f" (entry {i} changed from {original[i].item()!r} to {changed[i].item()!r})"
    return (f"{name} changed its argument `{label}` in place{where}",
            "work on a copy (e.g. x = x.astype(float) or x.copy()) or put every entry back")


def assert_not_mutated(fn, *args, _forbid=(), **kwargs):
    """Call ``fn(*args, **kwargs)`` on copies; fail if it changed any argument. Returns the result."""
    __tracebackhide__ = True  # students see the hint, not gradlab's frames
    work_args, work_kwargs = copy.deepcopy(args), copy.deepcopy(kwargs)
    result = _call(fn, work_args, work_kwargs, forbid=_forbid)
    try:
        params = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        params = []
    for i, (before, after) in enumerate(zip(args, work_args)):
        if not _same(before, after):
            label = params[i] if i < len(params) else f"#{i + 1}"
            problem, hint = _mutation_message(fn, before, after, label)
            raise CheckFailure(problem, "mutation", hint=hint)
    for key, before in kwargs.items():
        if not _same(before, work_kwargs[key]):
            problem, hint = _mutation_message(fn, before, work_kwargs[key], key)
            raise CheckFailure(problem, "mutation", hint=hint)
    return result


def compare(student_fn, reference_fn, *args, name: str | None = None, rtol: float = RTOL,
            atol: float = ATOL, forbid=(), mistakes=None, returns=None, quantities=(), **kwargs):
    """Check ``student_fn(*args, **kwargs)`` against ``reference_fn`` on the same inputs.

    The student's function runs on copies of the arguments, under a tripwire that fails if it
    calls ``reference_fn`` (or anything in ``forbid``); the arguments must come back
    unchanged; the result must match the reference (see :func:`assert_close`).  The parts of
    a result are named by ``returns`` (default: the reference docstring's ``Returns:`` list):
    ``affine_backward(...) → dw``.

    ``mistakes`` maps a hint to a function computing a typical wrong answer, e.g.
    ``{"that is the forward difference …": ref.forward_difference}``: a result that matches
    one of them fails with that hint (diagnostic ``known-mistake``).  Any other wrong value is
    diagnosed by :mod:`gradlab.diagnosis` (probes, relations to the reference; ``quantities``
    adds named factors of the problem), which names a cause only when it holds on every
    input it tries.  Returns the student's result, for further checks.
    """
    __tracebackhide__ = True  # students see the hint, not gradlab's frames
    if name is None:
        name = f"{getattr(student_fn, '__name__', 'result')}({_describe_args(student_fn, args, kwargs)})"
    names = (tuple(returns) if returns
             else getattr(reference_fn, "returns", None) or diagnosis.return_names(reference_fn))
    expected = reference_fn(*copy.deepcopy(args), **copy.deepcopy(kwargs))
    watched = getattr(reference_fn, "update_rule", reference_fn)  # not a wrapper the student's shares
    got = assert_not_mutated(student_fn, *args, _forbid=(watched, *forbid), **kwargs)
    failure = first_failure(got, expected, name=name, rtol=rtol, atol=atol, names=names)
    if failure is None:
        return got
    problem = re.sub(r" \(off by .*\)$", "", failure.problem)  # a hint explains it
    for hint, wrong_fn in (mistakes or {}).items():
        wrong = wrong_fn(*copy.deepcopy(args), **copy.deepcopy(kwargs))
        if first_failure(got, wrong, rtol=rtol, atol=atol) is None:
            # one message: the numbers of the mismatch, the mistake that explains them
            raise CheckFailure(problem, "known-mistake", call=failure.call or name, hint=hint) from None
    # a shape without a hint: explained only by a relation (a reduction over the other axis), else as it is
    shape_only = failure.diagnostic == "shape" and failure.hint is None
    if failure.diagnostic in ("mismatch", "factor", "sign") or shape_only:
        try:
            found = _explain(student_fn, reference_fn, args, kwargs, failure, name, quantities)
        except CheckFailure:
            raise
        except Exception:  # the diagnosis never hides the failure it explains
            found = None
        if shape_only and found is not None and found.code == "mismatch":
            found = None
        if found is not None:
            if found.problem:
                problem = f"{problem}; {found.problem}"
            raise CheckFailure(problem, found.code, call=failure.call or name, hint=found.hint) from None
    raise failure


def _explain(student_fn, reference_fn, args, kwargs, failure, name, quantities):
    """The diagnosis of a failed :func:`compare` (see :mod:`gradlab.diagnosis`); ``None``, with
    no probe run, when the process's environment has ``GRADLAB_DIAGNOSIS=off``
    (:data:`DIAGNOSIS_SWITCH`)."""
    if os.environ.get(DIAGNOSIS_SWITCH, "").strip().lower() == "off":
        return None
    path = getattr(failure, "path", ())
    s_rule, r_rule = getattr(student_fn, "update_rule", None), getattr(reference_fn, "update_rule", None)
    if s_rule is not None and r_rule is not None:  # one_step / trajectory: look at the rule itself
        rule_args, rule_kwargs = reference_fn.rule_call(args, kwargs)
        found = diagnosis.update_ingredients(s_rule, r_rule, diagnosis.Probe("", rule_args, rule_kwargs),
                                             "the step w′ − w", failure.call or name)
        if found is not None:
            return found
    return diagnosis.explain(student_fn, reference_fn, args, kwargs, path, failure.call or name,
                             lambda a, k: _describe_args(student_fn, a, k), quantities=quantities)


# ---------------------------------------------------------------------------------------------
# update rules: one call, and a trajectory, as functions a test compares
# ---------------------------------------------------------------------------------------------

def one_step(update, keys=()):
    """``fn(w, dw, state=None, **hyper) -> next_w`` (or ``(next_w, state[k] for k in keys)``):
    one call of the update rule ``update(w, dw, state, **hyper) -> (next_w, state)``, its
    parts named (``adam(...) → next_w``, ``→ state["v"]``); a result that is not a pair, or a
    state without the ``keys``, fails with a plain message."""
    def step(w, dw, state=None, **hyper):
        __tracebackhide__ = True
        out = update(w, dw, state, **hyper)
        if not (isinstance(out, tuple) and len(out) == 2):
            raise CheckFailure(f"an update rule returns the pair (next_w, state), got {_short(out, 60)}",
                               "none" if out is None else "type", call=f"{getattr(update, '__name__', 'update')}(...)")
        next_w, new_state = out
        if not isinstance(new_state, dict) or any(k not in new_state for k in keys):
            raise CheckFailure(f"the state returned must be a new dict with the keys {list(keys)}, "
                               f"got {_short(new_state, 60)}", "type",
                               call=f"{getattr(update, '__name__', 'update')}(...) → state")
        return (next_w, *(new_state[k] for k in keys)) if keys else next_w
    step.__name__ = getattr(update, "__name__", "update")
    step.__wrapped__ = step.update_rule = update
    step.returns = ("next_w", *(f'state["{k}"]' for k in keys)) if keys else None
    step.rule_call = lambda args, kwargs: (tuple(args[:3]) + (None,) * (3 - len(args[:3])), kwargs)
    return step


def part(fn, i: int, name: str | None = None, wraps=None):
    """``fn`` with its ``i``-th result alone: ``part(standardize, 1)(X_train, X_test)`` is the
    test set that ``standardize`` returns, compared on its own.  Named as ``fn`` (or ``name``),
    wrapping ``wraps`` (default ``fn``: the student's function whose cell a syntax error is looked
    for in); a result that is not a tuple of values fails with a plain message."""
    label = name or getattr(fn, "__name__", "result")

    def picked(*args, **kwargs):
        __tracebackhide__ = True
        result = fn(*args, **kwargs)
        if not isinstance(result, (tuple, list)) or len(result) <= i:
            raise CheckFailure(f"expected a tuple of values, got {_short(result, 60)}",
                               "none" if result is None else "type", call=f"{label}(...)",
                               hint="did you forget `return`?" if result is None else None)
        return result[i]
    picked.__name__, picked.__wrapped__ = label, wraps or fn
    return picked


def trajectory(update):
    """``fn(w0, grads, **hyper) -> array``: ``w`` after each of several calls of ``update`` from
    state None, fed ``grads`` (a list of gradients, or a function of ``w`` with ``steps=``)."""
    def path(w0, grads, **hyper):
        __tracebackhide__ = True
        steps = hyper.pop("steps", None)
        w, state, out = w0, None, []
        for g in (grads if not callable(grads) else [None] * steps):
            w, state = update(w, grads(w) if callable(grads) else g, state, **hyper)
            out.append(w)
        return np.array(out)
    path.__name__ = getattr(update, "__name__", "update")
    path.__wrapped__ = path.update_rule = update

    def rule_call(args, kwargs):
        w0, grads = args[0], args[1]
        kwargs = {k: v for k, v in kwargs.items() if k != "steps"}
        return (w0, grads(w0) if callable(grads) else grads[0], None), kwargs
    path.rule_call = rule_call
    return path


# ---------------------------------------------------------------------------------------------
# the student's view in a notebook: one short message per failing test
# ---------------------------------------------------------------------------------------------

def _unfinished(exc: NotImplementedError, home: dict | None = None) -> CheckFailure | None:
    """The stub's ``raise NotImplementedError()`` as "`<function>` is not implemented yet".

    The stub is the innermost frame, in notebook code (module ``__main__``) or in ``home`` (the
    globals of the student's function); for an error a library raised this returns None.
    """
    innermost = diagnosis.frames(exc, [home] if home is not None else [])[-1:]
    if not innermost or not innermost[0].notebook:
        return None
    name = innermost[0].name
    what = "this cell" if name == "<module>" else f"`{name}`"
    failure = CheckFailure(f"{what} is not implemented yet", "not-implemented",
                           hint="replace `raise NotImplementedError()` with your code")
    failure.function = name
    return failure


def _defines(name: str) -> re.Pattern:
    return re.compile(rf"^\s*(?:(?:async\s+)?def|class)\s+{re.escape(name)}\b|^{re.escape(name)}\s*[:=]",
                      re.MULTILINE)


def _transform(raw: str) -> str:
    """A cell's source as IPython runs it (magics and ``!`` lines made Python)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:
        return raw
    return TransformerManager().transform_cell(raw)


_HISTORY: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("gradlab_history", default=None)


@contextmanager
def notebook_history(cells):
    """Within the block, the notebook's code cells run so far (the current one last) are
    ``cells``: what the messages read to tell a stub from a broken definition when the test runs
    outside the student's IPython session (the grader's trusted checker)."""
    token = _HISTORY.set(list(cells))
    try:
        yield
    finally:
        _HISTORY.reset(token)


def _history() -> list[str] | None:
    """The code cells run so far, the current one last: :func:`notebook_history`'s, else the
    IPython session's input history, else None."""
    cells = _HISTORY.get()
    if cells is not None:
        return cells
    try:
        from IPython import get_ipython
        shell = get_ipython()
    except ImportError:
        return None
    if shell is None or not hasattr(shell, "history_manager"):
        return None
    return shell.history_manager.input_hist_raw


def _broken_definition(name: str, history) -> CheckFailure | None:
    """The syntax error of the latest cell in ``history`` that defines ``name`` (``def <name>``,
    ``class <name>`` or ``<name> = ``), or None when that cell parses or there is none."""
    defines = _defines(name)
    for raw in reversed(history):
        if not defines.search(raw):
            continue
        try:
            compile(_transform(raw), "<cell>", "exec")
        except SyntaxError as err:
            line = (err.text or "").strip()
            return CheckFailure(
                f"your `{name}` cell has a syntax error on line {err.lineno}: {err.msg}"
                + (f" ({line})" if line else ""), "syntax-error",
                hint=f"fix that line and run the `{name}` cell again, then this test")
        return None
    return None


def _undefined(exc: NameError, history) -> CheckFailure | None:
    """A ``NameError`` for a name whose defining cell (the latest that ran with ``def <name>``,
    ``class <name>`` or ``<name> = ``) has a syntax error: the error and its line.  None
    otherwise (IPython's own NameError is clear enough)."""
    name = getattr(exc, "name", None)
    if not name:
        return None
    return _broken_definition(name, history[:-1])  # not this cell


def _plain_assert(exc: AssertionError) -> CheckFailure | None:
    """A test's own ``assert condition, "message"`` as the message alone; None for an assert
    without a message or raised elsewhere (a library's, the student's own: their traceback)."""
    frames = diagnosis.frames(exc)
    if not frames or not str(exc):
        return None
    if not frames[-1].notebook or frames[-1].name != "<module>":
        return None
    return CheckFailure(str(exc), "assert")


def _in_a_test_cell(exc: BaseException, history) -> bool:
    """Whether ``exc`` came through test code: a helper of :mod:`gradlab.exercises`, or a notebook
    frame whose cell (its source as IPython cached it for tracebacks) uses ``checks`` — the test
    cell, or a helper an earlier test cell defined; else whether the latest history entry does."""
    cached = False
    for frame in diagnosis.frames(exc):
        if frame.module.startswith("gradlab.exercises."):
            return True
        if not frame.notebook:
            continue
        cached = cached or bool(frame.source)
        if re.search(r"\bchecks\b", frame.source):
            return True
    return not cached and bool(history) and bool(re.search(r"\bchecks\b", history[-1]))


def _raised_in_a_test(exc: Exception, history) -> CheckFailure | None:
    """An error raised inside a notebook function that a test cell (a cell using ``checks``)
    called directly: which line of the student's function raised what, and what it usually
    means.  None elsewhere: the student's own cells keep their traceback for debugging."""
    if not _in_a_test_cell(exc, history):
        return None
    where = diagnosis._student_frame(exc, [])
    if where is None or where[0] == "<module>":
        return None
    explained = diagnosis.student_error(exc, "", [])
    return CheckFailure(explained[0], "error", call=f"{where[0]}(...)", hint=explained[1])


def explain_error(value: BaseException, history) -> CheckFailure | None:
    """The one message a test cell's error shows the student, or None when it is not ours to
    explain (IPython's traceback then).  ``history``: the notebook's code cells run so far, this
    test cell last.  The IPython handler and the grader's trusted checker both use it."""
    failure = value
    if isinstance(value, NotImplementedError):
        failure = _unfinished(value)
        if failure is not None:  # the placeholder of an earlier run, the student's cell broken since?
            failure = _broken_definition(failure.function, history[:-1]) or failure
    elif isinstance(value, NameError):
        failure = _undefined(value, history)
    elif isinstance(value, AssertionError) and not isinstance(value, CheckFailure):
        failure = _plain_assert(value)
    elif not isinstance(value, CheckFailure):
        failure = _raised_in_a_test(value, history)
    return failure if isinstance(failure, CheckFailure) else None


def error_output(value: BaseException, history) -> dict:
    """The error output (nbformat) a test cell's error leaves in the graded notebook: for an
    error :func:`explain_error` explains, what the handler shows (the short message as its
    traceback, the one-line message with its code as evalue, the raised type as ename);
    otherwise the error's type and message alone."""
    failure = explain_error(value, history)
    ename = type(value).__name__
    if failure is None:
        evalue = str(value)
        return {"output_type": "error", "ename": ename, "evalue": evalue, "traceback": [f"{ename}: {evalue}"]}
    return {"output_type": "error", "ename": ename, "evalue": str(failure), "traceback": failure.student_lines()}


def _show_failure(shell, etype, value, tb, tb_offset=None):
    """IPython's custom exception handler (see :func:`install_handler`)."""
    failure = explain_error(value, shell.history_manager.input_hist_raw)
    if failure is None:  # not ours to explain: IPython's own traceback
        shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
        return None
    lines = failure.student_lines()
    # the traceback (what the notebook shows) is the short message alone; the error output's
    # evalue is the one-line message with the code, which the grader reads.  Its ename stays
    # the type that was raised: the kernel's reply names it too, and nbgrader adds a second
    # error output when the two differ
    shell._showtraceback(etype, failure, lines)
    return lines


def install_handler(shell=None) -> None:
    """Show failing tests in this IPython session as one short message each.

    Called once in every notebook's setup cell.  From then on a :class:`CheckFailure`, a test
    cell's own ``assert condition, "message"``, the stub's ``NotImplementedError`` and the
    ``NameError`` of a function whose cell does not parse show as
    :meth:`CheckFailure.student_lines` instead of a traceback, and so does an error raised inside
    a notebook function that a test cell called (its line, what it usually means); any other
    error keeps IPython's traceback.  The cell still fails (nbgrader scores it 0, Validate lists it)
    and the error output's evalue still carries the diagnostic code for the grader.
    It replaces any other custom exception handler of the session (IPython has one).
    Outside IPython it does nothing.
    """
    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:
            return
        shell = get_ipython()
    if shell is not None:
        shell.set_custom_exc((CheckFailure, Exception), _show_failure)


# ---------------------------------------------------------------------------------------------
# a whole built from the student's parts: which part broke it
# ---------------------------------------------------------------------------------------------

def _structure(got, template, where: str = "") -> str | None:
    """How ``got`` differs from ``template`` in kind, keys, length or shape (values aside)."""
    if template is None:
        return None
    if got is None:
        return f"returned None{where}, expected {_kind(template)}"
    if isinstance(template, dict):
        if not isinstance(got, dict):
            return f"returned {type(got).__name__}{where}, expected a dict"
        missing = [k for k in template if k not in got]
        if missing:
            return f"returned{where} a dict without the keys {missing}"
        return next((p for k in template if (p := _structure(got[k], template[k], f'{where}[{k!r}]'))), None)
    if isinstance(template, tuple):
        if not isinstance(got, (tuple, list)) or len(got) != len(template):
            return f"returned {_short(got, 40)}{where}, expected {len(template)} values"
        return next((p for i, (g, t) in enumerate(zip(got, template))
                     if (p := _structure(g, t, f"{where} (value {i + 1})"))), None)
    shape = np.shape(got) if not isinstance(got, (dict, str)) else None
    if shape != np.shape(template):
        wanted = f"shape {np.shape(template)}" if np.ndim(template) else "a number"
        return f"returned{where} shape {shape}, expected {wanted}"
    return None


def _kind(template) -> str:
    return ("a dict" if isinstance(template, dict) else f"{len(template)} values"
            if isinstance(template, tuple) else f"shape {np.shape(template)}")


def check_parts(parts) -> None:
    """Before a whole is tried: each ``(label, fn, args, template)`` called on ``args`` must
    return what ``template`` looks like (kinds, keys, shapes).  The first that does not fails
    as "your `predict` returned shape (10,), expected shape (5,)", so that a failing whole names
    the part that broke it instead of an error deep inside it."""
    __tracebackhide__ = True
    for label, fn, args, template in parts:
        try:
            got = _call(fn, copy.deepcopy(args), {})
        except CheckFailure as failure:
            if failure.diagnostic == "error":
                raise CheckFailure(f"your `{label}` {failure.problem}", "part", hint=failure.hint) from None
            raise
        problem = _structure(got, template)
        if problem:
            raise CheckFailure(f"your `{label}` {problem}", "part",
                               hint=f"the whole uses your `{label}`: fix it first (its own tests say more)")


def capstone_parts(init_params, loss_and_grads, predict, adam_update, sizes=(64, 8, 10), n=5):
    """:func:`check_parts` for the capstone's network: ``init_params``, ``loss_and_grads``,
    ``predict`` and ``adam_update`` on a small network of ``sizes`` and ``n`` examples."""
    __tracebackhide__ = True
    rng = np.random.default_rng(0)
    L = len(sizes) - 1
    params, state = {}, {}
    for l in range(1, L + 1):
        params[f"W{l}"] = rng.normal(size=(sizes[l - 1], sizes[l]))
        if l < L:
            params[f"gamma{l}"], params[f"beta{l}"] = np.ones(sizes[l]), np.zeros(sizes[l])
            state[f"mean{l}"], state[f"var{l}"] = np.zeros(sizes[l]), np.ones(sizes[l])
        else:
            params[f"b{l}"] = np.zeros(sizes[l])
    X, y = rng.normal(size=(n, sizes[0])), np.arange(n) % sizes[-1]
    check_parts([
        ("init_params", init_params, (list(sizes), 0), (params, state)),
        ("loss_and_grads", loss_and_grads, (params, state, X, y), (0.0, params, state)),
        ("predict", predict, (params, state, X), np.zeros(n)),
        ("adam_update", adam_update, (params, params, None), (params, None)),
    ])
