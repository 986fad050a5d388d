"""The trusted checker on real kernels: test code runs in the grader, the kernel only answers."""

from __future__ import annotations

import contextlib
import statistics
import textwrap

import numpy as np
import pytest
from jupyter_client.manager import start_new_kernel

from gradlab import checks
from gradlab_grader.execution import trusted
from gradlab_grader.execution.trusted import KernelLink, TestNamespace, Verdict, run_test_cell

from . import trusted_oracle

pytestmark = pytest.mark.kernel

TRUSTED = frozenset({"numpy", "gradlab"})

STUDENT = '''
import numpy as np
from gradlab import checks
checks.install_handler()

class Vec:
    """A small object the tests reach through a proxy."""
    def __init__(self, *xs):
        self.xs = list(xs)
    def __add__(self, other):
        return Vec(*[x + (other.xs[i] if isinstance(other, Vec) else other) for i, x in enumerate(self.xs)])
    __radd__ = __add__
    def __mul__(self, k):
        return Vec(*[x * k for x in self.xs])
    def __eq__(self, other):
        return isinstance(other, Vec) and self.xs == other.xs
    __hash__ = None
    def __len__(self):
        return len(self.xs)
    def __getitem__(self, i):
        return self.xs[i]
    def __setitem__(self, i, v):
        self.xs[i] = v
    def __repr__(self):
        return f"Vec{tuple(self.xs)}"
    def norm(self):
        return float(np.sqrt(sum(x * x for x in self.xs)))

class Yes(str):
    def __eq__(self, other):
        return True
    __hash__ = str.__hash__

def double(x):
    print("doubling")
    return 2 * np.asarray(x, dtype=float)

def scale_(x, k=2.0):
    x *= k

def grow(items, state):
    items.append(len(items))
    state["t"] = state.get("t", 0) + 1
    state["v"] += 1.0

def apply(f, x):
    return f(x) + 1

def stub(x):
    raise NotImplementedError()

def broken(x):
    y = x + 1
    return y["k"]

def chatty(n):
    for i in range(n):
        print("x" * 99)
    return n

def asks():
    return input("your name? ")

def spin():
    while True:
        pass

def die():
    import os
    os._exit(3)

import functools

@functools.wraps(double)
def traced(x):
    return double(x)

def counted(x):
    counted.calls = getattr(counted, "calls", 0) + 1
    return x

def mimic():
    """Answers a call itself, in the agent's words and with the number of the request running."""
    import sys
    frame = sys._getframe()
    while frame.f_code.co_name != "call" or "n" not in frame.f_locals:
        frame = frame.f_back
    fake = _gradlab_agent.dumps({"ok": {"result": 42, "args": {}, "kwargs": {}}})
    return input(f"\\x00gradlab-answer:{frame.f_locals['n']}:{fake}")

data = {"w": np.arange(6.0).reshape(2, 3), "names": ["a", "b"]}
answer = Yes("anything")
'''


def _kernel(code: str = STUDENT):
    km, kc = start_new_kernel(kernel_name="python3")
    reply = kc.execute_interactive(code, timeout=60)
    assert reply["content"]["status"] == "ok"
    return km, kc


@pytest.fixture(scope="module")
def kernel():
    km, kc = _kernel()
    yield km, kc
    kc.stop_channels()
    km.shutdown_kernel(now=True)


@pytest.fixture(scope="module")
def link(kernel):
    link = KernelLink(kernel[0].get_connection_info(), call_timeout=20)
    link.start()
    yield link
    link.close()


@contextlib.contextmanager
def own_link(kernel, call_timeout: float):
    """A link of the test's own to the module's kernel (its own limits)."""
    link = KernelLink(kernel[0].get_connection_info(), call_timeout=call_timeout)
    link.start()
    try:
        yield link
    finally:
        link.close()


def fetch(link, *names):
    """What a test cell that reads ``names`` is given."""
    namespace = TestNamespace()
    with namespace.reading(link, TRUSTED):
        namespace.take_for("\n".join(names))
    return [namespace.get(n) for n in names]


def run(link, source, namespace=None, **kw) -> Verdict:
    """``namespace``: the notebook's, or a dict of names the cell starts with (a fresh namespace)."""
    kw.setdefault("timeout", 60)
    kw.setdefault("trusted_modules", TRUSTED)
    if not isinstance(namespace, TestNamespace):
        namespace = TestNamespace(namespace or {})
    return run_test_cell(link, textwrap.dedent(source), namespace, **kw)


def error(verdict: Verdict) -> dict:
    [err] = [o for o in verdict.outputs if o["output_type"] == "error"]
    return err


# ---------------------------------------------------------------------------------------------
# names, data and proxies
# ---------------------------------------------------------------------------------------------

def test_data_comes_by_value_and_objects_as_proxies(link):
    data, double, vec_class, np_module = fetch(link, "data", "double", "Vec", "np")
    assert np_module is np                                 # a trusted module: imported here
    assert type(data) is dict and data["names"] == ["a", "b"]
    np.testing.assert_array_equal(data["w"], np.arange(6.0).reshape(2, 3))
    assert isinstance(double, trusted.Proxy) and callable(double)
    assert double.__name__ == "double" and double.__module__ == "__main__"
    assert list(__import__("inspect").signature(double).parameters) == ["x"]


def test_a_str_subclass_arrives_as_a_plain_str(link):
    [answer] = fetch(link, "answer")
    assert type(answer) is str and answer == "anything" and answer != "something else"


def test_proxy_dunders_run_in_the_kernel_and_identity_is_kept(link):
    [Vec] = fetch(link, "Vec")
    v = Vec(1.0, 2.0)
    assert type(v).__name__ == "Vec" and not callable(v) and repr(v) == "Vec(1.0, 2.0)" and f"{v}" == str(v)
    w = v + 1
    assert isinstance(w, Vec) and not isinstance(3, Vec)
    assert list(w) == [2.0, 3.0] and len(w) == 2 and w[1] == 3.0 and 3.0 in w
    assert (10 + v)[0] == 11.0 and (v * 3).xs == [3.0, 6.0]
    assert v == Vec(1.0, 2.0) and v != w
    v[0] = 3.0
    v.label = "mine"
    assert v.xs == [3.0, 2.0] and v.label == "mine" and v.norm() == pytest.approx(np.sqrt(13.0))
    with pytest.raises(AttributeError, match="has no attribute 'missing'"):
        _ = v.missing
    assert getattr(v, "__globals__", None) is None                  # dunders are not forwarded
    assert v.xs is not None and (v + 0) is not v
    same = fetch(link, "Vec")[0]
    assert same is Vec                                              # one proxy per kernel object
    assert np.asarray(v).tolist() == [3.0, 2.0]                      # a sequence to NumPy, as there
    assert np.asarray(v.norm).dtype == object                        # a bound method is not


def test_callbacks_run_here_with_data_and_numpy_goes_by_name(link):
    [apply] = fetch(link, "apply")
    seen = []
    assert apply(lambda x: seen.append(x) or x * 10, 4) == 41 and seen == [4]
    assert apply(np.sin, 0.0) == 1.0 and link.callbacks == {}      # np.sin: the kernel's own
    np.testing.assert_allclose(apply(lambda a: a @ np.ones(3), np.eye(3)), 2 * np.ones(3))

    def fails(x):
        raise ValueError("from the test")
    with pytest.raises(ValueError, match="from the test") as caught:
        apply(fails, 1)
    assert caught.value.remote_frames[-1].name == "apply"


def test_the_students_own_input_ends_at_once(link):
    [asks] = fetch(link, "asks")
    with pytest.raises(EOFError) as caught:
        asks()
    assert [f.text for f in caught.value.remote_frames if f.notebook] == ['return input("your name? ")']


def test_the_students_own_input_ends_at_once_inside_a_cell(link):
    verdict = run(link, """
        import numpy as np
        print("a")
        assert double(1) == 2
        print("b")
        try:
            asks()
        except EOFError:
            print("c")
        assert double(np.arange(3.0)).tolist() == [0.0, 2.0, 4.0]
    """)
    assert verdict == Verdict(True, [{"output_type": "stream", "name": "stdout",
                                      "text": "a\ndoubling\nb\nc\ndoubling\n"}])


def test_an_input_mimicking_the_agent_fails_only_its_own_cell(link):
    verdict = run(link, """
        assert mimic() == 42              # the grader took the student's prompt for the answer
        assert double(1) == 2             # ... and the answer that follows is out of order
    """)
    assert not verdict.passed and not verdict.kernel_dead and "out of order" in verdict.reason
    assert run(link, "checks.assert_close(double(2), 4.0)", {"checks": checks}).passed
    again = run(link, "checks.assert_close(double(2), 5.0, name='double(2)')", {"checks": checks})
    assert not again.passed and again.reason is None and "expected 5, got 4" in error(again)["evalue"]


def test_an_unreadable_answer_stops_the_cell_and_not_the_next(link, kernel):
    kernel[1].execute_interactive("_gradlab_agent.dumps = lambda value: '{not json'", timeout=30)
    try:
        verdict = run(link, "double(1)")
    finally:
        kernel[1].execute_interactive("del _gradlab_agent.dumps", timeout=30)
    assert not verdict.passed and not verdict.kernel_dead and "unreadable" in verdict.reason
    assert run(link, "checks.assert_close(double(2), 4.0)", {"checks": checks}).passed


def test_a_request_larger_than_a_code_string_goes_over_stdin(link):
    big = np.arange(40_000.0)                          # about 400 kB of JSON
    assert len(str(big.tolist())) > trusted.INLINE_REQUEST
    [double] = fetch(link, "double")
    np.testing.assert_array_equal(double(big), 2 * big)                      # a session's first request
    verdict = run(link, """
        import numpy as np
        big = np.arange(40_000.0)
        assert (double(1) == 2) and (double(big) == 2 * big).all() and (double(-big) == -2 * big).all()
    """)
    assert verdict.passed, verdict.outputs                                # later requests of a session


def test_a_plain_function_answers_what_it_cannot_have_without_asking(link, monkeypatch):
    double, traced, counted = fetch(link, "double", "traced", "counted")
    sent = []
    request = link.request
    monkeypatch.setattr(link, "request", lambda op, **f: sent.append((op, f.get("name"))) or request(op, **f))
    assert getattr(double, "__wrapped__", None) is None and getattr(double, "func", None) is None
    with pytest.raises(AttributeError, match="'function' object has no attribute 'func'"):
        _ = double.func
    assert sent == []
    assert traced.__wrapped__ is double                   # functools.wraps: asked, the kernel's own
    assert sent == [("getattr", "__wrapped__")]
    assert counted(3) == 3 and counted.calls == 1         # set by the call: asked for
    assert sent[1:] == [("call", None), ("getattr", "calls")]


def test_the_number_of_callbacks_per_call_is_capped(kernel, link):
    kernel[1].execute_interactive("_gradlab_agent.stub.__func__.__globals__['MAX_CALLBACKS'] = 5\n"
                                  "def many(f):\n    return [f(i) for i in range(10)]", timeout=30)
    try:
        [many] = fetch(link, "many")
        with pytest.raises(RuntimeError, match="more than 5 calls"):
            many(lambda i: i)
    finally:
        kernel[1].execute_interactive("_gradlab_agent.stub.__func__.__globals__['MAX_CALLBACKS'] = 50_000", timeout=30)


def test_mutations_are_written_back_into_the_arguments(link, kernel):
    kernel[1].execute_interactive("def draw(rng):\n    return rng.normal(size=2)", timeout=30)
    [draw] = fetch(link, "draw")
    rng, twin = np.random.default_rng(5), np.random.default_rng(5)
    first = draw(rng)
    np.testing.assert_array_equal(first, twin.normal(size=2))
    np.testing.assert_array_equal(draw(rng), twin.normal(size=2))   # the generator advanced here too
    scale_, grow = fetch(link, "scale_", "grow")
    x = np.array([1.0, 2.0])
    keep = x
    scale_(x, k=3.0)
    assert x is keep and x.tolist() == [3.0, 6.0]
    v = np.zeros(2)
    items, state = [7], {"v": v}
    grow(items, state)
    assert items == [7, 1] and state["t"] == 1 and state["v"] is v and v.tolist() == [1.0, 1.0]


def test_library_objects_travel_as_copies_and_come_back_as_themselves(link, kernel):
    kernel[1].execute_interactive(textwrap.dedent("""
        def topological_order(root):
            order, seen, stack = [], set(), [(root, False)]
            while stack:
                node, done = stack.pop()
                if done:
                    order.append(node)
                elif id(node) not in seen:
                    seen.add(id(node))
                    stack += [(node, True)] + [(child, False) for child in node._prev]
            return order

        def backward(root):
            root.grad = 1.0
            for node in reversed(topological_order(root)):
                node._backward()
    """), timeout=30)
    from gradlab import autodiff
    link.trusted_modules, link._library_modules = frozenset({"gradlab"}), {}
    topological_order, backward = fetch(link, "topological_order", "backward")
    x, y = autodiff.Value(1.0), autodiff.Value(2.0)
    f = x ** 2 + x * y + y ** 2                                      # deck 000: gradient (4, 5)
    order = topological_order(f)
    assert order[-1] is f and {id(n) for n in order} >= {id(x), id(y)}   # the test's own nodes
    backward(f)
    assert (x.grad, y.grad, f.grad) == (4.0, 5.0, 1.0)
    chain = x
    for _ in range(3000):                                            # deeper than any recursion
        chain = chain * 0.999 + 0.001
    x.grad = 0.0
    backward(chain)
    assert x.grad == pytest.approx(0.999 ** 3000, rel=1e-9)


def test_a_mutation_reads_as_in_the_kernel(link, kernel):
    source = "checks.assert_not_mutated(scale_, np.array([1.0, 2.0]))"
    verdict = run(link, "from gradlab import checks\nimport numpy as np\n" + source)
    in_kernel = trusted_oracle._kernel_cell(kernel[1], source, 30)
    assert not verdict.passed and in_kernel == (False, error(verdict)["evalue"])
    assert "scale_ changed its argument `x` in place (entry (0,) changed from 1.0 to 2.0)" in in_kernel[1]


# ---------------------------------------------------------------------------------------------
# verdicts and messages
# ---------------------------------------------------------------------------------------------

def test_a_passing_cell_keeps_its_prints_and_the_students(link):
    verdict = run(link, """
        from gradlab import checks
        checks.assert_close(double(3), 6.0, name="double(3)")
        print("double: visible test passed")
    """)
    assert verdict == Verdict(True, [{"output_type": "stream", "name": "stdout",
                                      "text": "doubling\ndouble: visible test passed\n"}])


@pytest.mark.parametrize("source, ename, evalue", [
    ("checks.assert_close(double(3), 7.0, name='double(3)')", "CheckFailure", "double(3): expected 7, got 6"),
    ("checks.compare(stub, double, 3.0)", "CheckFailure", "`stub` is not implemented yet"),
    ("stub(3)", "NotImplementedError", "`stub` is not implemented yet"),
    ("broken(3)", "TypeError", "broken(...): raised TypeError: 'int' object is not subscriptable at line 3 "
                               "of `broken` (return y[\"k\"])"),
    ("checks.compare(broken, double, 3.0)", "CheckFailure", "at line 3 of `broken`"),
    ("nowhere(3)", "NameError", "name 'nowhere' is not defined"),
    ("assert double(1)[()] == 3, 'one doubled is 2'", "AssertionError", "one doubled is 2 (check: assert)"),
])
def test_a_failure_reads_exactly_as_in_the_kernel(link, kernel, source, ename, evalue):
    verdict = run(link, "from gradlab import checks\nimport numpy as np\n" + source)
    err = error(verdict)
    assert not verdict.passed and verdict.reason is None and err["ename"] == ename and evalue in err["evalue"]
    assert trusted_oracle._kernel_cell(kernel[1], source, 30) == (False, err["evalue"])


def test_a_helper_of_an_earlier_test_cell_still_reaches_the_notebook(link, kernel):
    namespace = TestNamespace()
    first = run(link, "def doubled_sum(x):\n    return float(double(x).sum())\nassert doubled_sum([1, 2]) == 6",
                namespace)
    kernel[1].execute_interactive("def double(x):\n    return 3 * np.asarray(x, dtype=float)", timeout=30)
    try:
        second = run(link, "assert doubled_sum([1, 2]) == 9, 'the notebook redefined double'", namespace)
    finally:
        original = "def double(x):\n    print('doubling')\n    return 2 * np.asarray(x, dtype=float)"
        kernel[1].execute_interactive(original, timeout=30)
    assert first.passed and second.passed, second.outputs


# ---------------------------------------------------------------------------------------------
# the test cells' namespace: what it takes from the kernel, when, and what test code sees of it
# ---------------------------------------------------------------------------------------------

@pytest.fixture
def requests(link):
    """The (op, fields) of every request the link sends during the test."""
    sent: list[tuple[str, dict]] = []
    original = link.request

    def counted(op, **fields):
        sent.append((op, fields))
        return original(op, **fields)
    link.request = counted
    yield sent
    del link.request


def _names_asked(sent) -> list[list[str]]:
    return [fields["names"] for op, fields in sent if op == "names"]


def test_a_cells_names_come_in_one_request_and_again_next_cell(link, requests):
    namespace = TestNamespace()
    first = run(link, "assert double(1)[()] == 2.0 and len(data['names']) == 2 and isinstance(np.pi, float)",
                namespace)
    second = run(link, "assert sorted(data) == ['names', 'w']", namespace)
    assert first.passed and second.passed, (first.outputs, second.outputs)
    # one request a cell, builtins (len, isinstance, sorted) never asked for; the names the first
    # cell took are taken again for the second (the notebook may have changed them)
    assert _names_asked(requests) == [["data", "double", "np"], ["data", "double", "np"]]
    assert namespace["np"] is np                             # a trusted module: imported here


def test_what_the_namespace_took_is_no_name_test_code_sees(link):
    namespace = TestNamespace()
    run(link, "assert double(2)[()] == 4.0", namespace)
    seen = run(link, "hidden = [k for k in globals() if k.startswith('__') and k not in "
                     "('__name__', '__builtins__')]\n"
                     "assert hidden == [], hidden", namespace)
    assert seen.passed, seen.outputs
    assert set(namespace) == {"__name__", "__builtins__", "double", "hidden"}


def test_a_name_gone_from_the_kernel_is_dropped(link, kernel):
    namespace = TestNamespace()
    kernel[1].execute_interactive("fleeting = 3", timeout=30)
    try:
        first = run(link, "assert fleeting == 3", namespace)
    finally:
        kernel[1].execute_interactive("del fleeting", timeout=30)
    second = run(link, "assert 'fleeting' not in globals()", namespace)
    assert first.passed and second.passed, second.outputs
    assert "fleeting" not in namespace


def test_a_helper_reads_a_name_the_notebook_defined_after_it(link, kernel, requests):
    """A name a helper of an earlier test cell reads, that the kernel did not have then and the
    later cell does not read itself, is taken from the kernel when the helper reads it."""
    namespace = TestNamespace()
    first = run(link, "def later_twice(x):\n    return 2 * later(x)", namespace)
    kernel[1].execute_interactive("def later(x):\n    return x + 1", timeout=30)
    try:
        second = run(link, "assert later_twice(1) == 4\nassert list(range(2)) == [0, 1]", namespace)
    finally:
        kernel[1].execute_interactive("del later", timeout=30)
    assert first.passed and second.passed, second.outputs
    assert _names_asked(requests) == [["later"], [], ["later"]]   # never a builtin (list, range)


def test_a_cell_prints_arrays_with_the_notebooks_print_options(link, kernel):
    kernel[1].execute_interactive("np.set_printoptions(precision=3, suppress=True)", timeout=30)
    try:
        verdict = run(link, "print(np.array([1 / 3, 1e-9]))", TestNamespace())
    finally:
        kernel[1].execute_interactive("np.set_printoptions(precision=8, suppress=False)", timeout=30)
    assert verdict.passed and verdict.outputs[0]["text"] == "[0.333 0.   ]\n"


def test_a_broken_definition_is_named_from_the_history(link):
    history = ["import numpy as np", "def nowhere(x):\n    return x +* 2\n"]
    verdict = run(link, "nowhere(3)", history=history)
    assert error(verdict)["evalue"].startswith("your `nowhere` cell has a syntax error on line 2")


def test_the_hidden_source_never_reaches_the_kernel(link):
    secret = "expected_value_7d1e"
    run(link, f"""
        ### BEGIN HIDDEN TESTS
        {secret} = 6.0
        checks.assert_close(double(3), {secret}, name="double(3)")
        ### END HIDDEN TESTS
    """, {"checks": checks})
    [history] = fetch(link, "In")
    assert history and not any(secret in cell for cell in history)
    [namespace] = fetch(link, "_gradlab_agent")
    assert secret not in repr(namespace.objects)


def test_student_output_is_capped(link):
    verdict = run(link, "chatty(1000)")
    [out] = verdict.outputs
    assert verdict.passed and out["name"] == "stdout"
    assert trusted.STUDENT_OUTPUT_CAP <= len(out["text"]) < trusted.STUDENT_OUTPUT_CAP + 200
    assert out["text"].endswith(f"printed more than {trusted.STUDENT_OUTPUT_CAP} characters)\n")


def test_a_hanging_call_is_interrupted_and_the_link_still_works(kernel):
    with own_link(kernel, 2) as link:
        verdict = run(link, "spin()")
        assert not verdict.passed and not verdict.kernel_dead and "longer than 2 s" in verdict.reason
        assert error(verdict)["evalue"] == verdict.reason
        again = run(link, "checks.assert_close(double(2), 4.0)", {"checks": checks})
        assert again.passed


def test_a_call_that_times_out_inside_a_session_leaves_the_next_cell_right(kernel):
    with own_link(kernel, 20) as link:
        verdict = run(link, "assert double(1) == 2\nspin()", timeout=2)
        assert not verdict.passed and not verdict.kernel_dead and "longer than 2 s" in verdict.reason
        assert verdict.outputs[0] == {"output_type": "stream", "name": "stdout", "text": "doubling\n"}
        slow = run(link, "import time\nassert apply(lambda x: time.sleep(3) or x, 1) == 2", timeout=2)
        assert not slow.passed and not slow.kernel_dead and "longer than" in slow.reason
        bad = run(link, "checks.assert_close(double(2), 5.0, name='double(2)')", {"checks": checks})
        assert not bad.passed and bad.reason is None and "expected 5, got 4" in error(bad)["evalue"]
        assert run(link, "checks.assert_close(double(2), 4.0)", {"checks": checks}).passed


def test_an_interrupt_that_finds_the_agent_waiting_ends_its_session(kernel):
    import time
    with own_link(kernel, 20) as link:
        with pytest.raises(trusted.KernelStopped, match="ended the grader's requests"):
            with link.cell(20):
                [double] = fetch(link, "double")          # the agent now waits for the next request
                link._interrupt()
                time.sleep(1.0)
                double(1)
        assert link.session is None and not link.dead
        assert run(link, "checks.assert_close(double(2), 4.0)", {"checks": checks}).passed


def test_a_kernel_that_dies_gives_kernel_dead():
    km, kc = _kernel()
    link = KernelLink(km.get_connection_info(), call_timeout=20)
    link.start()
    try:
        verdict = run(link, "die()")
        assert verdict.kernel_dead and not verdict.passed and "died" in verdict.reason
        assert run(link, "double(1)").kernel_dead                 # nothing more is asked of it
    finally:
        link.close()
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_round_trip_cost(link):
    import time
    times = []
    for _ in range(40):
        t0 = time.perf_counter()
        link.request("names", names=["data"])
        times.append(time.perf_counter() - t0)
    print(f"round trip: median {statistics.median(times) * 1000:.1f} ms")   # reported, never asserted


# ---------------------------------------------------------------------------------------------
# the oracle: every test cell of the solutions and their mistakes, both ways
# ---------------------------------------------------------------------------------------------

# The oracle over whole assignments (every test cell of the solution and of each mistake, in the
# kernel and here) is bench/bench_trusted.py: it agreed on all eight when the checker was built,
# at about 2 minutes an assignment.  The suite grades every assignment's mistake set through the
# checker in tests/notebooks/test_assignments.py, each mistake's exact hint and message included.


def test_a_sandboxed_kernel_is_reached_the_same_way(tmp_path):
    """bubblewrap's kernel talks over unix sockets in a private folder: the link uses its
    connection info as nbclient does."""
    import asyncio

    from gradlab_grader.kernel import bubblewrap, sandbox
    if not bubblewrap.available():
        pytest.skip(bubblewrap.unavailable_reason())
    km = sandbox.sandboxed_kernel_manager(tmp_path, require=True)

    async def go():
        await km.start_kernel()
        try:
            client = km.client()
            client.start_channels()
            await client.wait_for_ready(timeout=60)
            await client.execute_interactive("import numpy as np\ndef double(x):\n    return 2 * np.asarray(x)\n"
                                             "def backward(root):\n    root.grad = 1.0\n    root._backward()",
                                             timeout=60)
            client.stop_channels()
            info = km.get_connection_info()
            assert info["transport"] == "ipc"

            def check():
                link = KernelLink(info, call_timeout=20)
                link.start()
                try:
                    ok = run(link, "checks.assert_close(double(4), 8.0)", {"checks": checks})
                    bad = run(link, "checks.assert_close(double(4), 9.0, name='double(4)')", {"checks": checks})
                    graph = run(link, "from gradlab import autodiff\nx = autodiff.Value(3.0)\nbackward(x * x)\n"
                                      "checks.assert_close(x.grad, 6.0)", {"checks": checks})
                    return ok, bad, graph
                finally:
                    link.close()
            return await asyncio.to_thread(check)
        finally:
            await km.shutdown_kernel(now=True)

    ok, bad, graph = asyncio.run(go())
    assert graph.passed, graph.outputs                  # a copy of the library's objects, under the guard
    assert ok.passed and not bad.passed and error(bad)["evalue"].startswith("double(4): expected 9, got 8")
