"""The data format between the grader and a student's kernel (no kernel needed)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from gradlab_grader.kernel import wire

MB = 1 << 20


def round_trip(value, max_bytes=MB):
    return wire.loads(wire.dumps(value, max_bytes), max_bytes)


def same(a, b) -> bool:
    """Equal values of exactly the same types, all the way down (NaN equal to NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
    if isinstance(a, np.generic):
        return a.dtype == b.dtype and (a == b or (a != a and b != b))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, complex):
        return same(a.real, b.real) and same(a.imag, b.imag)
    return a == b


SCALARS = [None, True, False, 0, -7, 2 ** 100, -(3 ** 70), 1.5, -0.0, 1e-310, float("nan"), float("inf"),
           float("-inf"), complex(1, -2), complex(float("nan"), float("inf")), "", "héllo\n\x00", b"", b"\x00\xff",
           np.float64(2.5), np.float32(-1.25), np.int64(-3), np.uint8(200), np.bool_(True), np.complex64(1 - 1j)]


@pytest.mark.parametrize("value", SCALARS, ids=repr)
def test_scalars_round_trip_with_their_types(value):
    assert same(round_trip(value), value)


@pytest.mark.parametrize("dtype", ["bool", "int8", "int64", "uint16", "float32", "float64", "complex128", ">f8"])
@pytest.mark.parametrize("shape", [(), (0,), (5,), (3, 4), (2, 1, 3)])
def test_arrays_round_trip_with_dtype_and_shape(dtype, shape):
    rng = np.random.default_rng(sum(shape) + len(dtype))
    a = np.asarray(rng.normal(size=shape) * 50).astype(dtype)
    if a.dtype.kind == "f" and a.size:
        a.reshape(-1)[0] = np.nan
    back = round_trip(a)
    assert same(back, a) and back.flags.writeable and back.flags.c_contiguous


@pytest.mark.parametrize("bits", ["PCG64", "MT19937", "Philox", "SFC64"])
def test_a_random_generator_travels_as_its_state(bits):
    rng = np.random.Generator(getattr(np.random, bits)(7))
    rng.normal(size=3)
    back = round_trip(rng)
    assert type(back.bit_generator).__name__ == bits and back is not rng
    np.testing.assert_array_equal(back.normal(size=5), rng.normal(size=5))   # the same draws next


def test_non_contiguous_arrays_travel_as_their_values():
    a = np.arange(24.0).reshape(4, 6)[::2, ::-3]
    assert same(round_trip(a), np.ascontiguousarray(a))


def test_containers_nest_and_keep_their_kinds():
    value = {"t": 3, 7: [1, (2.0, np.zeros(2)), {"m": np.ones((2, 2))}], "": (), "$a": {"$t": []}}
    back = round_trip(value)
    assert same(back, value)
    assert type(back["$a"]) is dict and list(back) == ["t", 7, "", "$a"]   # a key that looks like a tag is data


def test_what_is_not_data_goes_to_other_or_is_refused():
    marker = object()
    seen = []
    text = wire.dumps([1, marker], MB, other=lambda v: seen.append(v) or {"$h": 1})
    assert seen == [marker] and json.loads(text) == [1, {"$h": 1}]
    with pytest.raises(wire.WireError, match="object is not data"):
        wire.dumps([1, marker], MB)
    assert wire.loads(text, MB, {"$h": lambda payload: ("handle", payload)}) == [1, ("handle", 1)]
    with pytest.raises(wire.WireError, match="unknown tag"):
        wire.loads(text, MB)


@pytest.mark.parametrize("array", [np.array([1, "a"], dtype=object), np.zeros(2, dtype="M8[s]"),
                                   np.zeros(2, dtype=[("x", "f8"), ("y", "i4")]), np.array(["ab", "c"])],
                         ids=["object", "datetime", "structured", "unicode"])
def test_arrays_that_are_not_numbers_are_refused(array):
    with pytest.raises(wire.WireError, match="is not data"):
        wire.dumps(array, MB)


def test_sizes_and_depth_are_capped():
    with pytest.raises(wire.WireError, match="size limit"):
        wire.dumps(np.zeros(10_000), 40_000)                 # 80 kB of float64
    with pytest.raises(wire.WireError, match="size limit"):
        wire.dumps("x" * 50_000, 40_000)
    wire.dumps(np.zeros(1000), 40_000)                       # 8 kB fits
    deep = []
    for _ in range(wire.MAX_DEPTH + 1):
        deep = [deep]
    with pytest.raises(wire.WireError, match="nested"):
        wire.dumps(deep, MB)
    ok = []
    for _ in range(wire.MAX_DEPTH - 1):
        ok = [ok]
    assert round_trip(ok) == ok


def test_subclasses_arrive_as_the_plain_value_and_none_of_their_methods_runs():
    ran = []

    class Yes(str):
        def __eq__(self, other):
            ran.append("eq")
            return True
        __hash__ = str.__hash__

        def __str__(self):
            ran.append("str")
            return "forged"

    class Big(float):
        def __float__(self):
            ran.append("float")
            return 1e9

        def __repr__(self):
            ran.append("repr")
            return "1e9"

    class Rows(list):
        def __iter__(self):
            ran.append("iter")
            return iter([42])

    class State(dict):
        def items(self):
            ran.append("items")
            return [("t", 99)]

        def __iter__(self):
            ran.append("dict-iter")
            return iter(["t"])

    class Marked(np.ndarray):
        pass

    values = [Yes("ab"), Big(0.5), Rows([1, 2]), State(m=1.0), (Yes("x"),), np.arange(3.0).view(Marked)]
    back = round_trip(values)
    assert ran == []
    assert [type(v) for v in back] == [str, float, list, dict, tuple, np.ndarray]
    assert back[:5] == ["ab", 0.5, [1, 2], {"m": 1.0}, ("x",)] and type(back[4][0]) is str
    assert same(back[5], np.arange(3.0))


@pytest.mark.parametrize("text, error", [
    ('{"$a": {"dtype": "|O", "shape": [1], "data": "AAAAAAAAAAA="}}', "malformed array"),
    ('{"$a": {"dtype": "<f8", "shape": [2], "data": "AAAAAAAAAAA="}}', "do not fit"),
    ('{"$a": {"dtype": "<f8", "shape": [-1], "data": ""}}', "malformed array"),
    ('{"$a": {"dtype": "<f8", "shape": [1], "data": "AAAAAAAAAAA=", "x": 1}}', "malformed array"),
    ('{"$d": [["a", 1, 2]]}', "malformed dict"),
    ('{"$d": [[1.5, 1]]}', "malformed dict"),
    ('{"$f": "1e400"}', "malformed number"),
    ('{"a": 1, "b": 2}', "malformed value"),
    ("[NaN]", "NaN outside a tag"),
    ("[1, 2", "unreadable JSON"),
])
def test_malformed_messages_are_refused(text, error):
    with pytest.raises(wire.WireError, match=error):
        wire.loads(text, MB)


def test_a_message_over_the_limit_is_refused_before_it_is_parsed():
    with pytest.raises(wire.WireError, match="size limit"):
        wire.loads("[" + "1," * 1000 + "1]", 1000)
    with pytest.raises(wire.WireError, match="nested too deep"):
        wire.loads("[" * 40 + "]" * 40, MB)
