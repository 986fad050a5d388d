"""gradlab.checks: every diagnostic fires on the mistake it names, and only on it."""

import re
import sys

import numpy as np
import pytest

from gradlab import checks


def reference(x):
    return np.sin(x) * 3.0


@pytest.fixture(params=[(), (5,), (3, 4), (2, 3, 4)], ids=lambda s: f"shape{s}")
def x(request):
    rng = np.random.default_rng(sum(request.param) + 7)
    return rng.normal(size=request.param) + 0.1


def diagnostic_of(actual, expected, **kw):
    with pytest.raises(checks.CheckFailure) as info:
        checks.assert_close(actual, expected, **kw)
    return info.value.diagnostic, str(info.value)


def test_match_within_tolerance_passes(x):
    want = reference(x)
    checks.assert_close(want * (1 + 1e-10), want)
    checks.assert_close(np.asarray(want).tolist(), want)  # lists of numbers are fine


def test_none_is_named(x):
    code, message = diagnostic_of(None, reference(x), name="f(x)")
    assert code == "none" and "return" in message


def test_transpose_is_recognised():
    want = np.arange(12.0).reshape(3, 4)
    code, message = diagnostic_of(want.T, want)
    assert code == "shape" and "(3, 4)" in message and "(4, 3)" in message and "transposed" in message


def test_same_size_other_shape():
    want = np.arange(12.0).reshape(3, 4)
    code, message = diagnostic_of(want.reshape(2, 6), want)
    assert code == "shape" and "reshape" in message


@pytest.mark.parametrize("factor, words", [(0.5, "1/2 of"), (2.0, "2×"), (8.0, "8×"),
                                           (1 / 16, "1/16"), (1.7, "1.7×")])
def test_constant_factor(x, factor, words):
    """One input proves a factor, never its cause: assert_close states it and guesses nothing
    (compare names a cause after trying several inputs)."""
    want = reference(x)
    with pytest.raises(checks.CheckFailure) as info:
        checks.assert_close(factor * want, want)
    code, message = info.value.diagnostic, str(info.value)
    if x.size < 2 and factor == 1.7:  # one number is always some multiple of another
        assert code == "mismatch"
    else:
        assert code == "factor" and words in message and info.value.hint is None


def test_a_single_number_is_not_blamed_on_an_odd_factor():
    code, message = diagnostic_of(2.0005, 2.0)
    assert code == "mismatch" and "2.0005" in message
    assert diagnostic_of(4.0, 2.0)[0] == "factor"  # a telling factor still counts


def test_flipped_sign(x):
    code, message = diagnostic_of(-reference(x), reference(x))
    assert code == "sign" and "sign" in message


def test_nan_and_inf_are_located():
    want = np.arange(1.0, 7.0).reshape(2, 3)
    got = want.copy()
    got[1, 2] = np.nan
    code, message = diagnostic_of(got, want)
    assert code == "nan" and "(1, 2)" in message
    got[1, 2] = np.inf
    assert diagnostic_of(got, want)[0] == "nan"


def test_integer_dtype_is_named():
    want = np.array([0.5, 1.5, 2.5])
    code, message = diagnostic_of(want.astype(int), want)
    assert code == "dtype" and "int" in message


def test_integers_where_whole_numbers_are_expected_are_not_blamed_on_the_dtype():
    """An epoch index, a count: the expected values are whole numbers, so a wrong integer is a
    wrong value, never "integer division"."""
    for got, want in [((4, 4), (5, 5)), (np.array([2, 0, 7]), np.array([2.0, 1.0, 7.0])), (3, 2)]:
        code, message = diagnostic_of(np.asarray(got), want)
        assert code != "dtype" and "integer division" not in message, (got, message)


def test_integer_result_that_is_right_passes():
    checks.assert_close(np.array([1, 2, 3]), np.array([1.0, 2.0, 3.0]))


def test_plain_mismatch_reports_worst_entry():
    want = np.zeros((2, 2)) + 1.0
    got = want.copy()
    got[0, 1] += 0.5
    got[1, 0] += 0.01
    code, message = diagnostic_of(got, want)
    assert code == "mismatch" and "(0, 1)" in message and "1.5" in message


def test_not_a_number():
    assert diagnostic_of("abc", 1.0)[0] == "type"
    assert diagnostic_of([[1, 2], [3]], np.zeros(2))[0] == "type"
    assert diagnostic_of(True, 1.0)[0] == "type"


def test_complex_results_are_not_silently_made_real():
    code, message = diagnostic_of(np.array([1 + 5j, 2]), [1.0, 2.0])
    assert code == "dtype" and "complex" in message


def test_infinite_expectations_are_reported_plainly():
    code, message = diagnostic_of([5.0, 1.0], [np.inf, 1.0])
    assert code == "mismatch" and "expected inf" in message and "got 5" in message
    checks.assert_close([np.inf, 1.0], [np.inf, 1.0])


def test_tuples_are_compared_entrywise():
    want = (np.ones(3), np.zeros((2, 2)))
    checks.assert_close((np.ones(3), np.zeros((2, 2))), want)
    code, message = diagnostic_of((np.ones(3), np.ones((2, 2)) * 0 + np.eye(2)), want, name="grads")
    assert "grads[1]" in message
    assert diagnostic_of(np.ones(3), want)[0] == "type"
    # arrays of one shape in a tuple are still separate return values
    code, message = diagnostic_of((np.ones(2), np.ones(3)), (np.ones(2), np.ones(2)), name="grads")
    assert code == "shape" and "grads[1]" in message
    # a tuple of numbers is a vector
    checks.assert_close(np.array([1.0, 2.0]), (1.0, 2.0))


# -- calling student code ------------------------------------------------------------------

def test_compare_returns_the_students_result(x):
    got = checks.compare(lambda v: 3.0 * np.sin(v), reference, x)
    np.testing.assert_array_equal(got, 3.0 * np.sin(x))


def test_known_mistakes_are_named():
    def forward(f, x, h):
        return (f(x + h) - f(x)) / h

    def central(f, x, h):
        return (f(x + h) - f(x - h)) / (2 * h)

    mistakes = {"that is the forward difference": forward}
    with pytest.raises(checks.CheckFailure) as info:
        checks.compare(lambda f, x, h: (f(x + h) - f(x)) / h, central, np.sin, 1.0, 0.01, mistakes=mistakes)
    assert info.value.diagnostic == "known-mistake" and "forward difference" in str(info.value)
    # a wrong answer that is not on the list keeps its own diagnosis
    with pytest.raises(checks.CheckFailure) as info:
        checks.compare(lambda f, x, h: (f(x - h) - f(x + h)) / (2 * h), central, np.sin, 1.0, 0.01,
                       mistakes=mistakes)
    assert info.value.diagnostic == "sign"
    # and a right answer passes
    checks.compare(lambda f, x, h: (f(x + h) - f(x - h)) / h / 2, central, np.sin, 1.0, 0.01, mistakes=mistakes)


def test_mutation_is_caught_and_the_callers_array_is_safe():
    def scale_in_place(v):
        v *= 3.0
        v[...] = np.sin(v / 3.0) * 3.0
        return v

    x = np.linspace(0.1, 1.0, 4)
    before = x.copy()
    with pytest.raises(checks.CheckFailure) as info:
        checks.compare(scale_in_place, reference, x)
    assert info.value.diagnostic == "mutation" and "`v`" in str(info.value)
    np.testing.assert_array_equal(x, before)


def test_tripwire_catches_aliases_and_nested_calls():
    alias = reference

    def cheat(v):
        return alias(v)

    def deep_cheat(v):
        return (lambda w: cheat(w))(v)

    for fn in (cheat, deep_cheat):
        with pytest.raises(checks.CheckFailure) as info:
            checks.compare(fn, reference, np.ones(3))
        assert info.value.diagnostic == "tripwire" and "reference" in str(info.value)


def test_switching_the_tripwire_off_is_caught():
    import sys

    def sneaky(v):
        sys.setprofile(None)
        return reference(v)

    with pytest.raises(checks.CheckFailure) as info:
        checks.compare(sneaky, reference, np.ones(2))
    assert info.value.diagnostic == "tripwire" and "setprofile" in str(info.value)
    assert sys.getprofile() is None


def test_tripwire_follows_threads():
    import threading

    def threaded(v):
        out = {}
        worker = threading.Thread(target=lambda: out.setdefault("r", reference(v)))
        worker.start()
        worker.join()
        return out["r"]

    with pytest.raises(checks.CheckFailure) as info:
        checks.compare(threaded, reference, np.ones(2))
    assert info.value.diagnostic == "tripwire"


def test_tripwire_watches_modules_and_classes():
    from gradlab import checks as module

    with pytest.raises(checks.CheckFailure):
        with checks.tripwire(module):
            module.diagnose(1.0, 1.0)
    with checks.tripwire(module):  # code outside the module runs freely
        np.sin(1.0)

    class Model:
        def forward(self):
            return 1

    with pytest.raises(checks.CheckFailure):
        with checks.tripwire(Model):
            Model().forward()


def test_tripwire_restores_the_previous_profiler():
    import sys

    seen = []
    outer = lambda frame, event, arg: seen.append(event)  # noqa: E731
    sys.setprofile(outer)
    try:
        with checks.tripwire(reference):
            np.zeros(1)
        assert sys.getprofile() is outer
    finally:
        sys.setprofile(None)


def test_not_implemented_becomes_a_hint():
    def todo(v):
        raise NotImplementedError()

    with pytest.raises(checks.CheckFailure) as info:
        checks.compare(todo, reference, np.ones(2))
    assert info.value.diagnostic == "not-implemented" and "todo" in str(info.value)


def test_an_error_in_the_students_code_is_one_message_naming_their_line():
    def broken(v):
        w = v * 2
        return w[10]

    with pytest.raises(checks.CheckFailure) as info:
        checks.compare(broken, reference, np.ones(2))
    failure = info.value
    assert failure.diagnostic == "error" and failure.call == "broken(array([1., 1.]))"
    assert failure.problem == ("raised IndexError: index 10 is out of bounds for axis 0 with size 2 at line 3 "
                               "of `test_an_error_in_the_students_code_is_one_message_naming_their_line.<locals>"
                               ".broken` (return w[10])")
    assert "index past the end" in failure.hint and failure.__cause__ is None


def test_an_error_raised_by_the_test_itself_keeps_its_traceback():
    with pytest.raises(ZeroDivisionError):
        checks.compare(lambda v: v, lambda v: 1 / 0, np.ones(2))


# -- what a student sees in a notebook: install_handler in a real kernel --------------------------

SETUP = "import numpy as np\nfrom gradlab import checks, calculus as ref\nchecks.install_handler()"
STUB = "def grad_quadratic(x, y):\n    # YOUR CODE HERE\n    raise NotImplementedError()"
BROKEN = ("def central_difference(f, x, h=1e-5):\n    d = 2 * h\n"
          "    return (f(x + h) - f(x - h) / d\n\nprint('never runs')")
FORWARD = "def central_difference(f, x, h=1e-5):\n    return (f(x + h) - f(x)) / h"
LOOKS_FORWARD = ('checks.compare(central_difference, ref.central_difference, np.sin, 1.0, h=1e-2, '
                 'name="central_difference(np.sin, 1.0, h=0.01)", '
                 'mistakes={"it matches the forward difference": ref.forward_difference})')
CELLS = {
    "setup": SETUP,
    "stub": STUB,
    # a direct call, not through checks.compare: the stub's own NotImplementedError
    "test_stub": 'checks.assert_close(grad_quadratic(1.0, 2.0), [4.0, 5.0], name="grad_quadratic(1.0, 2.0)")',
    "broken": BROKEN,
    "test_broken": LOOKS_FORWARD,
    "forward": FORWARD,
    "test_forward": LOOKS_FORWARD,
    "test_factor": 'checks.assert_close(2 * np.arange(1.0, 4.0), np.arange(1.0, 4.0), name="double(x)")',
    # Run All ran the stub first; the student's edit since does not parse: the placeholder is stale
    "stale_stub": "def jacobian(f, x):\n    raise NotImplementedError()",
    "stale_broken": "def jacobian(f, x):\n    J = np.zeros((2, 2)\n    return J",
    "test_stale_direct": "jacobian(np.sin, 1.0)",
    "test_stale_compare": "checks.compare(jacobian, lambda f, x: np.eye(2), np.sin, 1.0)",
    "test_bare_assert": 'x = np.ones(2)\nassert x.sum() == 3, f"the sum is {x.sum()}, not 3"',
    "bare_assert_without_message": "assert 1 == 2",
    "indexes": "def first_row(W):\n    return W[10]",
    "test_indexes": "from gradlab import checks\nfirst_row(np.zeros((2, 2)))",
    # a test cell that only calls gradlab.exercises, which calls the student's function itself
    "bn_indexes": "def bad_forward(x, gamma, beta, bn_param):\n    return x[10]",
    "test_through_exercises": ("from gradlab.exercises import batchnorm as ex\n"
                               "ex.stored(bad_forward, np.zeros((2, 2)), np.ones(2), np.zeros(2), {})"),
    "other_error": "1 / 0",
    "typo": "undefined_thing + 1",
    "after": "print('Run All reached the end')",
}


@pytest.fixture(scope="module")
def shown():
    """The notebook above, run in a real kernel as Run All does: {cell: its outputs}."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src, metadata={"name": name}) for name, src in CELLS.items()]
    NotebookClient(nb, timeout=60, kernel_name="python3", allow_errors=True).execute()
    return {c.metadata["name"]: c.outputs for c in nb.cells}


def _error(outputs):
    (error,) = [o for o in outputs if o.output_type == "error"]
    return error


def _plain(lines) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(lines))


@pytest.mark.kernel
def test_a_known_mistake_is_one_short_message(shown):
    error = _error(shown["test_forward"])
    text = _plain(error.traceback)
    assert text == ("Test failed: central_difference(np.sin, 1.0, h=0.01)\n"
                    f"  expected {(np.sin(1.01) - np.sin(0.99)) / 0.02:.10g}, "
                    f"got {(np.sin(1.01) - np.sin(1.0)) / 0.01:.10g}\n"
                    "  likely mistake: it matches the forward difference")
    # the grader's contract: ename and the one-line evalue keep the diagnostic code
    assert error.ename == "CheckFailure" and error.evalue.endswith("(check: known-mistake)")
    assert "mismatch" not in error.evalue and "Traceback" not in text


@pytest.mark.kernel
def test_a_failed_check_says_what_was_expected(shown):
    text = _plain(_error(shown["test_factor"]).traceback)
    assert text == "Test failed: double(x)\n  expected 1 at index (0,), got 2: 2× the expected value at every entry"


@pytest.mark.kernel
def test_the_stub_says_not_implemented_yet(shown):
    error = _error(shown["test_stub"])
    assert _plain(error.traceback) == ("Test failed: `grad_quadratic` is not implemented yet\n"
                                       "  replace `raise NotImplementedError()` with your code")
    assert error.ename == "NotImplementedError" and error.evalue.endswith("(check: not-implemented)")


@pytest.mark.kernel
def test_a_syntax_error_is_named_in_the_test_that_needs_the_function(shown):
    assert _error(shown["broken"]).ename == "SyntaxError"  # the answer cell itself, as Python says
    error = _error(shown["test_broken"])
    text = _plain(error.traceback)
    assert text.startswith("Test failed: your `central_difference` cell has a syntax error on line 3")
    assert "NameError" not in text and len(error.traceback) == 2
    assert error.ename == "NameError" and error.evalue.endswith("(check: syntax-error)")


@pytest.mark.kernel
@pytest.mark.parametrize("cell", ["test_stale_direct", "test_stale_compare"])
def test_a_syntax_error_after_run_all_is_not_reported_as_not_implemented(shown, cell):
    """The stub's placeholder from the first run still answers; the test names the broken cell."""
    error = _error(shown[cell])
    text = re.sub(r"\s+", " ", _plain(error.traceback))  # as wrapped for the screen
    assert text.startswith("Test failed: your `jacobian` cell has a syntax error on line 2: '(' was never closed")
    assert "not implemented" not in text and error.evalue.endswith("(check: syntax-error)")


@pytest.mark.kernel
def test_a_tests_own_assert_is_its_message_alone(shown):
    error = _error(shown["test_bare_assert"])
    assert _plain(error.traceback) == "Test failed: the sum is 2.0, not 3"
    assert error.ename == "AssertionError" and error.evalue.endswith("(check: assert)")
    assert "Traceback" in _plain(_error(shown["bare_assert_without_message"]).traceback) or \
        "assert 1 == 2" in _plain(_error(shown["bare_assert_without_message"]).traceback)


@pytest.mark.kernel
def test_an_error_in_a_function_a_test_calls_is_its_line(shown):
    error = _error(shown["test_indexes"])
    text = re.sub(r"\s+", " ", _plain(error.traceback))
    assert text.startswith("Test failed: first_row(...) raised IndexError: index 10 is out of bounds for axis 0 "
                           "with size 2 at line 2 of `first_row` (return W[10])")
    assert "this usually means: an index past the end" in text and error.evalue.endswith("(check: error)")


@pytest.mark.kernel
def test_an_error_in_a_function_an_exercise_helper_calls_is_its_line(shown):
    """A visible test cell of a few lines calls gradlab.exercises, not `checks`: still a test."""
    error = _error(shown["test_through_exercises"])
    text = re.sub(r"\s+", " ", _plain(error.traceback))
    assert text.startswith("Test failed: bad_forward(...) raised IndexError: index 10 is out of bounds for axis 0 "
                           "with size 2 at line 2 of `bad_forward` (return x[10])"), text
    assert error.evalue.endswith("(check: error)")


@pytest.mark.kernel
def test_other_errors_keep_their_traceback(shown):
    assert _error(shown["other_error"]).ename == "ZeroDivisionError"
    assert "1 / 0" in _plain(_error(shown["other_error"]).traceback)
    typo = _error(shown["typo"])
    assert typo.ename == "NameError" and "undefined_thing" in _plain(typo.traceback)
    assert [o.text for o in shown["after"] if o.output_type == "stream"] == ["Run All reached the end\n"]


def test_install_handler_outside_ipython_changes_nothing():
    hook = sys.excepthook
    checks.install_handler()
    assert sys.excepthook is hook


def test_nested_returns_of_several_shapes_are_compared_entry_by_entry():
    """An MLP's (loss, [(dW1, db1), (dW2, db2)]) has arrays of several shapes: compared entry by
    entry with the entry named, never a raw ValueError from NumPy."""
    rng = np.random.default_rng(0)
    grads = [(rng.normal(size=(3, 4)), rng.normal(size=4)), (rng.normal(size=(4, 2)), rng.normal(size=2))]
    expected = (1.5, grads)
    checks.assert_close((1.5, [(a.copy(), b.copy()) for a, b in grads]), expected)
    wrong = (1.5, [grads[0], (grads[1][0].T, grads[1][1])])
    with pytest.raises(checks.CheckFailure, match=r"result\[1\]\[1\]\[0\].*transposed") as info:
        checks.assert_close(wrong, expected)
    assert info.value.diagnostic == "shape"


def test_known_mistakes_are_recognised_in_nested_returns():
    rng = np.random.default_rng(1)
    W = [rng.normal(size=(3, 4)), rng.normal(size=(4, 2))]
    reference = lambda ws: [w * 2 for w in ws]
    halved = lambda ws: [w for w in ws]                 # the typical mistake: no factor 2
    with pytest.raises(checks.CheckFailure, match="forgot the 2") as info:
        checks.compare(halved, reference, W, mistakes={"forgot the 2": halved})
    assert info.value.diagnostic == "known-mistake"


def test_an_update_rule_result_with_its_state_dict_is_compared():
    """(next_w, state) from an optimizer: the state dict is compared key by key."""
    from gradlab import optim

    w, dw = np.array([1.0, -2.0]), np.array([0.5, 0.25])
    expected = optim.momentum(w, dw, None, lr=0.1)
    checks.assert_close(optim.momentum(w.copy(), dw.copy(), None, lr=0.1), expected)
    flipped = (expected[0], {**expected[1], "v": -expected[1]["v"]})
    with pytest.raises(checks.CheckFailure, match=r'\[1\]\["v"\]') as info:
        checks.assert_close(flipped, expected)
    assert info.value.diagnostic == "sign"
    with pytest.raises(checks.CheckFailure, match="keys") as info:
        checks.assert_close((expected[0], {"t": 1}), expected)
    assert info.value.diagnostic == "type"
