"""The similarity check finds planted copies in a generated class and nothing honest."""

from __future__ import annotations

import numpy as np
import pytest

from gradlab_grader.outputs import similarity as sim

from .synthetic_answers import disguise, honest_class
from conftest import REPO

EXERCISE = "numerical_gradient"


@pytest.fixture(scope="module")
def reference():
    return sim.reference_functions(REPO / "lib" / "gradlab")


@pytest.mark.parametrize("seed", [1, 2])
def test_planted_copies_are_found_and_no_honest_pair_is(seed, reference):
    rng = np.random.default_rng(seed)
    answers = honest_class(300, seed=seed)
    victim = f"s{rng.integers(300):04d}"
    answers["copycat"] = {EXERCISE: disguise(answers[victim][EXERCISE], rng)}
    answers["from_reference"] = {EXERCISE: disguise(reference[f"{sim.REFERENCE}calculus.numerical_gradient"], rng)}
    assert answers["copycat"][EXERCISE] != answers[victim][EXERCISE]

    pairs = sim.find_similar(answers, reference=reference)

    found = {(p.a, p.b) for p in pairs}
    assert found == {("copycat", victim), ("from_reference", f"{sim.REFERENCE}calculus.numerical_gradient")}
    copy = next(p for p in pairs if p.a == "copycat")
    assert copy.score >= 0.9 and copy.b_source == answers[victim][EXERCISE]


def test_normalisation_ignores_names_comments_literals_and_layout():
    a = "def f(x, h=1e-5):\n    # one\n    y = x + h  # two\n    return y * 2\n"
    b = "def g(value, step=0.1):\n\n    '''doc'''\n    out = value + step\n    return out * 3\n"
    c = "def f(x, h=1e-5):\n    y = x - h\n    return y * 2\n"
    assert sim.normalise(a) == sim.normalise(b)
    assert sim.normalise(a) != sim.normalise(c)


def test_names_the_code_only_reads_are_kept():
    # np.sum and np.mean are different answers even after renaming
    assert sim.normalise("def f(x):\n    return np.sum(x)\n") != sim.normalise("def f(x):\n    return np.mean(x)\n")


def test_code_that_does_not_parse_is_still_compared():
    broken = "def f(x:\n    return x +* 2\n"
    tokens = sim.normalise(broken)
    assert tokens and "NAME" in tokens


def test_short_answers_and_the_scaffold_are_not_evidence():
    scaffold = "def double(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n"
    answers = {s: {"double": "def double(x):\n    return 2 * x\n"} for s in ("a", "b", "c")}
    assert sim.find_similar(answers, scaffold={"double": scaffold}) == []


def test_a_group_passing_one_answer_round_is_listed_pairwise():
    rng = np.random.default_rng(7)
    answers = honest_class(100, seed=7)
    group = ["s0003", "s0010", "s0020", "s0030"]
    for s in group[1:]:
        answers[s] = {EXERCISE: disguise(answers[group[0]][EXERCISE], rng)}
    pairs = {(p.a, p.b) if p.a < p.b else (p.b, p.a) for p in sim.find_similar(answers)}
    assert pairs == {(a, b) for i, a in enumerate(group) for b in group[i + 1:]}


@pytest.mark.parametrize("sharing", [3, 5])
def test_an_identical_copy_is_listed_however_many_share_the_code(sharing, reference):
    """Students who write the reference's code share every run of it, so no run is rare; a
    byte-identical copy among them is still listed (score 1), and nothing else is."""
    rng = np.random.default_rng(sharing)
    answers = honest_class(40, seed=sharing)
    ref = reference[f"{sim.REFERENCE}calculus.numerical_gradient"]
    close = [f"s{i:04d}" for i in range(sharing)]
    for student in close:
        answers[student] = {EXERCISE: disguise(ref, rng)}
    answers["copier"] = {EXERCISE: answers[close[1]][EXERCISE]}
    pairs = sim.find_similar(answers)
    assert [({p.a, p.b}, p.score) for p in pairs if "copier" in (p.a, p.b)] == [({close[1], "copier"}, 1.0)]
    assert all({p.a, p.b} <= set(close) | {"copier"} for p in pairs)


def test_a_one_line_formula_many_write_alike_is_no_evidence():
    answers = {f"s{i}": {"sigmoid": "def sigmoid(z):\n    return 1 / (1 + np.exp(-z))\n"} for i in range(30)}
    assert sim.find_similar(answers) == []


def test_identical_notebook_files_are_listed_and_the_untouched_release_is_not():
    release, copy = b'{"cells": []}', b'{"cells": ["mine"]}'
    files = {"ann": {"a.ipynb": copy}, "bob": {"a.ipynb": copy}, "cyd": {"a.ipynb": release},
             "dan": {"a.ipynb": release}, "eli": {"a.ipynb": b'{"cells": ["own"]}'}}
    pairs = sim.identical_files(files, {"a.ipynb": release})
    assert [(p.exercise, p.a, p.b, p.score) for p in pairs] == [("a.ipynb", "ann", "bob", 1.0)]
    assert "byte-identical" in pairs[0].a_source
