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

Each failure also carries a short machine-readable ``diagnostic`` code (``"shape"``,
``"factor"``, …) that the instructor's class report counts; it is appended to the message as
``(check: <code>)``.

Typical use in a test cell::

    from gradlab import checks, calculus as ref
    checks.compare(central_difference, ref.central_difference, np.sin, 0.3, h=1e-3)
"""

from __future__ import annotations

import copy
import inspect
import sys
import threading
from contextlib import contextmanager
from types import FunctionType, ModuleType

import numpy as np

__all__ = [
    "CheckFailure", "assert_close", "assert_not_mutated", "compare", "diagnose", "tripwire",
]

# Relative/absolute tolerances: results computed with the same formula in float64 agree to
# ~1e-12; 1e-7 leaves room for a different but equally valid order of operations.
RTOL = 1e-7
ATOL = 1e-9


class CheckFailure(AssertionError):
    """A failed check.  ``diagnostic`` names the kind of mistake (for the class report)."""

    def __init__(self, message: str, diagnostic: str = "mismatch"):
        self.diagnostic = diagnostic
        super().__init__(f"{message} (check: {diagnostic})")


# ---------------------------------------------------------------------------------------------
# comparing values
# ---------------------------------------------------------------------------------------------

def _as_array(value, name: str) -> np.ndarray:
    """``value`` as a numeric array, or a CheckFailure saying why it is not one."""
    if value is None:
        raise CheckFailure(f"{name} returned None — did you forget `return`?", "none")
    try:
        arr = np.asarray(value)
    except Exception:  # ragged lists and the like
        arr = None
    if arr is None or not np.issubdtype(arr.dtype, np.number):
        raise CheckFailure(
            f"{name} returned {type(value).__name__} {_short(value)}, not a number or array of numbers",
            "type",
        )
    if np.iscomplexobj(arr):
        raise CheckFailure(
            f"{name} returned complex numbers ({_short(value, 40)}) — a square root or log of a "
            "negative number?", "dtype")
    return arr


def _short(value, limit: int = 80) -> str:
    text = repr(value).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _factor_hint(c: float, entries: int) -> str | None:
    """Name the usual cause of a result that is ``c`` times the reference.

    A single number is always *some* multiple of another, so for one entry only the telling
    factors (−1, 2, ½, k, 1/k) count as a diagnosis; from two entries on, any common factor does.
    """
    if np.isclose(c, -1.0, rtol=1e-6):
        return "−1× the reference — a sign flip (descent goes along −∇, δ = y − t …)?"
    if np.isclose(c, 0.5, rtol=1e-6):
        return "0.5× the reference — a missing factor 2 (or an extra ½)?"
    if np.isclose(c, 2.0, rtol=1e-6):
        return "2× the reference — a missing ½ (e.g. 2h in a central difference, ½ in ½‖·‖²)?"
    for k in range(3, 257):
        if np.isclose(c, k, rtol=1e-6):
            return f"{k}× the reference — a sum where a mean over {k} items (1/m) was expected?"
        if np.isclose(c, 1.0 / k, rtol=1e-6):
            return f"1/{k} of the reference — dividing by {k} (a mean) where a sum was expected?"
    if np.isclose(c, -2.0, rtol=1e-6) or np.isclose(c, -0.5, rtol=1e-6):
        return f"{c:g}× the reference — a sign flip and a factor 2?"
    if entries < 2:
        return None
    return f"{c:.6g}× the reference everywhere — a constant factor is off"


def diagnose(actual, expected, name: str = "result", rtol: float = RTOL, atol: float = ATOL):
    """Return ``None`` when ``actual`` matches ``expected``, else a CheckFailure to raise."""
    try:
        got = _as_array(actual, name)
    except CheckFailure as failure:
        return failure
    want = np.asarray(expected, dtype=float)

    if got.shape != want.shape:
        hint = ""
        if got.ndim == 2 and got.shape == want.shape[::-1]:
            hint = " — transposed? (rows and columns swapped)"
        elif got.size == want.size:
            hint = " — same number of entries: a reshape or a missing/extra axis?"
        elif got.ndim == 0 and want.ndim > 0:
            hint = " — a single number where an array was expected: summed too early?"
        return CheckFailure(f"{name}: expected shape {want.shape}, got {got.shape}{hint}", "shape")

    finite = np.isfinite(want)
    bad = ~np.isfinite(got) & finite
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        kind = "NaN" if np.isnan(got[where]) else "inf"
        return CheckFailure(
            f"{name} contains {kind} at index {where or '()'} where the reference is "
            f"{want[where]:.6g} — an overflow, a 0/0, or log of a non-positive number?",
            "nan",
        )

    gotf = got.astype(float)
    if np.allclose(gotf, want, rtol=rtol, atol=atol, equal_nan=True):
        return None

    special = ~finite & ~((gotf == want) | (np.isnan(gotf) & np.isnan(want)))
    if special.any():
        where = tuple(int(i) for i in np.argwhere(special)[0])
        return CheckFailure(f"{name}: expected {want[where]} at index {where or '()'}, got "
                            f"{gotf[where]:.10g}", "mismatch")

    if not (np.issubdtype(got.dtype, np.floating) or np.issubdtype(got.dtype, np.complexfloating)):
        return CheckFailure(
            f"{name} has integer dtype {got.dtype} and does not match the reference — integer "
            "division, or an array created from integers (np.zeros_like of an int array)? "
            "Convert with .astype(float).",
            "dtype",
        )

    # a constant factor (including -1): every entry off by the same ratio
    usable = finite & (np.abs(want) > 1e-12) & np.isfinite(gotf)
    if usable.any():
        ratios = gotf[usable] / want[usable]
        c = float(np.median(ratios))
        hint = _factor_hint(c, int(usable.sum())) if c != 0 else None
        if hint and np.allclose(gotf, c * want, rtol=1e-6, atol=atol):
            return CheckFailure(f"{name}: {hint}", "sign" if np.isclose(c, -1) else "factor")

    err = np.array(np.abs(gotf - want), dtype=float)
    err[~finite] = 0
    where = np.unravel_index(int(np.argmax(err)), err.shape)
    at = f" at index {tuple(int(i) for i in where)}" if got.ndim else ""
    rel = err[where] / max(1e-300, float(np.abs(want[where])))
    return CheckFailure(
        f"{name}: expected {want[where]:.10g}{at}, got {gotf[where]:.10g} "
        f"(off by {err[where]:.3g}, relative {rel:.3g}; tolerance rtol={rtol:g}, atol={atol:g})",
        "mismatch",
    )


def _ndim(value) -> int:
    """``np.ndim``, with a ragged sequence (arrays of several shapes) counted as structured."""
    try:
        return np.ndim(value)
    except ValueError:
        return 1


def _structured(expected) -> bool:
    """Several return values (a tuple, or a list of arrays) rather than one array."""
    return (isinstance(expected, tuple) and not all(_ndim(e) == 0 for e in expected)) or (
        isinstance(expected, list) and not _is_numeric_sequence(expected))


def first_failure(actual, expected, name: str = "result", rtol: float = RTOL, atol: float = ATOL):
    """Like :func:`diagnose`, entry by entry through tuples and lists of arrays (of any shapes,
    nested): ``None`` when everything matches, else the first CheckFailure."""
    if not _structured(expected):
        return diagnose(actual, expected, name=name, rtol=rtol, atol=atol)
    if actual is None:
        return CheckFailure(f"{name} returned None — did you forget `return`?", "none")
    if not isinstance(actual, (tuple, list)) or len(actual) != len(expected):
        return CheckFailure(f"{name} should return {len(expected)} values, got {_short(actual)}", "type")
    for i, (a, e) in enumerate(zip(actual, expected)):
        failure = first_failure(a, e, name=f"{name}[{i}]", rtol=rtol, atol=atol)
        if failure is not None:
            return failure
    return None


def assert_close(actual, expected, name: str = "result", rtol: float = RTOL, atol: float = ATOL):
    """Raise a CheckFailure with a hint unless ``actual`` ≈ ``expected``.

    ``expected`` may be a number, an array (or list of numbers), or a tuple/list of those —
    several return values such as ``(dx, dw, db)`` or ``(loss, [(dW1, db1), …])``, nested and
    of any shapes; then ``actual`` must have the same structure, compared entry by entry.
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
    if removed:
        raise CheckFailure("your code switched off the check for calls to gradlab's reference "
                           "(sys.setprofile) — remove that line", "tripwire") from error
    if hits:
        raise CheckFailure(
            f"your code calls gradlab's reference `{hits[0]}` — the exercise is to write it yourself",
            "tripwire",
        ) from error
    if error is not None:
        raise error


def _call(fn, args, kwargs, forbid=()):
    """Call student code, turning the usual non-answers into hints."""
    __tracebackhide__ = True  # students see the hint, not gradlab's frames
    name = getattr(fn, "__name__", "your function")
    try:
        with tripwire(*forbid):
            return fn(*args, **kwargs)
    except NotImplementedError as exc:
        raise CheckFailure(
            f"{name} is not implemented yet — replace `raise NotImplementedError()` with your code",
            "not-implemented",
        ) from exc
    except CheckFailure:
        raise
    except Exception as exc:
        exc.add_note(f"(raised inside {name}({_describe_args(fn, args, kwargs)}))")
        raise


def _describe_args(fn, args, kwargs) -> str:
    parts = [_short(a, 30) for a in args] + [f"{k}={_short(v, 30)}" for k, v in kwargs.items()]
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


def _mutation_message(fn, original, changed, label) -> str:
    name = getattr(fn, "__name__", "your function")
    where = ""
    if isinstance(original, np.ndarray) and isinstance(changed, np.ndarray) and original.shape == changed.shape:
        diff = np.argwhere(~np.isclose(original, changed, equal_nan=True, rtol=0, atol=0))
        if len(diff):
            i = tuple(int(j) for j in diff[0])
            where = f" (entry {i} changed from {original[i].item()!r} to {changed[i].item()!r})"
    return (f"{name} changed its argument `{label}` in place{where} — work on a copy "
            f"(e.g. x = x.astype(float) or x.copy()) or put every entry back")


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
            raise CheckFailure(_mutation_message(fn, before, after, label), "mutation")
    for key, before in kwargs.items():
        if not _same(before, work_kwargs[key]):
            raise CheckFailure(_mutation_message(fn, before, work_kwargs[key], key), "mutation")
    return result


def compare(student_fn, reference_fn, *args, name: str | None = None, rtol: float = RTOL,
            atol: float = ATOL, forbid=(), mistakes=None, **kwargs):
    """Check ``student_fn(*args, **kwargs)`` against ``reference_fn`` on the same inputs.

    The student's function runs on copies of the arguments, under a tripwire that fails if it
    calls ``reference_fn`` (or anything in ``forbid``); the arguments must come back
    unchanged; the result must match the reference (see :func:`assert_close`).

    ``mistakes`` maps a hint to a function computing a typical wrong answer, e.g.
    ``{"that is the forward difference …": ref.forward_difference}``: a result that matches
    one of them fails with that hint (diagnostic ``known-mistake``).
    Returns the student's result, for further checks.
    """
    __tracebackhide__ = True  # students see the hint, not gradlab's frames
    if name is None:
        name = f"{getattr(student_fn, '__name__', 'result')}({_describe_args(student_fn, args, kwargs)})"
    expected = reference_fn(*copy.deepcopy(args), **copy.deepcopy(kwargs))
    got = assert_not_mutated(student_fn, *args, _forbid=(reference_fn, *forbid), **kwargs)
    try:
        assert_close(got, expected, name=name, rtol=rtol, atol=atol)
    except CheckFailure as failure:
        for hint, wrong_fn in (mistakes or {}).items():
            wrong = wrong_fn(*copy.deepcopy(args), **copy.deepcopy(kwargs))
            if first_failure(got, wrong, rtol=rtol, atol=atol) is None:
                raise CheckFailure(f"{name}: {hint}", "known-mistake") from failure
        raise
    return got
