"""The data format between the grader and a student's kernel: JSON, nothing that runs code.

Both ends use this one codec: the grader imports it, and :mod:`.agent` is sent to the kernel with
this file's source in front of it (stdlib and NumPy only, no grader imports).  What it carries:

* ``None``, ``bool``, ``int``, ``float`` (NaN and ±inf too), ``complex``, ``str``, ``bytes``;
* NumPy scalars and arrays of bool, int, uint, float and complex dtypes (dtype, shape, base64 of
  the bytes) — never object arrays;
* ``list``, ``tuple`` and ``dict`` (keys ``str`` or ``int``) of those, nested at most
  :data:`MAX_DEPTH` deep;
* a NumPy ``Generator`` as its bit generator's name and state (the draws it will make).

A subclass of one of these (a ``str`` whose ``__eq__`` says yes to everything, a ``float`` with
its own ``__float__``, an ``ndarray`` subclass) travels as the plain value it holds, read with the
base type's own methods (:func:`_plain`): none of its methods runs, and it arrives as the base type.

Anything else is handed to ``other`` (the kernel keeps it behind a handle; the grader refuses
it), and whatever is decoded is checked the same way: sizes (``max_bytes``), depth, dtypes, keys.
Tagged values are one-key dicts ``{"$x": ...}``; a plain dict travels as ``{"$d": [[k, v], …]}``
so that no key of the data can pass for a tag.
"""

from __future__ import annotations

import base64
import contextlib
import gc
import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np

MAX_DEPTH = 32           # nesting of lists, tuples and dicts
MAX_ITEMS = 1_000_000    # values in one message (entries of containers, not of arrays)
KINDS = "biufc"          # the array dtypes that are data: bool, int, uint, float, complex
BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")   # NumPy's own


class WireError(ValueError):
    """A value that cannot cross: too big, too deep, or of a kind that is not data."""


class _Budget:
    def __init__(self, max_bytes: int):
        self.bytes, self.items = max_bytes, MAX_ITEMS

    def take(self, nbytes: int, items: int = 1):
        self.bytes -= nbytes
        self.items -= items
        if self.bytes < 0:
            raise WireError("the value is larger than the size limit")
        if self.items < 0:
            raise WireError(f"the value has more than {MAX_ITEMS} parts")


def _float(x: float):
    return x if math.isfinite(x) else {"$f": repr(x)}   # 'nan', 'inf', '-inf'


def _array(a: np.ndarray, budget: _Budget) -> dict:
    if a.dtype.kind not in KINDS or a.dtype.fields is not None or a.dtype.subdtype is not None:
        raise WireError(f"an array of dtype {a.dtype} is not data")
    budget.take(a.nbytes * 4 // 3 + 64)
    data = base64.b64encode(np.ascontiguousarray(a).tobytes()).decode("ascii")
    return {"dtype": a.dtype.str, "shape": list(a.shape), "data": data}


_PLAIN: list[tuple[type, Callable[[Any], Any]]] = [
    (str, lambda v: str.__getitem__(v, slice(None))),
    (bytes, lambda v: bytes.__getitem__(v, slice(None))),
    (int, int.__int__),
    (float, float.__float__),
    (complex, lambda v: complex(complex.real.__get__(v), complex.imag.__get__(v))),
    (list, lambda v: list.__getitem__(v, slice(None))),
    (tuple, lambda v: tuple.__getitem__(v, slice(None))),
    (dict, lambda v: dict(dict.items(v))),
    (np.ndarray, lambda v: np.ndarray.view(v, np.ndarray)),
]


_PLAIN_BASES = tuple(base for base, _ in _PLAIN)


def _plain(value):
    """The base-type value inside a subclass of a data type, or None (not such a subclass)."""
    if not isinstance(value, _PLAIN_BASES):
        return None
    for base, convert in _PLAIN:
        if isinstance(value, base) and type(value) is not base:
            return convert(value)
    return None


def encode(value, max_bytes: int, other=None):
    """``value`` as a JSON-ready structure; ``other(value)`` (a tag dict) for what is not data,
    or a WireError when ``other`` is None."""
    budget = _Budget(max_bytes)

    def enc(v, depth):
        if depth > MAX_DEPTH:
            raise WireError(f"the value is nested more than {MAX_DEPTH} deep")
        t = type(v)
        if v is None or t is bool:
            budget.take(8)
            return v
        if t is int:
            budget.take(len(str(v)) if abs(v) > 1 << 60 else 8)
            return v
        if t is float:
            budget.take(24)
            return _float(v)
        if t is complex:
            budget.take(48)
            return {"$c": [_float(v.real), _float(v.imag)]}
        if t is str:
            budget.take(len(v) + 2)
            return v
        if t is bytes:
            budget.take(len(v) * 4 // 3 + 8)
            return {"$b": base64.b64encode(v).decode("ascii")}
        if t is np.ndarray:
            return {"$a": _array(v, budget)}
        if isinstance(v, np.generic) and type(v).__module__ == "numpy" and v.dtype.kind in KINDS:
            return {"$s": _array(np.asarray(v), budget)}
        if t is np.random.Generator:
            bits = v.bit_generator
            if type(bits).__name__ not in BIT_GENERATORS or getattr(np.random, type(bits).__name__) is not type(bits):
                return _other(v)
            return {"$rng": [type(bits).__name__, enc(bits.state, depth + 1)]}
        if t is list or t is tuple:
            budget.take(2, len(v))
            items = [enc(x, depth + 1) for x in v]
            return items if t is list else {"$t": items}
        if t is dict:
            budget.take(2, len(v))
            pairs = []
            for k, x in v.items():
                if type(k) is not str and type(k) is not int:
                    return _other(v)
                pairs.append([k, enc(x, depth + 1)])
            return {"$d": pairs}
        plain = _plain(v)
        if plain is not None:
            return enc(plain, depth)
        return _other(v)

    def _other(v):
        if other is None:
            raise WireError(f"a {type(v).__name__} is not data")
        budget.take(64)
        return other(v)

    return enc(value, 0)


@contextlib.contextmanager
def no_collection():
    """The cyclic garbage collector paused while a message is built or read: hundreds of
    thousands of small lists and dicts would trigger it again and again (ten times the cost)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def dumps(value, max_bytes: int, other=None) -> str:
    with no_collection():
        text = json.dumps(encode(value, max_bytes, other), allow_nan=False, separators=(",", ":"))
    if len(text) > max_bytes:
        raise WireError("the value is larger than the size limit")
    return text


def _number(x):
    if type(x) in (int, float):
        return float(x)
    if type(x) is dict and set(x) == {"$f"} and x["$f"] in ("nan", "inf", "-inf"):
        return float(x["$f"])
    raise WireError("a malformed number")


def _decode_array(spec, max_bytes: int) -> np.ndarray:
    if type(spec) is not dict or set(spec) != {"dtype", "shape", "data"}:
        raise WireError("a malformed array")
    dtype = np.dtype(str(spec["dtype"]))
    shape = spec["shape"]
    if (dtype.kind not in KINDS or dtype.fields is not None or type(shape) is not list
            or len(shape) > 32 or not all(type(n) is int and 0 <= n for n in shape)):
        raise WireError("a malformed array")
    data = base64.b64decode(str(spec["data"]), validate=True)
    if len(data) > max_bytes or len(data) != math.prod(shape) * dtype.itemsize:
        raise WireError("an array whose bytes do not fit its shape or the size limit")
    return np.frombuffer(data, dtype=dtype).reshape(shape).copy()


def decode(obj, max_bytes: int, tags=None):
    """The value of an :func:`encode`-d structure; ``tags`` maps a tag of the caller's
    (``"$h"``: a handle) to a function of its payload."""
    count = [0]

    def dec(x, depth):
        count[0] += 1
        if depth > MAX_DEPTH or count[0] > MAX_ITEMS:
            raise WireError("the value is nested too deep or has too many parts")
        t = type(x)
        if x is None or t in (bool, int, float, str):
            return x
        if t is list:
            return [dec(v, depth + 1) for v in x]
        if t is not dict or len(x) != 1:
            raise WireError("a malformed value")
        (tag, payload), = x.items()
        if tag == "$f":
            return _number(x)
        if tag == "$c":
            if type(payload) is not list or len(payload) != 2:
                raise WireError("a malformed complex number")
            return complex(_number(payload[0]), _number(payload[1]))
        if tag == "$b":
            return base64.b64decode(str(payload), validate=True)
        if tag == "$a":
            return _decode_array(payload, max_bytes)
        if tag == "$s":
            arr = _decode_array(payload, max_bytes)
            if arr.ndim:
                raise WireError("a malformed scalar")
            return arr[()]
        if tag == "$rng":
            if type(payload) is not list or len(payload) != 2 or payload[0] not in BIT_GENERATORS:
                raise WireError("a malformed random generator")
            bits = getattr(np.random, payload[0])()
            try:
                bits.state = dec(payload[1], depth + 1)
            except (TypeError, ValueError, KeyError) as err:
                raise WireError(f"a malformed random generator state ({err})") from None
            return np.random.Generator(bits)
        if tag == "$t":
            if type(payload) is not list:
                raise WireError("a malformed tuple")
            return tuple(dec(v, depth + 1) for v in payload)
        if tag == "$d":
            if type(payload) is not list:
                raise WireError("a malformed dict")
            out = {}
            for pair in payload:
                if type(pair) is not list or len(pair) != 2 or type(pair[0]) not in (str, int):
                    raise WireError("a malformed dict")
                out[pair[0]] = dec(pair[1], depth + 1)
            return out
        if tags and tag in tags:
            return tags[tag](payload)
        raise WireError(f"an unknown tag {tag!r}")

    return dec(obj, 0)


def loads(text: str, max_bytes: int, tags=None):
    if len(text) > max_bytes:
        raise WireError("the message is larger than the size limit")
    with no_collection():
        try:
            obj = json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(WireError("NaN outside a tag")))
        except json.JSONDecodeError as err:
            raise WireError(f"unreadable JSON ({err.msg})") from None
        return decode(obj, max_bytes, tags)
